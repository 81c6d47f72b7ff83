/**
 * Property-based fuzz over method ARGUMENTS and field tables (fast-check): well-framed
 * queue / exchange / basic / tx / confirm methods whose arguments are random but of the
 * right types — names (empty, reserved amq.*, 255 bytes, unicode), flags, numbers at their
 * limits, and field tables with every field type, nested tables and arrays, RabbitMQ's own
 * x-arguments with values of any type, long strings; whole publishes with random properties
 * and headers. Also deterministic tables nested up to and far beyond warren's depth limit, and
 * arguments larger than a frame.
 *
 * The conversation waits for each synchronous reply, answers a channel.close with close-ok
 * and reopens the channel, so it goes deep. Every answer must be a normal reply, a
 * channel.close with a soft code, or a connection.close with a hard code (text starting with
 * the code's name), or TCP closed; never silence. A bystander client is served after every
 * conversation, and the broker ends with no connection but the bystander's.
 *
 * Runs against RabbitMQ too (WARREN_TEST_URL): names start with sec-fz- and what may have
 * been declared is deleted afterwards.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import amqplib from 'amqplib';
import type { ChannelModel } from 'amqplib';
import fc from 'fast-check';
import * as P from '../../src/protocol/generated.js';
import { encodeTable, type Field, type FieldTable } from '../../src/protocol/field-table.js';
import { external, useBroker } from '../helpers/broker.js';
import { RawClient, describeFrame, frameBytes } from '../helpers/raw-client.js';
import { eventually } from '../helpers/wait.js';

const tb = useBroker();

const CONVERSATIONS = 40;
const COMMANDS = 25;
const REPLY_WAIT_MS = 5000;
const SOFT = new Set([403, 404, 405, 406]);

// ---------------------------------------------------------------------------------------
// encoding (a big scratch buffer: some payloads are meant to exceed frame_max)

type Encoder<A> = (buf: Buffer, off: number, args: A) => number;
const scratch = Buffer.alloc(4 * 1024 * 1024);

function payload<A>(encode: Encoder<A>, args: A): Buffer {
  return Buffer.from(scratch.subarray(0, encode(scratch, 0, args)));
}

// ---------------------------------------------------------------------------------------
// field values of every type

const int = (min: number, max: number): fc.Arbitrary<number> => fc.integer({ min, max });
const asciiString = (maxLength: number): fc.Arbitrary<string> => fc.string({ maxLength });
const unicodeString = (maxLength: number): fc.Arbitrary<string> => fc.string({ unit: 'binary', maxLength });
/** A shortstr: at most 255 bytes of UTF-8. */
const shortstr = fc.oneof(asciiString(255), unicodeString(60)).filter((s) => Buffer.byteLength(s) <= 255);

const longString = fc.oneof(
  { weight: 8, arbitrary: fc.oneof(asciiString(64), unicodeString(32)) },
  { weight: 1, arbitrary: fc.integer({ min: 1000, max: 60_000 }).map((n) => 'L'.repeat(n)) },
);

const leaf: fc.Arbitrary<Field> = fc.oneof(
  fc.boolean().map((value) => ({ type: 't' as const, value })),
  int(-128, 127).map((value) => ({ type: 'b' as const, value })),
  int(0, 255).map((value) => ({ type: 'B' as const, value })),
  int(-32768, 32767).map((value) => ({ type: 's' as const, value })),
  int(0, 65535).map((value) => ({ type: 'u' as const, value })),
  int(-(2 ** 31), 2 ** 31 - 1).map((value) => ({ type: 'I' as const, value })),
  int(0, 2 ** 32 - 1).map((value) => ({ type: 'i' as const, value })),
  fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map((value) => ({ type: 'l' as const, value })),
  fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }).map((value) => ({ type: 'T' as const, value })),
  fc.float().map((value) => ({ type: 'f' as const, value })),
  fc.double().map((value) => ({ type: 'd' as const, value })),
  fc.record({ scale: int(0, 255), value: int(-(2 ** 31), 2 ** 31 - 1) }).map((value) => ({ type: 'D' as const, value })),
  longString.map((value) => ({ type: 'S' as const, value })),
  fc.uint8Array({ maxLength: 64 }).map((u) => ({ type: 'x' as const, value: Buffer.from(u) })),
  fc.constant({ type: 'V' as const, value: null }),
);

/** RabbitMQ's argument names, so the values reach its validation, not only "unknown, ignored". */
const KNOWN_KEYS = [
  'x-message-ttl', 'x-expires', 'x-max-length', 'x-max-length-bytes', 'x-overflow', 'x-dead-letter-exchange',
  'x-dead-letter-routing-key', 'x-max-priority', 'x-queue-mode', 'x-queue-type', 'x-single-active-consumer',
  'x-queue-master-locator', 'x-queue-leader-locator', 'x-delivery-limit', 'alternate-exchange', 'x-match',
  'x-priority', 'x-cancel-on-ha-failover', 'x-stream-offset', 'x-credit', 'internal', 'x-death',
];

/** Plausible values for the known keys, next to values of any type. */
const knownValue: fc.Arbitrary<Field> = fc.oneof(
  fc.constantFrom('all', 'any', 'all-with-x', 'any-with-x', 'drop-head', 'reject-publish', 'reject-publish-dlx', 'lazy', 'default', 'classic', 'quorum', 'stream', 'min-masters', 'first', 'last', 'next', 'sec-fz-x1', '').map((value) => ({ type: 'S' as const, value })),
  fc.oneof(int(-5, 5), int(0, 300), int(-(2 ** 31), 2 ** 31 - 1)).map((value) => ({ type: 'I' as const, value })),
  fc.integer({ min: -1, max: 2 ** 40 }).map((value) => ({ type: 'l' as const, value })),
);

const key = fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...KNOWN_KEYS) }, { weight: 2, arbitrary: shortstr });

const { table: randomTable } = fc.letrec<{ value: Field; table: FieldTable }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', maxDepth: 6 },
    { weight: 6, arbitrary: leaf },
    { weight: 2, arbitrary: knownValue },
    { weight: 1, arbitrary: fc.array(tie('value'), { maxLength: 4 }).map((value) => ({ type: 'A' as const, value })) },
    { weight: 1, arbitrary: tie('table').map((value) => ({ type: 'F' as const, value })) },
  ),
  table: fc.array(fc.tuple(key, tie('value')), { maxLength: 5 }).map((entries) => new Map(entries)),
}));

const noArgs = fc.constant(new Map<string, Field>());
const args = fc.oneof({ weight: 1, arbitrary: noArgs }, { weight: 4, arbitrary: randomTable });

// ---------------------------------------------------------------------------------------
// names: what a declare may leave behind on an external broker starts with sec-fz-

/** Every name a declare may create (the fuzz's leftovers on an external broker). */
const QUEUE_NAMES = ['sec-fz-q1', 'sec-fz-q2', `sec-fz-${'q'.repeat(248)}`, 'sec-fz-ü…', 'sec-fz-\u0000nul', 'sec-fz-rare'];
const EXCHANGE_NAMES = ['sec-fz-x1', 'sec-fz-x2', 'sec-fz-hx', 'sec-fz-rare'];
const queueName = fc.oneof(fc.constantFrom(...QUEUE_NAMES), fc.constantFrom('', 'amq.fz'));
const exchangeName = fc.oneof(
  fc.constantFrom(...EXCHANGE_NAMES),
  fc.constantFrom('', 'amq.direct', 'amq.fanout', 'amq.topic', 'amq.headers', 'amq.match', 'amq.fz'),
);
/** An unknown type is a connection error (503): rarely, so conversations get deep. */
const exchangeType = fc.oneof(
  { weight: 20, arbitrary: fc.constantFrom('direct', 'fanout', 'topic', 'headers') },
  { weight: 1, arbitrary: fc.oneof(fc.constantFrom('', 'x-bogus', 'x-consistent-hash'), asciiString(12)) },
);
/** true with probability 1/n: for flags whose one value is a connection error. */
const rarely = (n: number): fc.Arbitrary<boolean> => fc.oneof({ weight: n - 1, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) });
const routingKey = fc.oneof(fc.constantFrom('', 'k', '#', '*.a', 'a.b.c'), shortstr);

// ---------------------------------------------------------------------------------------
// commands

interface Command {
  channel: number;
  frames: Buffer[];
  /** reply names that end the wait; empty: asynchronous, no wait */
  replies: string[];
  label: string;
}

function command<A>(label: string, encode: Encoder<A>, a: fc.Arbitrary<A>, replies: (a: A) => string[]): fc.Arbitrary<(ch: number, frameMax: number) => Command> {
  return a.map((v) =>
    described(`${label} ${fc.stringify(v)}`, (channel: number, frameMax: number): Command => {
      const p = payload(encode, v);
      return { channel, frames: [frameBytes(P.FRAME_METHOD, channel, p)], replies: replies(v), label: `${label} (${p.length} bytes)${p.length > frameMax - 8 ? ' [over frame_max]' : ''}` };
    }),
  );
}

/** A command maker that fast-check prints as what it sends (counterexamples). */
function described<F extends object>(text: string, f: F): F {
  return Object.assign(f, { [fc.toStringMethod]: () => (text.length > 2000 ? `${text.slice(0, 2000)}…` : text) });
}

const ifWait = (name: string) => (a: { noWait?: boolean; nowait?: boolean }): string[] => (a.noWait === true || a.nowait === true ? [] : [name]);

const properties: fc.Arbitrary<P.BasicProperties> = fc.record(
  {
    contentType: shortstr,
    headers: randomTable,
    deliveryMode: int(0, 255),
    priority: int(0, 255),
    correlationId: shortstr,
    replyTo: fc.oneof(shortstr, fc.constant('amq.rabbitmq.reply-to')),
    expiration: fc.oneof(fc.constantFrom('0', '100', '-1', 'abc', '', '99999999999999999999'), shortstr),
    messageId: shortstr,
    timestamp: int(0, 2 ** 31),
    userId: fc.constantFrom('guest', 'someone-else', ''),
    appId: shortstr,
  },
  { requiredKeys: [] },
);

const publish = fc
  .record({
    exchange: exchangeName,
    routingKey,
    mandatory: fc.boolean(),
    immediate: rarely(20), // 540 in RabbitMQ
    props: properties,
    size: fc.oneof(int(0, 64), int(0, 300_000)),
  })
  .map((v) => described(`basic.publish ${fc.stringify({ ...v, size: v.size })}`, (channel: number, frameMax: number): Command => {
    const frames = [frameBytes(P.FRAME_METHOD, channel, payload(P.encodeBasicPublish, { reserved1: 0, exchange: v.exchange, routingKey: v.routingKey, mandatory: v.mandatory, immediate: v.immediate }))];
    const head = Buffer.alloc(12);
    head.writeUInt16BE(P.CLASS_BASIC, 0);
    head.writeUInt32BE(v.size, 8);
    const props = Buffer.from(scratch.subarray(0, P.encodeBasicProperties(scratch, 0, v.props)));
    frames.push(frameBytes(P.FRAME_HEADER, channel, Buffer.concat([head, props])));
    const max = frameMax - 8;
    for (let at = 0; at < v.size; at += max) frames.push(frameBytes(P.FRAME_BODY, channel, Buffer.alloc(Math.min(max, v.size - at), 0x7a)));
    return { channel, frames, replies: [], label: `basic.publish ${v.size} bytes to '${v.exchange}'` };
  }));

const commandArb = fc.oneof(
  { weight: 4, arbitrary: command('queue.declare', P.encodeQueueDeclare, fc.record({ reserved1: fc.constant(0), queue: queueName, passive: fc.boolean(), durable: fc.boolean(), exclusive: fc.boolean(), autoDelete: fc.boolean(), noWait: fc.boolean(), arguments: args }), ifWait('queue.declare-ok')) },
  { weight: 3, arbitrary: command('exchange.declare', P.encodeExchangeDeclare, fc.record({ reserved1: fc.constant(0), exchange: exchangeName, type: exchangeType, passive: fc.boolean(), durable: fc.boolean(), autoDelete: fc.boolean(), internal: fc.boolean(), noWait: fc.boolean(), arguments: args }), ifWait('exchange.declare-ok')) },
  { weight: 3, arbitrary: command('queue.bind', P.encodeQueueBind, fc.record({ reserved1: fc.constant(0), queue: queueName, exchange: exchangeName, routingKey, noWait: fc.boolean(), arguments: args }), ifWait('queue.bind-ok')) },
  { weight: 1, arbitrary: command('queue.unbind', P.encodeQueueUnbind, fc.record({ reserved1: fc.constant(0), queue: queueName, exchange: exchangeName, routingKey, arguments: args }), () => ['queue.unbind-ok']) },
  { weight: 2, arbitrary: command('exchange.bind', P.encodeExchangeBind, fc.record({ reserved1: fc.constant(0), destination: exchangeName, source: exchangeName, routingKey, noWait: fc.boolean(), arguments: args }), ifWait('exchange.bind-ok')) },
  { weight: 1, arbitrary: command('exchange.unbind', P.encodeExchangeUnbind, fc.record({ reserved1: fc.constant(0), destination: exchangeName, source: exchangeName, routingKey, noWait: fc.boolean(), arguments: args }), ifWait('exchange.unbind-ok')) },
  { weight: 1, arbitrary: command('exchange.delete', P.encodeExchangeDelete, fc.record({ reserved1: fc.constant(0), exchange: exchangeName, ifUnused: fc.boolean(), noWait: fc.boolean() }), ifWait('exchange.delete-ok')) },
  { weight: 1, arbitrary: command('queue.delete', P.encodeQueueDelete, fc.record({ reserved1: fc.constant(0), queue: queueName, ifUnused: fc.boolean(), ifEmpty: fc.boolean(), noWait: fc.boolean() }), ifWait('queue.delete-ok')) },
  { weight: 1, arbitrary: command('queue.purge', P.encodeQueuePurge, fc.record({ reserved1: fc.constant(0), queue: queueName, noWait: fc.boolean() }), ifWait('queue.purge-ok')) },
  { weight: 3, arbitrary: command('basic.consume', P.encodeBasicConsume, fc.record({ reserved1: fc.constant(0), queue: fc.oneof(queueName, fc.constant('amq.rabbitmq.reply-to')), consumerTag: fc.oneof(fc.constantFrom('', 'c1', 'c2'), shortstr), noLocal: fc.boolean(), noAck: fc.boolean(), exclusive: fc.boolean(), noWait: fc.boolean(), arguments: args }), ifWait('basic.consume-ok')) },
  { weight: 1, arbitrary: command('basic.cancel', P.encodeBasicCancel, fc.record({ consumerTag: fc.oneof(fc.constantFrom('c1', 'c2', 'none'), shortstr), noWait: fc.boolean() }), ifWait('basic.cancel-ok')) },
  { weight: 2, arbitrary: command('basic.get', P.encodeBasicGet, fc.record({ reserved1: fc.constant(0), queue: queueName, noAck: fc.boolean() }), () => ['basic.get-ok', 'basic.get-empty']) },
  { weight: 1, arbitrary: command('basic.qos', P.encodeBasicQos, fc.record({ prefetchSize: fc.oneof({ weight: 19, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: int(0, 2 ** 32 - 1) }), prefetchCount: int(0, 65535), global: fc.boolean() }), () => ['basic.qos-ok']) },
  { weight: 1, arbitrary: command('basic.ack', P.encodeBasicAck, fc.record({ deliveryTag: fc.oneof(int(0, 5), fc.maxSafeNat()), multiple: fc.boolean() }), () => []) },
  { weight: 1, arbitrary: command('basic.nack', P.encodeBasicNack, fc.record({ deliveryTag: int(0, 5), multiple: fc.boolean(), requeue: fc.boolean() }), () => []) },
  { weight: 1, arbitrary: command('basic.reject', P.encodeBasicReject, fc.record({ deliveryTag: int(0, 5), requeue: fc.boolean() }), () => []) },
  { weight: 1, arbitrary: command('basic.recover', P.encodeBasicRecover, fc.record({ requeue: fc.boolean() }), () => ['basic.recover-ok']) },
  { weight: 1, arbitrary: command('channel.flow', P.encodeChannelFlow, fc.record({ active: rarely(5).map((off) => !off) }), () => ['channel.flow-ok']) },
  { weight: 1, arbitrary: command('tx.select', P.encodeTxSelect, fc.constant({}), () => ['tx.select-ok']) },
  { weight: 1, arbitrary: command('tx.commit', P.encodeTxCommit, fc.constant({}), () => ['tx.commit-ok']) },
  { weight: 1, arbitrary: command('tx.rollback', P.encodeTxRollback, fc.constant({}), () => ['tx.rollback-ok']) },
  { weight: 1, arbitrary: command('confirm.select', P.encodeConfirmSelect, fc.record({ nowait: fc.boolean() }), ifWait('confirm.select-ok')) },
  { weight: 4, arbitrary: publish },
);

const conversation = fc.array(fc.tuple(fc.constantFrom(1, 1, 1, 2), commandArb), { minLength: COMMANDS, maxLength: COMMANDS });

// ---------------------------------------------------------------------------------------
// playing a conversation

type Outcome = 'finished' | 'connection closed by the server' | 'tcp closed';

interface Stats {
  outcomes: Map<Outcome, number>;
  replies: Map<string, number>;
  channelCloses: Map<number, number>;
  connectionCloses: Map<number, number>;
}

function bump<K>(m: Map<K, number>, k: K): void {
  m.set(k, (m.get(k) ?? 0) + 1);
}

/** A close's text is "<NAME> - <explanation>", or the bare name. */
function textFits(code: number, text: string): boolean {
  const name = P.REPLY_NAMES[code];
  return name !== undefined && (text === name || text.startsWith(`${name} - `));
}

/**
 * Reads until one of `replies` arrives on `channel` (or, with none given, until a
 * connection.close/TCP close, for the final close). Closes are answered and recorded.
 */
async function readReply(c: RawClient, channel: number, replies: string[], open: Set<number>, stats: Stats, what: string): Promise<'ok' | 'channel closed' | 'connection closed' | 'tcp closed'> {
  const deadline = Date.now() + REPLY_WAIT_MS;
  for (;;) {
    const e = await c.nextEvent(Math.max(0, deadline - Date.now()));
    if (e === 'closed') return 'tcp closed';
    if (e === 'timeout') throw new Error(`no answer within ${REPLY_WAIT_MS} ms to ${what}`);
    if (e.type !== P.FRAME_METHOD) continue; // content of deliveries, get-ok, returns; heartbeats
    let m: P.Method;
    try {
      m = P.decodeMethod(e.payload);
    } catch (err) {
      throw new Error(`undecodable method from the server after ${what}: ${describeFrame(e)} (${String(err)})`);
    }
    if (m.name === 'connection.close') {
      expect(e.channel).toBe(0);
      expect(P.isHardError(m.args.replyCode), `hard code in connection.close after ${what}: ${m.args.replyCode} ${m.args.replyText}`).toBe(true);
      // rabbitmq-compat: after an internal crash RabbitMQ says just "INTERNAL_ERROR" (541), e.g.
      // for queue.declare with x-queue-type of type boolean
      expect(textFits(m.args.replyCode, m.args.replyText), m.args.replyText).toBe(true);
      bump(stats.connectionCloses, m.args.replyCode);
      c.sendMethod(0, P.encodeConnectionCloseOk, {});
      return 'connection closed';
    }
    if (m.name === 'connection.close-ok' && replies.includes('connection.close-ok')) return 'ok';
    if (m.name === 'channel.close') {
      expect(SOFT.has(m.args.replyCode), `soft code in channel.close after ${what}: ${m.args.replyCode} ${m.args.replyText}`).toBe(true);
      expect(textFits(m.args.replyCode, m.args.replyText), m.args.replyText).toBe(true);
      bump(stats.channelCloses, m.args.replyCode);
      c.sendMethod(e.channel, P.encodeChannelCloseOk, {});
      open.delete(e.channel);
      if (e.channel === channel) return 'channel closed';
      continue;
    }
    if (e.channel === channel && replies.includes(m.name)) {
      bump(stats.replies, m.name);
      return 'ok';
    }
    // anything else is traffic the conversation caused: deliveries, returns, confirms, cancels
  }
}

async function play(steps: [number, (ch: number, frameMax: number) => Command][], stats: Stats): Promise<Outcome> {
  const c = await RawClient.connect(tb.host, tb.port);
  try {
    const { tune } = await c.handshake();
    const frameMax = tune.frameMax;
    const open = new Set<number>();
    for (const [ch, make] of steps) {
      if (!open.has(ch)) {
        c.sendMethod(ch, P.encodeChannelOpen, { reserved1: '' });
        const r = await readReply(c, ch, ['channel.open-ok'], open, stats, `channel.open ${ch}`);
        if (r === 'connection closed' || r === 'tcp closed') return r === 'tcp closed' ? 'tcp closed' : 'connection closed by the server';
        open.add(ch);
      }
      const cmd = make(ch, frameMax);
      for (const f of cmd.frames) c.sendRaw(f);
      if (cmd.replies.length === 0) continue;
      const r = await readReply(c, ch, cmd.replies, open, stats, cmd.label);
      if (r === 'connection closed') return 'connection closed by the server';
      if (r === 'tcp closed') return 'tcp closed';
    }
    c.sendMethod(0, P.encodeConnectionClose, { replyCode: 200, replyText: 'fuzz done', classId: 0, methodId: 0 });
    const r = await readReply(c, 0, ['connection.close-ok'], open, stats, 'connection.close');
    return r === 'ok' ? 'finished' : r === 'tcp closed' ? 'tcp closed' : 'connection closed by the server';
  } finally {
    c.destroy();
  }
}

// ---------------------------------------------------------------------------------------

let bystander: ChannelModel;
const bystanderErrors: unknown[] = [];

beforeAll(async () => {
  bystander = await amqplib.connect(tb.url);
  bystander.on('error', (e) => bystanderErrors.push(e));
});

afterAll(async () => {
  if (bystander === undefined) return;
  if (external) {
    // what the fuzz may have declared on RabbitMQ (exclusive queues went with their connections)
    for (const q of QUEUE_NAMES) {
      const ch = await bystander.createChannel();
      ch.on('error', () => {});
      await ch.deleteQueue(q).catch(() => {});
      await ch.close().catch(() => {});
    }
    for (const x of EXCHANGE_NAMES) {
      const ch = await bystander.createChannel();
      ch.on('error', () => {});
      await ch.deleteExchange(x).catch(() => {});
      await ch.close().catch(() => {});
    }
  }
  await bystander.close();
}, 60_000);

/** The bystander still gets a message through. */
async function bystanderServed(): Promise<void> {
  const ch = await bystander.createChannel();
  const { queue } = await ch.assertQueue('', { exclusive: true });
  ch.sendToQueue(queue, Buffer.from('still here'));
  const got = await eventually(() => ch.get(queue, { noAck: true }), 5000, 'the bystander message');
  expect(got && got.content.toString()).toBe('still here');
  await ch.close();
}

async function noConnectionsLeft(): Promise<void> {
  if (external) return;
  const registry = tb.warren!.broker.registry;
  await eventually(() => registry.connections.size === 1, 5000, 'only the bystander connection to remain');
}

describe('fuzzed method arguments and field tables', () => {
  it(`${CONVERSATIONS} conversations × ${COMMANDS} commands: every answer valid, the bystander served`, { timeout: 180_000 }, async () => {
    const stats: Stats = { outcomes: new Map(), replies: new Map(), channelCloses: new Map(), connectionCloses: new Map() };
    await fc.assert(
      fc.asyncProperty(conversation, async (steps) => {
        bump(stats.outcomes, await play(steps, stats));
        await bystanderServed();
      }),
      // no shrinking: a failing conversation is reported as it ran (replaying smaller ones
      // against a broker that stalls could take longer than the test may)
      { numRuns: CONVERSATIONS, endOnFailure: true },
    );
    expect([...stats.outcomes.values()].reduce((a, b) => a + b, 0)).toBe(CONVERSATIONS);
    // the generator gets past the first error and through the error paths
    expect([...stats.replies.values()].reduce((a, b) => a + b, 0)).toBeGreaterThan(CONVERSATIONS);
    expect(stats.channelCloses.size).toBeGreaterThan(0);
    expect(bystanderErrors).toEqual([]);
    await noConnectionsLeft();
  });
});

// ---------------------------------------------------------------------------------------
// deep nesting and oversized arguments, deterministic

/** `depth` tables nested in one another, built inside out (no recursion). */
function nestedTables(depth: number): Buffer {
  let inner = Buffer.alloc(4); // the innermost: an empty table
  for (let i = 0; i < depth; i++) {
    const b = Buffer.alloc(4 + 3 + inner.length);
    b.writeUInt32BE(3 + inner.length, 0);
    b[4] = 1; // key length
    b[5] = 0x6b; // 'k'
    b[6] = 0x46; // 'F'
    inner.copy(b, 7);
    inner = b;
  }
  return inner;
}

/** `depth` arrays nested in one another, as a table { k: [[[…]]] }. */
function nestedArrays(depth: number): Buffer {
  let value = Buffer.from([0x41, 0, 0, 0, 0]); // 'A' + empty array
  for (let i = 1; i < depth; i++) {
    const b = Buffer.alloc(5 + value.length);
    b[0] = 0x41;
    b.writeUInt32BE(value.length, 1);
    value.copy(b, 5);
    value = b;
  }
  const t = Buffer.alloc(4 + 2 + value.length);
  t.writeUInt32BE(2 + value.length, 0);
  t[4] = 1;
  t[5] = 0x6b;
  value.copy(t, 6);
  return t;
}

/** queue.declare (exclusive, server-named) whose arguments table is `table`, raw. */
function declareWithRawArgs(table: Buffer): Buffer {
  const head = payload(P.encodeQueueDeclare, { reserved1: 0, queue: '', passive: false, durable: false, exclusive: true, autoDelete: false, noWait: false, arguments: new Map() });
  // the encoder wrote an empty table (4 zero bytes) last: replace it
  return frameBytes(P.FRAME_METHOD, 1, Buffer.concat([head.subarray(0, head.length - 4), table]));
}

describe('deep nesting and oversized arguments', () => {
  const cases: [string, () => Buffer][] = [
    ...[1, 32, 63, 64, 65, 100, 1000, 15_000].map((d): [string, () => Buffer] => [`tables nested ${d} deep`, () => nestedTables(d)]),
    ...[64, 65, 1000, 20_000].map((d): [string, () => Buffer] => [`arrays nested ${d} deep`, () => nestedArrays(d)]),
    ['a 120 KB longstr argument', () => {
      const t = new Map<string, Field>([['x-fz-long', { type: 'S', value: 'y'.repeat(120_000) }]]);
      return Buffer.from(scratch.subarray(0, encodeTable(scratch, 0, t)));
    }],
    ['arguments larger than frame_max (300 KB)', () => {
      const t = new Map<string, Field>([['x-fz-huge', { type: 'x', value: Buffer.alloc(300_000, 1) }]]);
      return Buffer.from(scratch.subarray(0, encodeTable(scratch, 0, t)));
    }],
  ];

  for (const [name, make] of cases) {
    it(`${name}: a valid answer, the broker unharmed`, async () => {
      const c = await RawClient.connect(tb.host, tb.port);
      const stats: Stats = { outcomes: new Map(), replies: new Map(), channelCloses: new Map(), connectionCloses: new Map() };
      try {
        await c.handshake();
        await c.openChannel(1);
        c.sendRaw(declareWithRawArgs(make()));
        const r = await readReply(c, 1, ['queue.declare-ok'], new Set([1]), stats, name);
        expect(['ok', 'channel closed', 'connection closed', 'tcp closed']).toContain(r);
      } finally {
        c.destroy();
      }
      await bystanderServed();
      await noConnectionsLeft();
    });
  }
});
