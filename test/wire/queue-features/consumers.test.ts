/**
 * Queue features, who gets a message: single active consumer (x-single-active-consumer) and
 * consumer priorities (basic.consume argument x-priority).
 */
import { describe, expect, it } from 'vitest';
import type { Channel } from 'amqplib';
import { Collector } from '../../helpers/amqp.js';
import { useFeatures } from './common.js';

const f = useFeatures();

async function consumer(ch: Channel, q: string, args: Record<string, unknown> = {}, noAck = false): Promise<{ c: Collector; tag: string }> {
  const c = new Collector();
  const { consumerTag } = await ch.consume(q, c.onMessage, { noAck, arguments: args });
  return { c, tag: consumerTag };
}

describe('single active consumer', () => {
  it('one consumer gets every message; the next takes over when it cancels', async () => {
    const pub = await f.confirmChannel();
    const q = await f.queue(pub, 'sac', { 'x-single-active-consumer': true });
    const ch1 = await f.channel();
    const ch2 = await f.channel();
    const a = await consumer(ch1, q, {}, true);
    const b = await consumer(ch2, q, {}, true);
    expect((await pub.checkQueue(q)).consumerCount).toBe(2);
    for (const m of ['m1', 'm2', 'm3']) pub.sendToQueue(q, Buffer.from(m));
    await pub.waitForConfirms();
    await a.c.count(3);
    await ch1.cancel(a.tag);
    for (const m of ['m4', 'm5']) pub.sendToQueue(q, Buffer.from(m));
    await b.c.count(2);
    expect(a.c.bodies()).toEqual(['m1', 'm2', 'm3']);
    expect(b.c.bodies()).toEqual(['m4', 'm5']);
    await ch1.close();
    await ch2.close();
    await pub.close();
  });

  it('when the active consumer\'s channel closes, its unacked messages and the rest go to the next', async () => {
    const pub = await f.confirmChannel();
    const q = await f.queue(pub, 'sac-close', { 'x-single-active-consumer': true });
    const ch1 = await f.channel();
    await ch1.prefetch(1);
    const ch2 = await f.channel();
    const a = await consumer(ch1, q);
    const b = await consumer(ch2, q);
    for (const m of ['m1', 'm2', 'm3']) pub.sendToQueue(q, Buffer.from(m));
    await pub.waitForConfirms();
    await a.c.count(1);
    // the active consumer holds m1 (prefetch 1); the other waits with nothing
    expect((await pub.checkQueue(q)).messageCount).toBe(2);
    expect(b.c.messages).toHaveLength(0);
    await ch1.close();
    await b.c.count(3);
    expect(b.c.bodies()).toEqual(['m1', 'm2', 'm3']);
    expect(b.c.messages.map((m) => m.fields.redelivered)).toEqual([true, false, false]);
    for (const m of b.c.messages) ch2.ack(m);
    await ch2.close();
    await pub.close();
  });

  it('a later consumer with a higher x-priority does not take over the active one', async () => {
    const pub = await f.confirmChannel();
    const q = await f.queue(pub, 'sac-prio', { 'x-single-active-consumer': true });
    const ch = await f.channel();
    const a = await consumer(ch, q, {}, true);
    const b = await consumer(ch, q, { 'x-priority': 10 }, true);
    for (const m of ['m1', 'm2']) pub.sendToQueue(q, Buffer.from(m));
    await pub.waitForConfirms();
    await a.c.count(2);
    await ch.cancel(a.tag);
    pub.sendToQueue(q, Buffer.from('m3'));
    await b.c.count(1);
    expect(a.c.bodies()).toEqual(['m1', 'm2']);
    expect(b.c.bodies()).toEqual(['m3']);
    await ch.close();
    await pub.close();
  });
});

describe('consumer priorities (x-priority)', () => {
  it('the higher-priority consumer gets messages while it has credit, the lower one gets the rest', async () => {
    const pub = await f.confirmChannel();
    const q = await f.queue(pub, 'cprio');
    const low = await f.channel();
    const high = await f.channel();
    await high.prefetch(2);
    const l = await consumer(low, q, {});
    const h = await consumer(high, q, { 'x-priority': 10 });
    for (const m of ['m1', 'm2', 'm3', 'm4', 'm5']) pub.sendToQueue(q, Buffer.from(m));
    await pub.waitForConfirms();
    await h.c.count(2);
    await l.c.count(3);
    expect(h.c.bodies()).toEqual(['m1', 'm2']);
    expect(l.c.bodies()).toEqual(['m3', 'm4', 'm5']);
    // credit again: the next message goes to the high-priority consumer
    high.ack(h.c.messages[0]!);
    await high.checkQueue(q); // the ack is processed before the next publish
    pub.sendToQueue(q, Buffer.from('m6'));
    await h.c.count(3);
    expect(h.c.bodies()).toEqual(['m1', 'm2', 'm6']);
    expect(l.c.messages).toHaveLength(3);
    await low.close();
    await high.close();
    await pub.close();
  });

  it('equal priorities share round-robin; a negative priority is below the default', async () => {
    const pub = await f.confirmChannel();
    const q = await f.queue(pub, 'cprio-rr');
    const ch = await f.channel();
    const neg = await consumer(ch, q, { 'x-priority': -5 }, true);
    const a = await consumer(ch, q, { 'x-priority': 3 }, true);
    const b = await consumer(ch, q, { 'x-priority': 3 }, true);
    for (const m of ['m1', 'm2', 'm3', 'm4']) pub.sendToQueue(q, Buffer.from(m));
    await pub.waitForConfirms();
    await a.c.count(2);
    await b.c.count(2);
    expect(a.c.bodies()).toEqual(['m1', 'm3']);
    expect(b.c.bodies()).toEqual(['m2', 'm4']);
    await ch.cancel(a.tag);
    await ch.cancel(b.tag);
    pub.sendToQueue(q, Buffer.from('m5'));
    await neg.c.count(1);
    expect(neg.c.bodies()).toEqual(['m5']);
    await ch.close();
    await pub.close();
  });
});
