/**
 * Hostile clients: slowloris (a valid handshake trickled one byte per 100 ms), a frame header
 * announcing 4 GiB, and one client opening every channel it may and tens of thousands of
 * consumers. Each must be contained to that client: it is dropped (handshake timeout), refused
 * at once (501, nothing allocated for the announced size), or served — and freed when it goes
 * — while a bystander connects and works throughout.
 *
 * Runs against RabbitMQ too (WARREN_TEST_URL), where the handshake timeout is its default
 * 10 s; the in-process warren is started with 1 s to keep the test short.
 */
import { describe, expect, it } from 'vitest';
import amqplib from 'amqplib';
import * as P from '../../src/protocol/generated.js';
import { table } from '../../src/protocol/field-table.js';
import { external, useBroker } from '../helpers/broker.js';
import { RawClient, methodFrame, PROTOCOL_HEADER } from '../helpers/raw-client.js';
import { eventually, withTimeout } from '../helpers/wait.js';

/** warren's is configured here; RabbitMQ's default handshake_timeout is 10 s. */
const HANDSHAKE_TIMEOUT_MS = external ? 10_000 : 1000;
const tb = useBroker({ handshakeTimeoutMs: HANDSHAKE_TIMEOUT_MS });

/** A bystander's whole life: connect, round trip a message, close. */
async function bystanderRoundTrip(): Promise<void> {
  const conn = await amqplib.connect(tb.url);
  try {
    const ch = await conn.createChannel();
    const { queue } = await ch.assertQueue('', { exclusive: true });
    ch.sendToQueue(queue, Buffer.from('bystander'));
    const got = await eventually(() => ch.get(queue, { noAck: true }), 5000, 'the bystander message');
    expect(got && got.content.toString()).toBe('bystander');
  } finally {
    await conn.close();
  }
}

/** Every byte of a valid handshake up to connection.open, as one stream. */
function handshakeBytes(): Buffer {
  return Buffer.concat([
    PROTOCOL_HEADER,
    methodFrame(0, P.encodeConnectionStartOk, {
      clientProperties: table({ product: 'slowloris', capabilities: { authentication_failure_close: true } }),
      mechanism: 'PLAIN',
      response: Buffer.from('\0guest\0guest'),
      locale: 'en_US',
    }),
    methodFrame(0, P.encodeConnectionTuneOk, { channelMax: 2047, frameMax: 131072, heartbeat: 0 }),
    methodFrame(0, P.encodeConnectionOpen, { virtualHost: '/', reserved1: '', reserved2: false }),
  ]);
}

/** Sends `bytes` one per `everyMs` until done or the server closes; resolves with how many went. */
async function trickle(c: RawClient, bytes: Buffer, everyMs: number): Promise<number> {
  for (let i = 0; i < bytes.length; i++) {
    if (c.closed) return i;
    c.sendRaw(bytes.subarray(i, i + 1));
    await new Promise((r) => setTimeout(r, everyMs)); // the attack's pace, not a synchronisation
  }
  return bytes.length;
}

describe('slowloris', () => {
  it('clients trickling a valid handshake one byte per 100 ms are dropped by the handshake timeout; others are served meanwhile', { timeout: 60_000 }, async () => {
    const bytes = handshakeBytes();
    // the trickle would take longer than the timeout allows
    expect(bytes.length * 100).toBeGreaterThan(HANDSHAKE_TIMEOUT_MS * 1.2);
    const slow = await Promise.all(Array.from({ length: 20 }, () => RawClient.connect(tb.host, tb.port)));
    const started = Date.now();
    try {
      const sent = slow.map((c) => trickle(c, bytes, 100));
      // the broker is not held: a normal client is served while they trickle
      await bystanderRoundTrip();
      const counts = await withTimeout(Promise.all(sent), HANDSHAKE_TIMEOUT_MS + 20_000, 'the slow clients to be dropped');
      const elapsed = Date.now() - started;
      for (const n of counts) expect(n).toBeLessThan(bytes.length);
      for (const c of slow) {
        expect(c.closed).toBe(true);
        // none got as far as connection.open-ok
        const frames: string[] = [];
        for (;;) {
          const e = await c.nextEvent(0);
          if (typeof e === 'string') break;
          if (e.type === P.FRAME_METHOD) frames.push(P.decodeMethod(e.payload).name);
        }
        expect(frames).not.toContain('connection.open-ok');
      }
      // generous: the timeout plus scheduling slack, far below the trickle's own length
      expect(elapsed).toBeLessThan(HANDSHAKE_TIMEOUT_MS + 10_000);
      await bystanderRoundTrip();
    } finally {
      for (const c of slow) c.destroy();
    }
  });
});

describe('a frame header announcing 4 GiB', () => {
  it('is answered at once with 501, without waiting for (or allocating) the payload', async () => {
    const before = process.memoryUsage().arrayBuffers;
    const c = await RawClient.connect(tb.host, tb.port);
    try {
      const { tune } = await c.handshake();
      await c.openChannel(1);
      const header = Buffer.alloc(7);
      header[0] = P.FRAME_METHOD;
      header.writeUInt16BE(1, 1);
      header.writeUInt32BE(0xffffffff, 3);
      c.sendRaw(header); // and nothing more: the 4 GiB never come
      const close = await c.expectConnectionClose(501, 5000);
      expect(close).toEqual({
        replyCode: 501,
        replyText: `FRAME_ERROR - type 1, all octets = <<>>: {frame_too_large,4294967295,${tune.frameMax - 8}}`,
        classId: 0,
        methodId: 0,
      });
      await c.waitClosed();
    } finally {
      c.destroy();
    }
    if (!external) expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(64 * 1024 * 1024);
    await bystanderRoundTrip();
  });

  it('the same for a content body frame on a publishing channel', async () => {
    const c = await RawClient.connect(tb.host, tb.port);
    try {
      const { tune } = await c.handshake();
      await c.openChannel(1);
      c.sendMethod(1, P.encodeBasicPublish, { reserved1: 0, exchange: '', routingKey: 'nowhere', mandatory: false, immediate: false });
      const head = Buffer.alloc(14);
      head.writeUInt16BE(P.CLASS_BASIC, 0);
      head.writeUInt32BE(0xffffffff, 8); // announces a 4 GiB body too
      c.sendFrame(P.FRAME_HEADER, 1, head);
      const body = Buffer.alloc(7);
      body[0] = P.FRAME_BODY;
      body.writeUInt16BE(1, 1);
      body.writeUInt32BE(0xffffffff, 3);
      c.sendRaw(body);
      // warren checks the announced body size against max_message_size at the content
      // header already (RabbitMQ only once the body is in): a 406 channel.close may come first
      let m = await c.nextMethod(5000);
      if (m.name === 'channel.close' && !external) {
        expect(m.args.replyCode).toBe(406);
        m = await c.nextMethod(5000);
      }
      if (m.name !== 'connection.close') throw new Error(`expected connection.close 501, got ${m.name}`);
      expect({ code: m.args.replyCode, text: m.args.replyText }).toEqual({
        code: 501,
        text: `FRAME_ERROR - type 3, all octets = <<>>: {frame_too_large,4294967295,${tune.frameMax - 8}}`,
      });
    } finally {
      c.destroy();
    }
    await bystanderRoundTrip();
  });
});

describe('a huge number of channels and consumers', () => {
  const CHANNELS = 2047; // the most channel_max allows (both brokers offer 2047)
  const CONSUMERS_PER_CHANNEL = 5;

  it(`${CHANNELS} channels × ${CONSUMERS_PER_CHANNEL} consumers on one client: served, contained, freed when it goes`, { timeout: 120_000 }, async () => {
    const queue = `sec-hostile-q-${process.pid}`;
    const admin = await amqplib.connect(tb.url);
    const ach = await admin.createChannel();
    await ach.assertQueue(queue, { durable: false });
    const c = await RawClient.connect(tb.host, tb.port);
    try {
      const { tune } = await c.handshake();
      expect(tune.channelMax).toBe(CHANNELS);
      // everything pipelined: opens, then consumes, then read every reply
      const out: Buffer[] = [];
      for (let ch = 1; ch <= CHANNELS; ch++) out.push(methodFrame(ch, P.encodeChannelOpen, { reserved1: '' }));
      for (let ch = 1; ch <= CHANNELS; ch++) {
        for (let i = 0; i < CONSUMERS_PER_CHANNEL; i++) {
          out.push(methodFrame(ch, P.encodeBasicConsume, {
            reserved1: 0, queue, consumerTag: `c${i}`, noLocal: false, noAck: false, exclusive: false, noWait: false, arguments: new Map(),
          }));
        }
      }
      c.sendRaw(Buffer.concat(out));
      let opened = 0;
      let consuming = 0;
      while (opened < CHANNELS || consuming < CHANNELS * CONSUMERS_PER_CHANNEL) {
        const m = await c.nextMethod(30_000);
        if (m.name === 'channel.open-ok') opened++;
        else if (m.name === 'basic.consume-ok') consuming++;
        else throw new Error(`unexpected ${m.name} on channel ${m.channel}`);
      }
      const declared = await ach.checkQueue(queue);
      expect(declared.consumerCount).toBe(CHANNELS * CONSUMERS_PER_CHANNEL);

      // one more channel is over channel_max: that connection, and only it, is closed
      await bystanderRoundTrip();
      c.sendMethod(CHANNELS + 1, P.encodeChannelOpen, { reserved1: '' });
      const close = await c.expectConnectionClose(530, 10_000);
      expect(close.replyText).toMatch(/^NOT_ALLOWED - /);
      await c.waitClosed(10_000);

      // everything it held is freed; the bystander is served
      await eventually(async () => (await ach.checkQueue(queue)).consumerCount === 0, 10_000, 'the consumers to be gone');
      await bystanderRoundTrip();
      if (!external) {
        await eventually(() => tb.warren!.broker.registry.connections.size === 1, 5000, 'only the admin connection to remain');
      }
    } finally {
      c.destroy();
      await ach.deleteQueue(queue).catch(() => {});
      await admin.close();
    }
  });

});
