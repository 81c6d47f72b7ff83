/**
 * Foundation acceptance: 1,000 random frames (50 connections × 20 frames) thrown at the
 * broker after a proper handshake. Most are well-formed client traffic (real methods with
 * random arguments, whole publishes, channel close/reopen) so conversations get deep; one in
 * 25 is malformed: any type, any channel, real method ids followed by random arguments,
 * content headers out of place, wrong frame-end octets, payloads up to a bit over
 * frame_max. Every frame is delimited by its size field (or announces more than frame_max),
 * so a server that waits for more bytes would be wrong, not patient.
 *
 * Each connection then sends connection.close and must end within a deadline with one of:
 * the server's connection.close carrying a hard-error reply code, close-ok to our close, or
 * TCP closed. Channel closes (valid codes, answered with close-ok) and ordinary replies may
 * come before. The broker must stay up and a bystander client must keep being served.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import amqplib from 'amqplib';
import fc from 'fast-check';
import * as P from '../../src/protocol/generated.js';
import { external, useBroker } from '../helpers/broker.js';
import { RawClient, describeFrame, frameBytes, methodPayload } from '../helpers/raw-client.js';
import { eventually } from '../helpers/wait.js';

const tb = useBroker();

const FRAME_MAX = 4096;
const CONNECTIONS = 50;
const FRAMES_PER_CONNECTION = 20;
const END_DEADLINE_MS = 3000;

/** Every method id the spec knows (client and server methods alike). */
const METHOD_IDS = (Object.values(P) as unknown[]).filter((v): v is number => typeof v === 'number' && P.methodInfo(v) !== undefined);

const bytes = (maxLength: number): fc.Arbitrary<Buffer> => fc.uint8Array({ maxLength }).map((u) => Buffer.from(u));

// ---------------------------------------------------------------------------------------
// well-formed traffic: real methods with random (valid) arguments, whole publishes. Most of
// it is legal, some of it fails the way clients fail (missing queues, unknown delivery
// tags, channels not open), so conversations get deep before something closes them.

type Encoder<A> = (buf: Buffer, off: number, args: A) => number;
const name = fc.string({ unit: fc.constantFrom('a', 'b', 'c', '.', '-'), maxLength: 6 }).map((s) => `fz${s}`);
const queueName = fc.oneof(name, fc.constant(''));
const exchangeName = fc.constantFrom('', 'amq.direct', 'amq.fanout', 'amq.topic', 'fz-x', 'missing');
const noArgs = fc.constant(new Map());
const tag = fc.integer({ min: 0, max: 5 });

function method<A>(encode: Encoder<A>, args: fc.Arbitrary<A>): fc.Arbitrary<Buffer> {
  return args.map((a) => methodPayload(encode, a));
}

const channelMethod = fc.oneof(
  method(P.encodeChannelFlow, fc.constant({ active: true })),
  method(P.encodeBasicQos, fc.record({ prefetchSize: fc.constant(0), prefetchCount: fc.nat(0xffff), global: fc.boolean() })),
  method(P.encodeQueueDeclare, fc.record({
    // exclusive: nothing outlives the connection, also on an external broker
    reserved1: fc.constant(0), queue: queueName, passive: fc.boolean(), durable: fc.constant(false), exclusive: fc.constant(true),
    autoDelete: fc.boolean(), noWait: fc.boolean(), arguments: noArgs,
  })),
  method(P.encodeQueueDelete, fc.record({ reserved1: fc.constant(0), queue: queueName, ifUnused: fc.boolean(), ifEmpty: fc.boolean(), noWait: fc.boolean() })),
  method(P.encodeQueuePurge, fc.record({ reserved1: fc.constant(0), queue: queueName, noWait: fc.boolean() })),
  method(P.encodeQueueBind, fc.record({ reserved1: fc.constant(0), queue: queueName, exchange: exchangeName, routingKey: name, noWait: fc.boolean(), arguments: noArgs })),
  method(P.encodeExchangeDeclare, fc.record({
    reserved1: fc.constant(0), exchange: fc.constantFrom('fz-x', 'fz-y', 'amq.direct'), type: fc.constantFrom('direct', 'fanout', 'topic', 'headers', 'bogus'),
    passive: fc.boolean(), durable: fc.constant(false), autoDelete: fc.boolean(), internal: fc.boolean(), noWait: fc.boolean(), arguments: noArgs,
  })),
  method(P.encodeBasicGet, fc.record({ reserved1: fc.constant(0), queue: queueName, noAck: fc.boolean() })),
  method(P.encodeBasicConsume, fc.record({
    reserved1: fc.constant(0), queue: queueName, consumerTag: fc.oneof(fc.constant(''), name), noLocal: fc.boolean(), noAck: fc.boolean(),
    exclusive: fc.boolean(), noWait: fc.boolean(), arguments: noArgs,
  })),
  method(P.encodeBasicCancel, fc.record({ consumerTag: name, noWait: fc.boolean() })),
  method(P.encodeBasicAck, fc.record({ deliveryTag: tag, multiple: fc.boolean() })),
  method(P.encodeBasicReject, fc.record({ deliveryTag: tag, requeue: fc.boolean() })),
  method(P.encodeBasicNack, fc.record({ deliveryTag: tag, multiple: fc.boolean(), requeue: fc.boolean() })),
  method(P.encodeBasicRecover, fc.constant({ requeue: true })),
  method(P.encodeTxSelect, fc.constant({})),
  method(P.encodeTxCommit, fc.constant({})),
  method(P.encodeConfirmSelect, fc.record({ nowait: fc.boolean() })),
);

const wellFormedChannel = fc.oneof({ weight: 5, arbitrary: fc.constant(1) }, { weight: 1, arbitrary: fc.constantFrom(2, 3) });

/** A whole basic.publish: method, content header, body split at frame_max. */
const publish = fc
  .record({
    ch: wellFormedChannel,
    exchange: exchangeName,
    routingKey: name,
    mandatory: fc.boolean(),
    size: fc.oneof(fc.nat(64), fc.nat(FRAME_MAX * 2)),
  })
  .map(({ ch, exchange, routingKey, mandatory, size }) => {
    const frames = [frameBytes(P.FRAME_METHOD, ch, methodPayload(P.encodeBasicPublish, { reserved1: 0, exchange, routingKey, mandatory, immediate: false }))];
    const header = Buffer.alloc(14);
    header.writeUInt16BE(P.CLASS_BASIC, 0);
    header.writeUInt32BE(size, 8);
    frames.push(frameBytes(P.FRAME_HEADER, ch, header));
    for (let at = 0; at < size; at += FRAME_MAX - 8) frames.push(frameBytes(P.FRAME_BODY, ch, Buffer.alloc(Math.min(FRAME_MAX - 8, size - at), 0x61)));
    return Buffer.concat(frames);
  });

const wellFormed = fc.oneof(
  { weight: 8, arbitrary: fc.tuple(wellFormedChannel, channelMethod).map(([ch, p]) => frameBytes(P.FRAME_METHOD, ch, p)) },
  { weight: 3, arbitrary: publish },
  { weight: 1, arbitrary: fc.constant(frameBytes(P.FRAME_HEARTBEAT, 0, Buffer.alloc(0))) },
  {
    // close and reopen: legal whether the channel is open or being closed by the server
    weight: 1,
    arbitrary: fc.constantFrom(1, 2, 3).map((ch) =>
      Buffer.concat([
        frameBytes(P.FRAME_METHOD, ch, methodPayload(P.encodeChannelClose, { replyCode: 200, replyText: 'fuzz', classId: 0, methodId: 0 })),
        frameBytes(P.FRAME_METHOD, ch, methodPayload(P.encodeChannelOpen, { reserved1: '' })),
      ]),
    ),
  },
);

// ---------------------------------------------------------------------------------------
// malformed traffic: any type, any channel, real method ids with random arguments, content
// headers out of place, wrong frame-end octets, payloads up to a bit over frame_max

const methodLike = fc
  .tuple(fc.constantFrom(...METHOD_IDS), bytes(40))
  .map(([id, args]) => {
    const b = Buffer.alloc(4 + args.length);
    b.writeUInt32BE(id, 0);
    args.copy(b, 4);
    return b;
  });

const contentHeaderLike = fc
  .tuple(fc.constantFrom(60, 50, 0), fc.nat({ max: 20 }), fc.integer({ min: 0, max: 0xffff }), bytes(20))
  .map(([classId, bodySize, flags, props]) => {
    const b = Buffer.alloc(14 + props.length);
    b.writeUInt16BE(classId, 0);
    b.writeUInt32BE(bodySize, 8);
    b.writeUInt16BE(flags, 12);
    props.copy(b, 14);
    return b;
  });

const bigPayload = fc
  .tuple(fc.integer({ min: FRAME_MAX - 64, max: FRAME_MAX + 64 }), fc.integer({ min: 0, max: 255 }))
  .map(([n, fill]) => Buffer.alloc(n, fill));

const payload = fc.oneof(
  { weight: 6, arbitrary: methodLike },
  { weight: 2, arbitrary: contentHeaderLike },
  { weight: 2, arbitrary: bytes(64) },
  { weight: 1, arbitrary: fc.constant(Buffer.alloc(0)) },
  { weight: 1, arbitrary: bigPayload },
);

const frameType = fc.oneof(
  { weight: 6, arbitrary: fc.constant(P.FRAME_METHOD) },
  { weight: 2, arbitrary: fc.constantFrom(P.FRAME_HEADER, P.FRAME_BODY, P.FRAME_HEARTBEAT) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }) },
);

const channel = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(0, 1, 2) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffff }) },
);

const frameEnd = fc.oneof({ weight: 15, arbitrary: fc.constant(P.FRAME_END) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }) });

const malformed = fc.record({ type: frameType, channel, payload, end: frameEnd }).map(({ type, channel, payload, end }) => frameBytes(type, channel, payload, end));

const frame = fc.oneof({ weight: 24, arbitrary: wellFormed }, { weight: 1, arbitrary: malformed });

const conversation = fc.record({
  frames: fc.array(frame, { minLength: FRAMES_PER_CONNECTION, maxLength: FRAMES_PER_CONNECTION }),
  /** where the bytes are cut into separate writes */
  cuts: fc.array(fc.nat(), { maxLength: 4 }),
});

type Outcome = 'server connection.close' | 'close-ok' | 'tcp closed';

/** Valid codes in a server's channel.close / connection.close. */
const CHANNEL_CLOSE_CODES = new Set([403, 404, 405, 406]);

let observer: amqplib.ChannelModel;
const observerErrors: unknown[] = [];
beforeAll(async () => {
  observer = await amqplib.connect(tb.url);
  observer.on('error', (e) => observerErrors.push(e));
});
afterAll(async () => {
  if (observer === undefined) return;
  // exchanges the fuzz may have declared (queues were exclusive)
  for (const x of ['fz-x', 'fz-y']) {
    const ch = await observer.createChannel();
    ch.on('error', () => {});
    await ch.deleteExchange(x).catch(() => {});
    await ch.close().catch(() => {});
  }
  await observer.close();
});

async function observerStillServed(): Promise<void> {
  const ch = await observer.createChannel();
  await ch.close();
}

/** Plays one conversation; returns how it ended or throws what went wrong. */
async function play(frames: Buffer[], cuts: number[]): Promise<Outcome> {
  const c = await RawClient.connect(tb.host, tb.port);
  try {
    await c.handshake({ frameMax: FRAME_MAX });
    for (const ch of [1, 2, 3]) await c.openChannel(ch);
    const all = Buffer.concat(frames);
    let at = 0;
    for (const cut of [...cuts.map((x) => x % (all.length + 1))].sort((a, b) => a - b)) {
      c.sendRaw(all.subarray(at, cut));
      at = cut;
    }
    c.sendRaw(all.subarray(at));
    c.sendMethod(0, P.encodeConnectionClose, { replyCode: 200, replyText: 'fuzz done', classId: 0, methodId: 0 });

    const deadline = Date.now() + END_DEADLINE_MS;
    for (;;) {
      const e = await c.nextEvent(deadline - Date.now());
      if (e === 'closed') return 'tcp closed';
      if (e === 'timeout') throw new Error(`no end within ${END_DEADLINE_MS} ms after the frames and connection.close`);
      if (e.type === P.FRAME_HEARTBEAT) continue;
      if (e.type !== P.FRAME_METHOD) continue; // content of a reply (basic.get-ok, …)
      let m: P.Method;
      try {
        m = P.decodeMethod(e.payload);
      } catch (err) {
        throw new Error(`the server sent an undecodable method frame: ${describeFrame(e)} (${String(err)})`);
      }
      if (m.name === 'connection.close') {
        expect(e.channel).toBe(0);
        expect(P.isHardError(m.args.replyCode), `hard-error code in connection.close: ${m.args.replyCode} ${m.args.replyText}`).toBe(true);
        // RabbitMQ sometimes sends a bare "INTERNAL_ERROR" without detail
        expect(m.args.replyText).toMatch(new RegExp(`^${P.REPLY_NAMES[m.args.replyCode]}( - |$)`));
        c.sendMethod(0, P.encodeConnectionCloseOk, {});
        return 'server connection.close';
      }
      if (m.name === 'connection.close-ok') return 'close-ok';
      if (m.name === 'channel.close') {
        expect(CHANNEL_CLOSE_CODES.has(m.args.replyCode), `soft-error code in channel.close: ${m.args.replyCode} ${m.args.replyText}`).toBe(true);
        c.sendMethod(e.channel, P.encodeChannelCloseOk, {});
      }
    }
  } finally {
    c.destroy();
  }
}

describe('fuzz', () => {
  it(`survives ${CONNECTIONS} connections × ${FRAMES_PER_CONNECTION} random frames (or whole publishes)`, { timeout: 60_000 }, async () => {
    const outcomes = new Map<Outcome, number>();
    await fc.assert(
      fc.asyncProperty(conversation, async ({ frames, cuts }) => {
        const outcome = await play(frames, cuts);
        outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
        await observerStillServed();
      }),
      { numRuns: CONNECTIONS },
    );
    expect([...outcomes.values()].reduce((a, b) => a + b, 0)).toBe(CONNECTIONS);
    // the generator reaches the error paths, not only the happy one
    expect(outcomes.get('server connection.close') ?? 0).toBeGreaterThan(0);
    expect(outcomes.get('close-ok') ?? 0).toBeGreaterThan(0);

    // the listener still accepts and the broker still talks
    const c = await RawClient.connect(tb.host, tb.port);
    await c.handshake();
    await c.openChannel(1);
    await c.close();
    await observerStillServed();
    expect(observerErrors).toEqual([]);

    if (!external) {
      // every fuzzed connection is gone from the broker; only the bystander remains
      const registry = tb.warren!.broker.registry;
      await eventually(() => registry.connections.size === 1, 5000, 'the broker to forget the fuzzed connections');
    }
  });
});
