/**
 * A queue's ready messages: one FIFO, or one FIFO per priority level for x-max-priority
 * queues (highest level first). Within a level entries are ordered by seq (publish order),
 * which is what puts a requeued message back at its original position.
 */
import { Deque } from '../util/deque.js';
import type { QueueEntry } from './queue.js';

export class ReadyList {
  readonly #levels: Deque<QueueEntry>[];
  #length = 0;

  /** maxPriority 0 = a plain FIFO. */
  constructor(maxPriority: number) {
    this.#levels = [];
    for (let i = 0; i <= maxPriority; i++) this.#levels.push(new Deque<QueueEntry>());
  }

  get length(): number {
    return this.#length;
  }

  get maxPriority(): number {
    return this.#levels.length - 1;
  }

  push(e: QueueEntry): void {
    this.#levels[e.priority]!.push(e);
    this.#length++;
  }

  #top(): Deque<QueueEntry> | undefined {
    const levels = this.#levels;
    for (let i = levels.length - 1; i >= 0; i--) if (levels[i]!.length > 0) return levels[i];
    return undefined;
  }

  peek(): QueueEntry | undefined {
    return this.#levels.length === 1 ? this.#levels[0]!.peek() : this.#top()?.peek();
  }

  shift(): QueueEntry | undefined {
    const d = this.#levels.length === 1 ? this.#levels[0]! : this.#top();
    const e = d?.shift();
    if (e !== undefined) this.#length--;
    return e;
  }

  /** Puts an entry back where its seq belongs (usually the head of its level). */
  requeue(e: QueueEntry): void {
    const d = this.#levels[e.priority]!;
    d.insertAt(d.lowerBound(e.seq, seqOf), e);
    this.#length++;
  }

  /** Heads of every non-empty level (for TTL expiry: only heads expire, as in RabbitMQ). */
  heads(out: QueueEntry[]): void {
    for (const d of this.#levels) {
      const h = d.peek();
      if (h !== undefined) out.push(h);
    }
  }

  /** Removes the head of the level `e` is the head of. */
  removeHead(e: QueueEntry): void {
    const d = this.#levels[e.priority]!;
    if (d.peek() === e) {
      d.shift();
      this.#length--;
    }
  }

  /** Empties the list, returning what it held. */
  drainAll(): QueueEntry[] {
    const out: QueueEntry[] = [];
    for (const d of this.#levels) {
      for (const e of d) out.push(e);
      d.clear();
    }
    this.#length = 0;
    return out;
  }

  *[Symbol.iterator](): IterableIterator<QueueEntry> {
    for (let i = this.#levels.length - 1; i >= 0; i--) yield* this.#levels[i]!;
  }
}

function seqOf(e: QueueEntry): number {
  return e.seq;
}
