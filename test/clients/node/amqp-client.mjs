/**
 * The drop-in checklist (../README.md) with @cloudamqp/amqp-client, the promise-based client
 * CloudAMQP maintains (also LavinMQ's reference client; it has its own codec, unlike amqplib).
 * Usage: node amqp-client.mjs <amqp-url> [<amqp-url-of-vhost-test>]
 */
import { randomBytes } from 'node:crypto';
import { AMQPClient } from '@cloudamqp/amqp-client';
import {
  CONFIRM_COUNT, IDLE_MS, HEARTBEAT_S, MIB, OTHER_ARGS, PREFETCH, Skip, TOPIC_KEYS, TOPIC_MATCHED, TOPIC_UNMATCHED,
  deferred, eventually, expect, expectXDeath, names, parseArgs, runChecklist, sleep, withHeartbeat, withTimeout, workArgs,
} from './checklist.mjs';

const { url, vhostUrl } = parseArgs();
const n = names('amqp-client');
const text = (m) => Buffer.from(m.body ?? []).toString();
/** Non-durable, non-exclusive, not auto-delete: what the checklist declares. */
const QUEUE = { durable: false, autoDelete: false, exclusive: false };

/** @type {import('@cloudamqp/amqp-client').AMQPBaseClient} */
let conn;
const connErrors = [];

/** @param {string} u */
async function connect(u) {
  const c = await new AMQPClient(u).connect();
  c.onerror = (e) => connErrors.push(e);
  return c;
}

async function getAll(ch, queue, count) {
  const got = [];
  await eventually(async () => {
    const m = await ch.basicGet(queue, { noAck: true });
    if (m) got.push(m);
    return got.length >= count;
  }, `${count} messages in ${queue} (have ${got.length})`);
  expect((await ch.basicGet(queue, { noAck: true })) === null, `more than ${count} messages in ${queue}`);
  return got;
}

const passive = (ch, q) => ch.queueDeclare(q, { ...QUEUE, passive: true });

await runChecklist([
  ['connect', async () => {
    conn = await connect(url);
    const ch = await conn.channel();
    await ch.close();
  }],

  ['connect-vhost', async () => {
    if (!vhostUrl) throw new Skip('the broker has no vhost "test" (see the test setup)');
    const c = await connect(vhostUrl);
    const ch = await c.channel();
    const q = await ch.queueDeclare('');
    expect(q.name.startsWith('amq.gen-'), `server-named queue ${q.name}`);
    await c.close();
  }],

  ['heartbeat', async () => {
    const errors = [];
    const c = await new AMQPClient(withHeartbeat(url)).connect();
    c.onerror = (e) => errors.push(e);
    expect(c.heartbeat === HEARTBEAT_S, `negotiated heartbeat ${c.heartbeat}, asked ${HEARTBEAT_S}`);
    await sleep(IDLE_MS);
    expect(errors.length === 0 && !c.closed, `connection errors while idle: ${errors.join('; ')}`);
    const ch = await c.channel();
    await ch.queueDeclare('');
    await c.close();
    return `${c.heartbeat} s, idle ${IDLE_MS} ms`;
  }],

  ['declare', async () => {
    const ch = await conn.channel();
    await ch.exchangeDeclare(n.ae, 'fanout', { durable: false });
    await ch.exchangeDeclare(n.topic, 'topic', { durable: false }, { 'alternate-exchange': n.ae });
    await ch.exchangeDeclare(n.dlx, 'direct', { durable: false });
    const ok = await ch.queueDeclare(n.work, QUEUE, workArgs(n));
    expect(ok.name === n.work && ok.messageCount === 0, `declare-ok ${JSON.stringify(ok)}`);
    for (const q of [n.topicQ, n.aeQ, n.dlq, n.rpc]) await ch.queueDeclare(q, QUEUE, OTHER_ARGS);
    await ch.queueDeclare(n.work, QUEUE, workArgs(n));
    await ch.close();
  }],

  ['bind-topic', async () => {
    const ch = await conn.channel();
    await ch.queueBind(n.topicQ, n.topic, '*.orange.*');
    await ch.queueBind(n.topicQ, n.topic, 'lazy.#');
    await ch.queueBind(n.aeQ, n.ae, '');
    await ch.queueBind(n.dlq, n.dlx, 'dead');
    for (const key of TOPIC_KEYS) await ch.basicPublish(n.topic, key, key);
    const matched = (await getAll(ch, n.topicQ, TOPIC_MATCHED.length)).map(text);
    expect(JSON.stringify(matched) === JSON.stringify(TOPIC_MATCHED), `topic queue got ${matched}`);
    const other = (await getAll(ch, n.aeQ, TOPIC_UNMATCHED.length)).map(text);
    expect(JSON.stringify(other) === JSON.stringify(TOPIC_UNMATCHED), `alternate exchange got ${other}`);
    await ch.close();
  }],

  ['publish-confirm', async () => {
    const ch = await conn.channel();
    await ch.confirmSelect();
    const confirms = [];
    for (let i = 0; i < CONFIRM_COUNT; i++) {
      // in confirm mode the promise settles with the broker's ack (or rejects on a nack)
      confirms.push(ch.basicPublish('', n.work, String(i), { deliveryMode: 2 }).then(() => 'ack', () => 'nack'));
    }
    const outcomes = await withTimeout(Promise.all(confirms), 5000, `${CONFIRM_COUNT} confirms`);
    const acks = outcomes.filter((o) => o === 'ack').length;
    expect(acks === CONFIRM_COUNT, `${acks} acks of ${CONFIRM_COUNT}`);
    const q = await passive(ch, n.work);
    expect(q.messageCount === CONFIRM_COUNT, `queue holds ${q.messageCount}`);
    await ch.close();
  }],

  ['consume-ack-prefetch', async () => {
    const ch = await conn.channel();
    await ch.basicQos(PREFETCH);
    const got = [];
    const held = [];
    const redelivered = [];
    const first = deferred();
    const all = deferred();
    let acking = false;
    const consumer = await ch.basicConsume(n.work, { noAck: false }, (m) => {
      got.push(Number(text(m)));
      if (m.redelivered) redelivered.push(text(m));
      if (acking) m.ack();
      else held.push(m);
      if (got.length === PREFETCH) first.resolve();
      if (got.length === CONFIRM_COUNT) all.resolve();
    });
    await withTimeout(first.promise, 5000, `${PREFETCH} deliveries`);
    const q = await passive(ch, n.work);
    expect(got.length === PREFETCH, `${got.length} deliveries unacked with prefetch ${PREFETCH}`);
    expect(q.messageCount === CONFIRM_COUNT - PREFETCH, `queue reports ${q.messageCount} ready with ${PREFETCH} unacked`);
    acking = true;
    for (const m of held) await m.ack();
    await withTimeout(all.promise, 5000, `all ${CONFIRM_COUNT} deliveries (have ${got.length})`);
    await consumer.cancel();
    expect(got.every((v, i) => v === i), `order ${got}`);
    expect(redelivered.length === 0, `redelivered ${redelivered}`);
    const after = await passive(ch, n.work);
    expect(after.messageCount === 0, `${after.messageCount} left`);
    await ch.close();
  }],

  ['nack-requeue', async () => {
    const ch = await conn.channel();
    await ch.basicQos(1);
    const flags = [];
    const done = deferred();
    const consumer = await ch.basicConsume(n.work, { noAck: false }, (m) => {
      flags.push(m.redelivered);
      if (flags.length === 1) m.nack(true);
      else m.ack().then(() => done.resolve());
    });
    await ch.basicPublish('', n.work, 'nack-me');
    await withTimeout(done.promise, 5000, 'the redelivery');
    await consumer.cancel();
    expect(JSON.stringify(flags) === '[false,true]', `redelivered flags ${JSON.stringify(flags)}`);
    await ch.close();
  }],

  ['reject-dlx', async () => {
    const ch = await conn.channel();
    await ch.basicPublish('', n.work, 'reject-me');
    const m = await eventually(() => ch.basicGet(n.work, { noAck: false }), 'the message to reject');
    await m.reject(false);
    const [dead] = await getAll(ch, n.dlq, 1);
    expect(text(dead) === 'reject-me', `dead letter body ${text(dead)}`);
    expect(dead.exchange === n.dlx && dead.routingKey === 'dead', `dead letter came via ${dead.exchange}/${dead.routingKey}`);
    expectXDeath(dead.properties.headers, n.work);
    await ch.close();
  }],

  ['mandatory-return', async () => {
    const ch = await conn.channel();
    await ch.confirmSelect();
    const returned = deferred();
    ch.onReturn = (m) => returned.resolve(m);
    const confirmed = ch.basicPublish('', n.nowhere, 'to nowhere', {}, true);
    const m = await withTimeout(returned.promise, 5000, 'basic.return');
    await withTimeout(confirmed, 5000, 'the confirm after the return');
    expect(m.replyCode === 312 && m.replyText === 'NO_ROUTE', `returned ${m.replyCode} ${m.replyText}`);
    expect(m.routingKey === n.nowhere && text(m) === 'to nowhere', `returned ${m.routingKey} ${text(m)}`);
    await ch.close();
  }],

  ['rpc', async () => {
    const serverConn = await connect(url);
    const server = await serverConn.channel();
    const replyTos = new Set();
    await server.basicConsume(n.rpc, { noAck: false }, async (m) => {
      const replyTo = m.properties.replyTo ?? '';
      replyTos.add(replyTo);
      await server.basicPublish('', replyTo, `pong ${text(m)}`, { correlationId: m.properties.correlationId });
      await m.ack();
    });
    const client = await conn.channel();
    const answers = new Map();
    const all = deferred();
    await client.basicConsume('amq.rabbitmq.reply-to', { noAck: true }, (m) => {
      answers.set(m.properties.correlationId, text(m));
      if (answers.size === 3) all.resolve();
    });
    for (let i = 0; i < 3; i++) {
      await client.basicPublish('', n.rpc, `ping ${i}`, { replyTo: 'amq.rabbitmq.reply-to', correlationId: `c${i}` });
    }
    await withTimeout(all.promise, 5000, `3 answers (have ${answers.size})`);
    for (let i = 0; i < 3; i++) expect(answers.get(`c${i}`) === `pong ping ${i}`, `answer c${i} is ${answers.get(`c${i}`)}`);
    const [replyTo] = [...replyTos];
    expect(replyTos.size === 1 && replyTo.startsWith('amq.rabbitmq.reply-to.'), `server saw reply_to ${[...replyTos]}`);
    await client.close();
    await serverConn.close();
    return 'direct reply-to';
  }],

  ['large-message', async () => {
    const ch = await conn.channel();
    await ch.confirmSelect();
    const body = randomBytes(MIB);
    await ch.basicPublish('', n.work, body);
    const [m] = await getAll(ch, n.work, 1);
    const got = Buffer.from(m.body ?? []);
    expect(got.length === MIB, `got ${got.length} bytes`);
    expect(got.equals(body), 'the body differs');
    await ch.close();
  }],

  ['close', async () => {
    const ch = await conn.channel();
    for (const q of n.queues) await ch.queueDelete(q);
    for (const x of n.exchanges) await ch.exchangeDelete(x);
    await ch.close();
    await conn.close();
    expect(connErrors.length === 0, `connection errors: ${connErrors.join('; ')}`);
  }],
]);
