/**
 * The data directory shrinks back: one million persistent 16-byte messages are published
 * with confirms and consumed with acks while warren runs as a child process; afterwards the
 * directory holds less than 10 MiB (segments are deleted once every message in them is
 * acked, the all-dead current segment starts afresh). And one old unacked message does not
 * pin every segment written after it: the store copies it forward (compaction).
 *
 * The clients are test/helpers/bulk-amqp.ts (warren's own codec, batched writes): amqplib
 * costs more CPU per message than the broker does, and this machine has two cores.
 * WARREN_DISK_MESSAGES=100000 for a quick run.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Collector, connect, openChannel, openConfirmChannel } from '../helpers/amqp.js';
import { BulkConsumer, BulkPublisher } from '../helpers/bulk-amqp.js';
import { WarrenProcess, dirBytes, removeTempDirs, tempDataDir } from '../helpers/warren-process.js';

afterEach(() => WarrenProcess.killAll());
afterAll(() => removeTempDirs());

const TOTAL = Number(process.env['WARREN_DISK_MESSAGES'] ?? 1_000_000);
const MiB = 1024 * 1024;
const mib = (n: number): string => (n / MiB).toFixed(2);

interface Flow {
  publishMs: number;
  totalMs: number;
  peak: number;
  /** bytes after the last ack's batch was synced */
  after: number;
}

/**
 * `total` messages through queue `queue`: published with confirms (window 10 000), consumed
 * with prefetch 5000 and an ack (multiple) every 500; the data directory sampled on the way.
 */
async function flow(w: WarrenProcess, dir: string, queue: string, total: number, sampleEvery: number): Promise<Flow> {
  const consumer = await BulkConsumer.open(w.port, queue, 5000);
  const publisher = await BulkPublisher.open(w.port, queue);
  let peak = 0;
  consumer.progressEvery = sampleEvery;
  consumer.onProgress = () => (peak = Math.max(peak, dirBytes(dir)));
  const t0 = Date.now();
  const consumed = consumer.consume(total, 500, 30_000);
  await publisher.publish(total, 16, 10_000, queue);
  const publishMs = Date.now() - t0;
  await consumed;
  const totalMs = Date.now() - t0;
  expect(consumer.outOfOrder).toBe(0);
  expect(publisher.confirmed).toBe(total);
  // barrier: a round trip on the consuming channel (the broker has handled the last ack),
  // then a confirmed persistent publish: its batch comes after the acks' batch, so once it
  // is confirmed the acks are synced and the dead segments are gone
  await consumer.sync(5000);
  const conn = await connect(w.url);
  const ch = await openConfirmChannel(conn);
  await ch.assertQueue('disk.barrier', { durable: true });
  ch.sendToQueue('disk.barrier', Buffer.from('x'), { persistent: true });
  await ch.waitForConfirms();
  const after = dirBytes(dir);
  await conn.close();
  consumer.close();
  publisher.close();
  return { publishMs, totalMs, peak: Math.max(peak, after), after };
}

describe('disk usage', () => {
  it(`is back under 10 MiB after ${TOTAL} persistent messages went through`, async () => {
    const dir = tempDataDir();
    const w = await WarrenProcess.start({ dataDir: dir });
    const f = await flow(w, dir, 'disk.q', TOTAL, 100_000);
    const segments = readdirSync(join(dir, 'msgs', '%2F'));
    console.log(
      `disk: ${TOTAL} messages of 16 bytes; all confirmed after ${f.publishMs} ms, all consumed after ${f.totalMs} ms ` +
        `(${Math.round(TOTAL / (f.totalMs / 1000))} msg/s through); data dir peak ≥ ${mib(f.peak)} MiB, ` +
        `after ${mib(f.after)} MiB in ${segments.length} segment file(s)`,
    );
    expect(f.after).toBeLessThan(10 * MiB);
    expect(await w.kill('SIGTERM')).toEqual({ code: 0, signal: null });
    expect(dirBytes(dir)).toBeLessThan(10 * MiB);
  }, 180_000);

  it('stays bounded while one old message is held unacked (compaction), and keeps that message', async () => {
    const dir = tempDataDir();
    const w = await WarrenProcess.start({ dataDir: dir });
    // the pinned message: first in the first segment, delivered and never acked
    const conn = await connect(w.url);
    const pin = await openConfirmChannel(conn);
    await pin.assertQueue('pinned.q', { durable: true });
    pin.sendToQueue('pinned.q', Buffer.from('pinned'), { persistent: true, messageId: 'the-one' });
    await pin.waitForConfirms();
    const holder = await openChannel(conn);
    const held = new Collector();
    await holder.consume('pinned.q', held.onMessage, { noAck: false });
    await held.count(1);

    // ~100 bytes of records per message: 400 000 messages write ~40 MB, five segments
    const n = Math.min(TOTAL, 400_000);
    const f = await flow(w, dir, 'disk.q', n, 20_000);
    const compactions = w.logs.filter((l) => l.msg === 'message store: compacting oldest segment');
    console.log(
      `disk with a pinned message: ${n} messages; data dir peak ≥ ${mib(f.peak)} MiB, after ${mib(f.after)} MiB; ` +
        `${compactions.length} compaction(s)`,
    );
    expect(compactions.length).toBeGreaterThan(0);
    // without compaction every segment would stay (≈ 40 MB); with it about three at most
    expect(f.peak).toBeLessThan(4 * 8 * MiB);
    expect(f.after).toBeLessThan(4 * 8 * MiB);

    // the copied message survives a crash, flagged as delivered
    await w.kill('SIGKILL');
    const w2 = await WarrenProcess.start({ dataDir: dir });
    const conn2 = await connect(w2.url);
    const ch2 = await openChannel(conn2);
    const again = new Collector();
    await ch2.consume('pinned.q', again.onMessage, { noAck: true });
    await again.count(1);
    expect(again.messages[0]!.content.toString()).toBe('pinned');
    expect(again.messages[0]!.properties.messageId).toBe('the-one');
    expect(again.messages[0]!.fields.redelivered).toBe(true);
    expect(await ch2.checkQueue('disk.q')).toMatchObject({ messageCount: 0 });
    await conn2.close();
    expect(await w2.kill('SIGTERM')).toEqual({ code: 0, signal: null });
  }, 180_000);
});
