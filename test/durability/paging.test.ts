/**
 * A durable queue with a backlog beyond pageOutBytes keeps persistent bodies in the segment
 * files only and reads them back on delivery (in-process broker with a tiny threshold).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import amqplib from 'amqplib';
import { afterAll, describe, expect, it } from 'vitest';
import { startBroker, type RunningBroker } from '../../src/index.js';

describe('paging a large durable backlog', () => {
  const dir = mkdtempSync(join(tmpdir(), 'warren-paging-'));
  let broker: RunningBroker | undefined;
  afterAll(async () => {
    await broker?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('delivers every paged-out body intact and in order', async () => {
    broker = await startBroker({ dataDir: dir, pageOutBytes: 10_000 });
    const conn = await amqplib.connect(broker.url);
    const ch = await conn.createConfirmChannel();
    await ch.assertQueue('paged', { durable: true });
    const N = 2000;
    for (let i = 0; i < N; i++) ch.sendToQueue('paged', Buffer.from(`body-${i}-`.padEnd(100, 'x')), { persistent: true });
    await ch.waitForConfirms();
    const q = broker.broker.vhost('/')!.queues.get('paged')!;
    expect(q.messageCount).toBe(N);
    // 10,000 bytes of bodies stay in memory; the rest went to disk-only
    expect(q.pagedOutCount).toBeGreaterThan(N - 110);
    const got: string[] = [];
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`only ${got.length} of ${N} delivered`)), 15_000);
      void ch.consume('paged', (m) => {
        got.push(m!.content.toString());
        ch.ack(m!);
        if (got.length === N) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    expect(got).toEqual(Array.from({ length: N }, (_, i) => `body-${i}-`.padEnd(100, 'x')));
    await conn.close();
  });
});
