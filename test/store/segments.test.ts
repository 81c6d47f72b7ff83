import { mkdtempSync, readdirSync, rmSync, statSync, truncateSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SegmentStore, segmentBytes } from '../../src/store/segments.js';
import type { RecoveredMessage } from '../../src/store/store.js';
import { silentLogger } from '../../src/util/logger.js';

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'warren-seg-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function open(dir: string, segmentSize?: number): { store: SegmentStore; recovered: RecoveredMessage[] } {
  const store = new SegmentStore(dir, { log: silentLogger(), segmentSize });
  const recovered: RecoveredMessage[] = [];
  store.recover((m) => recovered.push(m));
  return { store, recovered };
}

function synced(store: SegmentStore): Promise<number> {
  return new Promise((resolve) => store.whenSynced({ onStoreSynced: resolve }));
}

describe('SegmentStore', () => {
  it('confirms a batch only after it is written, and recovers unacked messages in order', async () => {
    const dir = tempDir();
    const { store } = open(dir);
    const props = Buffer.from([0x10, 0x00, 2]);
    const ids = [];
    for (let i = 0; i < 100; i++) ids.push(store.append('ex', `rk${i}`, props, Buffer.from(`body ${i}`), ['q1', 'q2']));
    const batch = store.batch;
    expect(await synced(store)).toBe(batch);
    store.ack(ids[0]!, 'q1');
    store.ack(ids[0]!, 'q2');
    store.ack(ids[1]!, 'q1');
    store.delivered(ids[2]!, 'q1');
    await store.close();

    const { store: again, recovered } = open(dir);
    expect(recovered.map((m) => m.id)).toEqual(ids.slice(1));
    expect(recovered[0]!.queues).toEqual([{ name: 'q2', delivered: false }]);
    expect(recovered[1]!.queues).toEqual([
      { name: 'q1', delivered: true },
      { name: 'q2', delivered: false },
    ]);
    expect(recovered[5]!.body!.toString()).toBe('body 6');
    expect(recovered[5]!.routingKey).toBe('rk6');
    expect(recovered[5]!.propsRaw).toEqual(props);
    // ids keep growing after a restart
    expect(again.append('ex', 'rk', props, Buffer.alloc(1), ['q1'])).toBe(ids.at(-1)! + 1);
    await again.close();
  });

  it('truncates a torn tail and keeps everything before it', async () => {
    const dir = tempDir();
    const { store } = open(dir);
    for (let i = 0; i < 10; i++) store.append('', 'q', Buffer.from([0, 0]), Buffer.from(`m${i}`), ['q']);
    await store.close();
    const [file] = readdirSync(dir);
    const path = join(dir, file!);
    const size = statSync(path).size;
    truncateSync(path, size - 3); // tear the last record
    const { store: s2, recovered } = open(dir);
    expect(recovered.map((m) => m.body!.toString())).toEqual(['m0', 'm1', 'm2', 'm3', 'm4', 'm5', 'm6', 'm7', 'm8']);
    await s2.close();
    // flip a byte inside record 5's body: records from 5 on are dropped
    const data = readFileSync(path);
    const at = data.indexOf(Buffer.from('m5'));
    data[at + 1] = 0x21;
    writeFileSync(path, data);
    const { store: s3, recovered: r3 } = open(dir);
    expect(r3.map((m) => m.body!.toString())).toEqual(['m0', 'm1', 'm2', 'm3', 'm4']);
    await s3.close();
  });

  it('deletes segments once every message in them is acked', async () => {
    const dir = tempDir();
    const { store } = open(dir, 64 * 1024);
    const body = Buffer.alloc(1000, 1);
    const ids: number[] = [];
    for (let i = 0; i < 1000; i++) ids.push(store.append('', 'q', Buffer.from([0, 0]), body, ['q']));
    await store.flush();
    expect(store.stats().segments).toBeGreaterThan(10);
    for (const id of ids) store.ack(id, 'q');
    await store.flush();
    expect(store.stats().segments).toBeLessThanOrEqual(2);
    expect(store.stats().messages).toBe(0);
    await store.close();
    const { store: s2, recovered } = open(dir);
    expect(recovered).toEqual([]);
    await s2.close();
  });

  it('dropQueue forgets a deleted queue\'s messages across restarts', async () => {
    const dir = tempDir();
    const { store } = open(dir);
    const a = store.append('', 'q', Buffer.from([0, 0]), Buffer.from('a'), ['q', 'other']);
    store.dropQueue('q', [a]);
    await store.close();
    const { store: s2, recovered } = open(dir);
    expect(recovered.map((m) => m.queues.map((q) => q.name))).toEqual([['other']]);
    await s2.close();
  });
});

describe('SegmentStore compaction', () => {
  it('an old unacked message does not pin every segment after it: it is copied forward', async () => {
    const dir = tempDir();
    const segmentSize = 16 * 1024;
    const store = new SegmentStore(dir, { log: silentLogger(), segmentSize, compactAbove: 4 * segmentSize });
    store.recover(() => {});
    const props = Buffer.from([0x10, 0x00, 2]);
    // routed to 300 queues (a wide record), held by one of them only
    const others = Array.from({ length: 299 }, (_, i) => `fast-${i}`);
    const pinned = store.append('x', 'pinned', props, Buffer.from('the pinned one'), [...others.slice(0, 150), 'slow', ...others.slice(150)]);
    store.delivered(pinned, 'slow');
    for (const q of others) store.ack(pinned, q);
    const body = Buffer.alloc(500, 7);
    let maxBytes = 0;
    for (let round = 0; round < 200; round++) {
      const ids: number[] = [];
      for (let i = 0; i < 20; i++) ids.push(store.append('x', 'k', props, body, ['fast']));
      await store.flush();
      for (const id of ids) store.ack(id, 'fast');
      await store.flush();
      maxBytes = Math.max(maxBytes, segmentBytes(dir));
    }
    // 200 rounds × 20 × ~530 bytes ≈ 2 MB went through 16 KiB segments
    expect(store.compactions).toBeGreaterThan(0);
    expect(maxBytes).toBeLessThan(8 * segmentSize);
    expect(store.readBody(pinned).toString()).toBe('the pinned one');
    await store.close();
    const again = new SegmentStore(dir, { log: silentLogger(), segmentSize });
    const recovered: RecoveredMessage[] = [];
    again.recover((m) => recovered.push(m));
    expect(recovered.map((m) => [m.id, m.routingKey, m.body!.toString(), m.queues])).toEqual([
      [pinned, 'pinned', 'the pinned one', [{ name: 'slow', delivered: true }]],
    ]);
    await again.close();
  });

  it('reads a moved body from the old segment until the copy is on disk', async () => {
    const dir = tempDir();
    const segmentSize = 4096;
    const store = new SegmentStore(dir, { log: silentLogger(), segmentSize, compactAbove: 2 * segmentSize });
    store.recover(() => {});
    const props = Buffer.from([0, 0]);
    const pinned = store.append('', 'q', props, Buffer.from('still here'), ['q']);
    const body = Buffer.alloc(300, 1);
    for (let i = 0; i < 200; i++) {
      const id = store.append('', 'q', props, body, ['q']);
      store.ack(id, 'q');
      expect(store.readBody(pinned).toString()).toBe('still here');
      if (i % 7 === 0) await new Promise((r) => setImmediate(r));
    }
    await store.flush();
    expect(store.compactions).toBeGreaterThan(0);
    expect(store.readBody(pinned).toString()).toBe('still here');
    await store.close();
  });
});
