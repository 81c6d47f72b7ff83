/**
 * Messaging acceptance, ordering and at-least-once delivery: one publisher → one queue → one
 * consumer keeps publish order over 100,000 messages; requeued messages come back at the
 * head, in their original order, flagged redelivered; unacked messages of a consumer whose
 * channel or connection goes away all reach another consumer.
 */
import { describe, expect, it } from 'vitest';
import type { Channel, ChannelModel, ConsumeMessage } from 'amqplib';
import { useBroker } from '../helpers/broker.js';
import { Collector, closed, connect, openChannel, uniq, useCleanup, useSharedConnection } from '../helpers/amqp.js';
import { withTimeout } from '../helpers/wait.js';

const tb = useBroker();
const tidy = useCleanup(tb);

let conn: ChannelModel;
useSharedConnection(tb, (c) => (conn = c));

async function queue(ch: Channel, prefix: string): Promise<string> {
  const q = tidy.queue(uniq(prefix));
  await ch.assertQueue(q, { durable: false });
  return q;
}

function seqBody(i: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(i, 0);
  return b;
}

const seqOf = (m: ConsumeMessage): number => m.content.readUInt32BE(0);

/** Publishes seq 0..n-1, honouring amqplib's write buffer (publish() false → wait for 'drain'). */
async function publishSeq(ch: Channel, q: string, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    if (!ch.sendToQueue(q, seqBody(i))) {
      await withTimeout(new Promise((resolve) => ch.once('drain', resolve)), 10_000, 'drain');
    }
  }
}

describe('ordering', () => {
  it('one publisher, one queue, one consumer: 100,000 messages in publish order', { timeout: 30_000 }, async () => {
    const n = 100_000;
    const pub = await openChannel(conn);
    const q = await queue(pub, 'order');
    const subConn = await connect(tb.url); // its own socket, as a separate consumer process has
    const sub = await openChannel(subConn);
    await sub.prefetch(1000);
    let next = 0;
    let wrong = -1;
    let redelivered = 0;
    const done = new Promise<void>((resolve) => {
      void sub.consume(q, (m) => {
        if (m === null) return;
        if (seqOf(m) !== next && wrong < 0) wrong = next;
        if (m.fields.redelivered) redelivered++;
        next++;
        if (next % 100 === 0) sub.ack(m, true);
        if (next === n) resolve();
      });
    });
    await publishSeq(pub, q, n);
    await withTimeout(done, 25_000, `${n} deliveries (got ${next})`);
    expect(wrong, 'first out-of-order position').toBe(-1);
    expect(redelivered).toBe(0);
    expect((await pub.checkQueue(q)).messageCount).toBe(0);
    await subConn.close();
    await pub.close();
  });

  it('a nacked (requeued) delivery comes back next, at the head, flagged redelivered', async () => {
    const n = 2000;
    const ch = await openChannel(conn);
    const q = await queue(ch, 'requeue-head');
    await publishSeq(ch, q, n);
    await ch.prefetch(1); // one in flight: the queue's head is visible in the delivery order
    const seen: [number, boolean][] = [];
    const done = new Promise<void>((resolve) => {
      void ch.consume(q, (m) => {
        if (m === null) return;
        const s = seqOf(m);
        seen.push([s, m.fields.redelivered]);
        if (s % 10 === 3 && !m.fields.redelivered) ch.nack(m, false, true);
        else ch.ack(m);
        if (s === n - 1) resolve();
      });
    });
    await withTimeout(done, 20_000, 'all deliveries');
    const expected: [number, boolean][] = [];
    for (let s = 0; s < n; s++) {
      expected.push([s, false]);
      if (s % 10 === 3) expected.push([s, true]);
    }
    expect(seen).toEqual(expected);
    await ch.close();
  });

  it('a batch nacked at once comes back in its original order before everything after it', async () => {
    const ch = await openChannel(conn);
    const q = await queue(ch, 'requeue-batch');
    await publishSeq(ch, q, 30);
    await ch.prefetch(10);
    const c = new Collector();
    await ch.consume(q, c.onMessage);
    await c.count(10);
    ch.nack(c.messages[9]!, true, true); // 0..9 back to the queue, ahead of 10..29
    await c.count(20);
    expect(c.messages.slice(10, 20).map((m) => [seqOf(m), m.fields.redelivered])).toEqual(
      Array.from({ length: 10 }, (_, i) => [i, true]),
    );
    ch.ack(c.messages[19]!, true);
    await c.count(30);
    ch.ack(c.messages[29]!, true);
    await c.count(40);
    expect(c.messages.slice(20).map((m) => [seqOf(m), m.fields.redelivered])).toEqual(
      Array.from({ length: 20 }, (_, i) => [i + 10, false]),
    );
    await ch.close();
  });
});

describe('at-least-once', () => {
  it('a consumer that closes its channel with 500 unacked messages loses none: another gets all 500, redelivered', async () => {
    const pub = await openChannel(conn);
    const q = await queue(pub, 'alo-channel');
    await publishSeq(pub, q, 500);
    const first = await openChannel(conn);
    const a = new Collector();
    await first.consume(q, a.onMessage);
    await a.count(500);
    expect(a.messages.every((m) => !m.fields.redelivered)).toBe(true);
    const second = await openChannel(conn);
    const b = new Collector();
    await second.consume(q, b.onMessage);
    expect((await pub.checkQueue(q)).messageCount, 'all 500 are held by the first consumer').toBe(0);
    await first.close();
    await b.count(500);
    expect(b.messages.map(seqOf)).toEqual(Array.from({ length: 500 }, (_, i) => i));
    expect(b.messages.every((m) => m.fields.redelivered)).toBe(true);
    second.ackAll();
    await second.close();
    expect((await pub.checkQueue(q)).messageCount).toBe(0);
    await pub.close();
  });

  it('the same when the consumer’s TCP connection just drops', async () => {
    const pub = await openChannel(conn);
    const q = await queue(pub, 'alo-tcp');
    await publishSeq(pub, q, 500);
    const doomed = await connect(tb.url);
    const ch = await openChannel(doomed);
    const a = new Collector();
    await ch.consume(q, a.onMessage);
    await a.count(500);
    const b = new Collector();
    const second = await openChannel(conn);
    await second.consume(q, b.onMessage);
    // no connection.close: the socket is destroyed under amqplib
    (doomed.connection as unknown as { stream: { destroy(e: Error): void } }).stream.destroy(new Error('dropped'));
    await withTimeout(closed(doomed), 5000, 'amqplib to notice');
    await b.count(500);
    expect(b.messages.map(seqOf)).toEqual(Array.from({ length: 500 }, (_, i) => i));
    expect(b.messages.every((m) => m.fields.redelivered)).toBe(true);
    second.ackAll();
    await second.close();
    await pub.close();
  });
});
