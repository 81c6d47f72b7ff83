/**
 * Queue features, policies: message-ttl, max-length, overflow and dead-letter-exchange set on
 * queues at run time, without redeclaring them. Internal: the policy is put through the
 * broker object (`tb.warren.broker.policies`); the management API's PUT /api/policies path
 * is tested with the management API.
 */
import { afterEach, describe, expect } from 'vitest';
import { Collector, uniq } from '../../helpers/amqp.js';
import { internalIt } from '../../helpers/broker.js';
import type { Policy } from '../../../src/broker/policies.js';
import { RawSession } from './raw-get.js';
import { countReaches, messageCount, useFeatures } from './common.js';

const f = useFeatures();
const put: string[] = [];

function setPolicy(pattern: string, definition: Record<string, unknown>, extra: Partial<Policy> = {}): string {
  const name = uniq('policy');
  f.tb.warren!.broker.policies.put({ vhost: '/', name, pattern, applyTo: 'queues', priority: 0, definition, ...extra });
  put.push(name);
  return name;
}

afterEach(() => {
  for (const name of put.splice(0)) f.tb.warren?.broker.policies.delete('/', name);
});

const only = (q: string): string => `^${q}$`;

describe('policies', () => {
  internalIt('message-ttl and dead-letter-exchange apply to an existing queue and to new messages', async () => {
    const ch = await f.confirmChannel();
    const dead = await f.queue(ch, 'dead');
    const q = await f.queue(ch, 'pol-ttl');
    ch.sendToQueue(q, Buffer.from('before'));
    await ch.waitForConfirms();
    setPolicy(only(q), { 'message-ttl': 30, 'dead-letter-exchange': '', 'dead-letter-routing-key': dead });
    ch.sendToQueue(q, Buffer.from('after'));
    await ch.waitForConfirms();
    // the message already there keeps the expiry it had (none); the new one expires at once
    // behind it only when it reaches the head
    const raw = await RawSession.open(f.tb);
    try {
      const first = await raw.getEventually(q);
      expect(first.body.toString()).toBe('before');
      raw.ack(first.getOk.deliveryTag);
      const d = await raw.getEventually(dead);
      expect(d.body.toString()).toBe('after');
      expect(d.props.headers!.get('x-first-death-reason')).toEqual({ type: 'S', value: 'expired' });
      expect(await raw.get(q)).toBeNull();
    } finally {
      await raw.close();
    }
    await ch.close();
  });

  internalIt('max-length trims the queue as soon as it applies and keeps it trimmed', async () => {
    const ch = await f.confirmChannel();
    const q = await f.queue(ch, 'pol-maxlen');
    for (const b of ['m1', 'm2', 'm3', 'm4', 'm5']) ch.sendToQueue(q, Buffer.from(b));
    await ch.waitForConfirms();
    setPolicy(only(q), { 'max-length': 2 });
    expect(await messageCount(ch, q)).toBe(2);
    ch.sendToQueue(q, Buffer.from('m6'));
    await ch.waitForConfirms();
    const got: string[] = [];
    for (let m = await ch.get(q, { noAck: true }); m !== false; m = await ch.get(q, { noAck: true })) got.push(m.content.toString());
    expect(got).toEqual(['m5', 'm6']);
    await ch.close();
  });

  internalIt('overflow reject-publish from a policy nacks publishes; deleting the policy lifts it', async () => {
    const ch = await f.confirmChannel();
    const q = await f.queue(ch, 'pol-reject');
    const name = setPolicy(only(q), { 'max-length': 1, overflow: 'reject-publish' });
    const publish = (b: string): Promise<boolean> =>
      new Promise((resolve) => ch.sendToQueue(q, Buffer.from(b), {}, (err) => resolve(err === null || err === undefined)));
    expect([await publish('a'), await publish('b')]).toEqual([true, false]);
    f.tb.warren!.broker.policies.delete('/', name);
    expect(await publish('c')).toBe(true);
    await countReaches(ch, q, 2);
    await ch.close();
  });

  internalIt('a queue argument wins for the dead-letter exchange; for limits the lower value applies', async () => {
    const ch = await f.confirmChannel();
    const byArg = await f.queue(ch, 'by-arg');
    const byPolicy = await f.queue(ch, 'by-policy');
    const q = await f.queue(ch, 'pol-mixed', { 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': byArg, 'x-max-length': 3 });
    setPolicy(only(q), { 'dead-letter-exchange': '', 'dead-letter-routing-key': byPolicy, 'max-length': 1 });
    for (const b of ['m1', 'm2']) ch.sendToQueue(q, Buffer.from(b));
    await ch.waitForConfirms();
    expect(await messageCount(ch, q)).toBe(1);
    const d = await ch.get(byArg, { noAck: true });
    expect(d !== false && d.content.toString()).toBe('m1');
    expect(await messageCount(ch, byPolicy)).toBe(0);
    await ch.close();
  });

  internalIt('applies to queues declared after it, by pattern, the highest priority winning', async () => {
    const ch = await f.confirmChannel();
    const prefix = uniq('pol-later');
    setPolicy(`^${prefix}`, { 'max-length': 1 }, { priority: 1 });
    setPolicy(`^${prefix}-b`, { 'max-length': 2 }, { priority: 5 });
    const a = `${prefix}-a`;
    const b = `${prefix}-b`;
    const other = await f.queue(ch, 'pol-other');
    for (const name of [a, b]) await ch.assertQueue(name, { durable: false, autoDelete: false });
    try {
      for (const name of [a, b, other]) for (const body of ['1', '2', '3']) ch.sendToQueue(name, Buffer.from(body));
      await ch.waitForConfirms();
      expect([await messageCount(ch, a), await messageCount(ch, b), await messageCount(ch, other)]).toEqual([1, 2, 3]);
    } finally {
      await ch.deleteQueue(a);
      await ch.deleteQueue(b);
    }
    const consumer = await f.channel();
    const got = new Collector();
    await consumer.consume(other, got.onMessage, { noAck: true });
    await got.count(3);
    await consumer.close();
    await ch.close();
  });
});
