/**
 * Queue features, message priorities (x-max-priority 1–255): higher priority first, FIFO
 * within a priority, priorities above the maximum count as the maximum, no priority property
 * is 0, and requeued messages go back where they were.
 */
import { describe, expect, it } from 'vitest';
import type { Channel } from 'amqplib';
import { Collector, expectServerClose } from '../../helpers/amqp.js';
import { countReaches, useFeatures } from './common.js';

const f = useFeatures();

async function bodies(ch: Channel, q: string): Promise<string[]> {
  const out: string[] = [];
  for (;;) {
    const m = await ch.get(q, { noAck: true });
    if (m === false) return out;
    out.push(m.content.toString());
  }
}

describe('x-max-priority', () => {
  it('delivers higher priorities first and keeps publish order within a priority', async () => {
    const ch = await f.confirmChannel();
    const q = await f.queue(ch, 'prio', { 'x-max-priority': 10 });
    const sent: [string, number | undefined][] = [
      ['a0', 0], ['b5', 5], ['c-none', undefined], ['d10', 10], ['e5', 5], ['f1', 1], ['g10', 10], ['h0', 0],
    ];
    for (const [body, priority] of sent) ch.sendToQueue(q, Buffer.from(body), priority === undefined ? {} : { priority });
    await ch.waitForConfirms();
    expect(await bodies(ch, q)).toEqual(['d10', 'g10', 'b5', 'e5', 'f1', 'a0', 'c-none', 'h0']);
    await ch.close();
  });

  it('a priority above the maximum counts as the maximum', async () => {
    const ch = await f.confirmChannel();
    const q = await f.queue(ch, 'prio-cap', { 'x-max-priority': 3 });
    ch.sendToQueue(q, Buffer.from('p3'), { priority: 3 });
    ch.sendToQueue(q, Buffer.from('p9'), { priority: 9 });
    ch.sendToQueue(q, Buffer.from('p2'), { priority: 2 });
    ch.sendToQueue(q, Buffer.from('p255'), { priority: 255 });
    await ch.waitForConfirms();
    expect(await bodies(ch, q)).toEqual(['p3', 'p9', 'p255', 'p2']);
    await ch.close();
  });

  it('works at the bounds: x-max-priority 1 and 255', async () => {
    const ch = await f.confirmChannel();
    const one = await f.queue(ch, 'prio-1', { 'x-max-priority': 1 });
    const top = await f.queue(ch, 'prio-255', { 'x-max-priority': 255 });
    for (const [body, priority] of [['low', 0], ['high', 1], ['higher', 200]] as const) {
      ch.sendToQueue(one, Buffer.from(body), { priority });
      ch.sendToQueue(top, Buffer.from(body), { priority });
    }
    await ch.waitForConfirms();
    expect(await bodies(ch, one)).toEqual(['high', 'higher', 'low']);
    expect(await bodies(ch, top)).toEqual(['higher', 'high', 'low']);
    await ch.close();
  });

  it('drop-head in a priority queue drops the head, i.e. the highest priority, not the oldest', async () => {
    const ch = await f.confirmChannel();
    const q = await f.queue(ch, 'prio-maxlen', { 'x-max-priority': 5, 'x-max-length': 2 });
    for (const [body, priority] of [['a1', 1], ['b5', 5], ['c0', 0], ['d3', 3]] as const) {
      ch.sendToQueue(q, Buffer.from(body), { priority });
    }
    await ch.waitForConfirms();
    // [b5 a1] + c0 → b5 dropped; [a1 c0] + d3 → d3 (now the head) dropped
    expect(await bodies(ch, q)).toEqual(['a1', 'c0']);
    await ch.close();
  });

  it('x-max-priority above 255 is refused (errors.md 33)', async () => {
    const ch = await f.channel();
    const name = `wt-prio-300-${Date.now()}`;
    await expectServerClose(
      ch,
      406,
      `PRECONDITION_FAILED - invalid arg 'x-max-priority' for queue '${name}' in vhost '/': {max_value_exceeded,300}`,
      () => ch.assertQueue(name, { durable: false, arguments: { 'x-max-priority': 300 } }),
    );
  });

  it('requeued messages go back in their place, ahead of later ones of the same priority', async () => {
    const ch = await f.confirmChannel();
    const q = await f.queue(ch, 'prio-requeue', { 'x-max-priority': 5 });
    for (const [body, priority] of [['h1', 5], ['l1', 1], ['h2', 5], ['l2', 1], ['h3', 5]] as const) {
      ch.sendToQueue(q, Buffer.from(body), { priority });
    }
    await ch.waitForConfirms();
    const consumer = await f.channel();
    await consumer.prefetch(3);
    const got = new Collector();
    const { consumerTag } = await consumer.consume(q, got.onMessage);
    await got.count(3);
    expect(got.bodies()).toEqual(['h1', 'h2', 'h3']);
    await consumer.cancel(consumerTag);
    ch.sendToQueue(q, Buffer.from('h4'), { priority: 5 });
    await ch.waitForConfirms();
    // given back out of order, h3 then h1; h2 stays held until the channel closes
    consumer.nack(got.messages[2]!, false, true);
    consumer.nack(got.messages[0]!, false, true);
    await countReaches(ch, q, 5);
    await consumer.close();
    const all: [string, boolean][] = [];
    for (;;) {
      const m = await ch.get(q, { noAck: true });
      if (m === false) break;
      all.push([m.content.toString(), m.fields.redelivered]);
    }
    expect(all).toEqual([
      ['h1', true],
      ['h2', true],
      ['h3', true],
      ['h4', false],
      ['l1', false],
      ['l2', false],
    ]);
    await ch.close();
  });
});
