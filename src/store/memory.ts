/**
 * A MessageStore in memory: the same contract as the segment files, for brokers and tests
 * that want store semantics (batches, sync listeners, recovery) without a disk.
 *
 * What it "persists" lives in a MemoryVolume: a new MemoryStore on the same volume recovers
 * what an earlier one had synced, as a restart would. Records of one event-loop turn form a
 * batch, applied to the volume at once on the next turn (the "fsync"); abandon() drops the
 * batch not yet applied, as a crash would.
 */
import type { MessageStore, RecoveredMessage, RecoveryStats, SyncListener } from './store.js';

interface StoredMessage {
  exchange: string;
  routingKey: string;
  propsRaw: Buffer;
  body: Buffer;
  queues: { name: string; delivered: boolean }[];
}

type Op =
  | { kind: 'message'; id: number; m: StoredMessage }
  | { kind: 'ack' | 'delivered'; id: number; queue: string }
  | { kind: 'dropQueue'; upto: number; queue: string };

/** The durable side of MemoryStores: survives close() and abandon(). */
export class MemoryVolume {
  readonly messages = new Map<number, StoredMessage>();
  nextId = 1;
}

interface Live {
  body: Buffer;
  queues: Set<string>;
}

export class MemoryStore implements MessageStore {
  readonly volume: MemoryVolume;
  readonly #live = new Map<number, Live>();
  #nextId = 1;
  #batch = 1;
  #ops: Op[] = [];
  #listeners = new Set<SyncListener>();
  #scheduled = false;
  #closed = false;
  #flushWaiters: (() => void)[] = [];

  constructor(volume: MemoryVolume = new MemoryVolume()) {
    this.volume = volume;
  }

  get batch(): number {
    return this.#batch;
  }

  append(exchange: string, routingKey: string, propsRaw: Buffer, body: Buffer, queues: readonly string[]): number {
    this.#check();
    const id = this.#nextId++;
    const m: StoredMessage = {
      exchange,
      routingKey,
      propsRaw: Buffer.from(propsRaw),
      body: Buffer.from(body),
      queues: queues.map((name) => ({ name, delivered: false })),
    };
    this.#live.set(id, { body: m.body, queues: new Set(queues) });
    this.#push({ kind: 'message', id, m });
    return id;
  }

  delivered(id: number, queue: string): void {
    if (this.#live.get(id)?.queues.has(queue) !== true) return;
    this.#push({ kind: 'delivered', id, queue });
  }

  ack(id: number, queue: string): void {
    const l = this.#live.get(id);
    if (l === undefined || !l.queues.delete(queue)) return;
    if (l.queues.size === 0) this.#live.delete(id);
    this.#push({ kind: 'ack', id, queue });
  }

  dropQueue(queue: string, ids: Iterable<number>): void {
    this.#check();
    for (const id of ids) {
      const l = this.#live.get(id);
      if (l !== undefined && l.queues.delete(queue) && l.queues.size === 0) this.#live.delete(id);
    }
    this.#push({ kind: 'dropQueue', upto: this.#nextId - 1, queue });
  }

  whenSynced(listener: SyncListener): void {
    this.#listeners.add(listener);
    this.#schedule();
  }

  readBody(id: number): Buffer {
    const l = this.#live.get(id);
    if (l === undefined) throw new Error(`message ${id} is not in the store`);
    return l.body;
  }

  recover(onMessage: (m: RecoveredMessage) => void): RecoveryStats {
    const t0 = Date.now();
    const ids = [...this.volume.messages.keys()].sort((a, b) => a - b);
    let count = 0;
    let bytes = 0;
    for (const id of ids) {
      const m = this.volume.messages.get(id)!;
      bytes += m.body.length;
      count++;
      this.#live.set(id, { body: m.body, queues: new Set(m.queues.map((q) => q.name)) });
      onMessage({
        id,
        exchange: m.exchange,
        routingKey: m.routingKey,
        propsRaw: m.propsRaw,
        body: m.body,
        bodySize: m.body.length,
        queues: m.queues.map((q) => ({ ...q })),
      });
    }
    this.#nextId = Math.max(this.#nextId, this.volume.nextId);
    return { messages: count, segments: 0, bytes, truncatedBytes: 0, bodiesOnDisk: 0, ms: Date.now() - t0 };
  }

  flush(): Promise<void> {
    if (!this.#scheduled) return Promise.resolve();
    return new Promise((resolve) => this.#flushWaiters.push(resolve));
  }

  async close(): Promise<void> {
    await this.flush();
    this.#closed = true;
  }

  /** Stops as a crash would: the batch not yet applied is lost. */
  abandon(): void {
    this.#closed = true;
    this.#ops = [];
    this.#listeners.clear();
  }

  stats(): { segments: number; bytes: number; messages: number } {
    let bytes = 0;
    for (const l of this.#live.values()) bytes += l.body.length;
    return { segments: 0, bytes, messages: this.#live.size };
  }

  #check(): void {
    if (this.#closed) throw new Error('message store is closed');
  }

  #push(op: Op): void {
    this.#check();
    this.#ops.push(op);
    this.#schedule();
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => this.#commit());
  }

  /** The batch's "fsync": its records reach the volume together, then listeners hear of it. */
  #commit(): void {
    this.#scheduled = false;
    const batch = this.#batch++;
    const ops = this.#ops;
    const listeners = this.#listeners;
    this.#ops = [];
    this.#listeners = new Set();
    const v = this.volume;
    for (const op of ops) {
      if (op.kind === 'message') {
        v.messages.set(op.id, op.m);
        if (op.id >= v.nextId) v.nextId = op.id + 1;
      } else if (op.kind === 'dropQueue') {
        for (const [id, m] of v.messages) if (id <= op.upto) this.#leave(id, m, op.queue);
      } else {
        const m = v.messages.get(op.id);
        if (m === undefined) continue;
        if (op.kind === 'ack') this.#leave(op.id, m, op.queue);
        else for (const q of m.queues) if (q.name === op.queue) q.delivered = true;
      }
    }
    for (const l of listeners) l.onStoreSynced(batch);
    if (this.#scheduled) return; // a listener added records: flush() waits for them too
    const w = this.#flushWaiters;
    this.#flushWaiters = [];
    for (const f of w) f();
  }

  #leave(id: number, m: StoredMessage, queue: string): void {
    m.queues = m.queues.filter((q) => q.name !== queue);
    if (m.queues.length === 0) this.volume.messages.delete(id);
  }
}
