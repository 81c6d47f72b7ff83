/**
 * Foundation acceptance: what the server does with wrong protocol headers, broken frames and
 * channel-level protocol violations. Codes and texts are RabbitMQ 3.10.8's as recorded in
 * ../shared/reference/errors.md (row numbers in the test names). Each conversation runs on
 * its own connection; after each one a second client, connected all along, must still be
 * able to open a channel: a protocol error never escapes the connection that caused it.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import amqplib from 'amqplib';
import * as P from '../../src/protocol/generated.js';
import { external, useBroker } from '../helpers/broker.js';
import { PROTOCOL_HEADER, RawClient, frameBytes, methodFrame, methodPayload, type HandshakeOptions } from '../helpers/raw-client.js';

const tb = useBroker();

let observer: amqplib.ChannelModel;
const observerErrors: unknown[] = [];
beforeAll(async () => {
  observer = await amqplib.connect(tb.url);
  observer.on('error', (e) => observerErrors.push(e));
});
afterAll(async () => {
  await observer?.close();
});

const clients: RawClient[] = [];
async function connect(): Promise<RawClient> {
  const c = await RawClient.connect(tb.host, tb.port);
  clients.push(c);
  return c;
}
async function running(o: HandshakeOptions = {}): Promise<RawClient> {
  const c = await connect();
  await c.handshake(o);
  return c;
}

afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy();
  // the bystander: still connected, still served
  const ch = await observer.createChannel();
  await ch.close();
  expect(observerErrors).toEqual([]);
});

const close = (replyCode: number, replyText: string, classId = 0, methodId = 0): P.ConnectionClose => ({
  replyCode,
  replyText,
  classId,
  methodId,
});

const queueDeclare = (queue: string): P.QueueDeclare => ({
  reserved1: 0,
  queue,
  passive: false,
  durable: false,
  exclusive: false,
  autoDelete: false,
  noWait: false,
  arguments: new Map(),
});

/** A method frame whose payload is the given raw bytes. */
const rawMethod = (channel: number, bytes: number[]): Buffer => frameBytes(P.FRAME_METHOD, channel, Buffer.from(bytes));

/**
 * Where warren deliberately says why it closes and RabbitMQ only drops TCP: against warren
 * the close must be `expected`; against another broker either outcome passes.
 */
async function expectCloseOrDrop(c: RawClient, expected: P.ConnectionClose, timeoutMs = 5000): Promise<void> {
  const e = await c.nextEvent(timeoutMs);
  if (external && e === 'closed') return;
  expect(e, 'the server neither closed the connection nor dropped TCP').not.toBe('timeout');
  if (e === 'timeout') return;
  if (e === 'closed') throw new Error(`TCP closed without connection.close; expected ${expected.replyCode} ${expected.replyText}`);
  expect(e.type).toBe(P.FRAME_METHOD);
  expect(e.channel).toBe(0);
  const m = P.decodeMethod(e.payload);
  expect(m.name).toBe('connection.close');
  if (external) expect((m.args as P.ConnectionClose).replyCode).toBe(expected.replyCode);
  else expect(m.args).toEqual(expected);
  c.sendMethod(0, P.encodeConnectionCloseOk, {});
}

describe('protocol header', () => {
  const wrongHeaders: Array<[string, Buffer]> = [
    ['"AMQP" 0 0 9 0, wrong revision (row 177)', Buffer.from('AMQP\x00\x00\x09\x00', 'latin1')],
    ['"AMQP" 0 1 0 0, AMQP 1.0 (row 179)', Buffer.from('AMQP\x00\x01\x00\x00', 'latin1')],
    ['"AMQP" 3 1 0 0, AMQP 1.0 SASL (row 180)', Buffer.from('AMQP\x03\x01\x00\x00', 'latin1')],
    ['"GET / HTTP/1.1" (row 181)', Buffer.from('GET / HTTP/1.1\r\nHost: localhost\r\n\r\n', 'latin1')],
    ['a queue.declare frame instead of the header (row 182)', methodFrame(1, P.encodeQueueDeclare, queueDeclare('q'))],
  ];
  for (const [name, bytes] of wrongHeaders) {
    it(`answers ${name} with AMQP 0-9-1's header and closes TCP`, async () => {
      const c = await connect();
      c.sendHeader(bytes);
      expect((await c.readBytes(8)).toString('hex')).toBe(PROTOCOL_HEADER.toString('hex'));
      await c.waitClosed(2000);
    });
  }

  it('answers a header sent one byte at a time with connection.start', async () => {
    const c = await connect();
    for (const b of PROTOCOL_HEADER) c.sendRaw(Buffer.from([b]));
    const start = await c.expectMethod(0, 'connection.start');
    expect([start.versionMajor, start.versionMinor]).toEqual([0, 9]);
  });

  it('drops TCP without a close method when garbage follows the header', async () => {
    const c = await connect();
    c.sendHeader(Buffer.concat([PROTOCOL_HEADER, Buffer.from('this is not a frame\r\n')]));
    await c.expectMethod(0, 'connection.start');
    // rabbitmq-compat: before tune-ok nothing is said, only TCP closed (RabbitMQ after ~3 s)
    expect(await c.nextEvent(5000)).toBe('closed');
  });
});

describe('tune-ok out of bounds', () => {
  it('refuses frame_max=1024, below the 4096 minimum (row 192)', async () => {
    const c = await connect();
    const { tune } = await c.negotiate();
    c.sendTuneOk({ ...tune, frameMax: 1024, heartbeat: 0 });
    c.sendOpen('/');
    await expectCloseOrDrop(c, close(530, 'NOT_ALLOWED - frame_max=1024 < 4096 min size', 10, 31));
  });

  it('refuses frame_max above what the server offered (row 193)', async () => {
    const c = await connect();
    const { tune } = await c.negotiate();
    c.sendTuneOk({ ...tune, frameMax: tune.frameMax + 1, heartbeat: 0 });
    c.sendOpen('/');
    await expectCloseOrDrop(c, close(530, `NOT_ALLOWED - frame_max=${tune.frameMax + 1} > ${tune.frameMax} max size`, 10, 31));
  });
});

describe('frames', () => {
  it('closes 501 as soon as a frame header announces more than frame_max (row 165)', async () => {
    const c = await running({ frameMax: 4096 });
    await c.openChannel(1);
    // only the 7-byte header: the size alone must be refused, before any payload arrives
    const header = Buffer.alloc(7);
    header[0] = P.FRAME_BODY;
    header.writeUInt16BE(1, 1);
    header.writeUInt32BE(5000, 3);
    c.sendRaw(header);
    expect(await c.expectConnectionClose(501)).toEqual(
      close(501, 'FRAME_ERROR - type 3, all octets = <<>>: {frame_too_large,5000,4088}'),
    );
  });

  it('closes 501 for a bad frame-end octet', async () => {
    const c = await running();
    const f = methodFrame(1, P.encodeChannelOpen, { reserved1: '' });
    f[f.length - 1] = 0;
    c.sendRaw(f);
    expect(await c.expectConnectionClose(501)).toEqual(
      close(501, 'FRAME_ERROR - type 1, all octets = <<0,20,0,10,0>>: {invalid_frame_end_marker,0}'),
    );
  });

  it('closes 501 for a bad frame-end octet after a long payload, in RabbitMQ’s words (row 168)', async () => {
    const c = await running();
    await c.openChannel(1);
    const f = methodFrame(1, P.encodeQueueDeclare, queueDeclare('ref-e-fr-end'));
    f[f.length - 1] = 0;
    c.sendRaw(f);
    // the reason is Erlang's ~p of a tuple that no longer fits in 80 columns, hence the break
    expect(await c.expectConnectionClose(501)).toEqual(
      close(
        501,
        'FRAME_ERROR - type 1, first 16 octets = <<0,50,0,10,0,0,12,114,101,102,45,101,45,102,114,45>>: {invalid_frame_end_marker,\n' +
          ' '.repeat(82) +
          '0}',
      ),
    );
  });

  it('closes 505 for a heartbeat frame on channel 1 (row 169)', async () => {
    const c = await running();
    await c.openChannel(1);
    c.sendFrame(P.FRAME_HEARTBEAT, 1, Buffer.alloc(0));
    expect(await c.expectConnectionClose(505)).toEqual(close(505, 'UNEXPECTED_FRAME - type 8, all octets = <<>>'));
  });

  it('closes 501 for a heartbeat frame with a payload (row 170)', async () => {
    const c = await running();
    c.sendFrame(P.FRAME_HEARTBEAT, 0, Buffer.from([0]));
    expect(await c.expectConnectionClose(501)).toEqual(close(501, 'FRAME_ERROR - type 8, all octets = <<0>>: unknown_frame'));
  });

  it('closes 501 for a frame of unknown type 9 (row 171)', async () => {
    const c = await running();
    c.sendFrame(9, 0, Buffer.alloc(0));
    expect(await c.expectConnectionClose(501)).toEqual(close(501, 'FRAME_ERROR - type 9, all octets = <<>>: unknown_frame'));
  });

  it('closes 505 for a content header with no basic.publish before it (row 158)', async () => {
    const c = await running();
    await c.openChannel(1);
    const header = Buffer.alloc(14);
    header.writeUInt16BE(P.CLASS_BASIC, 0);
    header.writeUInt32BE(5, 8); // body-size 5, no properties
    c.sendFrame(P.FRAME_HEADER, 1, header);
    expect(await c.expectConnectionClose(505)).toEqual(
      close(505, 'UNEXPECTED_FRAME - expected method frame, got non method frame instead'),
    );
  });

  it('closes 505 for a content body with no basic.publish before it (row 159)', async () => {
    const c = await running();
    await c.openChannel(1);
    c.sendFrame(P.FRAME_BODY, 1, Buffer.from('hello'));
    expect(await c.expectConnectionClose(505)).toEqual(
      close(505, 'UNEXPECTED_FRAME - expected method frame, got non method frame instead'),
    );
  });

  it('closes 501 for a method frame too short to hold class and method ids (row 176)', async () => {
    const c = await running();
    await c.openChannel(1);
    c.sendRaw(rawMethod(1, [0, 50]));
    expect(await c.expectConnectionClose(501)).toEqual(close(501, 'FRAME_ERROR - type 1, all octets = <<0,50>>: unknown_frame'));
  });
});

describe('channels', () => {
  it('closes 504 for a method on a channel that was never opened (row 148)', async () => {
    const c = await running();
    c.sendMethod(2, P.encodeQueueDeclare, queueDeclare('q'));
    expect(await c.expectConnectionClose(504)).toEqual(close(504, "CHANNEL_ERROR - expected 'channel.open'", 50, 10));
  });

  it('closes 504 for channel.open on a channel that is already open (row 147)', async () => {
    const c = await running();
    await c.openChannel(1);
    c.sendMethod(1, P.encodeChannelOpen, { reserved1: '' });
    expect(await c.expectConnectionClose(504)).toEqual(close(504, "CHANNEL_ERROR - second 'channel.open' seen", 20, 10));
  });

  it('closes 504 for channel.open on channel 0, byte for byte as RabbitMQ (row 151)', async () => {
    const c = await running();
    c.sendMethod(0, P.encodeChannelOpen, { reserved1: '' });
    const f = await c.nextFrame();
    expect([f.type, f.channel]).toEqual([P.FRAME_METHOD, 0]);
    // ../shared/reference/server-properties.json server_initiated_connection_close
    expect(f.payload.toString('hex')).toBe(
      methodPayload(P.encodeConnectionClose, close(504, 'CHANNEL_ERROR - unexpected method in connection state running', 20, 10)).toString('hex'),
    );
    expect(f.payload.toString('hex')).toBe(
      '000a003201f83d4348414e4e454c5f4552524f52202d20756e6578706563746564206d6574686f6420696e20636f6e6e656374696f6e2073746174652072756e6e696e670014000a',
    );
    c.sendMethod(0, P.encodeConnectionCloseOk, {});
    await c.waitClosed(2000);
  });

  it('counts channels, not channel numbers, against channel_max (rows 153, 156)', async () => {
    const c = await running({ channelMax: 10 });
    await c.openChannel(11); // a number above channel_max is fine while fewer are open
    for (let ch = 1; ch <= 9; ch++) await c.openChannel(ch);
    c.sendMethod(12, P.encodeChannelOpen, { reserved1: '' });
    expect(await c.expectConnectionClose(530)).toEqual(
      close(530, 'NOT_ALLOWED - number of channels opened (10) has reached the negotiated channel_max (10)'),
    );
  });

  it('closes 530 for an 11th channel after channel_max=10 (row 156)', async () => {
    const c = await running({ channelMax: 10 });
    for (let ch = 1; ch <= 10; ch++) await c.openChannel(ch);
    c.sendMethod(11, P.encodeChannelOpen, { reserved1: '' });
    expect(await c.expectConnectionClose(530)).toEqual(
      close(530, 'NOT_ALLOWED - number of channels opened (10) has reached the negotiated channel_max (10)'),
    );
  });

  it('closes 503 for channel.close-ok on a channel that is not closing (row 157)', async () => {
    const c = await running();
    await c.openChannel(1);
    c.sendMethod(1, P.encodeChannelCloseOk, {});
    expect(await c.expectConnectionClose(503)).toEqual(close(503, 'COMMAND_INVALID - unimplemented method', 20, 41));
  });

  it('closes 540 for channel.flow active=false (row 136)', async () => {
    const c = await running();
    await c.openChannel(1);
    c.sendMethod(1, P.encodeChannelFlow, { active: false });
    expect(await c.expectConnectionClose(540)).toEqual(close(540, 'NOT_IMPLEMENTED - active=false', 20, 20));
  });

  it('answers channel.flow active=true with flow-ok (row 137)', async () => {
    const c = await running();
    await c.openChannel(1);
    c.sendMethod(1, P.encodeChannelFlow, { active: true });
    expect(await c.expectMethod(1, 'channel.flow-ok')).toEqual({ active: true });
    await c.close();
  });

  it('drops whole publishes pipelined onto a channel the server is closing (rows 94, 150)', async () => {
    const c = await running();
    await c.openChannel(1);
    // two publishes in one write, as a client that does not wait for errors sends them; the
    // first fails when its content is complete, the second arrives while the channel closes
    const publish = (): Buffer => {
      const header = Buffer.alloc(14);
      header.writeUInt16BE(P.CLASS_BASIC, 0);
      header.writeUInt32BE(5, 8);
      return Buffer.concat([
        methodFrame(1, P.encodeBasicPublish, { reserved1: 0, exchange: 'no-such-exchange', routingKey: 'k', mandatory: false, immediate: false }),
        frameBytes(P.FRAME_HEADER, 1, header),
        frameBytes(P.FRAME_BODY, 1, Buffer.from('hello')),
      ]);
    };
    c.sendRaw(Buffer.concat([publish(), publish()]));
    expect(await c.expectChannelClose(1, 404)).toEqual({
      replyCode: 404,
      replyText: "NOT_FOUND - no exchange 'no-such-exchange' in vhost '/'",
      classId: 60,
      methodId: 40,
    });
    // the connection is fine and the channel number is free again
    await c.openChannel(1);
    await c.close();
  });

  it('reuses a channel number after channel.close / close-ok', async () => {
    const c = await running();
    await c.openChannel(1);
    c.sendMethod(1, P.encodeChannelClose, { replyCode: 200, replyText: 'bye', classId: 0, methodId: 0 });
    await c.expectMethod(1, 'channel.close-ok');
    await c.openChannel(1);
    await c.close();
  });
});

describe('undecodable methods', () => {
  it('closes 501 "cannot decode" for queue.declare with trailing garbage (row 174)', async () => {
    const c = await running();
    await c.openChannel(1);
    const payload = Buffer.concat([methodPayload(P.encodeQueueDeclare, queueDeclare('ref-e-fr-trailing')), Buffer.from([1, 2, 3])]);
    c.sendFrame(P.FRAME_METHOD, 1, payload);
    expect(await c.expectConnectionClose(501)).toEqual(
      close(
        501,
        'FRAME_ERROR - cannot decode <<0,0,17,114,101,102,45,101,45,102,114,45,116,114,97,105,108,105,110,103,0,0,0,0,0,1,2,3>>',
        50,
        10,
      ),
    );
  });

  it('closes 501 "cannot decode" for a truncated queue.declare', async () => {
    const c = await running();
    await c.openChannel(1);
    // reserved-1, then a queue name of 5 octets that never come
    c.sendRaw(rawMethod(1, [0, 50, 0, 10, 0, 0, 5]));
    expect(await c.expectConnectionClose(501)).toEqual(close(501, 'FRAME_ERROR - cannot decode <<0,0,5>>', 50, 10));
  });

  // rabbitmq-compat differences: RabbitMQ drops TCP for these, warren says why
  it('refuses a method of unknown class 99 (row 172)', async () => {
    const c = await running();
    await c.openChannel(1);
    c.sendRaw(rawMethod(1, [0, 99, 0, 1]));
    await expectCloseOrDrop(c, close(540, 'NOT_IMPLEMENTED - unknown method: class-id 99, method-id 1'));
  });

  it('refuses basic method 999 (row 173)', async () => {
    const c = await running();
    await c.openChannel(1);
    c.sendRaw(rawMethod(1, [0, 60, 999 >> 8, 999 & 0xff]));
    await expectCloseOrDrop(c, close(540, 'NOT_IMPLEMENTED - unknown method: class-id 60, method-id 999'));
  });

  it('refuses a field table with the unknown type octet "Z" (row 175)', async () => {
    const c = await running();
    await c.openChannel(1);
    // queue.declare "q", no flags, arguments { x: 'Z' 1 2 3 }
    const args = [0, 0, 0, 6, 1, 0x78, 0x5a, 1, 2, 3];
    c.sendRaw(rawMethod(1, [0, 50, 0, 10, 0, 0, 1, 0x71, 0, ...args]));
    await expectCloseOrDrop(c, close(501, 'FRAME_ERROR - cannot decode <<0,0,1,113,0,0,0,0,6,1,120,90,1,2,3>>', 50, 10));
  });
});
