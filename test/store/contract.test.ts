/**
 * The MessageStore contract (src/store/store.ts), one suite every implementation passes:
 * SegmentStore on a temp directory and MemoryStore on a MemoryVolume. Ends with a
 * model-based test that runs random appends, acks, deliveries, queue drops, syncs, clean
 * restarts and crashes, tracking for every record whether it is confirmed (its batch was
 * reported synced) or uncertain, and checks after each restart that every confirmed fact
 * survived and nothing appeared that was never written.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryStore, MemoryVolume } from '../../src/store/memory.js';
import { SegmentStore } from '../../src/store/segments.js';
import type { MessageStore, RecoveredMessage } from '../../src/store/store.js';
import { silentLogger } from '../../src/util/logger.js';

interface Impl {
  name: string;
  /** A fresh, empty "disk". */
  volume(): unknown;
  open(volume: unknown): MessageStore;
  /** Stops the store as a crash would (pending records lost). */
  crash(store: MessageStore): Promise<void>;
}

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const IMPLS: Impl[] = [
  {
    name: 'SegmentStore',
    volume: () => {
      const d = mkdtempSync(join(tmpdir(), 'warren-contract-'));
      dirs.push(d);
      return d;
    },
    // tiny segments so that rotation, deletion and compaction happen all the time
    open: (dir) => new SegmentStore(dir as string, { log: silentLogger(), segmentSize: 4096, compactAbove: 8192 }),
    crash: (s) => (s as SegmentStore).abandon(),
  },
  {
    name: 'MemoryStore',
    volume: () => new MemoryVolume(),
    open: (v) => new MemoryStore(v as MemoryVolume),
    crash: async (s) => (s as MemoryStore).abandon(),
  },
];

const PROPS = Buffer.from([0x10, 0x00, 2]); // delivery-mode 2
/** WARREN_MODEL_RUNS=2000 for a long hunt; WARREN_MODEL_SEED/PATH replay a failure. */
const MODEL_RUNS = Number(process.env['WARREN_MODEL_RUNS'] ?? 30);

function openRecovered(impl: Impl, volume: unknown): { store: MessageStore; recovered: RecoveredMessage[] } {
  const store = impl.open(volume);
  const recovered: RecoveredMessage[] = [];
  store.recover((m) => recovered.push(m));
  return { store, recovered };
}

function synced(store: MessageStore): Promise<number> {
  return new Promise((resolve) => store.whenSynced({ onStoreSynced: resolve }));
}

function bodyOf(m: RecoveredMessage, store: MessageStore): Buffer {
  return m.body ?? store.readBody(m.id);
}

describe.each(IMPLS)('MessageStore contract: $name', (impl) => {
  it('gives growing ids and reports each batch synced once, in order, after its appends', async () => {
    const { store } = openRecovered(impl, impl.volume());
    const seen: number[] = [];
    const listener = { onStoreSynced: (b: number) => seen.push(b) };
    const a = store.append('x', 'k', PROPS, Buffer.from('a'), ['q']);
    const first = store.batch;
    store.whenSynced(listener);
    const b = store.append('x', 'k', PROPS, Buffer.from('b'), ['q']);
    expect(b).toBeGreaterThan(a);
    await synced(store);
    expect(seen).toEqual([first]);
    const c = store.append('x', 'k', PROPS, Buffer.from('c'), ['q']);
    expect(c).toBeGreaterThan(b);
    expect(store.batch).toBeGreaterThan(first);
    const second = store.batch;
    store.whenSynced(listener);
    expect(await synced(store)).toBeGreaterThanOrEqual(second);
    expect(seen).toEqual([first, second]);
    await store.close();
  });

  it('recovers held messages in id order with every field', async () => {
    const vol = impl.volume();
    const { store } = openRecovered(impl, vol);
    const ids: number[] = [];
    for (let i = 0; i < 20; i++) ids.push(store.append(`ex${i % 3}`, `rk.${i}`, Buffer.from([0x90, 0, 0, 1, 0x61, 2]), Buffer.from(`body ${i}`), ['a', 'b']));
    await store.close();
    const { store: s2, recovered } = openRecovered(impl, vol);
    expect(recovered.map((m) => m.id)).toEqual(ids);
    const m = recovered[7]!;
    expect({ ex: m.exchange, rk: m.routingKey, props: m.propsRaw, body: bodyOf(m, s2).toString(), size: m.bodySize }).toEqual({
      ex: 'ex1',
      rk: 'rk.7',
      props: Buffer.from([0x90, 0, 0, 1, 0x61, 2]),
      body: 'body 7',
      size: 6,
    });
    expect(m.queues).toEqual([
      { name: 'a', delivered: false },
      { name: 'b', delivered: false },
    ]);
    expect(s2.stats().messages).toBe(20);
    await s2.close();
  });

  it('bodies of every size come back intact, before and after a restart', async () => {
    const vol = impl.volume();
    const { store } = openRecovered(impl, vol);
    const sizes = [0, 1, 255, 256, 257, 8191, 8192, 8193, 100_000, 1_000_000];
    const bodies = sizes.map((n, i) => Buffer.alloc(n, i + 1).fill(i * 7 + 3, 0, Math.min(n, 10)));
    const ids = bodies.map((b) => store.append('ex', 'rk', PROPS, b, ['q']));
    ids.forEach((id, i) => expect(store.readBody(id).equals(bodies[i]!), `size ${sizes[i]} before sync`).toBe(true));
    await store.close();
    const { store: s2, recovered } = openRecovered(impl, vol);
    expect(recovered.map((m) => m.bodySize)).toEqual(sizes);
    recovered.forEach((m, i) => expect(bodyOf(m, s2).equals(bodies[i]!), `size ${sizes[i]} after restart`).toBe(true));
    await s2.close();
  });

  it('stores a message routed to more than 255 queues', async () => {
    const vol = impl.volume();
    const { store } = openRecovered(impl, vol);
    const queues = Array.from({ length: 300 }, (_, i) => `fan-${i}`);
    const id = store.append('fanout', '', PROPS, Buffer.from('wide'), queues);
    const narrow = store.append('fanout', '', PROPS, Buffer.from('narrow'), ['fan-1']);
    store.delivered(id, 'fan-299');
    for (let i = 0; i < 100; i++) store.ack(id, `fan-${i}`);
    await store.close();
    const { store: s2, recovered } = openRecovered(impl, vol);
    expect(recovered.map((m) => m.id)).toEqual([id, narrow]);
    expect(recovered[0]!.queues.map((q) => q.name)).toEqual(queues.slice(100));
    expect(recovered[0]!.queues.at(-1)).toEqual({ name: 'fan-299', delivered: true });
    expect(bodyOf(recovered[0]!, s2).toString()).toBe('wide');
    await s2.close();
  });

  it('ack takes a message out of one queue; the last ack takes it out of the store', async () => {
    const vol = impl.volume();
    const { store } = openRecovered(impl, vol);
    const one = store.append('', 'q', PROPS, Buffer.from('1'), ['a', 'b']);
    const two = store.append('', 'q', PROPS, Buffer.from('2'), ['a', 'b']);
    store.ack(one, 'a');
    store.ack(two, 'a');
    store.ack(two, 'b');
    expect(store.stats().messages).toBe(1);
    await store.close();
    const { store: s2, recovered } = openRecovered(impl, vol);
    expect(recovered.map((m) => [m.id, m.queues.map((q) => q.name)])).toEqual([[one, ['b']]]);
    await s2.close();
  });

  it('a second ack, or one from a queue that does not hold the message, changes nothing', async () => {
    const vol = impl.volume();
    const { store } = openRecovered(impl, vol);
    const id = store.append('', 'q', PROPS, Buffer.from('x'), ['a', 'b']);
    store.ack(id, 'a');
    store.ack(id, 'a');
    store.ack(id, 'c');
    store.ack(12345, 'a');
    expect(store.stats().messages).toBe(1);
    expect(store.readBody(id).toString()).toBe('x');
    await store.close();
    const { store: s2, recovered } = openRecovered(impl, vol);
    expect(recovered.map((m) => m.queues)).toEqual([[{ name: 'b', delivered: false }]]);
    await s2.close();
  });

  it('delivered marks the queue the message was delivered from, and only that one', async () => {
    const vol = impl.volume();
    const { store } = openRecovered(impl, vol);
    const id = store.append('', 'q', PROPS, Buffer.from('x'), ['a', 'b']);
    const other = store.append('', 'q', PROPS, Buffer.from('y'), ['a']);
    store.delivered(id, 'b');
    store.delivered(id, 'nope');
    await store.close();
    const { store: s2, recovered } = openRecovered(impl, vol);
    expect(recovered.map((m) => [m.id, m.queues])).toEqual([
      [id, [{ name: 'a', delivered: false }, { name: 'b', delivered: true }]],
      [other, [{ name: 'a', delivered: false }]],
    ]);
    await s2.close();
  });

  it("dropQueue forgets a deleted queue's messages, not those of a queue later declared with its name", async () => {
    const vol = impl.volume();
    const { store } = openRecovered(impl, vol);
    const a = store.append('', 'q', PROPS, Buffer.from('a'), ['q', 'other']);
    const b = store.append('', 'q', PROPS, Buffer.from('b'), ['q']);
    store.dropQueue('q', [a, b]);
    const c = store.append('', 'q', PROPS, Buffer.from('c'), ['q']);
    expect(store.stats().messages).toBe(2);
    await store.close();
    const { store: s2, recovered } = openRecovered(impl, vol);
    expect(recovered.map((m) => [m.id, m.queues.map((q) => q.name)])).toEqual([
      [a, ['other']],
      [c, ['q']],
    ]);
    await s2.close();
  });

  it('an ack during recovery (a queue gone from the definitions) loses none of the other messages', async () => {
    const vol = impl.volume();
    const { store } = openRecovered(impl, vol);
    const body = Buffer.alloc(900, 5);
    const ids: number[] = [];
    // in SegmentStore's 4 KiB segments: the first message of each segment belongs to 'gone'
    for (let i = 0; i < 40; i++) ids.push(store.append('', 'q', PROPS, body, [i % 4 === 0 ? 'gone' : 'q']));
    await store.close();
    const s2 = impl.open(vol);
    const kept: RecoveredMessage[] = [];
    s2.recover((m) => {
      if (m.queues[0]!.name === 'gone') s2.ack(m.id, 'gone');
      else kept.push(m);
    });
    expect(kept.map((m) => m.id)).toEqual(ids.filter((_, i) => i % 4 !== 0));
    for (const m of kept) expect(bodyOf(m, s2).equals(body)).toBe(true);
    await s2.close();
    const { store: s3, recovered } = openRecovered(impl, vol);
    expect(recovered.map((m) => m.id)).toEqual(kept.map((m) => m.id));
    await s3.close();
  });

  it('ids keep growing across restarts', async () => {
    const vol = impl.volume();
    const { store } = openRecovered(impl, vol);
    let last = 0;
    for (let i = 0; i < 5; i++) last = store.append('', 'q', PROPS, Buffer.from('x'), ['q']);
    await store.close();
    const { store: s2 } = openRecovered(impl, vol);
    expect(s2.append('', 'q', PROPS, Buffer.from('y'), ['q'])).toBeGreaterThan(last);
    await s2.close();
  });

  it('readBody gives the body of a held message and throws for one it does not hold', async () => {
    const { store } = openRecovered(impl, impl.volume());
    const body = Buffer.from('0123456789'.repeat(100));
    const id = store.append('', 'q', PROPS, body, ['q']);
    expect(store.readBody(id)).toEqual(body); // before its batch is written, too
    await store.flush();
    expect(store.readBody(id)).toEqual(body);
    store.ack(id, 'q');
    expect(() => store.readBody(id)).toThrow();
    await store.close();
  });

  it('after flush() a crash loses nothing', async () => {
    const vol = impl.volume();
    const { store } = openRecovered(impl, vol);
    const ids = [store.append('', 'q', PROPS, Buffer.from('1'), ['q']), store.append('', 'q', PROPS, Buffer.from('2'), ['q'])];
    store.delivered(ids[0]!, 'q');
    await store.flush();
    await impl.crash(store);
    const { store: s2, recovered } = openRecovered(impl, vol);
    expect(recovered.map((m) => [m.id, m.queues[0]!.delivered])).toEqual([
      [ids[0], true],
      [ids[1], false],
    ]);
    await s2.close();
  });

  it('a closed store refuses appends', async () => {
    const { store } = openRecovered(impl, impl.volume());
    await store.close();
    expect(() => store.append('', 'q', PROPS, Buffer.from('x'), ['q'])).toThrow(/closed/);
  });

  it('model: confirmed records survive restarts and crashes; nothing appears that was not written', async () => {
    const queue = fc.constantFrom('q1', 'q2', 'q3');
    const op = fc.oneof(
      { weight: 8, arbitrary: fc.record({ kind: fc.constant('append' as const), queues: fc.subarray(['q1', 'q2', 'q3'], { minLength: 1 }), size: fc.nat(700) }) },
      // acks mostly of the oldest messages (as a FIFO consumer), some anywhere
      { weight: 6, arbitrary: fc.record({ kind: fc.constant('ack' as const), pick: fc.oneof(fc.nat(2), fc.nat(2), fc.nat()) }) },
      { weight: 2, arbitrary: fc.record({ kind: fc.constant('delivered' as const), pick: fc.nat() }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('dropQueue' as const), queue }) },
      { weight: 3, arbitrary: fc.record({ kind: fc.constantFrom('turn' as const, 'sync' as const, 'flush' as const) }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constantFrom('restart' as const, 'crash' as const) }) },
    );
    let compactions = 0;
    const count = (s: MessageStore): void => {
      if (s instanceof SegmentStore) compactions += s.compactions;
    };
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 10, maxLength: 200, size: 'max' }), async (ops) => {
        const vol = impl.volume();
        const model = new Model();
        let { store } = openRecovered(impl, vol);
        for (const o of ops) {
          switch (o.kind) {
            case 'append': {
              const body = Buffer.alloc(o.size, model.size() & 0xff);
              const id = store.append('ex', `rk${o.size}`, PROPS, body, o.queues);
              model.append(id, store.batch, body, o.queues);
              break;
            }
            case 'ack':
            case 'delivered': {
              const held = model.held();
              if (held.length === 0) break;
              const [id, q] = held[o.pick % held.length]!;
              if (o.kind === 'ack') store.ack(id, q);
              else store.delivered(id, q);
              model.event(o.kind, id, q, store.batch);
              break;
            }
            case 'dropQueue': {
              const ids = model.heldBy(o.queue);
              store.dropQueue(o.queue, ids);
              for (const id of ids) model.event('ack', id, o.queue, store.batch);
              break;
            }
            case 'turn':
              await new Promise((r) => setImmediate(r));
              break;
            case 'sync':
              model.synced(await synced(store));
              break;
            case 'flush':
              await store.flush();
              model.synced(store.batch - 1);
              break;
            case 'restart':
            case 'crash': {
              count(store);
              if (o.kind === 'restart') {
                await store.close();
                model.synced(Number.MAX_SAFE_INTEGER);
              } else {
                await impl.crash(store);
              }
              const next = openRecovered(impl, vol);
              model.check(next.recovered, next.store, o.kind === 'restart');
              store = next.store;
              break;
            }
          }
        }
        expect(store.stats().messages).toBe(model.held().reduce((s, [id]) => s.add(id), new Set<number>()).size);
        count(store);
        await store.close();
        const last = openRecovered(impl, vol);
        model.synced(Number.MAX_SAFE_INTEGER);
        model.check(last.recovered, last.store, true);
        await last.store.close();
      }),
      { numRuns: MODEL_RUNS, endOnFailure: process.env['WARREN_MODEL_NOSHRINK'] === '1', seed: process.env['WARREN_MODEL_SEED'] === undefined ? undefined : Number(process.env['WARREN_MODEL_SEED']), path: process.env['WARREN_MODEL_PATH'] },
    );
    // the runs went through compaction (tiny segments), not only the easy paths
    if (impl.name === 'SegmentStore') expect(compactions).toBeGreaterThan(0);
  }, Math.max(60_000, MODEL_RUNS * 1000));
});

interface QueueState {
  /** batch of the ack (or queue drop); 0 = not acked */
  acked: number;
  /** batch of the delivery record; 0 = not delivered; -1 = known delivered (recovered) */
  delivered: number;
}

interface ModelMessage {
  id: number;
  /** batch of the append; -1 = known on disk (recovered) */
  batch: number;
  body: Buffer;
  rk: string;
  queues: Map<string, QueueState>;
}

/** What the store must, may and must not recover. */
class Model {
  readonly #msgs = new Map<number, ModelMessage>();
  #synced = 0;
  #maxId = 0;

  size(): number {
    return this.#msgs.size;
  }

  append(id: number, batch: number, body: Buffer, queues: readonly string[]): void {
    expect(id).toBeGreaterThan(this.#maxId);
    this.#maxId = id;
    const qs = new Map<string, QueueState>();
    for (const q of queues) qs.set(q, { acked: 0, delivered: 0 });
    this.#msgs.set(id, { id, batch, body, rk: `rk${body.length}`, queues: qs });
  }

  /** (id, queue) pairs the store still holds, as far as the broker knows. */
  held(): [number, string][] {
    const out: [number, string][] = [];
    for (const m of this.#msgs.values()) for (const [q, s] of m.queues) if (s.acked === 0) out.push([m.id, q]);
    return out;
  }

  heldBy(queue: string): number[] {
    return this.held().filter(([, q]) => q === queue).map(([id]) => id);
  }

  event(kind: 'ack' | 'delivered', id: number, q: string, batch: number): void {
    const s = this.#msgs.get(id)!.queues.get(q)!;
    if (kind === 'ack') s.acked = batch;
    else if (s.delivered === 0) s.delivered = batch;
  }

  synced(batch: number): void {
    this.#synced = Math.max(this.#synced, batch);
  }

  #certain(batch: number): boolean {
    return batch < 0 || batch <= this.#synced;
  }

  /** Checks what was recovered, then takes it as the new truth. */
  check(recovered: RecoveredMessage[], store: MessageStore, clean: boolean): void {
    const ids = recovered.map((m) => m.id);
    expect(ids, 'recovered in id order').toEqual([...ids].sort((a, b) => a - b));
    const got = new Map(recovered.map((m) => [m.id, m]));
    for (const m of this.#msgs.values()) {
      const r = got.get(m.id);
      for (const [q, s] of m.queues) {
        const rq = r?.queues.find((x) => x.name === q);
        const where = `message ${m.id} in ${q} (append batch ${m.batch}, ack ${s.acked}, delivered ${s.delivered}, synced ${this.#synced})`;
        if (s.acked !== 0 && this.#certain(s.acked)) expect(rq, `${where}: acked for sure, must be gone`).toBeUndefined();
        if (s.acked === 0 && this.#certain(m.batch)) expect(rq, `${where}: confirmed, must be there`).toBeDefined();
        if (clean) expect(rq !== undefined, `${where}: clean restart`).toBe(s.acked === 0);
        if (rq !== undefined) {
          if (s.delivered === 0) expect(rq.delivered, `${where}: never delivered`).toBe(false);
          else if (this.#certain(s.delivered)) expect(rq.delivered, `${where}: delivered for sure`).toBe(true);
        }
      }
    }
    for (const r of recovered) {
      const m = this.#msgs.get(r.id);
      expect(m, `recovered message ${r.id} was never appended`).toBeDefined();
      expect({ rk: r.routingKey, body: bodyOf(r, store), size: r.bodySize }).toEqual({ rk: m!.rk, body: m!.body, size: m!.body.length });
      for (const q of r.queues) expect(m!.queues.has(q.name), `message ${r.id} recovered in a queue it was never in: ${q.name}`).toBe(true);
    }
    expect(store.stats().messages).toBe(recovered.length);
    // what survived is the new truth, all of it on disk (ids of lost appends may be reused)
    this.#msgs.clear();
    this.#maxId = 0;
    for (const r of recovered) {
      const qs = new Map<string, QueueState>();
      for (const q of r.queues) qs.set(q.name, { acked: 0, delivered: q.delivered ? -1 : 0 });
      this.#msgs.set(r.id, { id: r.id, batch: -1, body: bodyOf(r, store), rk: r.routingKey, queues: qs });
      this.#maxId = Math.max(this.#maxId, r.id);
    }
    this.#synced = 0;
  }
}
