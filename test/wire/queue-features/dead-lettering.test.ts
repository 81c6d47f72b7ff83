/**
 * Queue features, dead-lettering: the x-death table exactly as RabbitMQ 3.10.8 writes it (key
 * order, field types — count `l`, time `T` —, values, x-first-death-*), dead-letter routing
 * keys, CC/BCC, cycle detection and the retry-with-back-off pattern
 * (../shared/reference/headers.md section 1).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConsumeMessage } from 'amqplib';
import { Collector, uniq } from '../../helpers/amqp.js';
import { RawSession, checkTimes, keys, nowSec, shape, type Shape } from './raw-get.js';
import { countReaches, useFeatures } from './common.js';

const f = useFeatures();
let raw: RawSession;
beforeAll(async () => {
  raw = await RawSession.open(f.tb);
});
afterAll(async () => {
  await raw.close();
});

/** An x-death entry with sorted keys (what RabbitMQ writes for any update of an existing x-death). */
function sorted(e: { exchange: string; queue: string; reason: string; rks: string[]; count?: number; origExp?: string }): Shape {
  const out: [string, Shape][] = [['count', `l ${e.count ?? 1}`], ['exchange', `S ${e.exchange}`]];
  if (e.origExp !== undefined) out.push(['original-expiration', `S ${e.origExp}`]);
  out.push(['queue', `S ${e.queue}`], ['reason', `S ${e.reason}`], ['routing-keys', e.rks.map((k) => `S ${k}`)], ['time', 'T <time>']);
  return out;
}

/** A first-ever x-death entry: keys in the order count, reason, queue, time, exchange, routing-keys[, original-expiration]. */
function first(e: { exchange: string; queue: string; reason: string; rks: string[]; origExp?: string }): Shape {
  const out: [string, Shape][] = [
    ['count', 'l 1'],
    ['reason', `S ${e.reason}`],
    ['queue', `S ${e.queue}`],
    ['time', 'T <time>'],
    ['exchange', `S ${e.exchange}`],
    ['routing-keys', e.rks.map((k) => `S ${k}`)],
  ];
  if (e.origExp !== undefined) out.push(['original-expiration', `S ${e.origExp}`]);
  return out;
}

const firstDeath = (exchange: string, queue: string, reason: string): [string, Shape][] => [
  ['x-first-death-exchange', `S ${exchange}`],
  ['x-first-death-queue', `S ${queue}`],
  ['x-first-death-reason', `S ${reason}`],
];

describe('x-death', () => {
  it('keeps the full history of a message rejected, then expired, then rejected again', async () => {
    const ch = await f.confirmChannel();
    const D = await f.queue(ch, 'dl-d');
    const C = await f.queue(ch, 'dl-c', { 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': D });
    const B = await f.queue(ch, 'dl-b', { 'x-message-ttl': 50, 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': C });
    const A = await f.queue(ch, 'dl-a', { 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': B });
    const rk = uniq('rk');
    await ch.bindQueue(A, 'amq.direct', rk);
    const from = nowSec();
    ch.publish('amq.direct', rk, Buffer.from('history'), {
      contentType: 'text/plain',
      messageId: 'm-history',
      expiration: '60000',
      headers: { zeta: 'z', CC: [`${rk}-cc`], BCC: [`${rk}-bcc`], alpha: 'a' },
    });
    await ch.waitForConfirms();

    // as delivered from A: BCC is gone, the other headers are as published
    const a = await raw.getEventually(A);
    expect(shape(a.props.headers)).toEqual([['zeta', 'S z'], ['CC', [`S ${rk}-cc`]], ['alpha', 'S a']]);
    expect(a.props.expiration).toBe('60000');
    raw.reject(a.getOk.deliveryTag, false);

    // A → B (rejected), B's TTL → C (expired)
    const c = await raw.getEventually(C);
    expect(c.getOk).toMatchObject({ redelivered: false, exchange: '', routingKey: C });
    expect(c.props.expiration).toBeUndefined();
    const hc = c.props.headers!;
    // the whole headers table is sorted; CC went when the dead-letter routing key replaced the keys
    expect(keys(hc)).toEqual(['alpha', 'x-death', 'x-first-death-exchange', 'x-first-death-queue', 'x-first-death-reason', 'zeta']);
    expect(checkTimes(shape(hc.get('x-death')), from, nowSec())).toEqual([
      sorted({ exchange: '', queue: B, reason: 'expired', rks: [B] }),
      first({ exchange: 'amq.direct', queue: A, reason: 'rejected', rks: [rk, `${rk}-cc`], origExp: '60000' }),
    ]);
    raw.reject(c.getOk.deliveryTag, false);

    // C → D (rejected): the new entry first; rabbitmq-compat: with two or more entries already
    // there RabbitMQ regroups them and they come out reversed, keys as they were
    const d = await raw.getEventually(D);
    const to = nowSec();
    expect(d.getOk).toMatchObject({ redelivered: false, exchange: '', routingKey: D, messageCount: 0 });
    expect(d.body.toString()).toBe('history');
    expect(d.props).toMatchObject({ contentType: 'text/plain', messageId: 'm-history', expiration: undefined });
    const h = d.props.headers!;
    expect(checkTimes(shape(h), from, to)).toEqual([
      ['alpha', 'S a'],
      [
        'x-death',
        [
          sorted({ exchange: '', queue: C, reason: 'rejected', rks: [C] }),
          first({ exchange: 'amq.direct', queue: A, reason: 'rejected', rks: [rk, `${rk}-cc`], origExp: '60000' }),
          sorted({ exchange: '', queue: B, reason: 'expired', rks: [B] }),
        ],
      ],
      ...firstDeath('amq.direct', A, 'rejected'),
      ['zeta', 'S z'],
    ]);
    await ch.close();
  });

  it('a long history: each new death goes first and the older entries flip order every time', async () => {
    const ch = await f.confirmChannel();
    const names = Array.from({ length: 5 }, (_, i) => uniq(`hist${i}`));
    try {
      for (let i = 0; i < names.length; i++) {
        const args = i < names.length - 1 ? { 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': names[i + 1] } : {};
        await ch.assertQueue(names[i]!, { durable: false, arguments: args });
      }
      const from = nowSec();
      ch.sendToQueue(names[0]!, Buffer.from('h'), { headers: { z: 'z', a: 'a' } });
      await ch.waitForConfirms();
      const history: string[][] = [];
      for (let i = 0; i < names.length; i++) {
        const m = await raw.getEventually(names[i]!);
        const deaths = checkTimes(shape(m.props.headers?.get('x-death')), from, nowSec());
        history.push(
          typeof deaths === 'string'
            ? []
            : (deaths as [string, Shape][][]).map((t) => {
                const q = String(t.find(([k]) => k === 'queue')![1]).slice(2);
                return `${names.indexOf(q)}${t[1]![0] === 'exchange' ? 's' : 'f'}`;
              }),
        );
        if (i > 0) expect(keys(m.props.headers)).toEqual(['a', 'x-death', 'x-first-death-exchange', 'x-first-death-queue', 'x-first-death-reason', 'z']);
        if (i < names.length - 1) raw.reject(m.getOk.deliveryTag, false);
        else raw.ack(m.getOk.deliveryTag);
      }
      // queue index + s(orted keys) / f(irst-death key order), as RabbitMQ 3.10.8 gives them
      expect(history).toEqual([[], ['0f'], ['1s', '0f'], ['2s', '0f', '1s'], ['3s', '1s', '0f', '2s']]);
    } finally {
      for (const q of names) await ch.deleteQueue(q);
      await ch.close();
    }
  });

  it('basic.reject through a fanout DLX keeps every property (headers.md 1a)', async () => {
    const ch = await f.confirmChannel();
    const dlx = await f.exchange(ch, 'dlx', 'fanout');
    const dead = await f.queue(ch, 'dead');
    await ch.bindQueue(dead, dlx, '');
    const src = await f.queue(ch, 'src-a', { 'x-dead-letter-exchange': dlx });
    const rk = uniq('rk-a');
    await ch.bindQueue(src, 'amq.direct', rk);
    const from = nowSec();
    ch.publish('amq.direct', rk, Buffer.from('a'), {
      contentType: 'text/plain',
      deliveryMode: 2,
      priority: 3,
      messageId: 'msg-a',
      timestamp: 1700000000,
      headers: { 'x-app': 'probe' },
    });
    await ch.waitForConfirms();
    const m = await raw.getEventually(src);
    raw.reject(m.getOk.deliveryTag, false);
    const d = await raw.getEventually(dead);
    expect(d.getOk).toMatchObject({ redelivered: false, exchange: dlx, routingKey: rk, messageCount: 0 });
    expect(d.flags.toString(16)).toBe('b8c0');
    expect(d.props).toMatchObject({ contentType: 'text/plain', deliveryMode: 2, priority: 3, messageId: 'msg-a', timestamp: 1700000000 });
    expect(checkTimes(shape(d.props.headers), from, nowSec())).toEqual([
      ['x-app', 'S probe'],
      ['x-death', [first({ exchange: 'amq.direct', queue: src, reason: 'rejected', rks: [rk] })]],
      ...firstDeath('amq.direct', src, 'rejected'),
    ]);
    expect(d.body.toString()).toBe('a');
    await ch.close();
  });

  it('per-message expiration moves to original-expiration (headers.md 1b)', async () => {
    const ch = await f.confirmChannel();
    const dead = await f.queue(ch, 'dead');
    const src = await f.queue(ch, 'src-b', { 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': dead });
    const from = nowSec();
    ch.sendToQueue(src, Buffer.from('b'), { expiration: '100', messageId: 'msg-b' });
    await ch.waitForConfirms();
    const d = await raw.getEventually(dead);
    expect(await raw.get(src)).toBeNull();
    expect(d.getOk).toMatchObject({ exchange: '', routingKey: dead });
    expect(d.flags.toString(16)).toBe('2080');
    expect(checkTimes(shape(d.props.headers), from, nowSec())).toEqual([
      ['x-death', [first({ exchange: '', queue: src, reason: 'expired', rks: [src], origExp: '100' })]],
      ...firstDeath('', src, 'expired'),
    ]);
    await ch.close();
  });

  it('x-dead-letter-routing-key replaces the routing key; without it the original keys (and CC) are used', async () => {
    const ch = await f.confirmChannel();
    const dlx = await f.exchange(ch, 'dlx', 'direct');
    const byKey = await f.queue(ch, 'by-key');
    const byOrig = await f.queue(ch, 'by-orig');
    const byCc = await f.queue(ch, 'by-cc');
    await ch.bindQueue(byKey, dlx, 'dl-key');
    await ch.bindQueue(byOrig, dlx, 'orig');
    await ch.bindQueue(byCc, dlx, 'orig-cc');
    const withKey = await f.queue(ch, 'with-key', { 'x-dead-letter-exchange': dlx, 'x-dead-letter-routing-key': 'dl-key' });
    const without = await f.queue(ch, 'without', { 'x-dead-letter-exchange': dlx });
    const x = await f.exchange(ch, 'src', 'direct');
    await ch.bindQueue(withKey, x, 'orig');
    await ch.bindQueue(without, x, 'orig');
    ch.publish(x, 'orig', Buffer.from('k'), { headers: { CC: ['orig-cc'] } });
    await ch.waitForConfirms();
    for (const q of [withKey, without]) {
      const m = await raw.getEventually(q);
      raw.reject(m.getOk.deliveryTag, false);
    }
    const k = await raw.getEventually(byKey);
    expect(k.getOk).toMatchObject({ exchange: dlx, routingKey: 'dl-key' });
    // the CC header goes with a dead-letter routing key; routing-keys still lists it
    expect(keys(k.props.headers)).toEqual(['x-death', 'x-first-death-exchange', 'x-first-death-queue', 'x-first-death-reason']);
    expect(shape(k.props.headers!.get('x-death'))[0]).toContainEqual(['routing-keys', ['S orig', 'S orig-cc']]);
    // without: routed with 'orig' and CC 'orig-cc', to both queues, headers kept
    const o = await raw.getEventually(byOrig);
    const c = await raw.getEventually(byCc);
    for (const m of [o, c]) {
      expect(m.getOk).toMatchObject({ exchange: dlx, routingKey: 'orig' });
      expect(keys(m.props.headers)).toEqual(['CC', 'x-death', 'x-first-death-exchange', 'x-first-death-queue', 'x-first-death-reason']);
      expect(m.props.headers!.get('x-first-death-queue')).toEqual({ type: 'S', value: without });
    }
    expect(await raw.get(byKey)).toBeNull();
    await ch.close();
  });

  it('CC routes a copy and stays on the message, BCC routes one and is removed (headers.md 1f)', async () => {
    const ch = await f.confirmChannel();
    const dlx = await f.exchange(ch, 'dlx', 'fanout');
    const dead = await f.queue(ch, 'dead');
    await ch.bindQueue(dead, dlx, '');
    const src = await f.queue(ch, 'src-f', { 'x-dead-letter-exchange': dlx });
    const bccQueue = await f.queue(ch, 'bcc');
    const rk = uniq('rk-f');
    await ch.bindQueue(src, 'amq.direct', rk);
    await ch.bindQueue(src, 'amq.direct', `${rk}-cc`);
    await ch.bindQueue(bccQueue, 'amq.direct', `${rk}-bcc`);
    const from = nowSec();
    ch.publish('amq.direct', rk, Buffer.from('f'), { headers: { CC: [`${rk}-cc`], BCC: [`${rk}-bcc`] } });
    await ch.waitForConfirms();
    const m = await raw.getEventually(src);
    expect(m.getOk).toMatchObject({ exchange: 'amq.direct', routingKey: rk });
    expect(m.flags.toString(16)).toBe('2000');
    expect(shape(m.props.headers)).toEqual([['CC', [`S ${rk}-cc`]]]);
    // bound twice (rk and the CC key), but one copy per queue
    expect(await raw.get(src)).toBeNull();
    const b = await raw.getEventually(bccQueue);
    expect(b.getOk).toMatchObject({ exchange: 'amq.direct', routingKey: rk });
    expect(shape(b.props.headers)).toEqual([['CC', [`S ${rk}-cc`]]]);
    raw.ack(b.getOk.deliveryTag);
    raw.reject(m.getOk.deliveryTag, false);
    const d = await raw.getEventually(dead);
    expect(d.getOk).toMatchObject({ exchange: dlx, routingKey: rk });
    expect(checkTimes(shape(d.props.headers), from, nowSec())).toEqual([
      ['CC', [`S ${rk}-cc`]],
      ['x-death', [first({ exchange: 'amq.direct', queue: src, reason: 'rejected', rks: [rk, `${rk}-cc`] })]],
      ...firstDeath('amq.direct', src, 'rejected'),
    ]);
    await ch.close();
  });

  it('dead-lettering routes with the BCC keys of the publish too, though no header shows them', async () => {
    const ch = await f.confirmChannel();
    const dlx = await f.exchange(ch, 'dlx', 'direct');
    const viaBcc = await f.queue(ch, 'via-bcc');
    await ch.bindQueue(viaBcc, dlx, 'k-bcc');
    const src = await f.queue(ch, 'src', { 'x-dead-letter-exchange': dlx });
    const x = await f.exchange(ch, 'x', 'direct');
    await ch.bindQueue(src, x, 'k');
    ch.publish(x, 'k', Buffer.from('bcc'), { headers: { BCC: ['k-bcc'] } });
    await ch.waitForConfirms();
    const m = await raw.getEventually(src);
    expect(shape(m.props.headers)).toEqual([]);
    raw.reject(m.getOk.deliveryTag, false);
    const d = await raw.getEventually(viaBcc);
    expect(d.getOk).toMatchObject({ exchange: dlx, routingKey: 'k' });
    expect(keys(d.props.headers)).toEqual(['x-death', 'x-first-death-exchange', 'x-first-death-queue', 'x-first-death-reason']);
    expect(shape(d.props.headers!.get('x-death'))[0]).toContainEqual(['routing-keys', ['S k']]);
    await ch.close();
  });

  it('a missing dead-letter exchange drops the message', async () => {
    const ch = await f.confirmChannel();
    const src = await f.queue(ch, 'src', { 'x-dead-letter-exchange': uniq('no-such-x') });
    ch.sendToQueue(src, Buffer.from('x'));
    await ch.waitForConfirms();
    const m = await raw.getEventually(src);
    raw.reject(m.getOk.deliveryTag, false);
    await countReaches(ch, src, 0);
    expect(await raw.get(src)).toBeNull();
    await ch.close();
  });
});

describe('dead-letter cycles', () => {
  it('Q1 → Q2 → Q1 by rejections is not a cycle: counts go up (headers.md 1e)', async () => {
    const ch = await f.confirmChannel();
    const q1 = uniq('cyc1');
    const q2 = uniq('cyc2');
    // the names refer to each other, so they are declared here (and deleted below)
    await ch.assertQueue(q1, { durable: false, arguments: { 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': q2 } });
    await ch.assertQueue(q2, { durable: false, arguments: { 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': q1 } });
    try {
      const from = nowSec();
      ch.sendToQueue(q1, Buffer.from('e'));
      await ch.waitForConfirms();
      let m = await raw.getEventually(q1);
      raw.reject(m.getOk.deliveryTag, false);

      const r1 = { exchange: '', queue: q1, reason: 'rejected', rks: [q1] };
      const r2 = { exchange: '', queue: q2, reason: 'rejected', rks: [q2] };
      m = await raw.getEventually(q2); // hop 1
      expect(m.getOk).toMatchObject({ exchange: '', routingKey: q2, redelivered: false });
      expect(checkTimes(shape(m.props.headers), from, nowSec())).toEqual([['x-death', [first(r1)]], ...firstDeath('', q1, 'rejected')]);
      raw.reject(m.getOk.deliveryTag, false);

      m = await raw.getEventually(q1); // hop 2
      expect(m.getOk).toMatchObject({ exchange: '', routingKey: q1 });
      expect(checkTimes(shape(m.props.headers), from, nowSec())).toEqual([
        ['x-death', [sorted(r2), first(r1)]],
        ...firstDeath('', q1, 'rejected'),
      ]);
      raw.reject(m.getOk.deliveryTag, false);

      m = await raw.getEventually(q2); // hop 3
      expect(m.getOk).toMatchObject({ exchange: '', routingKey: q2 });
      expect(checkTimes(shape(m.props.headers), from, nowSec())).toEqual([
        ['x-death', [sorted({ ...r1, count: 2 }), sorted(r2)]],
        ...firstDeath('', q1, 'rejected'),
      ]);
      raw.ack(m.getOk.deliveryTag);
    } finally {
      await ch.deleteQueue(q1);
      await ch.deleteQueue(q2);
      await ch.close();
    }
  });

  it('Q1 → Q2 → Q1 by TTL alone is a cycle: the message is dropped instead of entering Q1 again', async () => {
    const ch = await f.confirmChannel();
    const q1 = uniq('ttl-cyc1');
    const q2 = uniq('ttl-cyc2');
    const monitor = await f.queue(ch, 'monitor');
    // Q2 dead-letters to a fanout that reaches Q1 and a monitor queue
    const fan = await f.exchange(ch, 'back', 'fanout');
    try {
      await ch.assertQueue(q1, { durable: false, arguments: { 'x-message-ttl': 30, 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': q2 } });
      await ch.assertQueue(q2, { durable: false, arguments: { 'x-message-ttl': 30, 'x-dead-letter-exchange': fan } });
      await ch.bindQueue(q1, fan, '');
      await ch.bindQueue(monitor, fan, '');
      ch.sendToQueue(q1, Buffer.from('loop'));
      await ch.waitForConfirms();
      const m = await raw.getEventually(monitor);
      const deaths = shape(m.props.headers!.get('x-death')) as [string, Shape][][];
      expect(deaths.map((d) => [d.find(([k]) => k === 'queue')![1], d.find(([k]) => k === 'reason')![1]])).toEqual([
        [`S ${q2}`, 'S expired'],
        [`S ${q1}`, 'S expired'],
      ]);
      // the copy for Q1 was dropped by cycle detection when it was routed: Q1 is empty
      expect((await ch.checkQueue(q1)).messageCount).toBe(0);
      expect(await raw.get(q1)).toBeNull();
    } finally {
      await ch.deleteQueue(q1);
      await ch.deleteQueue(q2);
      await ch.close();
    }
  });
});

describe('retry with back-off', () => {
  it('work queue → DLX → wait queue with TTL → work queue, 3 retries, then the parking lot', async () => {
    const ch = await f.confirmChannel();
    const work = uniq('work');
    const wait = uniq('wait');
    const retryX = await f.exchange(ch, 'retry', 'direct');
    const parking = await f.queue(ch, 'parking-lot');
    try {
      await ch.assertQueue(work, { durable: false, arguments: { 'x-dead-letter-exchange': retryX, 'x-dead-letter-routing-key': 'wait' } });
      await ch.assertQueue(wait, { durable: false, arguments: { 'x-message-ttl': 40, 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': work } });
      await ch.bindQueue(wait, retryX, 'wait');

      const consumer = await f.channel();
      const seen: { body: string; retries: number; waits: number; redelivered: boolean }[] = [];
      const parked = new Collector();
      await consumer.consume(parking, parked.onMessage, { noAck: true });
      const countOf = (m: ConsumeMessage, queue: string, reason: string): number => {
        const deaths = (m.properties.headers?.['x-death'] ?? []) as { queue: string; reason: string; count: number }[];
        return deaths.find((d) => d.queue === queue && d.reason === reason)?.count ?? 0;
      };
      await consumer.consume(work, (m) => {
        if (m === null) return;
        const retries = countOf(m, work, 'rejected');
        seen.push({ body: m.content.toString(), retries, waits: countOf(m, wait, 'expired'), redelivered: m.fields.redelivered });
        if (retries < 3) consumer.nack(m, false, false);
        else {
          consumer.sendToQueue(parking, m.content, { headers: { 'x-retries': retries } });
          consumer.ack(m);
        }
      });
      ch.sendToQueue(work, Buffer.from('job-1'), { messageId: 'job-1' });
      await ch.waitForConfirms();
      await parked.count(1);
      expect(seen).toEqual([
        { body: 'job-1', retries: 0, waits: 0, redelivered: false },
        { body: 'job-1', retries: 1, waits: 1, redelivered: false },
        { body: 'job-1', retries: 2, waits: 2, redelivered: false },
        { body: 'job-1', retries: 3, waits: 3, redelivered: false },
      ]);
      expect(parked.bodies()).toEqual(['job-1']);
      expect(parked.messages[0]!.properties.headers).toEqual({ 'x-retries': 3 });
      await countReaches(ch, work, 0);
      await countReaches(ch, wait, 0);
      await consumer.close();
    } finally {
      await ch.deleteQueue(work);
      await ch.deleteQueue(wait);
      await ch.close();
    }
  });
});
