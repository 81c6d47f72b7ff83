/**
 * A basic.consume subscription: the broker's Consumer, bound to one channel. Deliveries are
 * encoded straight into the connection's output; the args object is reused (encoding is
 * synchronous), so a delivery allocates only its unacked record.
 */
import type { Consumer } from '../broker/consumer.js';
import type { Queue, QueueEntry } from '../broker/queue.js';
import * as P from '../protocol/generated.js';
import type { Channel } from './channel.js';

/** Stop delivering to a connection whose unflushed output exceeds this. */
const OUTPUT_HIGH_WATER = 1024 * 1024;

export class ChannelConsumer implements Consumer {
  readonly tag: string;
  readonly noAck: boolean;
  readonly exclusive: boolean;
  readonly priority: number;
  readonly owner: object;
  readonly channel: Channel;
  readonly queue: Queue;
  /** per-consumer prefetch (basic.qos global=false at the time of consume); 0 = none */
  readonly prefetch: number;
  unacked = 0;
  readonly #deliver: P.BasicDeliver;
  /** consumer tag as a shortstr (length octet + bytes) */
  readonly #ctagRaw: Buffer;

  constructor(channel: Channel, queue: Queue, tag: string, noAck: boolean, exclusive: boolean, priority: number) {
    this.channel = channel;
    this.queue = queue;
    this.tag = tag;
    this.noAck = noAck;
    this.exclusive = exclusive;
    this.priority = priority;
    this.owner = channel.connection;
    this.prefetch = channel.prefetchCount;
    this.#deliver = { consumerTag: tag, deliveryTag: 0, redelivered: false, exchange: '', routingKey: '' };
    const t = Buffer.from(tag, 'utf8');
    this.#ctagRaw = Buffer.concat([Buffer.from([t.length]), t]);
  }

  canAccept(): boolean {
    const ch = this.channel;
    if (ch.closing) return false;
    const conn = ch.connection;
    if (!conn.writable || conn.pendingOutput > OUTPUT_HIGH_WATER) {
      conn.waitForDrain(ch);
      return false;
    }
    if (this.noAck) return true;
    if (this.prefetch > 0 && this.unacked >= this.prefetch) return false;
    return ch.globalPrefetch === 0 || ch.unackedCount < ch.globalPrefetch;
  }

  deliver(queue: Queue, entry: QueueEntry): void {
    const ch = this.channel;
    const tag = ch.nextDeliveryTag();
    if (!this.noAck) {
      this.unacked++;
      ch.track(tag, queue, entry, this);
    }
    const msg = entry.msg;
    if (msg.routeRaw !== null) {
      // pre-encoded consumer tag and route: the frame is a few copies, no string encoding
      ch.connection.sendDelivery(ch.id, this.#ctagRaw, tag, entry.redelivered, msg.routeRaw, queue.deliveryProps(entry), msg);
      return;
    }
    const d = this.#deliver;
    d.deliveryTag = tag;
    d.redelivered = entry.redelivered;
    d.exchange = msg.exchange;
    d.routingKey = msg.routingKey;
    ch.connection.send(ch.id, P.encodeBasicDeliver, d);
    ch.connection.sendContent(ch.id, queue.deliveryProps(entry), msg);
  }

  cancelledByQueue(_queue: Queue): void {
    this.channel.consumerCancelledByBroker(this);
  }
}
