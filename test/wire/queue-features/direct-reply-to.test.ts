/**
 * Queue features, direct reply-to: a requester consumes from the pseudo-queue
 * amq.rabbitmq.reply-to (no-ack), publishes with reply_to "amq.rabbitmq.reply-to", the
 * server sees a rewritten reply_to (amq.rabbitmq.reply-to.<token>) and answers to it through
 * the default exchange. Misuse as in ../shared/reference/errors.md rows 107–111; names as in
 * headers.md section 4.
 */
import { describe, expect, it } from 'vitest';
import type { Channel, ConsumeMessage } from 'amqplib';
import { Collector, closed, expectServerClose } from '../../helpers/amqp.js';
import { eventually, withTimeout } from '../../helpers/wait.js';
import { useFeatures } from './common.js';

const f = useFeatures();
const REPLY_TO = 'amq.rabbitmq.reply-to';

/** A responder: answers every request on `q` with "re: <body>" and the same correlation id. */
async function responder(ch: Channel, q: string, seen?: ConsumeMessage[]): Promise<void> {
  await ch.consume(
    q,
    (m) => {
      if (m === null) return;
      seen?.push(m);
      ch.publish('', m.properties.replyTo as string, Buffer.from(`re: ${m.content.toString()}`), {
        correlationId: m.properties.correlationId,
      });
    },
    { noAck: true },
  );
}

describe('direct reply-to', () => {
  it('the server answers to the rewritten reply_to and the requester gets it on its reply consumer', async () => {
    const requester = await f.channel();
    const server = await f.channel();
    const q = await f.queue(server, 'rpc');
    const seen: ConsumeMessage[] = [];
    await responder(server, q, seen);
    const replies = new Collector();
    const { consumerTag } = await requester.consume(REPLY_TO, replies.onMessage, { noAck: true });
    expect(consumerTag).toMatch(/^amq\.ctag-[A-Za-z0-9_-]{22}$/);
    requester.sendToQueue(q, Buffer.from('ping'), { replyTo: REPLY_TO, correlationId: 'c1' });
    requester.sendToQueue(q, Buffer.from('ping again'), { replyTo: REPLY_TO, correlationId: 'c2' });
    await replies.count(2);
    // one name per channel, the same for every publish on it
    const name = seen[0]!.properties.replyTo as string;
    expect(name.startsWith(`${REPLY_TO}.`)).toBe(true);
    expect(name.length).toBeGreaterThan(REPLY_TO.length + 10);
    expect(seen[1]!.properties.replyTo).toBe(name);
    const [r1, r2] = replies.messages;
    expect(r1!.fields).toMatchObject({ consumerTag, redelivered: false, exchange: '', routingKey: name });
    expect(r1!.content.toString()).toBe('re: ping');
    expect(r1!.properties.correlationId).toBe('c1');
    expect(r2!.properties.correlationId).toBe('c2');
    await requester.close();
    await server.close();
  });

  it('a reply published mandatory is delivered and still comes back NO_ROUTE; CC can name a requester too', async () => {
    const requester = await f.channel();
    const server = await f.confirmChannel();
    const q = await f.queue(server, 'rpc-mandatory');
    const other = await f.queue(server, 'rpc-other');
    const seen: ConsumeMessage[] = [];
    await server.consume(q, (m) => m !== null && seen.push(m), { noAck: true });
    const replies = new Collector();
    await requester.consume(REPLY_TO, replies.onMessage, { noAck: true });
    requester.sendToQueue(q, Buffer.from('req'), { replyTo: REPLY_TO });
    await eventually(() => seen.length === 1, 5000, 'the request');
    const name = seen[0]!.properties.replyTo as string;
    const returns: Record<string, unknown>[] = [];
    server.on('return', (m: { fields: Record<string, unknown> }) => returns.push(m.fields));
    // rabbitmq-compat: the reply-to name is no queue, so the router reports no route
    server.publish('', name, Buffer.from('mandatory reply'), { mandatory: true });
    await server.waitForConfirms();
    expect(returns).toEqual([{ replyCode: 312, replyText: 'NO_ROUTE', exchange: '', routingKey: name }]);
    // sender-selected distribution: a queue and a requester in one publish
    server.publish('', other, Buffer.from('cc reply'), { headers: { CC: [name] } });
    await server.waitForConfirms();
    await replies.count(2);
    expect(replies.bodies()).toEqual(['mandatory reply', 'cc reply']);
    expect(replies.messages[1]!.fields).toMatchObject({ exchange: '', routingKey: other });
    const copy = await server.get(other, { noAck: true });
    expect(copy !== false && copy.content.toString()).toBe('cc reply');
    await requester.close();
    await server.close();
  });

  it('each channel gets its own reply-to name', async () => {
    const server = await f.channel();
    const q = await f.queue(server, 'rpc-names');
    const seen: ConsumeMessage[] = [];
    await responder(server, q, seen);
    const channels = [await f.channel(), await f.channel(), await f.channel()];
    const collectors: Collector[] = [];
    for (const ch of channels) {
      const c = new Collector();
      collectors.push(c);
      await ch.consume(REPLY_TO, c.onMessage, { noAck: true });
      ch.sendToQueue(q, Buffer.from('who'), { replyTo: REPLY_TO });
    }
    for (const c of collectors) await c.count(1);
    const names = new Set(seen.map((m) => m.properties.replyTo as string));
    expect(names.size).toBe(3);
    for (const c of collectors) expect(names.has(c.messages[0]!.fields.routingKey)).toBe(true);
    for (const ch of channels) await ch.close();
    await server.close();
  });

  it('publishing with reply_to without a reply consumer on the channel: 406 (errors.md 107)', async () => {
    const ch = await f.channel();
    const q = await f.queue(ch, 'rpc-no-consumer');
    await expectServerClose(ch, 406, 'PRECONDITION_FAILED - fast reply consumer does not exist', () => {
      ch.sendToQueue(q, Buffer.from('x'), { replyTo: REPLY_TO });
    });
    const err = await closed(ch);
    expect({ classId: err!.classId, methodId: err!.methodId }).toEqual({ classId: 60, methodId: 40 });
  });

  it('a reply consumer must be no-ack (errors.md 108)', async () => {
    const ch = await f.channel();
    await expectServerClose(ch, 406, 'PRECONDITION_FAILED - reply consumer cannot acknowledge', () =>
      ch.consume(REPLY_TO, () => {}, { noAck: false }),
    );
  });

  it('only one reply consumer per channel (errors.md 109)', async () => {
    const ch = await f.channel();
    await ch.consume(REPLY_TO, () => {}, { noAck: true });
    await expectServerClose(ch, 406, 'PRECONDITION_FAILED - reply consumer already set', () =>
      ch.consume(REPLY_TO, () => {}, { noAck: true }),
    );
  });

  it('a mandatory publish to an unknown reply-to name comes back NO_ROUTE (errors.md 110)', async () => {
    const ch = await f.confirmChannel();
    const returned = new Promise<{ fields: Record<string, unknown> }>((resolve) => ch.once('return', resolve));
    ch.publish('', `${REPLY_TO}.bogus`, Buffer.from('x'), { mandatory: true });
    const r = await withTimeout(returned, 5000, 'basic.return');
    expect(r.fields).toMatchObject({ replyCode: 312, replyText: 'NO_ROUTE', exchange: '', routingKey: `${REPLY_TO}.bogus` });
    await ch.waitForConfirms();
    await ch.close();
  });

  it('a passive declare of amq.rabbitmq.reply-to succeeds (errors.md 111)', async () => {
    const ch = await f.channel();
    expect(await ch.checkQueue(REPLY_TO)).toEqual({ queue: REPLY_TO, messageCount: 0, consumerCount: 1 });
    await ch.close();
  });

  it('after the requester cancels its reply consumer, replies to its name are dropped', async () => {
    const requester = await f.channel();
    const server = await f.confirmChannel();
    const q = await f.queue(server, 'rpc-cancel');
    const seen: ConsumeMessage[] = [];
    await server.consume(q, (m) => m !== null && seen.push(m), { noAck: true });
    const replies = new Collector();
    const { consumerTag } = await requester.consume(REPLY_TO, replies.onMessage, { noAck: true });
    requester.sendToQueue(q, Buffer.from('late'), { replyTo: REPLY_TO });
    await eventually(() => seen.length === 1, 5000, 'the request');
    await requester.cancel(consumerTag);
    server.publish('', seen[0]!.properties.replyTo as string, Buffer.from('too late'));
    await server.waitForConfirms();
    // a marker through a fresh reply consumer on the same channel proves nothing else came
    const again = new Collector();
    await requester.consume(REPLY_TO, again.onMessage, { noAck: true });
    requester.sendToQueue(q, Buffer.from('marker'), { replyTo: REPLY_TO });
    await eventually(() => seen.length === 2, 5000, 'the marker');
    server.publish('', seen[1]!.properties.replyTo as string, Buffer.from('marker reply'));
    await again.count(1);
    expect(again.bodies()).toEqual(['marker reply']);
    expect(replies.messages).toHaveLength(0);
    await requester.close();
    await server.close();
  });

  it('RPC over direct reply-to answers 10,000 requests with no reply queue declared', async () => {
    const requester = await f.channel();
    const server = await f.channel();
    const q = await f.queue(server, 'rpc-10k');
    await responder(server, q);
    const n = 10_000;
    const answered = new Set<string>();
    let wrong = 0;
    let done: () => void;
    const all = new Promise<void>((resolve) => (done = resolve));
    await requester.consume(
      REPLY_TO,
      (m) => {
        if (m === null) return;
        const id = m.properties.correlationId as string;
        if (m.content.toString() !== `re: req-${id}` || answered.has(id)) wrong++;
        answered.add(id);
        if (answered.size === n) done();
      },
      { noAck: true },
    );
    const started = Date.now();
    for (let i = 0; i < n; i++) {
      requester.sendToQueue(q, Buffer.from(`req-${i}`), { replyTo: REPLY_TO, correlationId: String(i) });
    }
    await withTimeout(all, 20_000, `${n} replies (have ${answered.size})`);
    expect(answered.size).toBe(n);
    expect(wrong).toBe(0);
    expect(Date.now() - started).toBeLessThan(15_000);
    await requester.close();
    await server.close();
  });
});
