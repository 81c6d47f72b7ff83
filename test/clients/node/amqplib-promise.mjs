/**
 * The drop-in checklist (../README.md) with amqplib's promise API.
 * Usage: node amqplib-promise.mjs <amqp-url> [<amqp-url-of-vhost-test>]
 */
import { createHash, randomBytes } from 'node:crypto';
import amqp from 'amqplib';
import {
  CONFIRM_COUNT, IDLE_MS, HEARTBEAT_S, MIB, OTHER_ARGS, PREFETCH, Skip, TOPIC_KEYS, TOPIC_MATCHED, TOPIC_UNMATCHED,
  deferred, eventually, expect, expectXDeath, names, parseArgs, runChecklist, sleep, withHeartbeat, withTimeout, workArgs,
} from './checklist.mjs';

const { url, vhostUrl } = parseArgs();
const n = names('amqplib-promise');
const opts = { clientProperties: { connection_name: n.prefix } };

/** @type {import('amqplib').ChannelModel} */
let conn;
/** @type {import('amqplib').ChannelModel | undefined} */
let rpcServerConn;
/** Errors the connection reported; a clean run has none. */
const connErrors = [];

/** Messages of `queue` by basic.get (auto-ack) until `count` have come, or 5 s. */
async function getAll(ch, queue, count) {
  const got = [];
  await eventually(async () => {
    const m = await ch.get(queue, { noAck: true });
    if (m) got.push(m);
    return got.length >= count;
  }, `${count} messages in ${queue} (have ${got.length})`);
  expect((await ch.get(queue, { noAck: true })) === false, `more than ${count} messages in ${queue}`);
  return got;
}

await runChecklist([
  ['connect', async () => {
    conn = await amqp.connect(url, opts);
    conn.on('error', (e) => connErrors.push(e));
    const ch = await conn.createChannel();
    await ch.close();
    const p = conn.connection.serverProperties;
    return `server ${p.product} ${p.version}`;
  }],

  ['connect-vhost', async () => {
    if (!vhostUrl) throw new Skip('the broker has no vhost "test" (see the test setup)');
    const c = await amqp.connect(vhostUrl, opts);
    const ch = await c.createChannel();
    const q = await ch.assertQueue('', { exclusive: true });
    expect(q.queue.startsWith('amq.gen-'), `server-named queue ${q.queue}`);
    await c.close();
  }],

  ['heartbeat', async () => {
    const c = await amqp.connect(withHeartbeat(url), opts);
    const errors = [];
    c.on('error', (e) => errors.push(e));
    const hb = c.connection.heartbeat;
    expect(hb === HEARTBEAT_S, `negotiated heartbeat ${hb}, asked ${HEARTBEAT_S}`);
    await sleep(IDLE_MS);
    expect(errors.length === 0, `connection errors while idle: ${errors.join('; ')}`);
    const ch = await c.createChannel();
    await ch.assertQueue('', { exclusive: true }); // a round trip
    await c.close();
    return `${hb} s, idle ${IDLE_MS} ms`;
  }],

  ['declare', async () => {
    const ch = await conn.createChannel();
    await ch.assertExchange(n.ae, 'fanout', { durable: false });
    await ch.assertExchange(n.topic, 'topic', { durable: false, arguments: { 'alternate-exchange': n.ae } });
    await ch.assertExchange(n.dlx, 'direct', { durable: false });
    const ok = await ch.assertQueue(n.work, { durable: false, arguments: workArgs(n) });
    expect(ok.queue === n.work && ok.messageCount === 0, `declare-ok ${JSON.stringify(ok)}`);
    for (const q of [n.topicQ, n.aeQ, n.dlq, n.rpc]) await ch.assertQueue(q, { durable: false, arguments: OTHER_ARGS });
    // the same arguments again: equivalent, so declare-ok
    await ch.assertQueue(n.work, { durable: false, arguments: workArgs(n) });
    await ch.close();
  }],

  ['bind-topic', async () => {
    const ch = await conn.createChannel();
    await ch.bindQueue(n.topicQ, n.topic, '*.orange.*');
    await ch.bindQueue(n.topicQ, n.topic, 'lazy.#');
    await ch.bindQueue(n.aeQ, n.ae, '');
    await ch.bindQueue(n.dlq, n.dlx, 'dead');
    for (const key of TOPIC_KEYS) ch.publish(n.topic, key, Buffer.from(key));
    const matched = (await getAll(ch, n.topicQ, TOPIC_MATCHED.length)).map((m) => m.content.toString());
    expect(JSON.stringify(matched) === JSON.stringify(TOPIC_MATCHED), `topic queue got ${matched}`);
    const other = (await getAll(ch, n.aeQ, TOPIC_UNMATCHED.length)).map((m) => m.content.toString());
    expect(JSON.stringify(other) === JSON.stringify(TOPIC_UNMATCHED), `alternate exchange got ${other}`);
    await ch.close();
  }],

  ['publish-confirm', async () => {
    const ch = await conn.createConfirmChannel();
    const outcomes = [];
    for (let i = 0; i < CONFIRM_COUNT; i++) {
      ch.sendToQueue(n.work, Buffer.from(String(i)), { persistent: true }, (err) => outcomes.push(err ? 'nack' : 'ack'));
    }
    await ch.waitForConfirms();
    const acks = outcomes.filter((o) => o === 'ack').length;
    expect(acks === CONFIRM_COUNT, `${acks} acks of ${CONFIRM_COUNT} (${outcomes.length} confirms)`);
    const q = await ch.checkQueue(n.work);
    expect(q.messageCount === CONFIRM_COUNT, `queue holds ${q.messageCount}`);
    await ch.close();
  }],

  ['consume-ack-prefetch', async () => {
    const ch = await conn.createChannel();
    await ch.prefetch(PREFETCH);
    const got = [];
    const held = [];
    const redelivered = [];
    const first = deferred();
    const all = deferred();
    let acking = false;
    const { consumerTag } = await ch.consume(n.work, (m) => {
      if (!m) return;
      got.push(Number(m.content.toString()));
      if (m.fields.redelivered) redelivered.push(m.content.toString());
      if (acking) ch.ack(m);
      else held.push(m);
      if (got.length === PREFETCH) first.resolve();
      if (got.length === CONFIRM_COUNT) all.resolve();
    }, { noAck: false });
    await withTimeout(first.promise, 5000, `${PREFETCH} deliveries`);
    const q = await ch.checkQueue(n.work);
    expect(got.length === PREFETCH, `${got.length} deliveries unacked with prefetch ${PREFETCH}`);
    expect(q.messageCount === CONFIRM_COUNT - PREFETCH, `queue reports ${q.messageCount} ready with ${PREFETCH} unacked`);
    acking = true;
    for (const m of held) ch.ack(m);
    await withTimeout(all.promise, 5000, `all ${CONFIRM_COUNT} deliveries (have ${got.length})`);
    await ch.cancel(consumerTag);
    expect(got.every((v, i) => v === i), `order ${got}`);
    expect(redelivered.length === 0, `redelivered ${redelivered}`);
    const after = await ch.checkQueue(n.work);
    expect(after.messageCount === 0, `${after.messageCount} left`);
    await ch.close();
  }],

  ['nack-requeue', async () => {
    const ch = await conn.createChannel();
    await ch.prefetch(1);
    const flags = [];
    const done = deferred();
    const { consumerTag } = await ch.consume(n.work, (m) => {
      if (!m) return;
      flags.push(m.fields.redelivered);
      if (flags.length === 1) ch.nack(m, false, true);
      else {
        ch.ack(m);
        done.resolve();
      }
    });
    ch.sendToQueue(n.work, Buffer.from('nack-me'));
    await withTimeout(done.promise, 5000, 'the redelivery');
    await ch.cancel(consumerTag);
    expect(JSON.stringify(flags) === '[false,true]', `redelivered flags ${JSON.stringify(flags)}`);
    await ch.close();
  }],

  ['reject-dlx', async () => {
    const ch = await conn.createChannel();
    ch.sendToQueue(n.work, Buffer.from('reject-me'));
    const m = await eventually(() => ch.get(n.work, { noAck: false }), 'the message to reject');
    ch.reject(m, false);
    const [dead] = await getAll(ch, n.dlq, 1);
    expect(dead.content.toString() === 'reject-me', `dead letter body ${dead.content}`);
    expect(dead.fields.exchange === n.dlx && dead.fields.routingKey === 'dead',
      `dead letter came via ${dead.fields.exchange}/${dead.fields.routingKey}`);
    expectXDeath(dead.properties.headers, n.work);
    await ch.close();
  }],

  ['mandatory-return', async () => {
    const ch = await conn.createConfirmChannel();
    const returned = deferred();
    ch.on('return', (m) => returned.resolve(m));
    ch.publish('', n.nowhere, Buffer.from('to nowhere'), { mandatory: true });
    const m = await withTimeout(returned.promise, 5000, 'basic.return');
    await ch.waitForConfirms();
    expect(m.fields.replyCode === 312 && m.fields.replyText === 'NO_ROUTE', `returned ${m.fields.replyCode} ${m.fields.replyText}`);
    expect(m.fields.routingKey === n.nowhere && m.content.toString() === 'to nowhere', `returned ${JSON.stringify(m.fields)}`);
    await ch.close();
  }],

  ['rpc', async () => {
    rpcServerConn = await amqp.connect(url, opts);
    const server = await rpcServerConn.createChannel();
    const replyTos = new Set();
    await server.consume(n.rpc, (m) => {
      if (!m) return;
      replyTos.add(m.properties.replyTo);
      server.sendToQueue(m.properties.replyTo, Buffer.from(`pong ${m.content}`), { correlationId: m.properties.correlationId });
      server.ack(m);
    });
    const client = await conn.createChannel();
    const answers = new Map();
    const all = deferred();
    await client.consume('amq.rabbitmq.reply-to', (m) => {
      if (!m) return;
      answers.set(m.properties.correlationId, m.content.toString());
      if (answers.size === 3) all.resolve();
    }, { noAck: true });
    for (let i = 0; i < 3; i++) {
      client.sendToQueue(n.rpc, Buffer.from(`ping ${i}`), { replyTo: 'amq.rabbitmq.reply-to', correlationId: `c${i}` });
    }
    await withTimeout(all.promise, 5000, `3 answers (have ${answers.size})`);
    for (let i = 0; i < 3; i++) expect(answers.get(`c${i}`) === `pong ping ${i}`, `answer c${i} is ${answers.get(`c${i}`)}`);
    const [replyTo] = [...replyTos];
    expect(replyTos.size === 1 && replyTo.startsWith('amq.rabbitmq.reply-to.'), `server saw reply_to ${[...replyTos]}`);
    await client.close();
    await rpcServerConn.close();
    return 'direct reply-to';
  }],

  ['large-message', async () => {
    const ch = await conn.createConfirmChannel();
    const body = randomBytes(MIB);
    ch.sendToQueue(n.work, body);
    await ch.waitForConfirms();
    const [m] = await getAll(ch, n.work, 1);
    expect(m.content.length === MIB, `got ${m.content.length} bytes`);
    expect(m.content.equals(body), 'the body differs');
    await ch.close();
    return createHash('sha256').update(body).digest('hex').slice(0, 12);
  }],

  ['close', async () => {
    const ch = await conn.createChannel();
    for (const q of n.queues) await ch.deleteQueue(q);
    for (const x of n.exchanges) await ch.deleteExchange(x);
    await ch.close();
    await conn.close();
    expect(connErrors.length === 0, `connection errors: ${connErrors.join('; ')}`);
  }],
]);
