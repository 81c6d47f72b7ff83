/**
 * Queue features, alternate exchanges (exchange argument alternate-exchange): what an
 * exchange cannot route goes to its AE; a mandatory publish gets no basic.return when the
 * AE routes it; AEs chain, loops end, and (rabbitmq-compat: rabbit_exchange:route1) every
 * exchange on an exchange-to-exchange path that matches nothing uses its own AE.
 */
import { describe, expect, it } from 'vitest';
import type { ConfirmChannel } from 'amqplib';
import { uniq } from '../../helpers/amqp.js';
import { useFeatures } from './common.js';

const f = useFeatures();

interface Outcome {
  returned: Record<string, unknown>[];
  acked: boolean;
}

/** Publishes and waits for the confirm; reports basic.returns that came for it. */
async function publish(ch: ConfirmChannel, x: string, rk: string, body: string, mandatory = true): Promise<Outcome> {
  const returned: Record<string, unknown>[] = [];
  const onReturn = (m: { fields: Record<string, unknown>; content: Buffer }): void => {
    if (m.content.toString() === body) returned.push(m.fields);
  };
  ch.on('return', onReturn);
  try {
    const acked = await new Promise<boolean>((resolve) => {
      ch.publish(x, rk, Buffer.from(body), { mandatory }, (err) => resolve(err === null || err === undefined));
    });
    return { returned, acked };
  } finally {
    ch.off('return', onReturn);
  }
}

async function bodies(ch: ConfirmChannel, q: string): Promise<string[]> {
  const out: string[] = [];
  for (;;) {
    const m = await ch.get(q, { noAck: true });
    if (m === false) return out;
    out.push(m.content.toString());
  }
}

describe('alternate-exchange', () => {
  it('unroutable messages go to the AE; mandatory gets no return when the AE routes them', async () => {
    const ch = await f.confirmChannel();
    const ae = await f.exchange(ch, 'ae', 'fanout');
    const x = await f.exchange(ch, 'main', 'direct', { 'alternate-exchange': ae });
    const routed = await f.queue(ch, 'routed');
    const unrouted = await f.queue(ch, 'unrouted');
    await ch.bindQueue(routed, x, 'known');
    await ch.bindQueue(unrouted, ae, '');
    expect(await publish(ch, x, 'known', 'k')).toEqual({ returned: [], acked: true });
    expect(await publish(ch, x, 'unknown', 'u')).toEqual({ returned: [], acked: true });
    expect(await bodies(ch, routed)).toEqual(['k']);
    const m = await ch.get(unrouted, { noAck: true });
    // delivered with the exchange and routing key it was published with
    expect(m !== false && { body: m.content.toString(), exchange: m.fields.exchange, routingKey: m.fields.routingKey }).toEqual({
      body: 'u',
      exchange: x,
      routingKey: 'unknown',
    });
    await ch.close();
  });

  it('when the AE cannot route it either, a mandatory publish comes back from the original exchange', async () => {
    const ch = await f.confirmChannel();
    const ae = await f.exchange(ch, 'ae-direct', 'direct');
    const x = await f.exchange(ch, 'main', 'direct', { 'alternate-exchange': ae });
    const q = await f.queue(ch, 'only-a');
    await ch.bindQueue(q, ae, 'a');
    expect(await publish(ch, x, 'a', 'via ae')).toEqual({ returned: [], acked: true });
    expect(await publish(ch, x, 'b', 'nowhere')).toEqual({
      returned: [{ replyCode: 312, replyText: 'NO_ROUTE', exchange: x, routingKey: 'b' }],
      acked: true,
    });
    expect(await bodies(ch, q)).toEqual(['via ae']);
    await ch.close();
  });

  it('AEs chain, and a loop of AEs ends', async () => {
    const ch = await f.confirmChannel();
    const z = await f.exchange(ch, 'z', 'fanout');
    const y = await f.exchange(ch, 'y', 'direct', { 'alternate-exchange': z });
    const x = await f.exchange(ch, 'x', 'direct', { 'alternate-exchange': y });
    const end = await f.queue(ch, 'end');
    await ch.bindQueue(end, z, '');
    expect(await publish(ch, x, 'any', 'chained')).toEqual({ returned: [], acked: true });
    expect(await bodies(ch, end)).toEqual(['chained']);
    // p and q name each other; neither routes anything
    const pName = uniq('loop-p');
    const qName = uniq('loop-q');
    await ch.assertExchange(pName, 'direct', { durable: false, arguments: { 'alternate-exchange': qName } });
    await ch.assertExchange(qName, 'direct', { durable: false, arguments: { 'alternate-exchange': pName } });
    try {
      expect(await publish(ch, pName, 'k', 'looping')).toEqual({
        returned: [{ replyCode: 312, replyText: 'NO_ROUTE', exchange: pName, routingKey: 'k' }],
        acked: true,
      });
    } finally {
      await ch.deleteExchange(pName);
      await ch.deleteExchange(qName);
    }
    await ch.close();
  });

  it('an AE that does not exist leaves the message unroutable', async () => {
    const ch = await f.confirmChannel();
    const x = await f.exchange(ch, 'main', 'fanout', { 'alternate-exchange': uniq('missing') });
    expect(await publish(ch, x, '', 'lost')).toEqual({
      returned: [{ replyCode: 312, replyText: 'NO_ROUTE', exchange: x, routingKey: '' }],
      acked: true,
    });
    await ch.close();
  });

  it('exchange-to-exchange: an exchange on the path that matches nothing uses its own AE', async () => {
    const ch = await f.confirmChannel();
    const ae = await f.exchange(ch, 'inner-ae', 'fanout');
    const inner = await f.exchange(ch, 'inner', 'direct', { 'alternate-exchange': ae });
    const outer = await f.exchange(ch, 'outer', 'fanout');
    const direct = await f.queue(ch, 'direct');
    const aeQueue = await f.queue(ch, 'ae-queue');
    const innerQueue = await f.queue(ch, 'inner-queue');
    await ch.bindExchange(inner, outer, '');
    await ch.bindQueue(direct, outer, '');
    await ch.bindQueue(aeQueue, ae, '');
    await ch.bindQueue(innerQueue, inner, 'match');
    // outer reaches a queue itself and inner; inner matches nothing → inner's AE too
    expect(await publish(ch, outer, 'no-match', 'm1')).toEqual({ returned: [], acked: true });
    // inner matches: its AE is not used
    expect(await publish(ch, outer, 'match', 'm2')).toEqual({ returned: [], acked: true });
    expect(await bodies(ch, direct)).toEqual(['m1', 'm2']);
    expect(await bodies(ch, aeQueue)).toEqual(['m1']);
    expect(await bodies(ch, innerQueue)).toEqual(['m2']);
    await ch.close();
  });
});
