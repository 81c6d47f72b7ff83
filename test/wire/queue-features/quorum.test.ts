/**
 * Queue features, quorum queues: x-queue-type quorum (durable only), x-delivery-count on
 * every delivery (`l`, 0 on the first), x-delivery-limit dropping or dead-lettering with
 * reason delivery_limit (../shared/reference/headers.md section 6; errors.md rows 36, 41–47).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectServerClose, uniq } from '../../helpers/amqp.js';
import { internalIt } from '../../helpers/broker.js';
import { RawSession, checkTimes, nowSec, shape } from './raw-get.js';
import { useFeatures } from './common.js';

const f = useFeatures();
let raw: RawSession;
beforeAll(async () => {
  raw = await RawSession.open(f.tb);
});
afterAll(async () => {
  await raw.close();
});

const quorum = (args: Record<string, unknown> = {}): Record<string, unknown> => ({ 'x-queue-type': 'quorum', ...args });
const invalid = (q: string, what: string): string => `PRECONDITION_FAILED - invalid ${what} for queue '${q}' in vhost '/'`;

describe('quorum queues', () => {
  it('are declared durable; redeclaring without the type is refused (errors.md 17)', async () => {
    const ch = await f.channel();
    const q = await f.queue(ch, 'qq', quorum(), { durable: true });
    expect(await ch.assertQueue(q, { durable: true, arguments: quorum() })).toEqual({ queue: q, messageCount: 0, consumerCount: 0 });
    await expectServerClose(
      ch,
      406,
      `PRECONDITION_FAILED - inequivalent arg 'x-queue-type' for queue '${q}' in vhost '/': received none but current is the value 'quorum' of type 'longstr'`,
      () => ch.assertQueue(q, { durable: true }),
    );
  });

  for (const [row, opts, what] of [
    [41, { durable: false }, "property 'non-durable'"],
    [42, { durable: true, exclusive: true }, "property 'exclusive-owner'"],
    [43, { durable: true, autoDelete: true }, "property 'auto-delete'"],
  ] as const) {
    it(`refuses ${what} (errors.md ${row})`, async () => {
      const ch = await f.channel();
      const q = uniq('qq-bad');
      await expectServerClose(ch, 406, invalid(q, what), () => ch.assertQueue(q, { ...opts, arguments: quorum() }));
    });
  }

  it('refuses x-max-priority (errors.md 44) and an unknown type (errors.md 36)', async () => {
    const ch = await f.channel();
    const q = uniq('qq-prio');
    await expectServerClose(ch, 406, `${invalid(q, "arg 'x-max-priority'")} of queue type rabbit_quorum_queue`, () =>
      ch.assertQueue(q, { durable: true, arguments: quorum({ 'x-max-priority': 10 }) }),
    );
    const ch2 = await f.channel();
    const b = uniq('bogus');
    await expectServerClose(ch2, 406, `${invalid(b, "arg 'x-queue-type'")}: "unsupported queue type 'bogus'"`, () =>
      ch2.assertQueue(b, { durable: true, arguments: { 'x-queue-type': 'bogus' } }),
    );
  });

  it('stream queues must be durable too (errors.md 47)', async () => {
    const ch = await f.channel();
    const q = uniq('stream');
    await expectServerClose(ch, 406, invalid(q, "property 'non-durable'"), () =>
      ch.assertQueue(q, { durable: false, arguments: { 'x-queue-type': 'stream' } }),
    );
  });

  internalIt('warren refuses stream queues with a clear text (RabbitMQ 3.10 has them)', async () => {
    const ch = await f.channel();
    const q = uniq('stream');
    await expectServerClose(
      ch,
      406,
      `${invalid(q, "arg 'x-queue-type'")}: "unsupported queue type 'stream': warren has classic and quorum queues only"`,
      () => ch.assertQueue(q, { durable: true, arguments: { 'x-queue-type': 'stream' } }),
    );
  });

  it('every delivery carries x-delivery-count; past x-delivery-limit the message is dropped (headers.md 6)', async () => {
    const ch = await f.confirmChannel();
    const q = await f.queue(ch, 'qq-limit', quorum({ 'x-delivery-limit': 2 }), { durable: true });
    ch.sendToQueue(q, Buffer.from('quorum'), { headers: { 'x-app': 'q' } });
    await ch.waitForConfirms();
    for (let attempt = 0; attempt <= 2; attempt++) {
      const m = await raw.getEventually(q);
      expect(m.getOk).toMatchObject({ redelivered: attempt > 0, exchange: '', routingKey: q, messageCount: 0 });
      expect(m.flags.toString(16)).toBe('2000');
      expect(shape(m.props.headers)).toEqual([['x-app', 'S q'], ['x-delivery-count', `l ${attempt}`]]);
      expect(m.body.toString()).toBe('quorum');
      raw.nack(m.getOk.deliveryTag, true);
    }
    await expectEmpty(q);
    expect((await ch.checkQueue(q)).messageCount).toBe(0);
    await ch.close();
  });

  it('adding x-delivery-count sorts the headers the publisher sent (rabbitmq-compat)', async () => {
    const ch = await f.confirmChannel();
    const q = await f.queue(ch, 'qq-order', quorum(), { durable: true });
    ch.sendToQueue(q, Buffer.from('o'), { headers: { zeta: 'z', alpha: 'a' } });
    ch.sendToQueue(q, Buffer.from('n'));
    await ch.waitForConfirms();
    const a = await raw.getEventually(q);
    expect(shape(a.props.headers)).toEqual([['alpha', 'S a'], ['x-delivery-count', 'l 0'], ['zeta', 'S z']]);
    const b = await raw.getEventually(q);
    expect(b.flags.toString(16)).toBe('2000');
    expect(shape(b.props.headers)).toEqual([['x-delivery-count', 'l 0']]);
    raw.ack(a.getOk.deliveryTag);
    raw.ack(b.getOk.deliveryTag);
    await ch.close();
  });

  it('past the limit with a dead-letter target: dead-lettered with reason delivery_limit', async () => {
    const ch = await f.confirmChannel();
    const dead = await f.queue(ch, 'qq-dead');
    const q = await f.queue(
      ch,
      'qq-dl',
      quorum({ 'x-delivery-limit': 1, 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': dead }),
      { durable: true },
    );
    const from = nowSec();
    ch.sendToQueue(q, Buffer.from('limit'), { messageId: 'msg-qq' });
    await ch.waitForConfirms();
    for (let attempt = 0; attempt <= 1; attempt++) {
      const m = await raw.getEventually(q);
      expect(m.getOk.redelivered).toBe(attempt > 0);
      expect(m.props.headers!.get('x-delivery-count')).toEqual({ type: 'l', value: attempt });
      raw.nack(m.getOk.deliveryTag, true);
    }
    const d = await raw.getEventually(dead);
    expect(d.getOk).toMatchObject({ redelivered: false, exchange: '', routingKey: dead, messageCount: 0 });
    expect(d.flags.toString(16)).toBe('2080');
    expect(checkTimes(shape(d.props.headers), from, nowSec())).toEqual([
      ['x-death', [[['count', 'l 1'], ['reason', 'S delivery_limit'], ['queue', `S ${q}`], ['time', 'T <time>'], ['exchange', 'S '], ['routing-keys', [`S ${q}`]]]]],
      ['x-first-death-exchange', 'S '],
      ['x-first-death-queue', `S ${q}`],
      ['x-first-death-reason', 'S delivery_limit'],
    ]);
    expect(d.props.messageId).toBe('msg-qq');
    await expectEmpty(q);
    await ch.close();
  });

  it('a delivery returned because its channel closed counts too (headers.md 6)', async () => {
    const ch = await f.confirmChannel();
    const q = await f.queue(ch, 'qq-close', quorum(), { durable: true });
    ch.sendToQueue(q, Buffer.from('close'));
    await ch.waitForConfirms();
    const other = await RawSession.open(f.tb);
    const first = await other.getEventually(q);
    expect(first.props.headers!.get('x-delivery-count')).toEqual({ type: 'l', value: 0 });
    await other.close();
    const second = await raw.getEventually(q);
    expect(second.getOk.redelivered).toBe(true);
    expect(second.props.headers!.get('x-delivery-count')).toEqual({ type: 'l', value: 1 });
    raw.reject(second.getOk.deliveryTag, true);
    const third = await raw.getEventually(q);
    expect(third.props.headers!.get('x-delivery-count')).toEqual({ type: 'l', value: 2 });
    raw.ack(third.getOk.deliveryTag);
    await ch.close();
  });

  it('accepts x-overflow reject-publish-dlx and a non-integer x-delivery-limit (errors.md 45, 46)', async () => {
    const ch = await f.channel();
    const a = await f.queue(ch, 'qq-overflow', quorum({ 'x-overflow': 'reject-publish-dlx' }), { durable: true });
    const b = await f.queue(ch, 'qq-dlimit', quorum({ 'x-delivery-limit': 'two' }), { durable: true });
    expect(await ch.checkQueue(a)).toEqual({ queue: a, messageCount: 0, consumerCount: 0 });
    expect(await ch.checkQueue(b)).toEqual({ queue: b, messageCount: 0, consumerCount: 0 });
    await ch.close();
  });
});

/** basic.get-empty: the message is gone for good. */
async function expectEmpty(q: string): Promise<void> {
  const m = await raw.get(q);
  expect(m === null ? null : { body: m.body.toString(), headers: shape(m.props.headers) }).toBeNull();
}
