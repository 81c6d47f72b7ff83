/**
 * Messaging acceptance, consuming: prefetch (per consumer and per channel), consumer tags,
 * exclusive consumers, no-ack, round-robin, cancel, basic.get, ack/nack/reject, requeue
 * order, recover, and what happens to unacked messages when a channel or connection closes.
 * Texts are RabbitMQ 3.10.8's (../shared/reference/errors.md rows 112–140, headers.md 3–5).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Channel, ChannelModel, ConsumeMessage } from 'amqplib';
import { useBroker } from '../helpers/broker.js';
import {
  Collector,
  closed,
  connect,
  expectServerClose,
  expectUsable,
  getOne,
  openChannel,
  rpc,
  send,
  uniq,
  useCleanup,
  useSharedConnection,
} from '../helpers/amqp.js';
import { eventually } from '../helpers/wait.js';

const tb = useBroker();
const tidy = useCleanup(tb);

let conn: ChannelModel;
useSharedConnection(tb, (c) => (conn = c));
let other: ChannelModel;
beforeAll(async () => {
  other = await connect(tb.url);
});
afterAll(async () => {
  await other.close();
});

/** A non-durable queue holding `n` messages "0".."n-1" (published on `ch`). */
async function filled(ch: Channel, n: number, prefix = 'q'): Promise<string> {
  const q = tidy.queue(uniq(prefix));
  await ch.assertQueue(q, { durable: false });
  for (let i = 0; i < n; i++) ch.sendToQueue(q, Buffer.from(String(i)));
  // RabbitMQ answers a passive declare ahead of deliveries still in the queue's mailbox
  // (stat is a prioritised call), so wait until all are counted
  await eventually(async () => (await ch.checkQueue(q)).messageCount === n, 5000, `${n} messages in ${q}`);
  return q;
}

async function ready(ch: Channel, q: string): Promise<number> {
  return (await ch.checkQueue(q)).messageCount;
}

describe('prefetch', () => {
  it('global=false limits each consumer created afterwards', async () => {
    const ch = await openChannel(conn);
    const q1 = await filled(ch, 10);
    const q2 = await filled(ch, 10);
    await ch.prefetch(2); // amqplib: global=false
    const c1 = new Collector();
    const c2 = new Collector();
    await ch.consume(q1, c1.onMessage);
    await ch.consume(q2, c2.onMessage);
    await c1.count(2);
    await c2.count(2);
    // each queue handed out exactly two: the rest are still ready
    expect([await ready(ch, q1), await ready(ch, q2)]).toEqual([8, 8]);
    ch.ack(c1.messages[0]!);
    await c1.count(3);
    expect([await ready(ch, q1), await ready(ch, q2)]).toEqual([7, 8]);
    expect(c1.bodies()).toEqual(['0', '1', '2']);
    expect(c2.messages).toHaveLength(2);
    await ch.close();
  });

  it('global=true limits the channel as a whole', async () => {
    const ch = await openChannel(conn);
    const q1 = await filled(ch, 10);
    const q2 = await filled(ch, 10);
    await ch.prefetch(3, true);
    const c = new Collector();
    await ch.consume(q1, c.onMessage);
    await ch.consume(q2, c.onMessage);
    await c.count(3);
    expect((await ready(ch, q1)) + (await ready(ch, q2))).toBe(17);
    ch.ack(c.messages[0]!);
    await c.count(4);
    expect((await ready(ch, q1)) + (await ready(ch, q2))).toBe(16);
    await ch.close();
  });

  it('both at once: each consumer within its own limit and all within the channel limit', async () => {
    const ch = await openChannel(conn);
    const qs = [await filled(ch, 5), await filled(ch, 5), await filled(ch, 5), await filled(ch, 5)];
    await ch.prefetch(1, false);
    await ch.prefetch(3, true);
    const c = new Collector();
    for (const q of qs) await ch.consume(q, c.onMessage);
    await c.count(3);
    let readyTotal = 0;
    for (const q of qs) readyTotal += await ready(ch, q);
    expect(readyTotal).toBe(17);
    expect(new Set(c.messages.map((m) => m.fields.consumerTag)).size, 'one each').toBe(3);
    await ch.close();
  });

  it('a global=false qos lifts the channel-wide limit set before it', async () => {
    const ch = await openChannel(conn);
    const q = await filled(ch, 10);
    await ch.prefetch(2, true);
    await ch.prefetch(0, false);
    const c = new Collector();
    await ch.consume(q, c.onMessage);
    await c.count(10);
    await ch.close();
  });

  it('prefetch_size other than 0 closes the connection with 540 (errors.md 135)', async () => {
    const c = await connect(tb.url);
    const ch = await openChannel(c);
    await expectServerClose(c, 540, 'NOT_IMPLEMENTED - prefetch_size!=0 (1)', () =>
      rpc(ch, 'BasicQos', { prefetchSize: 1, prefetchCount: 0, global: false }, 'BasicQosOk'),
    );
  });
});

describe('consumers', () => {
  it('get a server-generated amq.ctag-… tag when they ask for none (headers.md 4)', async () => {
    const ch = await openChannel(conn);
    const q = await filled(ch, 0);
    const tags = new Set<string>();
    for (let i = 0; i < 3; i++) {
      const { consumerTag } = await ch.consume(q, () => {});
      expect(consumerTag).toMatch(/^amq\.ctag-[A-Za-z0-9_-]{22}$/);
      tags.add(consumerTag);
    }
    expect(tags.size).toBe(3);
    const { consumerTag } = await ch.consume(q, () => {}, { consumerTag: 'my-tag' });
    expect(consumerTag).toBe('my-tag');
    expect((await ch.checkQueue(q)).consumerCount).toBe(4);
    await ch.close();
  });

  it('a tag already used on the channel closes the connection with 530 (errors.md 123)', async () => {
    const c = await connect(tb.url);
    const ch = await openChannel(c);
    const q = await filled(ch, 0);
    await ch.consume(q, () => {}, { consumerTag: 'ref-dup' });
    await expectServerClose(c, 530, "NOT_ALLOWED - attempt to reuse consumer tag 'ref-dup'", () =>
      ch.consume(q, () => {}, { consumerTag: 'ref-dup' }),
    );
    // the same tag on another channel is fine
    const ch1 = await openChannel(conn);
    const ch2 = await openChannel(conn);
    await ch1.consume(q, () => {}, { consumerTag: 'ref-dup' });
    await ch2.consume(q, () => {}, { consumerTag: 'ref-dup' });
    await ch1.close();
    await ch2.close();
  });

  it('consuming from a missing queue is 404 (errors.md 126); x-priority must be an integer (128)', async () => {
    const ch = await openChannel(conn);
    const missing = uniq('missing');
    await expectServerClose(ch, 404, `NOT_FOUND - no queue '${missing}' in vhost '/'`, () => ch.consume(missing, () => {}));
    const ch2 = await openChannel(conn);
    const q = await filled(ch2, 0);
    await expectServerClose(ch2, 406, `PRECONDITION_FAILED - invalid arg 'x-priority' for queue '${q}' in vhost '/': "expected integer, got longstr"`, () =>
      ch2.consume(q, () => {}, { arguments: { 'x-priority': 'high' } }),
    );
    await expectUsable(conn);
  });

  it('an exclusive consumer keeps the queue to itself, and needs it to itself (errors.md 124, 125, 132)', async () => {
    const ch = await openChannel(conn);
    const q = await filled(ch, 0);
    const text = `ACCESS_REFUSED - queue '${q}' in vhost '/' in exclusive use`;
    await ch.consume(q, () => {}, { exclusive: true });
    const theirs = await openChannel(other);
    await expectServerClose(theirs, 403, text, () => theirs.consume(q, () => {}));
    await expectServerClose(ch, 403, text, () => ch.consume(q, () => {})); // same channel, too
    const shared = await filled(await openChannel(conn), 0);
    const ch2 = await openChannel(conn);
    await ch2.consume(shared, () => {});
    const theirs2 = await openChannel(other);
    await expectServerClose(theirs2, 403, `ACCESS_REFUSED - queue '${shared}' in vhost '/' in exclusive use`, () =>
      theirs2.consume(shared, () => {}, { exclusive: true }),
    );
    await expectUsable(other);
    await ch2.close();
  });

  it('no-ack: deliveries are settled on sending; nothing comes back when the channel closes', async () => {
    const ch = await openChannel(conn);
    const q = await filled(ch, 5);
    const consuming = await openChannel(conn);
    const c = new Collector();
    await consuming.consume(q, c.onMessage, { noAck: true });
    await c.count(5);
    expect(c.messages.map((m) => [m.content.toString(), m.fields.redelivered])).toEqual([
      ['0', false], ['1', false], ['2', false], ['3', false], ['4', false],
    ]);
    expect(c.messages.map((m) => m.fields.deliveryTag)).toEqual([1, 2, 3, 4, 5]);
    await consuming.close();
    expect(await ready(ch, q)).toBe(0);
    await ch.close();
  });

  it('acking a no-ack delivery is an unknown delivery tag (errors.md 115)', async () => {
    const ch = await openChannel(conn);
    const q = await filled(ch, 1);
    const m = await getOne(ch, q, { noAck: true });
    await expectServerClose(ch, 406, `PRECONDITION_FAILED - unknown delivery tag ${m.fields.deliveryTag}`, () => ch.ack(m));
  });

  it('several consumers of one queue take turns', async () => {
    const ch = await openChannel(conn);
    const q = await filled(ch, 0);
    const c = new Collector(); // both consumers feed it; consumerTag tells them apart
    const cha = await openChannel(conn);
    const chb = await openChannel(conn);
    await cha.consume(q, c.onMessage, { noAck: true, consumerTag: 'a' });
    await chb.consume(q, c.onMessage, { noAck: true, consumerTag: 'b' });
    for (let i = 0; i < 10; i++) ch.sendToQueue(q, Buffer.from(String(i)));
    await c.count(10);
    const owner = new Map(c.messages.map((m) => [m.content.toString(), m.fields.consumerTag]));
    const turns = Array.from({ length: 10 }, (_, i) => owner.get(String(i)));
    expect(turns.filter((t) => t === 'a')).toHaveLength(5);
    for (let i = 1; i < 10; i++) expect(turns[i], `message ${i} goes to the other consumer`).not.toBe(turns[i - 1]);
    await cha.close();
    await chb.close();
    await ch.close();
  });
});

describe('basic.cancel', () => {
  it('stops deliveries; the cancelled consumer may still ack what it got; an unknown tag is answered cancel-ok (errors.md 134)', async () => {
    const ch = await openChannel(conn);
    const q = await filled(ch, 5);
    await ch.prefetch(2);
    const c = new Collector();
    const { consumerTag } = await ch.consume(q, c.onMessage);
    await c.count(2);
    await ch.cancel(consumerTag);
    expect((await ch.checkQueue(q)).consumerCount).toBe(0);
    ch.ack(c.messages[1]!, true);
    expect(await ready(ch, q)).toBe(3);
    expect(c.messages).toHaveLength(2);
    expect(await rpc(ch, 'BasicCancel', { consumerTag: 'ref-no-such-tag', nowait: false }, 'BasicCancelOk')).toEqual({
      consumerTag: 'ref-no-such-tag',
    });
    await ch.close();
    const ch2 = await openChannel(conn);
    expect(await ready(ch2, q), 'acked deliveries stay acked').toBe(3);
    await ch2.close();
  });
});

describe('basic.get', () => {
  it('answers get-ok with the remaining message count, or get-empty', async () => {
    const ch = await openChannel(conn);
    const q = await filled(ch, 3);
    const counts: number[] = [];
    for (let i = 0; i < 3; i++) {
      const m = await ch.get(q, { noAck: true });
      expect(m).not.toBe(false);
      if (m === false) return;
      expect(m.content.toString()).toBe(String(i));
      expect(m.fields).toMatchObject({ redelivered: false, exchange: '', routingKey: q });
      counts.push(m.fields.messageCount);
    }
    expect(counts).toEqual([2, 1, 0]);
    expect(await ch.get(q)).toBe(false);
    const missing = uniq('missing');
    await expectServerClose(ch, 404, `NOT_FOUND - no queue '${missing}' in vhost '/'`, () => ch.get(missing));
  });

  it('gets and deliveries share the channel’s delivery tags', async () => {
    const ch = await openChannel(conn);
    const q = await filled(ch, 3);
    const first = await getOne(ch, q);
    const c = new Collector();
    await ch.consume(q, c.onMessage);
    await c.count(2);
    expect([first.fields.deliveryTag, ...c.messages.map((m) => m.fields.deliveryTag)]).toEqual([1, 2, 3]);
    await ch.close();
  });
});

describe('ack, nack and reject', () => {
  async function consumeAll(ch: Channel, q: string, n: number): Promise<ConsumeMessage[]> {
    const c = new Collector();
    await ch.consume(q, c.onMessage);
    await c.count(n);
    return c.messages;
  }

  it('multiple=true settles every outstanding tag up to the one named', async () => {
    const ch = await openChannel(conn);
    const q = await filled(ch, 6);
    const ms = await consumeAll(ch, q, 6);
    ch.ack(ms[2]!, true); // 1..3
    ch.nack(ms[4]!, true, false); // 4, 5 dropped
    ch.reject(ms[5]!, true); // 6 back
    await ch.close();
    const ch2 = await openChannel(conn);
    const back = await getOne(ch2, q, { noAck: true });
    expect([back.content.toString(), back.fields.redelivered, back.fields.messageCount]).toEqual(['5', true, 0]);
    await ch2.close();
  });

  it('ackAll (tag 0, multiple) settles everything; with nothing outstanding it is fine (errors.md 117)', async () => {
    const ch = await openChannel(conn);
    const q = await filled(ch, 4);
    await consumeAll(ch, q, 4);
    ch.ackAll();
    ch.ackAll();
    expect(await ready(ch, q)).toBe(0);
    await ch.close();
    const ch2 = await openChannel(conn);
    expect(await ready(ch2, q)).toBe(0);
    await ch2.close();
  });

  it('a requeued message returns to its original position, flagged redelivered', async () => {
    const ch = await openChannel(conn);
    const q = await filled(ch, 5);
    const got = [await getOne(ch, q), await getOne(ch, q), await getOne(ch, q)]; // 0, 1, 2 unacked
    ch.nack(got[1]!, false, true);
    ch.nack(got[0]!, false, true);
    const order: [string, boolean][] = [];
    for (let i = 0; i < 4; i++) {
      const m = await getOne(ch, q, { noAck: true });
      order.push([m.content.toString(), m.fields.redelivered]);
    }
    expect(order).toEqual([['0', true], ['1', true], ['3', false], ['4', false]]);
    ch.reject(got[2]!, true);
    const last = await getOne(ch, q, { noAck: true });
    expect([last.content.toString(), last.fields.redelivered, last.fields.messageCount]).toEqual(['2', true, 0]);
    await ch.close();
  });

  it('reject or nack without requeue drops the message', async () => {
    const ch = await openChannel(conn);
    const q = await filled(ch, 2);
    ch.reject(await getOne(ch, q), false);
    ch.nack(await getOne(ch, q), false, false);
    expect(await ready(ch, q)).toBe(0);
    await ch.close();
  });

  describe('an unknown delivery tag is 406 and closes the channel only', () => {
    const unknown = (n: number): string => `PRECONDITION_FAILED - unknown delivery tag ${n}`;

    it('ack of a tag never delivered (errors.md 112), nack (119), reject (121)', async () => {
      for (const method of ['BasicAck', 'BasicNack', 'BasicReject']) {
        const ch = await openChannel(conn);
        const fields = method === 'BasicReject' ? { deliveryTag: 99, requeue: false } : { deliveryTag: 99, multiple: false, requeue: false };
        await expectServerClose(ch, 406, unknown(99), () => send(ch, method, fields));
      }
      await expectUsable(conn);
    });

    it('ack twice (113), nack twice (120), reject after ack (122)', async () => {
      const cases: ((ch: Channel, m: ConsumeMessage) => void)[] = [
        (ch, m) => (ch.ack(m), ch.ack(m)),
        (ch, m) => (ch.nack(m, false, true), ch.nack(m, false, true)),
        (ch, m) => (ch.ack(m), ch.reject(m, true)),
      ];
      for (const twice of cases) {
        const ch = await openChannel(conn);
        const q = await filled(ch, 1);
        const [m] = await consumeAll(ch, q, 1);
        const otherCh = await openChannel(conn);
        await expectServerClose(ch, 406, unknown(1), () => twice(ch, m!));
        await otherCh.checkQueue(q); // the connection's other channels are untouched
        await otherCh.close();
      }
    });

    it('multiple=true with a tag beyond the outstanding ones (114); tag 0 multiple=false (118)', async () => {
      const ch = await openChannel(conn);
      const q = await filled(ch, 1);
      await consumeAll(ch, q, 1);
      await expectServerClose(ch, 406, unknown(5), () => send(ch, 'BasicAck', { deliveryTag: 5, multiple: true }));
      const ch2 = await openChannel(conn);
      await consumeAll(ch2, q, 1); // the message came back when ch closed
      await expectServerClose(ch2, 406, unknown(0), () => send(ch2, 'BasicAck', { deliveryTag: 0, multiple: false }));
    });

    it('a tag of another channel (116)', async () => {
      const ch1 = await openChannel(conn);
      const q = await filled(ch1, 1);
      const [m] = await consumeAll(ch1, q, 1);
      const ch2 = await openChannel(conn);
      await expectServerClose(ch2, 406, unknown(1), () => ch2.ack(m!));
      ch1.ack(m!);
      expect(await ready(ch1, q)).toBe(0);
      await ch1.close();
    });
  });
});

describe('basic.recover', () => {
  it('requeue=true redelivers every unacked message, flagged redelivered (headers.md 3)', async () => {
    const ch = await openChannel(conn);
    const q = await filled(ch, 3);
    const c = new Collector();
    await ch.consume(q, c.onMessage);
    await c.count(3);
    await ch.recover();
    await c.count(6);
    expect(c.messages.slice(3).map((m) => [m.content.toString(), m.fields.redelivered, m.fields.deliveryTag])).toEqual([
      ['0', true, 4], ['1', true, 5], ['2', true, 6],
    ]);
    ch.ackAll();
    await ch.close();
  });

  it('requeue=false closes the connection with 540, for recover and recover-async (errors.md 138, 139)', async () => {
    const c = await connect(tb.url);
    const ch = await openChannel(c);
    await expectServerClose(c, 540, 'NOT_IMPLEMENTED - requeue=false', () => rpc(ch, 'BasicRecover', { requeue: false }, 'BasicRecoverOk'));
    const c2 = await connect(tb.url);
    const ch2 = await openChannel(c2);
    await expectServerClose(c2, 540, 'NOT_IMPLEMENTED - requeue=false', () => send(ch2, 'BasicRecoverAsync', { requeue: false }));
  });
});

describe('unacked messages come back', () => {
  it('when their channel closes: in order, redelivered, for basic.get and consumers alike', async () => {
    const ch = await openChannel(conn);
    const q = await filled(ch, 4);
    const taking = await openChannel(conn);
    await getOne(taking, q);
    const c = new Collector();
    await taking.consume(q, c.onMessage);
    await c.count(3);
    expect(await ready(ch, q)).toBe(0);
    await taking.close();
    const back: [string, boolean][] = [];
    for (let i = 0; i < 4; i++) {
      const m = await getOne(ch, q, { noAck: true });
      back.push([m.content.toString(), m.fields.redelivered]);
    }
    expect(back).toEqual([['0', true], ['1', true], ['2', true], ['3', true]]);
    await ch.close();
  });

  it('when their connection closes', async () => {
    const ch = await openChannel(conn);
    const q = await filled(ch, 3);
    const c2 = await connect(tb.url);
    const taking = await openChannel(c2);
    const first = await getOne(taking, q);
    expect(first.fields.redelivered).toBe(false);
    const c = new Collector();
    await taking.consume(q, c.onMessage);
    await c.count(2);
    await c2.close();
    expect(await closed(c2)).toBeUndefined();
    const back = [await getOne(ch, q), await getOne(ch, q), await getOne(ch, q)];
    expect(back.map((m) => [m.content.toString(), m.fields.redelivered])).toEqual([['0', true], ['1', true], ['2', true]]);
    ch.ackAll();
    await ch.close();
  });

  it('when the server closes their channel with an error', async () => {
    const ch = await openChannel(conn);
    const q = await filled(ch, 2);
    const taking = await openChannel(conn);
    const c = new Collector();
    await taking.consume(q, c.onMessage);
    await c.count(2);
    await expectServerClose(taking, 404, "NOT_FOUND - no queue 'wt-definitely-missing' in vhost '/'", () =>
      taking.checkQueue('wt-definitely-missing'),
    );
    const m = await getOne(ch, q, { noAck: true });
    expect([m.content.toString(), m.fields.redelivered, m.fields.messageCount]).toEqual(['0', true, 1]);
    await ch.close();
  });
});
