/**
 * A client that stops reading must not make the broker buffer for it without bound, nor
 * starve others. warren runs as a child process (its RSS is its own). One raw client
 * subscribes with no-ack to a busy queue and then pauses its socket (it reads nothing more);
 * a normal amqplib consumer on another connection shares the queue; a publisher pushes
 * 16 KiB messages, keeping the queue's backlog bounded.
 *
 * Expected: the broker stops delivering to the stalled connection once its socket is full
 * (write back-pressure) and gives the messages to the other consumer, which keeps receiving
 * in every window and gets nearly everything; the broker's RSS stays bounded although far
 * more data passes through than that bound.
 */
import { once } from 'node:events';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import amqplib from 'amqplib';
import type { ChannelModel } from 'amqplib';
import * as P from '../../src/protocol/generated.js';
import { external } from '../helpers/broker.js';
import { RawClient } from '../helpers/raw-client.js';
import { MiB, RssSampler } from '../helpers/rss.js';
import { WarrenProcess, removeTempDirs, tempDataDir } from '../helpers/warren-process.js';
import { withTimeout } from '../helpers/wait.js';

const QUEUE = 'sec-slow-busy';
const BODY = 16 * 1024;
/** 375 MiB in all: far more than the RSS bound below. */
const TOTAL = 24_000;
/** Most messages ready in the queue before the publisher waits for the consumer. */
const BACKLOG = 1000;
/** The stalled client may take what fits in socket buffers; the other consumer the rest. */
const MIN_GOOD_FRACTION = 0.8;
const RSS_GROWTH_BOUND = 250 * MiB;
const WINDOW_MS = 500;

afterEach(async () => {
  await WarrenProcess.killAll();
});
afterAll(() => removeTempDirs());

describe.skipIf(external)('a client that stops reading (child process)', () => {
  it('does not grow the broker without bound, and another consumer keeps receiving', { timeout: 180_000 }, async () => {
    const w = await WarrenProcess.start({ dataDir: tempDataDir() });
    const rss = new RssSampler(w.child.pid!, 20);
    const conns: ChannelModel[] = [];
    const slow = await RawClient.connect('127.0.0.1', w.port);
    try {
      const admin = await amqplib.connect(w.url);
      conns.push(admin);
      const ach = await admin.createChannel();
      await ach.assertQueue(QUEUE, { durable: false });

      // the stalled client: subscribes with no-ack, then reads nothing more
      await slow.handshake();
      await slow.openChannel(1);
      slow.sendMethod(1, P.encodeBasicConsume, {
        reserved1: 0, queue: QUEUE, consumerTag: 'stalled', noLocal: false, noAck: true, exclusive: false, noWait: false, arguments: new Map(),
      });
      await slow.expectMethod(1, 'basic.consume-ok');
      slow.socket.pause();

      // the healthy consumer, counting per window
      const good = await amqplib.connect(w.url);
      conns.push(good);
      const gch = await good.createChannel();
      let received = 0;
      let wake: (() => void) | undefined;
      await gch.consume(
        QUEUE,
        () => {
          received++;
          wake?.();
        },
        { noAck: true },
      );
      const progress = (): Promise<void> =>
        withTimeout(new Promise<void>((r) => (wake = r)), 10_000, `the healthy consumer to receive (has ${received})`);

      const baseline = rss.sample();
      const pub = await amqplib.connect(w.url);
      conns.push(pub);
      const pch = await pub.createChannel();
      const body = Buffer.alloc(BODY, 0x62);
      const windows: number[] = [];
      let windowStart = received;
      const timer = setInterval(() => {
        windows.push(received - windowStart);
        windowStart = received;
      }, WINDOW_MS);
      let published = 0;
      try {
        while (published < TOTAL) {
          for (let i = 0; i < 100; i++) {
            published++;
            if (!pch.publish('', QUEUE, body)) await withTimeout(once(pch, 'drain'), 30_000, 'publisher drain');
          }
          // keep the queue busy but bounded: its backlog is not what this test measures
          while ((await pch.checkQueue(QUEUE)).messageCount > BACKLOG) await progress();
        }
        // everything not stuck with the stalled client reaches the healthy consumer
        while ((await pch.checkQueue(QUEUE)).messageCount > 0) await progress();
      } finally {
        clearInterval(timer);
      }
      const peakGrowth = rss.peak - baseline;

      // it kept receiving: in every window while data flowed (not the last, partial one)
      const flowing = windows.slice(0, -1);
      expect(flowing.length).toBeGreaterThan(0);
      expect(flowing.filter((n) => n === 0), `messages per ${WINDOW_MS} ms window: ${flowing.join(' ')}`).toEqual([]);
      // and got nearly everything: the stalled client holds only what fits in socket buffers
      expect(received / published, `${received} of ${published} to the healthy consumer`).toBeGreaterThan(MIN_GOOD_FRACTION);
      expect(peakGrowth, `broker RSS grew ${Math.round(peakGrowth / MiB)} MiB while ${Math.round((published * BODY) / MiB)} MiB passed`).toBeLessThan(
        RSS_GROWTH_BOUND,
      );

      // the stalled connection still belongs to the broker: once it reads again, it gets
      // what was held for it, and it still answers
      slow.socket.resume();
      slow.sendMethod(1, P.encodeBasicCancel, { consumerTag: 'stalled', noWait: false });
      let held = 0;
      for (;;) {
        const f = await slow.nextFrame(30_000);
        if (f.type === P.FRAME_BODY) held++;
        if (f.type === P.FRAME_METHOD && P.decodeMethod(f.payload).name === 'basic.cancel-ok') break;
      }
      // no-ack: every message went to exactly one of the two
      expect(held + received).toBe(published);
    } finally {
      rss.stop();
      slow.destroy();
      for (const c of conns) await c.close().catch(() => {});
    }
  });
});
