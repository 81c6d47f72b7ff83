/**
 * Foundation acceptance: 1,000 client connections open at the same time (opened 100 at a
 * time), all closed cleanly; the broker serves a new connection afterwards and, in-process,
 * forgets every one of them.
 */
import { describe, expect, it } from 'vitest';
import amqplib from 'amqplib';
import { external, useBroker } from '../helpers/broker.js';
import { eventually } from '../helpers/wait.js';

const tb = useBroker();

const TOTAL = 1000;
const BATCH = 100;

describe('many connections', () => {
  it(`opens ${TOTAL} concurrent connections and closes them without error`, { timeout: 60_000 }, async () => {
    const before = external ? 0 : tb.warren!.broker.registry.connections.size;
    const conns: amqplib.ChannelModel[] = [];
    const errors: unknown[] = [];
    try {
      for (let i = 0; i < TOTAL; i += BATCH) {
        const batch = await Promise.all(Array.from({ length: BATCH }, () => amqplib.connect(tb.url)));
        for (const c of batch) c.on('error', (e) => errors.push(e));
        conns.push(...batch);
      }
      expect(conns.length).toBe(TOTAL);
      if (!external) expect(tb.warren!.broker.registry.connections.size).toBe(before + TOTAL);

      // every one of them is alive: a channel round trip on each (in batches)
      for (let i = 0; i < TOTAL; i += BATCH) {
        await Promise.all(
          conns.slice(i, i + BATCH).map(async (c) => {
            const ch = await c.createChannel();
            await ch.close();
          }),
        );
      }

      for (let i = 0; i < TOTAL; i += BATCH) {
        await Promise.all(conns.slice(i, i + BATCH).map((c) => c.close()));
      }
      conns.length = 0;
      expect(errors).toEqual([]);

      if (!external) {
        const registry = tb.warren!.broker.registry;
        await eventually(() => registry.connections.size === before, 5000, 'the broker to forget the closed connections');
      }

      const fresh = await amqplib.connect(tb.url);
      const ch = await fresh.createChannel();
      await ch.close();
      await fresh.close();
    } finally {
      await Promise.allSettled(conns.map((c) => c.close()));
    }
  });
});
