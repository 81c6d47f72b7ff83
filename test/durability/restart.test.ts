/**
 * Durability across restarts, with warren as a child process on a temp data directory:
 * what RabbitMQ 3.10 keeps (durable exchanges, queues, bindings with their arguments;
 * persistent messages on durable queues, in order, redelivered=true when they had been
 * delivered) and what it forgets (transient queues and messages, exclusive queues), after
 * SIGTERM and after SIGKILL; one warren per data directory; SIGTERM flushes before exit 0.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Channel, ChannelModel, ConsumeMessage } from 'amqplib';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Collector, connect, getOne, openChannel, openConfirmChannel } from '../helpers/amqp.js';
import { checkedBody, readChecked } from '../helpers/checked-body.js';
import { WarrenProcess, removeTempDirs, tempDataDir } from '../helpers/warren-process.js';

afterEach(() => WarrenProcess.killAll());
afterAll(() => removeTempDirs());

const Q_ARGS = { 'x-max-length': 100_000, 'x-dead-letter-exchange': 'd.dlx', 'x-dead-letter-routing-key': 'dead', 'x-max-priority': 0 };
const X_ARGS = { 'alternate-exchange': 'd.ae' };
const HEADERS_BINDING = { 'x-match': 'all', color: 'red' };

/** Runs `f` on a fresh channel: true when it succeeded, false when the server closed it. */
async function succeeds(conn: ChannelModel, f: (ch: Channel) => Promise<unknown>): Promise<boolean> {
  const ch = await openChannel(conn);
  try {
    await f(ch);
  } catch {
    return false;
  }
  await ch.close();
  return true;
}

async function declareTopology(ch: Channel): Promise<void> {
  await ch.assertExchange('d.topic', 'topic', { durable: true, arguments: X_ARGS });
  await ch.assertExchange('d.ae', 'fanout', { durable: true });
  await ch.assertExchange('d.headers', 'headers', { durable: true });
  await ch.assertExchange('d.e2e', 'direct', { durable: true });
  await ch.assertExchange('t.x', 'direct', { durable: false });
  await ch.assertQueue('d.q', { durable: true, arguments: Q_ARGS });
  await ch.assertQueue('d.ae-q', { durable: true });
  await ch.assertQueue('d.hq', { durable: true });
  await ch.assertQueue('d.e2e-q', { durable: true });
  await ch.assertQueue('d.barrier', { durable: true });
  await ch.assertQueue('t.q', { durable: false });
  await ch.assertQueue('x.q', { durable: true, exclusive: true });
  await ch.bindQueue('d.q', 'd.topic', 'a.*');
  await ch.bindQueue('t.q', 'd.topic', 'a.*');
  await ch.bindQueue('d.ae-q', 'd.ae', '');
  await ch.bindQueue('d.hq', 'd.headers', '', HEADERS_BINDING);
  await ch.bindExchange('d.e2e', 'd.topic', 'e2e.#');
  await ch.bindQueue('d.e2e-q', 'd.e2e', 'e2e.k');
}

/**
 * Persistent messages 1..n to d.q (and t.q) with transient ones (1001…) between them, five
 * persistent ones to the exclusive queue; waits for every confirm.
 */
async function publishMessages(ch: import('amqplib').ConfirmChannel, n: number): Promise<void> {
  for (let i = 1; i <= n; i++) {
    ch.publish('d.topic', 'a.b', checkedBody(i, 100 + i), {
      persistent: true,
      messageId: `m${i}`,
      contentType: 'application/x-checked',
      headers: { h: i, s: `v${i}` },
    });
    ch.publish('d.topic', 'a.b', checkedBody(1000 + i, 10), { persistent: false });
  }
  for (let i = 0; i < 5; i++) ch.sendToQueue('x.q', checkedBody(5000 + i, 10), { persistent: true });
  await ch.waitForConfirms();
}

describe.each(['SIGTERM', 'SIGKILL'] as const)('restart after %s', (signal) => {
  it('keeps durable topology and persistent messages; forgets transient and exclusive ones', async () => {
    const dir = tempDataDir();
    const N = 50;
    const DELIVERED = 5; // p1 t1 p2 t2 p3: three persistent ones delivered, unacked

    const w1 = await WarrenProcess.start({ dataDir: dir });
    const conn1 = await connect(w1.url);
    const ch1 = await openConfirmChannel(conn1);
    await declareTopology(ch1);
    await publishMessages(ch1, N);
    const consumer = await openChannel(conn1);
    await consumer.prefetch(DELIVERED);
    const got1 = new Collector();
    await consumer.consume('d.q', got1.onMessage, { noAck: false });
    await got1.count(DELIVERED);
    expect(got1.messages.map((m) => readChecked(m.content))).toEqual([1, 1001, 2, 1002, 3]);
    // barrier: deliveries are recorded in the store batch order, so once a later persistent
    // publish is confirmed the "delivered" records are on disk too
    ch1.sendToQueue('d.barrier', checkedBody(9999, 1), { persistent: true });
    await ch1.waitForConfirms();

    const exit = await w1.kill(signal);
    if (signal === 'SIGTERM') expect(exit).toEqual({ code: 0, signal: null });
    else expect(exit.signal).toBe('SIGKILL');

    const w2 = await WarrenProcess.start({ dataDir: dir });
    const opened = await w2.waitForLog((l) => l.msg === 'data directory opened');
    expect(opened['messages']).toBe(N + 1);
    const conn2 = await connect(w2.url);

    // topology: durable objects are there and redeclaring them with the same arguments is
    // equivalent (so the arguments came back too); transient and exclusive ones are gone
    const ch2 = await openConfirmChannel(conn2);
    await ch2.assertExchange('d.topic', 'topic', { durable: true, arguments: X_ARGS });
    for (const x of ['d.ae', 'd.headers', 'd.e2e']) await ch2.checkExchange(x);
    expect(await ch2.assertQueue('d.q', { durable: true, arguments: Q_ARGS })).toMatchObject({ messageCount: N });
    expect(await ch2.checkQueue('d.barrier')).toMatchObject({ messageCount: 1 });
    expect(await succeeds(conn2, (c) => c.checkQueue('d.q'))).toBe(true);
    expect(await succeeds(conn2, (c) => c.assertQueue('d.q', { durable: true }))).toBe(false); // args differ: 406
    expect(await succeeds(conn2, (c) => c.checkExchange('t.x'))).toBe(false);
    expect(await succeeds(conn2, (c) => c.checkQueue('t.q'))).toBe(false);
    expect(await succeeds(conn2, (c) => c.checkQueue('x.q'))).toBe(false);

    // messages: persistent ones only, in publish order, the delivered ones flagged
    const got2 = new Collector();
    const reader = await openChannel(conn2);
    await reader.consume('d.q', got2.onMessage, { noAck: true });
    await got2.count(N);
    const seen = got2.messages.map((m: ConsumeMessage) => ({ seq: readChecked(m.content), redelivered: m.fields.redelivered }));
    // after SIGTERM the flags are exact; after SIGKILL every message may have been delivered
    // (the last "delivered" records may not have reached the disk), so all are flagged
    expect(seen).toEqual(Array.from({ length: N }, (_, i) => ({ seq: i + 1, redelivered: signal === 'SIGKILL' || i < 3 })));
    const m7 = got2.messages[6]!;
    expect(m7.fields).toMatchObject({ exchange: 'd.topic', routingKey: 'a.b' });
    expect(m7.properties).toMatchObject({
      messageId: 'm7',
      contentType: 'application/x-checked',
      deliveryMode: 2,
      headers: { h: 7, s: 'v7' },
    });
    expect(m7.content.length).toBe(8 + 107);

    // bindings (with arguments) still route
    ch2.publish('d.topic', 'a.again', checkedBody(1, 1));
    ch2.publish('d.topic', 'nothing.binds.this', checkedBody(2, 1)); // → alternate exchange
    ch2.publish('d.headers', '', checkedBody(3, 1), { headers: { color: 'red' } });
    ch2.publish('d.headers', '', checkedBody(4, 1), { headers: { color: 'blue' } }); // no match
    ch2.publish('d.topic', 'e2e.k', checkedBody(5, 1)); // exchange-to-exchange binding
    await ch2.waitForConfirms();
    await got2.count(N + 1);
    expect(readChecked(got2.messages[N]!.content)).toBe(1);
    expect(readChecked((await getOne(ch2, 'd.ae-q')).content)).toBe(2);
    expect(await ch2.checkQueue('d.hq')).toMatchObject({ messageCount: 1 });
    expect(readChecked((await getOne(ch2, 'd.hq')).content)).toBe(3);
    expect(readChecked((await getOne(ch2, 'd.e2e-q')).content)).toBe(5);
    await conn2.close();
    expect(await w2.kill('SIGTERM')).toEqual({ code: 0, signal: null });
  }, 60_000);
});

describe('the data directory', () => {
  it('refuses a second warren while the first runs (exit 1, clear error)', async () => {
    const dir = tempDataDir();
    const first = await WarrenProcess.start({ dataDir: dir });
    const second = await WarrenProcess.start({ dataDir: dir, waitUp: false });
    expect(await second.waitExit()).toEqual({ code: 1, signal: null });
    const fatal = await second.waitForLog((l) => l.level === 60);
    expect(fatal.msg).toBe('warren could not start');
    expect(String(fatal['err'])).toContain(`data directory ${dir} is in use by another warren (pid ${first.child.pid})`);
    expect(second.logs.some((l) => l.msg === 'AMQP listener up')).toBe(false);
    // the first one is unharmed and still owns the directory
    const conn = await connect(first.url);
    await conn.close();
    expect(await first.kill('SIGTERM')).toEqual({ code: 0, signal: null });
    // after a clean stop (and after a crash, see the restart tests) it can be opened again
    const third = await WarrenProcess.start({ dataDir: dir });
    expect(await third.kill('SIGTERM')).toEqual({ code: 0, signal: null });
  }, 60_000);
});

describe('graceful shutdown', () => {
  it('SIGTERM writes and syncs everything the broker took before it exits 0', async () => {
    const dir = tempDataDir();
    const w1 = await WarrenProcess.start({ dataDir: dir });
    const conn = await connect(w1.url);
    const ch = await openChannel(conn);
    await ch.assertQueue('g.q', { durable: true });
    await ch.assertQueue('g.stream', { durable: true });
    const N = 20_000;
    for (let i = 1; i <= N; i++) ch.sendToQueue('g.q', checkedBody(i, 64), { persistent: true });
    // a round trip on the same channel: the broker has handled every publish before it,
    // confirmed or not (no confirms on this channel)
    await ch.checkQueue('g.q');

    // meanwhile a confirm channel streams; SIGTERM lands in the middle of it
    const sconn = await connect(w1.url);
    const sch = await openConfirmChannel(sconn);
    const confirmed = new Set<number>();
    let published = 0;
    let stop = false;
    let onConfirms: (() => void) | undefined;
    const streaming = (async () => {
      while (!stop) {
        for (let k = 0; k < 100; k++) {
          const seq = published + 1;
          try {
            sch.sendToQueue('g.stream', checkedBody(seq, 32), { persistent: true }, (err) => {
              if (err === null || err === undefined) confirmed.add(seq);
              if (confirmed.size >= 2000) onConfirms?.();
            });
          } catch {
            return; // the broker closed the connection: shutdown has begun
          }
          published = seq;
        }
        await new Promise((r) => setImmediate(r));
      }
    })();
    await new Promise<void>((resolve) => (onConfirms = resolve));
    const exit = await w1.kill('SIGTERM');
    stop = true;
    await streaming;
    expect(exit).toEqual({ code: 0, signal: null });
    expect(w1.logs.some((l) => l.msg === 'stopped')).toBe(true);

    const w2 = await WarrenProcess.start({ dataDir: dir });
    const conn2 = await connect(w2.url);
    const reader = await openChannel(conn2);
    expect(await reader.checkQueue('g.q')).toMatchObject({ messageCount: N });
    const got = new Collector();
    await reader.consume('g.q', got.onMessage, { noAck: true });
    await got.count(N, 30_000);
    expect(got.messages.map((m) => readChecked(m.content))).toEqual(Array.from({ length: N }, (_, i) => i + 1));

    const stream = new Collector();
    const { messageCount } = await reader.checkQueue('g.stream');
    await reader.consume('g.stream', stream.onMessage, { noAck: true });
    await stream.count(messageCount, 30_000);
    const seqs = stream.messages.map((m) => readChecked(m.content));
    for (let i = 1; i < seqs.length; i++) expect(seqs[i]).toBeGreaterThan(seqs[i - 1]!);
    const present = new Set(seqs);
    const missing = [...confirmed].filter((s) => !present.has(s));
    expect(missing, 'confirmed but missing after SIGTERM').toEqual([]);
    expect(Math.max(...seqs)).toBeLessThanOrEqual(published);
    await conn2.close();
    await w2.kill('SIGTERM');
  }, 60_000);
});

describe('recovery memory budget', () => {
  it('leaves bodies beyond --recover-bodies-mib on disk and delivers them intact, in order', async () => {
    const dir = tempDataDir();
    const N = 3000;
    const w1 = await WarrenProcess.start({ dataDir: dir });
    const conn = await connect(w1.url);
    const ch = await openConfirmChannel(conn);
    await ch.assertQueue('big.q', { durable: true });
    for (let i = 1; i <= N; i++) ch.sendToQueue('big.q', checkedBody(i, 4096), { persistent: true, messageId: `m${i}` });
    await ch.waitForConfirms();
    await w1.kill('SIGKILL');

    const w2 = await WarrenProcess.start({ dataDir: dir, args: ['--recover-bodies-mib', '1'] });
    const rec = await w2.waitForLog((l) => l.msg === 'message store recovered');
    expect(rec).toMatchObject({ messages: N, truncatedBytes: 0 });
    // 1 MiB holds 255 bodies of 4104 bytes: the rest wait on disk
    expect(rec['bodiesOnDisk']).toBe(N - Math.floor((1024 * 1024) / 4104));
    const conn2 = await connect(w2.url);
    const reader = await openChannel(conn2);
    await reader.prefetch(200);
    const got = new Collector();
    await reader.consume('big.q', (m) => {
      got.onMessage(m);
      if (m !== null) reader.ack(m);
    });
    await got.count(N, 30_000);
    expect(got.messages.map((m) => readChecked(m.content))).toEqual(Array.from({ length: N }, (_, i) => i + 1));
    expect(got.messages.map((m) => m.properties.messageId)).toEqual(Array.from({ length: N }, (_, i) => `m${i + 1}`));
    await conn2.close();
    await w2.kill('SIGTERM');
  }, 60_000);
});

describe('a queue missing from definitions.json', () => {
  it('has its messages dropped (and said so) while the other queues keep theirs', async () => {
    const dir = tempDataDir();
    const w1 = await WarrenProcess.start({ dataDir: dir });
    const conn = await connect(w1.url);
    const ch = await openConfirmChannel(conn);
    await ch.assertQueue('keep.q', { durable: true });
    await ch.assertQueue('drop.q', { durable: true });
    for (let i = 1; i <= 500; i++) {
      ch.sendToQueue('drop.q', checkedBody(i, 500), { persistent: true });
      ch.sendToQueue('keep.q', checkedBody(i, 500), { persistent: true });
    }
    await ch.waitForConfirms();
    await conn.close();
    expect(await w1.kill('SIGTERM')).toEqual({ code: 0, signal: null });

    // an operator restores an older definitions.json, without drop.q
    const path = join(dir, 'definitions.json');
    const defs = JSON.parse(readFileSync(path, 'utf8')) as { queues: { name: string }[] };
    defs.queues = defs.queues.filter((q) => q.name !== 'drop.q');
    writeFileSync(path, JSON.stringify(defs));

    const w2 = await WarrenProcess.start({ dataDir: dir });
    const warn = await w2.waitForLog((l) => l.msg === 'messages of a queue missing from definitions.json dropped');
    expect(warn).toMatchObject({ queue: 'drop.q', messages: 500 });
    const conn2 = await connect(w2.url);
    const reader = await openChannel(conn2);
    const got = new Collector();
    await reader.consume('keep.q', got.onMessage, { noAck: true });
    await got.count(500);
    expect(got.messages.map((m) => readChecked(m.content))).toEqual(Array.from({ length: 500 }, (_, i) => i + 1));
    expect(await succeeds(conn2, (c) => c.checkQueue('drop.q'))).toBe(false);
    // barrier: a confirmed persistent publish is synced after the acks recovery wrote
    const ch2 = await openConfirmChannel(conn2);
    ch2.sendToQueue('keep.q', checkedBody(0, 1), { persistent: true });
    await ch2.waitForConfirms();
    await w2.kill('SIGKILL');
    // and they stay dropped
    const w3 = await WarrenProcess.start({ dataDir: dir });
    expect(w3.logs.some((l) => l.msg === 'messages of a queue missing from definitions.json dropped')).toBe(false);
    await w3.kill('SIGTERM');
  }, 60_000);
});
