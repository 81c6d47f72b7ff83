/**
 * FrameWriter: frames come out in the order they were written, bodies are split at
 * frame_max, large bodies are referenced rather than copied, and bytes already taken are
 * never overwritten by later frames (the socket may still be holding them).
 */
import { describe, expect, it } from 'vitest';
import { FrameWriter } from '../../src/protocol/frame-writer.js';
import { FrameReader, type FrameSink } from '../../src/protocol/frame-reader.js';
import * as P from '../../src/protocol/generated.js';

interface Seen {
  type: number;
  channel: number;
  payload: Buffer;
}

/** Parses written bytes back into frames with the reader (itself tested separately). */
function parse(chunks: Buffer[] | null): Seen[] {
  const out: Seen[] = [];
  const errors: string[] = [];
  const sink: FrameSink = {
    onFrame: (type, channel, buf, start, end) => out.push({ type, channel, payload: Buffer.from(buf.subarray(start, end)) }),
    onFrameError: (text) => errors.push(text),
  };
  const r = new FrameReader(0x7fffffff);
  for (const c of chunks ?? []) r.push(c, sink);
  expect(errors).toEqual([]);
  return out;
}

const PROPS = Buffer.from([0x10, 0x00, 0x02]); // property-flags: delivery-mode; delivery-mode 2

function contentHeaderPayload(bodySize: number): Buffer {
  const b = Buffer.alloc(12 + PROPS.length);
  b.writeUInt16BE(P.CLASS_BASIC, 0);
  b.writeUInt32BE(Math.floor(bodySize / 2 ** 32), 4);
  b.writeUInt32BE(bodySize >>> 0, 8);
  PROPS.copy(b, 12);
  return b;
}

const body = (n: number): Buffer => {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + 7) & 0xff;
  return b;
};

describe('FrameWriter', () => {
  it('takes nothing when nothing was written', () => {
    expect(new FrameWriter(131072).take()).toBeNull();
  });

  it('writes a method frame byte for byte', () => {
    const w = new FrameWriter(131072);
    w.method(0, P.encodeConnectionTune, { channelMax: 2047, frameMax: 131072, heartbeat: 60 });
    // ../shared/reference/server-properties.json connection_tune, in a frame on channel 0
    expect(Buffer.concat(w.take()!).toString('hex')).toBe('010000' + '0000000c' + '000a001e07ff00020000003c' + 'ce');
  });

  it('writes a heartbeat frame byte for byte', () => {
    const w = new FrameWriter(131072);
    w.heartbeat();
    expect(Buffer.concat(w.take()!).toString('hex')).toBe('08000000000000ce');
  });

  it('splits a body into frames of at most frame_max octets', () => {
    const w = new FrameWriter(4096);
    const b = body(10_000);
    w.content(3, P.CLASS_BASIC, PROPS, b);
    const frames = parse(w.take());
    expect(frames.map((f) => [f.type, f.channel, f.payload.length])).toEqual([
      [P.FRAME_HEADER, 3, 12 + PROPS.length],
      [P.FRAME_BODY, 3, 4088],
      [P.FRAME_BODY, 3, 4088],
      [P.FRAME_BODY, 3, 10_000 - 2 * 4088],
    ]);
    expect(frames[0]!.payload).toEqual(contentHeaderPayload(10_000));
    expect(Buffer.concat(frames.slice(1).map((f) => f.payload)).equals(b)).toBe(true);
    for (const f of frames) expect(f.payload.length + 8).toBeLessThanOrEqual(4096);
  });

  it('writes no body frame for an empty body', () => {
    const w = new FrameWriter(4096);
    w.content(1, P.CLASS_BASIC, PROPS, Buffer.alloc(0));
    const frames = parse(w.take());
    expect(frames.map((f) => f.type)).toEqual([P.FRAME_HEADER]);
    expect(frames[0]!.payload).toEqual(contentHeaderPayload(0));
  });

  it('follows a frame_max changed after tune-ok', () => {
    const w = new FrameWriter(131072);
    w.frameMax = 4096;
    w.content(1, P.CLASS_BASIC, PROPS, body(5000));
    expect(parse(w.take()).map((f) => f.payload.length)).toEqual([12 + PROPS.length, 4088, 912]);
  });

  it('references a large body instead of copying it', () => {
    const w = new FrameWriter(131072);
    const b = body(100_000);
    w.content(1, P.CLASS_BASIC, PROPS, b);
    const chunks = w.take()!;
    expect(chunks).toContain(b);
    expect(Buffer.concat(parse(chunks).slice(1).map((f) => f.payload)).equals(b)).toBe(true);
  });

  it('references the pieces of a large body split at frame_max', () => {
    const w = new FrameWriter(131072);
    const b = body(300_000);
    w.content(1, P.CLASS_BASIC, PROPS, b);
    const chunks = w.take()!;
    const views = chunks.filter((c) => c.buffer === b.buffer);
    expect(views.map((v) => [v.byteOffset - b.byteOffset, v.length])).toEqual([
      [0, 131064],
      [131064, 131064],
      [262128, 300_000 - 262128],
    ]);
    expect(Buffer.concat(parse(chunks).slice(1).map((f) => f.payload)).equals(b)).toBe(true);
  });

  it('copies a small body (it is not kept alive by the output)', () => {
    const w = new FrameWriter(131072);
    const b = body(100);
    w.content(1, P.CLASS_BASIC, PROPS, b);
    const chunks = w.take()!;
    for (const c of chunks) expect(c.buffer === b.buffer).toBe(false);
    expect(parse(chunks)[1]!.payload).toEqual(b);
  });

  it('writes a body given as a range of a larger buffer (a packed slab), small or large', () => {
    for (const [size, frameMax] of [[16, 131072], [700, 131072], [20_000, 4096], [20_000, 131072]] as const) {
      const slab = body(size + 300);
      const w = new FrameWriter(frameMax);
      w.content(1, P.CLASS_BASIC, PROPS, slab, 123, size);
      const frames = parse(w.take());
      expect(frames[0]!.payload).toEqual(contentHeaderPayload(size));
      expect(Buffer.concat(frames.slice(1).map((f) => f.payload)).equals(slab.subarray(123, 123 + size))).toBe(true);
    }
  });

  it('hands out everything written since the last take, in order', () => {
    const w = new FrameWriter(131072);
    const big = body(50_000);
    w.raw(Buffer.from('AMQP\x00\x00\x09\x01', 'latin1'));
    const first = w.take()!;
    expect(Buffer.concat(first).toString('latin1')).toBe('AMQP\x00\x00\x09\x01');

    w.method(1, P.encodeChannelOpenOk, { reserved1: Buffer.alloc(0) });
    w.content(1, P.CLASS_BASIC, PROPS, big);
    w.heartbeat();
    w.method(2, P.encodeChannelCloseOk, {});
    w.content(2, P.CLASS_BASIC, PROPS, body(10));
    const frames = parse(w.take());
    expect(frames.map((f) => [f.type, f.channel])).toEqual([
      [P.FRAME_METHOD, 1],
      [P.FRAME_HEADER, 1],
      [P.FRAME_BODY, 1],
      [P.FRAME_HEARTBEAT, 0],
      [P.FRAME_METHOD, 2],
      [P.FRAME_HEADER, 2],
      [P.FRAME_BODY, 2],
    ]);
    expect(frames[2]!.payload.equals(big)).toBe(true);
    expect(w.take()).toBeNull();
  });

  it('keeps frames in order across many slabs (more than 16 KiB in one turn)', () => {
    const w = new FrameWriter(131072);
    const n = 3000;
    for (let i = 0; i < n; i++) {
      if (i % 100 === 50) w.content(i % 7, P.CLASS_BASIC, PROPS, body(9000 + i));
      else w.method(i % 7, P.encodeBasicAck, { deliveryTag: i, multiple: false });
    }
    expect(w.pendingBytes).toBeGreaterThan(16 * 1024);
    const frames = parse(w.take()).filter((f) => f.type === P.FRAME_METHOD);
    expect(frames.map((f) => (P.decodeMethod(f.payload).args as P.BasicAck).deliveryTag)).toEqual(
      Array.from({ length: n }, (_, i) => i).filter((i) => i % 100 !== 50),
    );
    expect(w.pendingBytes).toBe(0);
  });

  it('grows for a method larger than a slab', () => {
    const w = new FrameWriter(131072);
    const args = new Map([['big', { type: 'S' as const, value: 'x'.repeat(100_000) }]]);
    w.method(1, P.encodeQueueDeclareOk, { queue: 'q', messageCount: 0, consumerCount: 0 });
    w.method(1, P.encodeExchangeDeclare, {
      reserved1: 0,
      exchange: 'e',
      type: 'direct',
      passive: false,
      durable: false,
      autoDelete: false,
      internal: false,
      noWait: false,
      arguments: args,
    });
    const frames = parse(w.take());
    expect(frames.map((f) => P.decodeMethod(f.payload).name)).toEqual(['queue.declare-ok', 'exchange.declare']);
    expect((P.decodeMethod(frames[1]!.payload).args as P.ExchangeDeclare).arguments.get('big')).toEqual(args.get('big'));
  });

  it('never overwrites bytes already taken (the socket may still hold them)', () => {
    const w = new FrameWriter(131072);
    const taken: Array<{ chunk: Buffer; copy: Buffer }> = [];
    for (let round = 0; round < 200; round++) {
      for (let i = 0; i < round % 13; i++) w.method(1, P.encodeBasicAck, { deliveryTag: round * 100 + i, multiple: true });
      if (round % 5 === 0) w.content(1, P.CLASS_BASIC, PROPS, body(round * 97));
      w.heartbeat();
      for (const chunk of w.take() ?? []) taken.push({ chunk, copy: Buffer.from(chunk) });
    }
    for (const { chunk, copy } of taken) expect(chunk.equals(copy)).toBe(true);
  });

  it('discard() drops what is pending', () => {
    const w = new FrameWriter(131072);
    w.method(1, P.encodeChannelCloseOk, {});
    w.content(1, P.CLASS_BASIC, PROPS, body(100_000));
    w.discard();
    expect(w.pendingBytes).toBe(0);
    expect(w.take()).toBeNull();
    w.heartbeat();
    expect(Buffer.concat(w.take()!).toString('hex')).toBe('08000000000000ce');
  });
});
