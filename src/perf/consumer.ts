/**
 * One consumer on one queue: counts deliveries, records latency (read time of the socket
 * chunk minus the timestamp the publisher wrote into the body), checks sequence numbers and
 * acknowledges — not at all (--autoack), one by one, or `basic.ack multiple` every N
 * deliveries (--multiple-ack-every N; spec: basic.ack multiple acknowledges up to the tag).
 */
import type { DeliveryHandler, PerfChannel } from './client.js';
import { BODY_PRODUCER, BODY_SEQUENCE, BODY_TIMESTAMP, BODY_TRACKED, type PerfStats, type SequenceTracker } from './stats.js';

export interface ConsumerOptions {
  queue: string;
  /** Index of the queue in the run's list (for the sequence check). */
  queueIndex: number;
  autoack: boolean;
  /** Manual acks: ack (multiple) every this many deliveries; 1 = each delivery on its own. */
  ackEvery: number;
}

export class Consumer implements DeliveryHandler {
  readonly options: ConsumerOptions;
  received = 0;
  readonly #ch: PerfChannel;
  readonly #stats: PerfStats;
  readonly #tracker: SequenceTracker;
  readonly #last: Float64Array;
  #unacked = 0;
  #lastTag = 0;

  constructor(ch: PerfChannel, options: ConsumerOptions, stats: PerfStats, tracker: SequenceTracker) {
    this.#ch = ch;
    this.options = options;
    this.#stats = stats;
    this.#tracker = tracker;
    this.#last = new Float64Array(tracker.producers).fill(-1);
    ch.deliveries = this;
  }

  async start(): Promise<void> {
    await this.#ch.consume(this.options.queue, this.options.autoack);
  }

  onDelivery(deliveryTag: number, _bodySize: number, buf: Buffer, start: number, end: number, readAt: number): void {
    this.received++;
    const s = this.#stats;
    s.received++;
    s.lastReceivedAt = readAt;
    const len = end - start;
    if (len >= BODY_PRODUCER) s.window.recordMs(readAt - buf.readDoubleLE(start + BODY_TIMESTAMP));
    if (len >= BODY_TRACKED) {
      this.#tracker.record(buf.readUInt32LE(start + BODY_PRODUCER), buf.readUInt32LE(start + BODY_SEQUENCE), this.options.queueIndex, this.#last);
    }
    if (!this.options.autoack) {
      this.#lastTag = deliveryTag;
      if (++this.#unacked >= this.options.ackEvery) {
        this.#ch.ack(deliveryTag, this.options.ackEvery > 1);
        this.#unacked = 0;
      }
    }
  }

  /** Acknowledges what is left below the ack-every threshold (end of run). */
  flushAcks(): void {
    if (this.#unacked > 0) {
      this.#ch.ack(this.#lastTag, true);
      this.#unacked = 0;
    }
  }
}
