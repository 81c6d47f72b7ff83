/**
 * The data directory shrinks back: one million persistent 16-byte messages are published
 * with confirms and consumed with acks while warren runs as a child process; afterwards the
 * directory holds less than 10 MiB (segments are deleted once every message in them is
 * acked, the all-dead current segment starts afresh).
 *
 * The clients are test/helpers/bulk-amqp.ts (warren's own codec, batched writes): amqplib
 * costs more CPU per message than the broker does, and this machine has two cores.
 * WARREN_DISK_MESSAGES=100000 for a quick run.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { connect, openConfirmChannel } from '../helpers/amqp.js';
import { BulkConsumer, BulkPublisher } from '../helpers/bulk-amqp.js';
import { WarrenProcess, dirBytes, removeTempDirs, tempDataDir } from '../helpers/warren-process.js';

afterEach(() => WarrenProcess.killAll());
afterAll(() => removeTempDirs());

const TOTAL = Number(process.env['WARREN_DISK_MESSAGES'] ?? 1_000_000);
const MiB = 1024 * 1024;

describe('disk usage', () => {
  it(`is back under 10 MiB after ${TOTAL} persistent messages went through`, async () => {
    const dir = tempDataDir();
    const w = await WarrenProcess.start({ dataDir: dir });
    const consumer = await BulkConsumer.open(w.port, 'disk.q', 5000);
    const publisher = await BulkPublisher.open(w.port, 'disk.q');
    let peak = 0;
    consumer.onProgress = () => (peak = Math.max(peak, dirBytes(dir)));

    const t0 = Date.now();
    const consumed = consumer.consume(TOTAL, 500, 30_000);
    await publisher.publish(TOTAL, 16, 10_000, 'disk.q');
    const publishMs = Date.now() - t0;
    await consumed;
    const totalMs = Date.now() - t0;
    expect(consumer.outOfOrder).toBe(0);
    expect(publisher.confirmed).toBe(TOTAL);

    // barrier: a round trip on the consuming channel (the broker has handled the last ack),
    // then a confirmed persistent publish: its batch comes after the acks' batch, so once it
    // is confirmed the acks are synced and the dead segments are gone
    await consumer.sync(5000);
    const conn = await connect(w.url);
    const ch = await openConfirmChannel(conn);
    await ch.assertQueue('disk.barrier', { durable: true });
    ch.sendToQueue('disk.barrier', Buffer.from('x'), { persistent: true });
    await ch.waitForConfirms();
    const size = dirBytes(dir);
    const segments = readdirSync(join(dir, 'msgs', '%2F'));
    console.log(
      `disk: ${TOTAL} messages of 16 bytes; all confirmed after ${publishMs} ms, all consumed after ${totalMs} ms ` +
        `(${Math.round(TOTAL / (totalMs / 1000))} msg/s through); data dir peak ≥ ${(peak / MiB).toFixed(1)} MiB, ` +
        `after ${(size / MiB).toFixed(2)} MiB in ${segments.length} segment file(s)`,
    );
    expect(size).toBeLessThan(10 * MiB);

    await conn.close();
    consumer.close();
    publisher.close();
    expect(await w.kill('SIGTERM')).toEqual({ code: 0, signal: null });
    expect(dirBytes(dir)).toBeLessThan(10 * MiB);
  }, 180_000);
});
