/**
 * Live connections as operators see them (management API, logs, forced close). The session
 * registers each connection; the broker core never looks inside.
 *
 * The *Info interfaces are read-only views the management API and the Prometheus endpoint
 * walk on request. The session's Connection, Channel and ChannelConsumer satisfy them
 * structurally, with getters over state they keep anyway: nothing here is updated on a hot
 * path.
 */
import type { Queue } from './queue.js';

/** One basic.consume subscription (ChannelConsumer). */
export interface ConsumerInfo {
  readonly tag: string;
  readonly queue: Queue;
  readonly noAck: boolean;
  readonly exclusive: boolean;
  /** x-priority argument of basic.consume (0 by default). */
  readonly priority: number;
  /** Per-consumer prefetch (basic.qos global=false at consume time); 0 = unlimited. */
  readonly prefetch: number;
  /** Deliveries not yet settled by this consumer. */
  readonly unacked: number;
}

/** One open channel (session Channel). */
export interface ChannelInfo {
  /** Channel number on its connection. */
  readonly id: number;
  /** basic.qos global=false: applies to consumers created afterwards. */
  readonly prefetchCount: number;
  /** basic.qos global=true. */
  readonly globalPrefetch: number;
  readonly unackedCount: number;
  readonly confirmMode: boolean;
  readonly txMode: boolean;
  /** We sent channel.close or the channel is being released. */
  readonly closing: boolean;
  /** Delivery tags handed out so far (basic.deliver + basic.get-ok). */
  readonly deliveryTagCount: number;
  /** Messages published in confirm mode so far (publish sequence numbers). */
  readonly publishSeqCount: number;
  /** tx mode: publishes and acks waiting for tx.commit. */
  readonly uncommittedMessageCount: number;
  readonly uncommittedAckCount: number;
  consumerInfos(): ConsumerInfo[];
  /** Adds the body bytes of this channel's unacked deliveries per queue to `into`. */
  addUnackedBytes(into: Map<Queue, number>): void;
}

export interface ConnectionInfo {
  readonly id: number;
  readonly name: string; // "127.0.0.1:53710 -> 127.0.0.1:5672", RabbitMQ's format
  readonly peerHost: string;
  readonly peerPort: number;
  readonly connectedAt: number;
  user: string;
  vhost: string;
  readonly channelCount: number;
  clientProperties: Record<string, unknown>;
  /** Server-initiated close (management DELETE, shutdown): 320 CONNECTION_FORCED. */
  forceClose(reason: string): void;

  // --- for the management API and Prometheus (read on request only) ---
  /** Negotiated in connection.tune-ok. */
  readonly frameMax: number;
  readonly channelMax: number;
  readonly heartbeat: number;
  /** RabbitMQ's connection states: starting, tuning, opening, running, closing, closed. */
  readonly stateName: string;
  /** Socket byte counters (recv_oct / send_oct). */
  readonly bytesReceived: number;
  readonly bytesSent: number;
  /** Bytes encoded but not yet written to the socket (send_pend). */
  readonly pendingOutput: number;
  channelInfos(): ChannelInfo[];
}

export class Registry {
  readonly connections = new Set<ConnectionInfo>();
  #nextId = 1;

  nextConnectionId(): number {
    return this.#nextId++;
  }

  /** Connections ever accepted (ids handed out), for churn statistics. */
  get connectionsOpened(): number {
    return this.#nextId - 1;
  }

  add(c: ConnectionInfo): void {
    this.connections.add(c);
  }

  remove(c: ConnectionInfo): void {
    this.connections.delete(c);
  }
}
