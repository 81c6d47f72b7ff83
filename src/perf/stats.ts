/**
 * Counters shared by every publisher and consumer of one perf run (one process, one thread:
 * plain numbers, no locks), and the sequence check that proves every message arrived once.
 *
 * Message body layout written by the publisher (little-endian; shorter bodies keep a prefix):
 *
 *   0                8            12           16                size
 *   +----------------+------------+------------+-----------------+
 *   | sent at (f64,  | producer   | sequence   | filler 'x'…     |
 *   | perf. now, ms) | index u32  | number u32 |                 |
 *   +----------------+------------+------------+-----------------+
 */
import { Histogram } from './histogram.js';

export const BODY_TIMESTAMP = 0;
export const BODY_PRODUCER = 8;
export const BODY_SEQUENCE = 12;
/** Smallest body that carries the timestamp and the sequence number. */
export const BODY_TRACKED = 16;

export class PerfStats {
  sent = 0;
  received = 0;
  confirmed = 0;
  nacked = 0;
  /** performance.now() of the last publish, delivery and confirm. */
  lastSentAt = 0;
  lastReceivedAt = 0;
  lastConfirmedAt = 0;
  /** Latencies since the last tick; folded into `latency` by `tick()`. */
  readonly window = new Histogram();
  readonly latency = new Histogram();

  /** Ends a reporting interval: returns the interval's histogram (valid until the next tick). */
  tick(): Histogram {
    this.latency.add(this.window);
    return this.window;
  }
}

/** One bit per (producer, queue, sequence number): duplicates, order and losses. */
export class SequenceTracker {
  readonly producers: number;
  readonly queues: number;
  unique = 0;
  duplicates = 0;
  outOfOrder = 0;
  /** Deliveries whose producer index is not one of ours (left in the queue by someone else). */
  foreign = 0;
  /** Allocated on first use: a consumer-only run accepts any producer index below `producers`. */
  readonly #seen: (Uint8Array | undefined)[] = [];

  constructor(producers: number, queues: number) {
    this.producers = producers;
    this.queues = queues;
  }

  /**
   * `last` is the consumer's own "highest sequence seen per producer" (a queue keeps each
   * producer's order, so every consumer sees one producer's messages in increasing order).
   */
  record(producer: number, seq: number, queue: number, last: Float64Array): void {
    if (producer >= this.producers) {
      this.foreign++;
      return;
    }
    const k = producer * this.queues + queue;
    let bits = this.#seen[k] ?? (this.#seen[k] = new Uint8Array(1024));
    const byte = seq >>> 3;
    if (byte >= bits.length) {
      let n = bits.length * 2;
      while (n <= byte) n *= 2;
      const grown = new Uint8Array(n);
      grown.set(bits);
      this.#seen[k] = bits = grown;
    }
    const mask = 1 << (seq & 7);
    if ((bits[byte]! & mask) !== 0) {
      this.duplicates++;
      return;
    }
    bits[byte] = bits[byte]! | mask;
    this.unique++;
    if (seq < last[producer]!) this.outOfOrder++;
    else last[producer] = seq;
  }
}
