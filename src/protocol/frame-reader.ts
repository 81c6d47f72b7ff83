/**
 * Incremental AMQP frame reader.
 *
 *   0      1         3             7                  size+7     size+8
 *   +------+---------+-------------+  +------------+  +-----------+
 *   | type | channel |    size     |  |  payload   |  | frame-end |
 *   +------+---------+-------------+  +------------+  +-----------+
 *    octet   short      long            size octets     0xCE
 *
 * Frames are handed to the sink as (buffer, start, end) views of the socket chunk, so a
 * whole frame inside one read costs no copy and no allocation; only a frame split across
 * reads is copied once into a buffer of its exact size. The size is checked against
 * frame_max as soon as the 7-byte header is in, before any payload is buffered.
 */
import { FRAME_END } from './generated.js';

export interface FrameSink {
  /**
   * payload is buf[start, end). buf is a socket chunk or a buffer the reader allocated for a
   * split frame; neither is written again, so the sink may keep a view (the assembler does
   * for large bodies) — at the price of keeping all of buf alive.
   */
  onFrame(type: number, channel: number, buf: Buffer, start: number, end: number): void;
  /** Framing error: the reader stops; the sink closes the connection with 501. */
  onFrameError(text: string): void;
}

export class FrameReader {
  /** Largest payload accepted: negotiated frame_max minus the 8 bytes of framing. */
  maxPayload: number;
  #pending: Buffer | null = null;
  #pendingLen = 0;
  #header = Buffer.alloc(7);
  #headerLen = 0;
  #failed = false;
  /** Frames handed to the sink so far (the connection's per-turn budget counts them). */
  frames = 0;

  constructor(frameMax: number) {
    this.maxPayload = frameMax - 8;
  }

  set frameMax(frameMax: number) {
    this.maxPayload = frameMax - 8;
  }

  /** Stop delivering frames (after an error, or while the connection closes). */
  stop(): void {
    this.#failed = true;
  }

  push(chunk: Buffer, sink: FrameSink): void {
    let off = 0;
    const len = chunk.length;
    while (off < len && !this.#failed) {
      if (this.#pending !== null || this.#headerLen > 0) {
        off = this.#continueSplit(chunk, off, sink);
        continue;
      }
      if (len - off < 7) {
        chunk.copy(this.#header, 0, off, len);
        this.#headerLen = len - off;
        return;
      }
      const type = chunk[off]!;
      const channel = chunk.readUInt16BE(off + 1);
      const size = chunk.readUInt32BE(off + 3);
      if (size > this.maxPayload) return this.#tooLarge(type, size, sink);
      const frameEnd = off + 7 + size;
      if (frameEnd + 1 > len) {
        // split frame: copy what we have, wait for the rest
        this.#pending = Buffer.allocUnsafe(size + 8);
        chunk.copy(this.#pending, 0, off, len);
        this.#pendingLen = len - off;
        return;
      }
      if (chunk[frameEnd] !== FRAME_END) return this.#badEnd(type, chunk, off + 7, frameEnd, sink);
      this.frames++;
      sink.onFrame(type, channel, chunk, off + 7, frameEnd);
      off = frameEnd + 1;
    }
  }

  #continueSplit(chunk: Buffer, off: number, sink: FrameSink): number {
    if (this.#pending === null) {
      // completing a 7-byte header that was split
      const want = 7 - this.#headerLen;
      const n = Math.min(want, chunk.length - off);
      chunk.copy(this.#header, this.#headerLen, off, off + n);
      this.#headerLen += n;
      off += n;
      if (this.#headerLen < 7) return off;
      const size = this.#header.readUInt32BE(3);
      this.#headerLen = 0;
      if (size > this.maxPayload) {
        this.#tooLarge(this.#header[0]!, size, sink);
        return chunk.length;
      }
      this.#pending = Buffer.allocUnsafe(size + 8);
      this.#header.copy(this.#pending, 0);
      this.#pendingLen = 7;
    }
    const frame = this.#pending;
    const n = Math.min(frame.length - this.#pendingLen, chunk.length - off);
    chunk.copy(frame, this.#pendingLen, off, off + n);
    this.#pendingLen += n;
    off += n;
    if (this.#pendingLen < frame.length) return off;
    this.#pending = null;
    this.#pendingLen = 0;
    const type = frame[0]!;
    const end = frame.length - 1;
    if (frame[end] !== FRAME_END) {
      this.#badEnd(type, frame, 7, end, sink);
      return chunk.length;
    }
    this.frames++;
    sink.onFrame(type, frame.readUInt16BE(1), frame, 7, end);
    return off;
  }

  #tooLarge(type: number, size: number, sink: FrameSink): void {
    this.#failed = true;
    // rabbitmq-compat: same text as rabbit_reader
    sink.onFrameError(`type ${type}, all octets = <<>>: {frame_too_large,${size},${this.maxPayload}}`);
  }

  #badEnd(type: number, buf: Buffer, start: number, end: number, sink: FrameSink): void {
    this.#failed = true;
    // rabbitmq-compat: rabbit_reader formats the reason with ~p, which breaks a tuple that
    // does not fit in 80 columns after the text before it, indenting to just after the "{"
    // (errors.md row 168).
    const before = `type ${type}, ${describeOctets(buf, start, end)}: `;
    const flat = `{invalid_frame_end_marker,${buf[end]}}`;
    const reason =
      before.length + flat.length > 80
        ? `{invalid_frame_end_marker,\n${' '.repeat(before.length + 1)}${buf[end]}}`
        : flat;
    sink.onFrameError(before + reason);
  }
}

/** RabbitMQ's way of showing a payload in FRAME_ERROR texts: all octets, or the first 16. */
export function describeOctets(buf: Buffer, start: number, end: number): string {
  const n = end - start;
  const shown = Math.min(n, 16);
  const bytes: number[] = [];
  for (let i = 0; i < shown; i++) bytes.push(buf[start + i]!);
  return `${n > 16 ? 'first 16' : 'all'} octets = <<${bytes.join(',')}>>`;
}
