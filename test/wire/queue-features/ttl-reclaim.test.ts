/**
 * Queue features, acceptance: "Expired messages at the head of a queue with 100,000 messages
 * under TTL are reclaimed within one second of expiry without a consumer attached, and
 * memory returns." Internal: it reads the queue object and the process's own memory.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect } from 'vitest';
import * as P from '../../../src/protocol/generated.js';
import { internalIt } from '../../helpers/broker.js';
import { RawClient, frameBytes, methodFrame } from '../../helpers/raw-client.js';
import { eventually } from '../../helpers/wait.js';
import { useFeatures } from './common.js';

const f = useFeatures();

/** global.gc, or one obtained by switching --expose-gc on at run time; undefined if neither works. */
function findGc(): (() => void) | undefined {
  const g = (globalThis as { gc?: () => void }).gc;
  if (typeof g === 'function') return g;
  try {
    setFlagsFromString('--expose-gc');
    const fn = runInNewContext('gc') as unknown;
    return typeof fn === 'function' ? (fn as () => void) : undefined;
  } catch {
    return undefined;
  }
}

/** Content header payload: class basic, weight 0, body size, no properties. */
function contentHeader(size: number): Buffer {
  const b = Buffer.alloc(14);
  b.writeUInt16BE(P.CLASS_BASIC, 0);
  b.writeBigUInt64BE(BigInt(size), 4);
  return b;
}

const used = (): number => {
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
};

describe('TTL at scale', () => {
  internalIt('100,000 expired messages are reclaimed within 1 s of expiry without a consumer, and memory returns', async () => {
    const n = 100_000;
    const ttl = 500;
    const ch = await f.confirmChannel();
    const name = await f.queue(ch, 'reclaim', { 'x-message-ttl': ttl });
    const queue = f.tb.warren!.broker.vhost('/')!.queues.get(name)!;
    // 100,000 publishes pre-encoded and written at once; a passive declare on the same
    // channel answers after the broker has handled every one of them
    const raw = await RawClient.connect(f.tb.host, f.tb.port);
    try {
      await raw.handshake();
      await raw.openChannel(1);
      const one = Buffer.concat([
        methodFrame(1, P.encodeBasicPublish, { reserved1: 0, exchange: '', routingKey: name, mandatory: false, immediate: false }),
        frameBytes(P.FRAME_HEADER, 1, contentHeader(200)),
        frameBytes(P.FRAME_BODY, 1, Buffer.alloc(200, 'x')),
      ]);
      const all = Buffer.allocUnsafe(one.length * n); // alive to the end: in every measurement
      for (let i = 0; i < n; i++) one.copy(all, i * one.length);
      const gc = findGc();
      gc?.();
      const before = used();

      raw.sendRaw(all);
      raw.sendMethod(1, P.encodeQueueDeclare, {
        reserved1: 0, queue: name, passive: true, durable: false, exclusive: false, autoDelete: false, noWait: false, arguments: new Map(),
      });
      await raw.expectMethod(1, 'queue.declare-ok', 30_000);
      // every message is enqueued by now: the last one expires by now + ttl
      const lastExpiry = Date.now() + ttl;
      // the oldest may have expired while the rest arrived; the newest are all still there
      expect(queue.messageCount).toBeGreaterThan(0);
      const peak = used();

      await eventually(() => queue.messageCount === 0, lastExpiry + 1000 - Date.now(), 'the queue to be empty within 1 s of the last expiry');
      expect(Date.now()).toBeLessThanOrEqual(lastExpiry + 1000);
      expect(queue.readyBytes).toBe(0);
      expect(queue.publishCount).toBe(n);

      if (gc !== undefined) {
        const grew = peak - before;
        expect(grew, `memory grew by ${grew} bytes while the messages were held`).toBeGreaterThan(0);
        // what the messages held (bodies, entries) goes back; what stays is noise. Buffers
        // are released by finalizers after a collection, hence a few rounds.
        const limit = before + Math.max(8 * 1024 * 1024, grew * 0.25);
        let after = Infinity;
        for (let round = 0; round < 10 && after >= limit; round++) {
          gc();
          await new Promise((r) => setImmediate(r));
          after = used();
        }
        expect(after, `before ${before}, peak ${peak}, after ${after}`).toBeLessThan(limit);
      }
      expect(all.length).toBe(one.length * n);
    } finally {
      await raw.close();
      await ch.close();
    }
  });
});
