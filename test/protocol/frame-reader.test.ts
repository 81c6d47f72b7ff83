/**
 * FrameReader: whole frames out of arbitrary socket chunks, views without copies when a
 * frame sits inside one chunk, frame_max refused as soon as a header announces too much,
 * frame-end checked, silence after the first error.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { FrameReader, describeOctets, type FrameSink } from '../../src/protocol/frame-reader.js';
import { FRAME_BODY, FRAME_HEADER, FRAME_HEARTBEAT, FRAME_METHOD } from '../../src/protocol/generated.js';
import { frameBytes } from '../helpers/raw-client.js';

interface Seen {
  type: number;
  channel: number;
  payload: string;
}

/** A sink that copies what it is given (views are only valid during the call). */
class Recorder implements FrameSink {
  readonly frames: Seen[] = [];
  readonly errors: string[] = [];
  readonly bufs: Array<{ buf: Buffer; start: number; end: number }> = [];
  onFrame(type: number, channel: number, buf: Buffer, start: number, end: number): void {
    this.frames.push({ type, channel, payload: buf.toString('hex', start, end) });
    this.bufs.push({ buf, start, end });
  }
  onFrameError(text: string): void {
    this.errors.push(text);
  }
}

const frame = frameBytes;

const seen = (type: number, channel: number, payload: Buffer): Seen => ({ type, channel, payload: payload.toString('hex') });

// channel.open on 1, a content header, two body frames, a heartbeat, an empty body frame
const SEQUENCE: Array<[number, number, Buffer]> = [
  [FRAME_METHOD, 1, Buffer.from('0014000a00', 'hex')],
  [FRAME_HEADER, 1, Buffer.from('003c0000000000000000000b0000', 'hex')],
  [FRAME_BODY, 1, Buffer.from('hello ')],
  [FRAME_BODY, 1, Buffer.from('world')],
  [FRAME_HEARTBEAT, 0, Buffer.alloc(0)],
  [FRAME_BODY, 65535, Buffer.alloc(0)],
  [FRAME_METHOD, 2, Buffer.alloc(300, 7)],
];
const WIRE = Buffer.concat(SEQUENCE.map(([t, c, p]) => frame(t, c, p)));
const EXPECTED = SEQUENCE.map(([t, c, p]) => seen(t, c, p));

function feed(chunks: Buffer[], frameMax = 131072): Recorder {
  const r = new FrameReader(frameMax);
  const sink = new Recorder();
  for (const c of chunks) r.push(c, sink);
  return sink;
}

describe('FrameReader', () => {
  it('reads a sequence of frames from one chunk, as views of that chunk', () => {
    const sink = feed([WIRE]);
    expect(sink.frames).toEqual(EXPECTED);
    expect(sink.errors).toEqual([]);
    // no copy: every payload is a view of the chunk that was pushed
    for (const v of sink.bufs) expect(v.buf).toBe(WIRE);
  });

  it('reads the same frames when the bytes are split at every possible position', () => {
    for (let i = 0; i <= WIRE.length; i++) {
      const sink = feed([WIRE.subarray(0, i), WIRE.subarray(i)]);
      expect(sink.frames, `split at ${i}`).toEqual(EXPECTED);
      expect(sink.errors).toEqual([]);
    }
  });

  it('reads the same frames when split at every pair of positions', () => {
    for (let i = 0; i <= WIRE.length; i += 3) {
      for (let j = i; j <= WIRE.length; j += 5) {
        const sink = feed([WIRE.subarray(0, i), WIRE.subarray(i, j), WIRE.subarray(j)]);
        expect(sink.frames, `split at ${i} and ${j}`).toEqual(EXPECTED);
      }
    }
  });

  it('reads the same frames fed one byte at a time', () => {
    const chunks = [...WIRE].map((b) => Buffer.from([b]));
    expect(feed(chunks).frames).toEqual(EXPECTED);
  });

  it('reads the same frames from any random chunking (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.nat({ max: WIRE.length }), { maxLength: 12 }), (cuts) => {
        const points = [0, ...cuts.sort((a, b) => a - b), WIRE.length];
        const chunks = points.slice(1).map((p, k) => WIRE.subarray(points[k], p));
        expect(feed(chunks).frames).toEqual(EXPECTED);
      }),
    );
  });

  it('copies a split frame once, into a buffer of its own, not into the next chunk', () => {
    const a = frame(FRAME_BODY, 1, Buffer.from('abcdef'));
    const first = a.subarray(0, 10);
    const second = Buffer.concat([a.subarray(10), frame(FRAME_HEARTBEAT, 0, Buffer.alloc(0))]);
    const sink = feed([first, second]);
    expect(sink.frames).toEqual([seen(FRAME_BODY, 1, Buffer.from('abcdef')), seen(FRAME_HEARTBEAT, 0, Buffer.alloc(0))]);
    expect(sink.bufs[0]!.buf).not.toBe(first);
    expect(sink.bufs[0]!.buf).not.toBe(second);
    expect(sink.bufs[1]!.buf).toBe(second); // the whole frame after it is a view again
  });

  describe('frame_max', () => {
    it('accepts a frame of exactly frame_max octets', () => {
      const f = frame(FRAME_BODY, 1, Buffer.alloc(4096 - 8, 1));
      expect(f.length).toBe(4096);
      const sink = feed([f], 4096);
      expect(sink.errors).toEqual([]);
      expect(sink.frames).toHaveLength(1);
    });

    it('refuses a larger frame as soon as its 7-byte header is in, with RabbitMQ’s text', () => {
      const r = new FrameReader(4096);
      const sink = new Recorder();
      const header = frame(FRAME_BODY, 1, Buffer.alloc(5000)).subarray(0, 7);
      r.push(header, sink);
      expect(sink.errors).toEqual(['type 3, all octets = <<>>: {frame_too_large,5000,4088}']);
      expect(sink.frames).toEqual([]);
    });

    it('refuses it too when the header itself arrives in pieces', () => {
      const r = new FrameReader(4096);
      const sink = new Recorder();
      const header = frame(FRAME_METHOD, 1, Buffer.alloc(4089)).subarray(0, 7);
      r.push(header.subarray(0, 2), sink);
      r.push(header.subarray(2, 5), sink);
      expect(sink.errors).toEqual([]);
      r.push(header.subarray(5), sink);
      expect(sink.errors).toEqual(['type 1, all octets = <<>>: {frame_too_large,4089,4088}']);
    });

    it('refuses it after earlier good frames in the same chunk, which are still delivered', () => {
      const good = frame(FRAME_HEARTBEAT, 0, Buffer.alloc(0));
      const bad = frame(FRAME_BODY, 1, Buffer.alloc(5000));
      const sink = feed([Buffer.concat([good, bad, good])], 4096);
      expect(sink.frames).toEqual([seen(FRAME_HEARTBEAT, 0, Buffer.alloc(0))]);
      expect(sink.errors).toEqual(['type 3, all octets = <<>>: {frame_too_large,5000,4088}']);
    });

    it('applies a frame_max lowered after tune-ok to the following frames', () => {
      const r = new FrameReader(131072);
      const sink = new Recorder();
      const f = frame(FRAME_BODY, 1, Buffer.alloc(5000));
      r.push(f, sink);
      expect(sink.frames).toHaveLength(1);
      r.frameMax = 4096;
      r.push(f, sink);
      expect(sink.frames).toHaveLength(1);
      expect(sink.errors).toEqual(['type 3, all octets = <<>>: {frame_too_large,5000,4088}']);
    });
  });

  describe('frame-end', () => {
    it('refuses a frame whose last octet is not 0xCE and says what it got', () => {
      const bad = frame(FRAME_METHOD, 1, Buffer.from('0014000a00', 'hex'), 0);
      const sink = feed([bad]);
      expect(sink.frames).toEqual([]);
      expect(sink.errors).toEqual(['type 1, all octets = <<0,20,0,10,0>>: {invalid_frame_end_marker,0}']);
    });

    it('refuses it the same way when the frame was split across chunks', () => {
      const bad = frame(FRAME_METHOD, 1, Buffer.from('0014000a00', 'hex'), 0x41);
      for (let i = 1; i < bad.length; i++) {
        const sink = feed([bad.subarray(0, i), bad.subarray(i)]);
        expect(sink.errors, `split at ${i}`).toEqual(['type 1, all octets = <<0,20,0,10,0>>: {invalid_frame_end_marker,65}']);
      }
    });

    it('breaks the reason like Erlang’s ~p when it does not fit in 80 columns (errors.md row 168)', () => {
      // queue.declare "ref-e-fr-end" with frame-end 0
      const payload = Buffer.from('0032000a00000c7265662d652d66722d656e640000000000', 'hex');
      const sink = feed([frame(FRAME_METHOD, 1, payload, 0)]);
      expect(sink.errors).toEqual([
        'type 1, first 16 octets = <<0,50,0,10,0,0,12,114,101,102,45,101,45,102,114,45>>: {invalid_frame_end_marker,\n' +
          ' '.repeat(82) +
          '0}',
      ]);
    });

    it('delivers nothing after the first error', () => {
      const good = frame(FRAME_HEARTBEAT, 0, Buffer.alloc(0));
      const bad = frame(FRAME_HEARTBEAT, 0, Buffer.alloc(0), 0);
      const r = new FrameReader(131072);
      const sink = new Recorder();
      r.push(Buffer.concat([good, bad, good]), sink);
      r.push(good, sink);
      expect(sink.frames).toHaveLength(1);
      expect(sink.errors).toHaveLength(1);
    });
  });

  it('stop() silences the reader', () => {
    const r = new FrameReader(131072);
    const sink = new Recorder();
    r.stop();
    r.push(WIRE, sink);
    expect(sink.frames).toEqual([]);
    expect(sink.errors).toEqual([]);
  });

  it('describes payloads as RabbitMQ does: all octets, or the first 16', () => {
    expect(describeOctets(Buffer.alloc(0), 0, 0)).toBe('all octets = <<>>');
    expect(describeOctets(Buffer.from([9, 0, 50, 255]), 1, 4)).toBe('all octets = <<0,50,255>>');
    expect(describeOctets(Buffer.alloc(16, 1), 0, 16)).toBe(`all octets = <<${Array(16).fill(1).join(',')}>>`);
    expect(describeOctets(Buffer.alloc(17, 2), 0, 17)).toBe(`first 16 octets = <<${Array(16).fill(2).join(',')}>>`);
  });
});
