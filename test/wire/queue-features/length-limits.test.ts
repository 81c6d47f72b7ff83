/**
 * Queue features, length limits: x-max-length and x-max-length-bytes with the overflow
 * behaviours drop-head (the default; dead-lettered as maxlen with a DLX), reject-publish
 * (basic.nack under confirms, ../shared/reference/errors.md row 100) and reject-publish-dlx.
 * Only ready messages count; unacknowledged ones do not.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConfirmChannel } from 'amqplib';
import { Collector } from '../../helpers/amqp.js';
import { RawSession, checkTimes, nowSec, shape } from './raw-get.js';
import { countReaches, messageCount, useFeatures } from './common.js';

const f = useFeatures();
let raw: RawSession;
beforeAll(async () => {
  raw = await RawSession.open(f.tb);
});
afterAll(async () => {
  await raw.close();
});

/** Publishes and reports the broker's answer: 'ack' or 'nack'. */
function publish(ch: ConfirmChannel, q: string, body: string, opts: Record<string, unknown> = {}): Promise<'ack' | 'nack'> {
  return new Promise((resolve) => {
    ch.sendToQueue(q, Buffer.from(body), opts, (err) => resolve(err === null || err === undefined ? 'ack' : 'nack'));
  });
}

/** Every ready message's body, taken with no-ack gets. */
async function drain(ch: ConfirmChannel, q: string): Promise<string[]> {
  const out: string[] = [];
  for (;;) {
    const m = await ch.get(q, { noAck: true });
    if (m === false) return out;
    out.push(m.content.toString());
  }
}

describe('drop-head (default overflow)', () => {
  it('x-max-length keeps the newest messages', async () => {
    const ch = await f.confirmChannel();
    const q = await f.queue(ch, 'maxlen', { 'x-max-length': 3 });
    const answers = await Promise.all(['m1', 'm2', 'm3', 'm4', 'm5'].map((b) => publish(ch, q, b)));
    expect(answers).toEqual(['ack', 'ack', 'ack', 'ack', 'ack']);
    expect(await messageCount(ch, q)).toBe(3);
    expect(await drain(ch, q)).toEqual(['m3', 'm4', 'm5']);
    await ch.close();
  });

  it('dropped heads are dead-lettered with reason maxlen (headers.md 1d)', async () => {
    const ch = await f.confirmChannel();
    const dead = await f.queue(ch, 'dead');
    const q = await f.queue(ch, 'src-d', { 'x-max-length': 1, 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': dead });
    const from = nowSec();
    ch.sendToQueue(q, Buffer.from('first'), { messageId: 'msg-d1' });
    ch.sendToQueue(q, Buffer.from('second'), { messageId: 'msg-d2' });
    await ch.waitForConfirms();
    const d = await raw.getEventually(dead);
    expect(d.getOk).toMatchObject({ redelivered: false, exchange: '', routingKey: dead, messageCount: 0 });
    expect(d.flags.toString(16)).toBe('2080');
    expect(d.props.messageId).toBe('msg-d1');
    expect(d.body.toString()).toBe('first');
    expect(checkTimes(shape(d.props.headers), from, nowSec())).toEqual([
      ['x-death', [[['count', 'l 1'], ['reason', 'S maxlen'], ['queue', `S ${q}`], ['time', 'T <time>'], ['exchange', 'S '], ['routing-keys', [`S ${q}`]]]]],
      ['x-first-death-exchange', 'S '],
      ['x-first-death-queue', `S ${q}`],
      ['x-first-death-reason', 'S maxlen'],
    ]);
    expect(await drain(ch, q)).toEqual(['second']);
    await ch.close();
  });

  it('x-max-length-bytes counts body bytes; a message larger than the limit drops itself too', async () => {
    const ch = await f.confirmChannel();
    const q = await f.queue(ch, 'maxbytes', { 'x-max-length-bytes': 10 });
    for (const b of ['aaaa', 'bbbb', 'cccc']) ch.sendToQueue(q, Buffer.from(b), { headers: { 'x-padding': 'headers do not count'.repeat(10) } });
    await ch.waitForConfirms();
    expect(await drain(ch, q)).toEqual(['bbbb', 'cccc']);
    ch.sendToQueue(q, Buffer.from('ok'));
    ch.sendToQueue(q, Buffer.from('eleven byte'));
    await ch.waitForConfirms();
    expect(await messageCount(ch, q)).toBe(0);
    await ch.close();
  });

  it('only ready messages count: unacknowledged deliveries are not dropped', async () => {
    const ch = await f.confirmChannel();
    const q = await f.queue(ch, 'unacked', { 'x-max-length': 1 });
    ch.sendToQueue(q, Buffer.from('held'));
    await ch.waitForConfirms();
    const held = await raw.getEventually(q);
    ch.sendToQueue(q, Buffer.from('ready-1'));
    ch.sendToQueue(q, Buffer.from('ready-2'));
    await ch.waitForConfirms();
    expect(await messageCount(ch, q)).toBe(1);
    // the requeued message comes back at the head, and the limit applies again: drop-head
    // drops it at once (rabbitmq-compat: requeue_and_run → maybe_drop_head)
    raw.nack(held.getOk.deliveryTag, true);
    await countReaches(ch, q, 1);
    expect(await drain(ch, q)).toEqual(['ready-2']);
    await ch.close();
  });

  it('x-max-length 0 still hands a message to a waiting consumer', async () => {
    const ch = await f.confirmChannel();
    const q = await f.queue(ch, 'zero', { 'x-max-length': 0 });
    const consumer = await f.channel();
    const got = new Collector();
    const { consumerTag } = await consumer.consume(q, got.onMessage, { noAck: true });
    ch.sendToQueue(q, Buffer.from('straight through'));
    await got.count(1);
    await consumer.cancel(consumerTag);
    ch.sendToQueue(q, Buffer.from('dropped'));
    await ch.waitForConfirms();
    expect(await messageCount(ch, q)).toBe(0);
    expect(got.bodies()).toEqual(['straight through']);
    await consumer.close();
    await ch.close();
  });
});

describe('reject-publish', () => {
  it('the publisher gets basic.ack for the first and basic.nack multiple=true for the refused one (errors.md 100)', async () => {
    const ch = await f.channel();
    const q = await f.queue(ch, 'reject', { 'x-max-length': 1, 'x-overflow': 'reject-publish' });
    const r = await RawSession.open(f.tb);
    try {
      await r.confirmSelect();
      r.publish('', q, Buffer.from('one'));
      r.publish('', q, Buffer.from('two'));
      expect(await r.client.expectMethod(1, 'basic.ack')).toEqual({ deliveryTag: 1, multiple: false });
      // rabbitmq-compat: requeue=true (the default of RabbitMQ's nack record, errors.json row
      // 100); multiple=true when no earlier publish is unconfirmed at that moment, which on
      // RabbitMQ depends on when the first confirm left the queue process
      const nack = await r.client.expectMethod(1, 'basic.nack');
      expect(nack).toMatchObject({ deliveryTag: 2, requeue: true });
      expect(typeof nack.multiple).toBe('boolean');
    } finally {
      await r.close();
    }
    const m = await raw.getEventually(q);
    expect(m.body.toString()).toBe('one');
    raw.ack(m.getOk.deliveryTag);
    await ch.close();
  });

  it('accepts again once there is room; unacknowledged messages leave room', async () => {
    const ch = await f.confirmChannel();
    const q = await f.queue(ch, 'room', { 'x-max-length': 2, 'x-overflow': 'reject-publish' });
    expect(await Promise.all(['a', 'b', 'c'].map((b) => publish(ch, q, b)))).toEqual(['ack', 'ack', 'nack']);
    const a = await raw.getEventually(q); // 'a' unacked: one ready
    expect(a.body.toString()).toBe('a');
    expect(await publish(ch, q, 'd')).toBe('ack');
    expect(await publish(ch, q, 'e')).toBe('nack');
    raw.ack(a.getOk.deliveryTag);
    expect(await drain(ch, q)).toEqual(['b', 'd']);
    await ch.close();
  });

  it('x-max-length-bytes: a publish that would go over is refused', async () => {
    const ch = await f.confirmChannel();
    const q = await f.queue(ch, 'bytes', { 'x-max-length-bytes': 10, 'x-overflow': 'reject-publish' });
    expect(await publish(ch, q, '123456')).toBe('ack');
    expect(await publish(ch, q, '12345')).toBe('nack');
    expect(await publish(ch, q, '1234')).toBe('ack');
    expect(await publish(ch, q, '')).toBe('ack');
    expect(await publish(ch, q, 'x')).toBe('nack');
    expect(await drain(ch, q)).toEqual(['123456', '1234', '']);
    await ch.close();
  });

  it('one full queue nacks the publish; the other queues still get the message', async () => {
    const ch = await f.confirmChannel();
    const fan = await f.exchange(ch, 'fan', 'fanout');
    const full = await f.queue(ch, 'full', { 'x-max-length': 0, 'x-overflow': 'reject-publish' });
    const open = await f.queue(ch, 'open');
    await ch.bindQueue(full, fan, '');
    await ch.bindQueue(open, fan, '');
    const answer = await new Promise((resolve) => {
      ch.publish(fan, '', Buffer.from('both'), {}, (err) => resolve(err === null || err === undefined ? 'ack' : 'nack'));
    });
    expect(answer).toBe('nack');
    expect(await drain(ch, open)).toEqual(['both']);
    expect(await messageCount(ch, full)).toBe(0);
    await ch.close();
  });

  it('reject-publish-dlx: refused messages are nacked and dead-lettered with reason maxlen', async () => {
    const ch = await f.confirmChannel();
    const dead = await f.queue(ch, 'dead');
    const q = await f.queue(ch, 'reject-dlx', {
      'x-max-length': 1,
      'x-overflow': 'reject-publish-dlx',
      'x-dead-letter-exchange': '',
      'x-dead-letter-routing-key': dead,
    });
    const from = nowSec();
    expect(await publish(ch, q, 'kept')).toBe('ack');
    expect(await publish(ch, q, 'refused', { messageId: 'r1' })).toBe('nack');
    const d = await raw.getEventually(dead);
    expect(d.body.toString()).toBe('refused');
    expect(d.props.messageId).toBe('r1');
    expect(checkTimes(shape(d.props.headers), from, nowSec())).toEqual([
      ['x-death', [[['count', 'l 1'], ['reason', 'S maxlen'], ['queue', `S ${q}`], ['time', 'T <time>'], ['exchange', 'S '], ['routing-keys', [`S ${q}`]]]]],
      ['x-first-death-exchange', 'S '],
      ['x-first-death-queue', `S ${q}`],
      ['x-first-death-reason', 'S maxlen'],
    ]);
    expect(await drain(ch, q)).toEqual(['kept']);
    await ch.close();
  });
});
