/**
 * Live connections as operators see them (management API, logs, forced close). The session
 * registers each connection; the broker core never looks inside.
 */
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
}

export class Registry {
  readonly connections = new Set<ConnectionInfo>();
  #nextId = 1;

  nextConnectionId(): number {
    return this.#nextId++;
  }

  add(c: ConnectionInfo): void {
    this.connections.add(c);
  }

  remove(c: ConnectionInfo): void {
    this.connections.delete(c);
  }
}
