/**
 * The drop-in checklist (../README.md) with amqplib's callback API (amqplib/callback_api):
 * every broker operation goes through a node-style callback; `call` only turns each one into
 * something the checklist runner can await.
 * Usage: node amqplib-callback.mjs <amqp-url> [<amqp-url-of-vhost-test>]
 */
import { randomBytes } from 'node:crypto';
import amqp from 'amqplib/callback_api.js';
import {
  CONFIRM_COUNT, IDLE_MS, HEARTBEAT_S, MIB, OTHER_ARGS, PREFETCH, Skip, TOPIC_KEYS, TOPIC_MATCHED, TOPIC_UNMATCHED,
  deferred, eventually, expect, expectXDeath, names, parseArgs, runChecklist, sleep, withHeartbeat, withTimeout, workArgs,
} from './checklist.mjs';

const { url, vhostUrl } = parseArgs();
const n = names('amqplib-callback');
const opts = { clientProperties: { connection_name: n.prefix } };

/** Runs `f(callback)`; resolves with the callback's value, rejects with its error. */
function call(f) {
  return new Promise((resolve, reject) => f((err, v) => (err ? reject(err) : resolve(v))));
}

/** @type {any} */
let conn;
const connErrors = [];

const connect = (u) => call((k) => amqp.connect(u, opts, k));
const channel = (c = conn) => call((k) => c.createChannel(k));
const confirmChannel = (c = conn) => call((k) => c.createConfirmChannel(k));
const close = (x) => call((k) => x.close(k));

async function getAll(ch, queue, count) {
  const got = [];
  await eventually(async () => {
    const m = await call((k) => ch.get(queue, { noAck: true }, k));
    if (m) got.push(m);
    return got.length >= count;
  }, `${count} messages in ${queue} (have ${got.length})`);
  expect((await call((k) => ch.get(queue, { noAck: true }, k))) === false, `more than ${count} messages in ${queue}`);
  return got;
}

await runChecklist([
  ['connect', async () => {
    conn = await connect(url);
    conn.on('error', (e) => connErrors.push(e));
    await close(await channel());
    const p = conn.connection.serverProperties;
    return `server ${p.product} ${p.version}`;
  }],

  ['connect-vhost', async () => {
    if (!vhostUrl) throw new Skip('the broker has no vhost "test" (see the test setup)');
    const c = await connect(vhostUrl);
    const ch = await channel(c);
    const q = await call((k) => ch.assertQueue('', { exclusive: true }, k));
    expect(q.queue.startsWith('amq.gen-'), `server-named queue ${q.queue}`);
    await close(c);
  }],

  ['heartbeat', async () => {
    const c = await connect(withHeartbeat(url));
    const errors = [];
    c.on('error', (e) => errors.push(e));
    const hb = c.connection.heartbeat;
    expect(hb === HEARTBEAT_S, `negotiated heartbeat ${hb}, asked ${HEARTBEAT_S}`);
    await sleep(IDLE_MS);
    expect(errors.length === 0, `connection errors while idle: ${errors.join('; ')}`);
    const ch = await channel(c);
    await call((k) => ch.assertQueue('', { exclusive: true }, k));
    await close(c);
    return `${hb} s, idle ${IDLE_MS} ms`;
  }],

  ['declare', async () => {
    const ch = await channel();
    await call((k) => ch.assertExchange(n.ae, 'fanout', { durable: false }, k));
    await call((k) => ch.assertExchange(n.topic, 'topic', { durable: false, arguments: { 'alternate-exchange': n.ae } }, k));
    await call((k) => ch.assertExchange(n.dlx, 'direct', { durable: false }, k));
    const ok = await call((k) => ch.assertQueue(n.work, { durable: false, arguments: workArgs(n) }, k));
    expect(ok.queue === n.work && ok.messageCount === 0, `declare-ok ${JSON.stringify(ok)}`);
    for (const q of [n.topicQ, n.aeQ, n.dlq, n.rpc]) await call((k) => ch.assertQueue(q, { durable: false, arguments: OTHER_ARGS }, k));
    await call((k) => ch.assertQueue(n.work, { durable: false, arguments: workArgs(n) }, k));
    await close(ch);
  }],

  ['bind-topic', async () => {
    const ch = await channel();
    await call((k) => ch.bindQueue(n.topicQ, n.topic, '*.orange.*', {}, k));
    await call((k) => ch.bindQueue(n.topicQ, n.topic, 'lazy.#', {}, k));
    await call((k) => ch.bindQueue(n.aeQ, n.ae, '', {}, k));
    await call((k) => ch.bindQueue(n.dlq, n.dlx, 'dead', {}, k));
    for (const key of TOPIC_KEYS) ch.publish(n.topic, key, Buffer.from(key));
    const matched = (await getAll(ch, n.topicQ, TOPIC_MATCHED.length)).map((m) => m.content.toString());
    expect(JSON.stringify(matched) === JSON.stringify(TOPIC_MATCHED), `topic queue got ${matched}`);
    const other = (await getAll(ch, n.aeQ, TOPIC_UNMATCHED.length)).map((m) => m.content.toString());
    expect(JSON.stringify(other) === JSON.stringify(TOPIC_UNMATCHED), `alternate exchange got ${other}`);
    await close(ch);
  }],

  ['publish-confirm', async () => {
    const ch = await confirmChannel();
    const outcomes = [];
    const all = deferred();
    for (let i = 0; i < CONFIRM_COUNT; i++) {
      ch.sendToQueue(n.work, Buffer.from(String(i)), { persistent: true }, (err) => {
        outcomes.push(err ? 'nack' : 'ack');
        if (outcomes.length === CONFIRM_COUNT) all.resolve();
      });
    }
    await withTimeout(all.promise, 5000, `${CONFIRM_COUNT} confirms (have ${outcomes.length})`);
    const acks = outcomes.filter((o) => o === 'ack').length;
    expect(acks === CONFIRM_COUNT, `${acks} acks of ${CONFIRM_COUNT}`);
    const q = await call((k) => ch.checkQueue(n.work, k));
    expect(q.messageCount === CONFIRM_COUNT, `queue holds ${q.messageCount}`);
    await close(ch);
  }],

  ['consume-ack-prefetch', async () => {
    const ch = await channel();
    await call((k) => ch.prefetch(PREFETCH, false, k));
    const got = [];
    const held = [];
    const redelivered = [];
    const first = deferred();
    const all = deferred();
    let acking = false;
    const { consumerTag } = await call((k) => ch.consume(n.work, (m) => {
      if (!m) return;
      got.push(Number(m.content.toString()));
      if (m.fields.redelivered) redelivered.push(m.content.toString());
      if (acking) ch.ack(m);
      else held.push(m);
      if (got.length === PREFETCH) first.resolve();
      if (got.length === CONFIRM_COUNT) all.resolve();
    }, { noAck: false }, k));
    await withTimeout(first.promise, 5000, `${PREFETCH} deliveries`);
    const q = await call((k) => ch.checkQueue(n.work, k));
    expect(got.length === PREFETCH, `${got.length} deliveries unacked with prefetch ${PREFETCH}`);
    expect(q.messageCount === CONFIRM_COUNT - PREFETCH, `queue reports ${q.messageCount} ready with ${PREFETCH} unacked`);
    acking = true;
    for (const m of held) ch.ack(m);
    await withTimeout(all.promise, 5000, `all ${CONFIRM_COUNT} deliveries (have ${got.length})`);
    await call((k) => ch.cancel(consumerTag, k));
    expect(got.every((v, i) => v === i), `order ${got}`);
    expect(redelivered.length === 0, `redelivered ${redelivered}`);
    const after = await call((k) => ch.checkQueue(n.work, k));
    expect(after.messageCount === 0, `${after.messageCount} left`);
    await close(ch);
  }],

  ['nack-requeue', async () => {
    const ch = await channel();
    await call((k) => ch.prefetch(1, false, k));
    const flags = [];
    const done = deferred();
    const { consumerTag } = await call((k) => ch.consume(n.work, (m) => {
      if (!m) return;
      flags.push(m.fields.redelivered);
      if (flags.length === 1) ch.nack(m, false, true);
      else {
        ch.ack(m);
        done.resolve();
      }
    }, {}, k));
    ch.sendToQueue(n.work, Buffer.from('nack-me'));
    await withTimeout(done.promise, 5000, 'the redelivery');
    await call((k) => ch.cancel(consumerTag, k));
    expect(JSON.stringify(flags) === '[false,true]', `redelivered flags ${JSON.stringify(flags)}`);
    await close(ch);
  }],

  ['reject-dlx', async () => {
    const ch = await channel();
    ch.sendToQueue(n.work, Buffer.from('reject-me'));
    const m = await eventually(() => call((k) => ch.get(n.work, { noAck: false }, k)), 'the message to reject');
    ch.reject(m, false);
    const [dead] = await getAll(ch, n.dlq, 1);
    expect(dead.content.toString() === 'reject-me', `dead letter body ${dead.content}`);
    expect(dead.fields.exchange === n.dlx && dead.fields.routingKey === 'dead',
      `dead letter came via ${dead.fields.exchange}/${dead.fields.routingKey}`);
    expectXDeath(dead.properties.headers, n.work);
    await close(ch);
  }],

  ['mandatory-return', async () => {
    const ch = await confirmChannel();
    const returned = deferred();
    ch.on('return', (m) => returned.resolve(m));
    const confirmed = deferred();
    ch.publish('', n.nowhere, Buffer.from('to nowhere'), { mandatory: true }, (err) => (err ? confirmed.reject(err) : confirmed.resolve()));
    const m = await withTimeout(returned.promise, 5000, 'basic.return');
    await withTimeout(confirmed.promise, 5000, 'the confirm after the return');
    expect(m.fields.replyCode === 312 && m.fields.replyText === 'NO_ROUTE', `returned ${m.fields.replyCode} ${m.fields.replyText}`);
    expect(m.fields.routingKey === n.nowhere && m.content.toString() === 'to nowhere', `returned ${JSON.stringify(m.fields)}`);
    await close(ch);
  }],

  ['rpc', async () => {
    const serverConn = await connect(url);
    const server = await channel(serverConn);
    const replyTos = new Set();
    await call((k) => server.consume(n.rpc, (m) => {
      if (!m) return;
      replyTos.add(m.properties.replyTo);
      server.sendToQueue(m.properties.replyTo, Buffer.from(`pong ${m.content}`), { correlationId: m.properties.correlationId });
      server.ack(m);
    }, {}, k));
    const client = await channel();
    const answers = new Map();
    const all = deferred();
    await call((k) => client.consume('amq.rabbitmq.reply-to', (m) => {
      if (!m) return;
      answers.set(m.properties.correlationId, m.content.toString());
      if (answers.size === 3) all.resolve();
    }, { noAck: true }, k));
    for (let i = 0; i < 3; i++) {
      client.sendToQueue(n.rpc, Buffer.from(`ping ${i}`), { replyTo: 'amq.rabbitmq.reply-to', correlationId: `c${i}` });
    }
    await withTimeout(all.promise, 5000, `3 answers (have ${answers.size})`);
    for (let i = 0; i < 3; i++) expect(answers.get(`c${i}`) === `pong ping ${i}`, `answer c${i} is ${answers.get(`c${i}`)}`);
    const [replyTo] = [...replyTos];
    expect(replyTos.size === 1 && replyTo.startsWith('amq.rabbitmq.reply-to.'), `server saw reply_to ${[...replyTos]}`);
    await close(client);
    await close(serverConn);
    return 'direct reply-to';
  }],

  ['large-message', async () => {
    const ch = await confirmChannel();
    const body = randomBytes(MIB);
    ch.sendToQueue(n.work, body);
    await call((k) => ch.waitForConfirms(k));
    const [m] = await getAll(ch, n.work, 1);
    expect(m.content.length === MIB, `got ${m.content.length} bytes`);
    expect(m.content.equals(body), 'the body differs');
    await close(ch);
  }],

  ['close', async () => {
    const ch = await channel();
    for (const q of n.queues) await call((k) => ch.deleteQueue(q, {}, k));
    for (const x of n.exchanges) await call((k) => ch.deleteExchange(x, {}, k));
    await close(ch);
    await close(conn);
    expect(connErrors.length === 0, `connection errors: ${connErrors.join('; ')}`);
  }],
]);
