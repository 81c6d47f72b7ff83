/**
 * One producer: its publish is encoded once (basic.publish method frame, content header,
 * body frames) and copied into batch buffers when they are made; each event-loop turn
 * patches the timestamp and sequence number of the next n copies and hands them to the
 * socket in one write (NATS's bench does the same: pre-encode one message, write it N times).
 * Batch buffers are reused once the socket is done with them, so publishing allocates nothing.
 *
 * Limits, checked every turn: socket backpressure (wait for drain), confirms in flight
 * (--confirm), rate (--rate msg/s) and count (--count).
 *
 * Confirms (spec: confirm.select; basic.ack/nack multiple): delivery tags are the publish
 * sequence numbers 1, 2, 3…; `#confirmedUpTo` is the highest tag below which every tag is
 * settled; single acks that arrive ahead of it wait in a small set.
 */
import { performance } from 'node:perf_hooks';
import { FrameWriter } from '../protocol/frame-writer.js';
import * as P from '../protocol/generated.js';
import type { ConfirmHandler, PerfChannel } from './client.js';
import { BODY_PRODUCER, BODY_SEQUENCE, BODY_TIMESTAMP, BODY_TRACKED, type PerfStats } from './stats.js';

const BATCH_BYTES = 128 * 1024;
const MAX_BATCH_MESSAGES = 2000;

export interface PublisherOptions {
  index: number;
  exchange: string;
  routingKey: string;
  size: number;
  persistent: boolean;
  /** Most unconfirmed messages in flight; 0 = no confirms. */
  confirm: number;
  /** msg/s; 0 = as fast as possible. */
  rate: number;
  /** Messages to publish; 0 = until stopped. */
  count: number;
}

export class Publisher implements ConfirmHandler {
  readonly options: PublisherOptions;
  sent = 0;
  confirmed = 0;
  nacked = 0;
  /** performance.now() when it stopped publishing (count reached or stop()). */
  stoppedAt = 0;
  readonly #ch: PerfChannel;
  readonly #stats: PerfStats;
  readonly #template: Buffer;
  /** Offset of the body's first byte inside the template. */
  readonly #bodyAt: number;
  readonly #perBatch: number;
  readonly #free: Buffer[] = [];
  #startedAt = 0;
  #stopped = true;
  #scheduled = false;
  #waitingDrain = false;
  #timer: NodeJS.Timeout | undefined;
  #confirmedUpTo = 0;
  readonly #early = new Set<number>();
  #resolveDone: (() => void) | null = null;
  #resolveStopped: (() => void) | null = null;
  /** Resolves when it publishes no more. */
  readonly stopped: Promise<void>;
  /** Resolves when it publishes no more and every confirm is in (or the channel is gone). */
  readonly done: Promise<void>;
  readonly #turnBound = (): void => this.#turn();

  constructor(ch: PerfChannel, options: PublisherOptions, stats: PerfStats) {
    this.#ch = ch;
    this.options = options;
    this.#stats = stats;
    this.done = new Promise((resolve) => (this.#resolveDone = resolve));
    this.stopped = new Promise((resolve) => (this.#resolveStopped = resolve));
    this.#template = encodePublish(ch.id, ch.connection.frameMax, options);
    const size = options.size;
    const frames = size === 0 ? 0 : Math.ceil(size / (ch.connection.frameMax - 8));
    this.#bodyAt = this.#template.length - size - 8 * frames + 7;
    this.#perBatch = Math.max(1, Math.min(MAX_BATCH_MESSAGES, Math.floor(BATCH_BYTES / this.#template.length)));
    if (options.confirm > 0) ch.confirms = this;
    void ch.failed.then(() => this.#finish());
  }

  get inFlight(): number {
    return this.sent - this.confirmed - this.nacked;
  }

  /** Bytes of one publish on the wire (method + header + body frames). */
  get wireSize(): number {
    return this.#template.length;
  }

  start(now: number): void {
    this.#startedAt = now;
    this.#stopped = false;
    this.#schedule();
  }

  /** Publishes no more; `done` resolves once every confirm is in (or the connection is gone). */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.stoppedAt = performance.now();
    clearTimeout(this.#timer);
    this.#resolveStopped?.();
    this.#checkDone();
  }

  onConfirm(tag: number, multiple: boolean, nack: boolean): void {
    let n = 0;
    if (multiple) {
      if (tag <= this.#confirmedUpTo) return;
      n = tag - this.#confirmedUpTo;
      if (this.#early.size > 0) {
        for (const t of this.#early) {
          if (t <= tag) {
            n--;
            this.#early.delete(t);
          }
        }
      }
      this.#confirmedUpTo = tag;
    } else {
      if (tag <= this.#confirmedUpTo || this.#early.has(tag)) return;
      n = 1;
      if (tag === this.#confirmedUpTo + 1) this.#confirmedUpTo = tag;
      else this.#early.add(tag);
    }
    while (this.#early.size > 0 && this.#early.delete(this.#confirmedUpTo + 1)) this.#confirmedUpTo++;
    if (nack) {
      this.nacked += n;
      this.#stats.nacked += n;
    } else {
      this.confirmed += n;
      this.#stats.confirmed += n;
    }
    this.#stats.lastConfirmedAt = performance.now();
    if (this.#stopped) this.#checkDone();
    else this.#schedule();
  }

  #schedule(): void {
    if (!this.#scheduled && !this.#stopped) {
      this.#scheduled = true;
      setImmediate(this.#turnBound);
    }
  }

  #turn(): void {
    this.#scheduled = false;
    if (this.#stopped) return;
    const conn = this.#ch.connection;
    if (this.#ch.error !== null) return this.#finish();
    if (!conn.writable) {
      if (!this.#waitingDrain) {
        this.#waitingDrain = true;
        conn.onceDrain(() => {
          this.#waitingDrain = false;
          this.#schedule();
        });
      }
      return;
    }
    const o = this.options;
    let n = this.#perBatch;
    if (o.count > 0) {
      n = Math.min(n, o.count - this.sent);
      if (n <= 0) return this.stop();
    }
    if (o.confirm > 0) {
      n = Math.min(n, o.confirm - this.inFlight);
      if (n <= 0) return; // the next confirm schedules a turn
    }
    const now = performance.now();
    if (o.rate > 0) {
      const allowed = Math.floor(((now - this.#startedAt) * o.rate) / 1000) + 1 - this.sent;
      if (allowed <= 0) {
        const wait = (this.sent * 1000) / o.rate - (now - this.#startedAt);
        this.#timer = setTimeout(() => this.#schedule(), Math.max(1, Math.ceil(wait)));
        return;
      }
      n = Math.min(n, allowed);
    }
    const buf = this.#free.pop() ?? this.#newBatch();
    const len = this.#template.length;
    const size = o.size;
    let seq = this.sent;
    for (let i = 0, at = this.#bodyAt; i < n; i++, at += len) {
      if (size >= BODY_PRODUCER) buf.writeDoubleLE(now, at + BODY_TIMESTAMP); // fits in 8 bytes
      if (size >= BODY_TRACKED) buf.writeUInt32LE(seq, at + BODY_SEQUENCE);
      seq++;
    }
    this.sent += n;
    this.#stats.sent += n;
    this.#stats.lastSentAt = now;
    conn.writeRaw(n === this.#perBatch ? buf : buf.subarray(0, n * len), () => this.#free.push(buf));
    if (o.count > 0 && this.sent >= o.count) return this.stop();
    if (o.rate > 0) {
      // spread the rate's messages over the second instead of bursting on every turn
      const wait = (this.sent * 1000) / o.rate - (performance.now() - this.#startedAt);
      if (wait >= 1) {
        this.#timer = setTimeout(() => this.#schedule(), Math.floor(wait));
        return;
      }
    }
    this.#schedule();
  }

  #newBatch(): Buffer {
    const len = this.#template.length;
    const buf = Buffer.allocUnsafeSlow(len * this.#perBatch);
    for (let i = 0; i < this.#perBatch; i++) this.#template.copy(buf, i * len);
    return buf;
  }

  #checkDone(): void {
    if (this.#stopped && (this.options.confirm === 0 || this.inFlight <= 0)) this.#finish();
  }

  #finish(): void {
    if (this.stoppedAt === 0) this.stoppedAt = performance.now();
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#resolveStopped?.();
    this.#resolveDone?.();
    this.#resolveDone = null;
  }
}

/** basic.publish + content header + body frames of one message, as bytes. */
export function encodePublish(channel: number, frameMax: number, o: PublisherOptions): Buffer {
  const w = new FrameWriter(frameMax);
  w.method(channel, P.encodeBasicPublish, { reserved1: 0, exchange: o.exchange, routingKey: o.routingKey, mandatory: false, immediate: false });
  const props: P.BasicProperties = o.persistent ? { deliveryMode: 2 } : {};
  const propsRaw = Buffer.allocUnsafe(P.basicPropertiesSize(props));
  P.encodeBasicProperties(propsRaw, 0, props);
  const body = Buffer.alloc(o.size, 'x');
  if (o.size >= BODY_TRACKED) body.writeUInt32LE(o.index, BODY_PRODUCER);
  w.content(channel, P.CLASS_BASIC, propsRaw, body);
  return Buffer.concat(w.take() ?? []);
}
