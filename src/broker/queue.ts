/**
 * A classic queue: a FIFO of entries (ring buffer), the consumers attached to it and the
 * count of messages delivered but not yet acknowledged.
 *
 * Invariants:
 *  - `#ready` is ordered by entry seq (publish order); a requeued entry goes back to the
 *    position its seq gives it, so redelivered messages come back at the head.
 *  - Deliveries go round-robin over consumers that can accept (prefetch credit + writable
 *    connection); when none can, delivery stops until a consumer calls `drain()`.
 *  - An entry is either in `#ready`, or unacked (owned by a channel), or gone.
 */
import { Deque } from '../util/deque.js';
import type { FieldTable } from '../protocol/field-table.js';
import type { Consumer } from './consumer.js';
import type { Destination } from './exchange/exchange-type.js';
import type { Message } from './message.js';
import type { Policy } from './policies.js';
import type { VHost } from './vhost.js';

export interface QueueEntry {
  readonly seq: number;
  readonly msg: Message;
  redelivered: boolean;
}

export interface QueueOptions {
  durable: boolean;
  exclusive: boolean;
  autoDelete: boolean;
  arguments: FieldTable;
  /** The connection an exclusive queue belongs to. */
  owner: object | null;
}

export class Queue implements Destination {
  readonly kind = 'queue' as const;
  readonly name: string;
  readonly vhost: VHost;
  readonly durable: boolean;
  readonly exclusive: boolean;
  readonly autoDelete: boolean;
  readonly arguments: FieldTable;
  readonly owner: object | null;
  /** Marks the queue during one routing pass (deduplication without a Set). */
  routeMark = 0;
  deleted = false;

  readonly #ready = new Deque<QueueEntry>();
  #readyBytes = 0;
  #nextSeq = 1;
  #unacked = 0;
  readonly #consumers: Consumer[] = [];
  #rr = 0;
  #hadConsumer = false;
  #draining = false;

  // statistics for the management API
  publishCount = 0;
  deliverCount = 0;
  ackCount = 0;
  redeliverCount = 0;

  constructor(vhost: VHost, name: string, o: QueueOptions) {
    this.vhost = vhost;
    this.name = name;
    this.durable = o.durable;
    this.exclusive = o.exclusive;
    this.autoDelete = o.autoDelete;
    this.arguments = o.arguments;
    this.owner = o.owner;
  }

  /** x-queue-type: classic (default) or quorum. */
  get queueType(): string {
    const t = this.arguments.get('x-queue-type');
    return t?.type === 'S' ? t.value : 'classic';
  }

  /** The policy that currently applies (management/policies), if any. */
  policy: Policy | undefined;

  setPolicy(p: Policy | undefined): void {
    this.policy = p;
  }

  get messageCount(): number {
    return this.#ready.length;
  }

  get readyBytes(): number {
    return this.#readyBytes;
  }

  get unackedCount(): number {
    return this.#unacked;
  }

  get consumerCount(): number {
    return this.#consumers.length;
  }

  get consumers(): readonly Consumer[] {
    return this.#consumers;
  }

  /** Exclusive consumer present (basic.consume exclusive=true). */
  get hasExclusiveConsumer(): boolean {
    return this.#consumers.length > 0 && this.#consumers[0]!.exclusive;
  }

  // -------------------------------------------------------------------------------------
  // publishing

  enqueue(msg: Message): boolean {
    const entry: QueueEntry = { seq: this.#nextSeq++, msg, redelivered: false };
    this.#ready.push(entry);
    this.#readyBytes += msg.body.length;
    this.publishCount++;
    if (this.#consumers.length > 0) this.drain();
    return true;
  }

  // -------------------------------------------------------------------------------------
  // consuming

  addConsumer(c: Consumer): void {
    this.#consumers.push(c);
    this.#hadConsumer = true;
  }

  /** Removes a consumer; returns true when the queue auto-deleted as a result. */
  removeConsumer(c: Consumer): boolean {
    const i = this.#consumers.indexOf(c);
    if (i < 0) return false;
    this.#consumers.splice(i, 1);
    if (this.#rr > i) this.#rr--;
    if (this.autoDelete && this.#hadConsumer && this.#consumers.length === 0 && !this.deleted) {
      this.vhost.deleteQueueNow(this, 'auto-delete: last consumer gone');
      return true;
    }
    return false;
  }

  /** Hands ready messages to consumers while any can accept. */
  drain(): void {
    if (this.#draining) return; // re-entered from a delivery: the outer loop goes on
    this.#draining = true;
    try {
      const consumers = this.#consumers;
      while (this.#ready.length > 0 && consumers.length > 0) {
        const c = this.#pickConsumer();
        if (c === undefined) break;
        const entry = this.#ready.shift()!;
        this.#readyBytes -= entry.msg.body.length;
        this.deliverCount++;
        if (entry.redelivered) this.redeliverCount++;
        if (!c.noAck) this.#unacked++;
        c.deliver(this, entry);
      }
    } finally {
      this.#draining = false;
    }
  }

  #pickConsumer(): Consumer | undefined {
    const consumers = this.#consumers;
    const n = consumers.length;
    for (let k = 0; k < n; k++) {
      const i = (this.#rr + k) % n;
      const c = consumers[i]!;
      if (c.canAccept()) {
        this.#rr = (i + 1) % n;
        return c;
      }
    }
    return undefined;
  }

  /** basic.get: the head entry, or undefined when empty. */
  get(noAck: boolean): QueueEntry | undefined {
    const entry = this.#ready.shift();
    if (entry === undefined) return undefined;
    this.#readyBytes -= entry.msg.body.length;
    this.deliverCount++;
    if (!noAck) this.#unacked++;
    return entry;
  }

  // -------------------------------------------------------------------------------------
  // settling deliveries

  ack(_entry: QueueEntry): void {
    this.#unacked--;
    this.ackCount++;
  }

  /** Dropped without requeue (reject/nack requeue=false). */
  discard(_entry: QueueEntry): void {
    this.#unacked--;
  }

  /**
   * Puts an unacked entry back at the position its seq gives it, flagged redelivered.
   * Call drain() after a batch of requeues.
   */
  requeue(entry: QueueEntry): void {
    this.#unacked--;
    if (this.deleted) return;
    entry.redelivered = true;
    this.#readyBytes += entry.msg.body.length;
    const ready = this.#ready;
    // Usually the entry belongs at the very head: everything still ready was published later.
    let lo = 0;
    let hi = ready.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (ready.at(mid)!.seq < entry.seq) lo = mid + 1;
      else hi = mid;
    }
    if (lo === 0) ready.unshift(entry);
    else if (lo === ready.length) ready.push(entry);
    else ready.insertAt(lo, entry);
  }

  purge(): number {
    const n = this.#ready.length;
    this.#ready.clear();
    this.#readyBytes = 0;
    return n;
  }

  /** Marks deleted and tells consumers; the vhost removes bindings. Returns ready count. */
  markDeleted(): number {
    this.deleted = true;
    const n = this.#ready.length;
    this.#ready.clear();
    this.#readyBytes = 0;
    const consumers = this.#consumers.splice(0);
    for (const c of consumers) c.cancelledByQueue(this);
    return n;
  }
}
