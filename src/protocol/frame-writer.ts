/**
 * Output side of one connection: frames are encoded straight into a slab and taken once per
 * event-loop turn as a list of buffers for a single corked socket write. Large bodies are not
 * copied: their frames reference the message body.
 *
 * Slab discipline: bytes before #start have been handed to the socket and must not change;
 * new frames go at #pos; when the slab is full, the unflushed part becomes a chunk and a new
 * slab is started.
 *
 * Content header frame payload:
 *   class-id u16 | weight u16 (0) | body-size u64 | property-flags u16 | properties…
 * (`propsRaw` below is everything from property-flags on, kept verbatim from the publisher.)
 */
import { FRAME_BODY, FRAME_END, FRAME_HEADER, FRAME_HEARTBEAT, FRAME_METHOD } from './generated.js';
import { copyBytes } from '../util/bytes.js';

const SLAB = 16 * 1024;
const EMPTY = Buffer.alloc(0);
const MAX_SLAB = 4 * 1024 * 1024;
/** Bodies up to this size are copied into the slab; larger ones are referenced. */
const COPY_BODY_MAX = 8 * 1024;

export type Encoder<A> = (buf: Buffer, off: number, args: A) => number;

export class FrameWriter {
  frameMax: number;
  #buf: Buffer = EMPTY; // allocated on first use, so an idle connection holds no slab
  #start = 0;
  #pos = 0;
  #chunks: Buffer[] = [];
  #chunkBytes = 0;

  constructor(frameMax: number) {
    this.frameMax = frameMax;
  }

  /** Bytes encoded but not yet taken. */
  get pendingBytes(): number {
    return this.#chunkBytes + this.#pos - this.#start;
  }

  method<A>(channel: number, encode: Encoder<A>, args: A): void {
    for (let attempt = 0; ; attempt++) {
      const off = this.#pos;
      try {
        if (off + 8 > this.#buf.length) throw new RangeError('slab full');
        const end = encode(this.#buf, off + 7, args);
        if (end + 1 > this.#buf.length) throw new RangeError('slab full');
        const b = this.#buf;
        b[off] = FRAME_METHOD;
        b.writeUInt16BE(channel, off + 1);
        b.writeUInt32BE(end - off - 7, off + 3);
        b[end] = FRAME_END;
        this.#pos = end + 1;
        return;
      } catch (err) {
        if (!(err instanceof RangeError) || attempt > 8) throw err;
        this.#newSlab(Math.max(SLAB, this.#buf.length * 2));
      }
    }
  }

  /**
   * basic.deliver from pre-encoded parts (the hot path of every consumer):
   *   class 60 | method 60 | consumer-tag shortstr | delivery-tag u64 | redelivered octet |
   *   exchange shortstr + routing-key shortstr (`routeRaw`)
   */
  basicDeliver(channel: number, ctagRaw: Buffer, deliveryTag: number, redelivered: boolean, routeRaw: Buffer): void {
    const size = 4 + ctagRaw.length + 9 + routeRaw.length;
    this.#reserve(size + 8);
    const b = this.#buf;
    let o = this.#pos;
    b[o] = FRAME_METHOD;
    u16(b, o + 1, channel);
    u32(b, o + 3, size);
    u32(b, o + 7, 0x003c003c);
    o += 11;
    o += copyBytes(ctagRaw, 0, ctagRaw.length, b, o);
    u32(b, o, Math.floor(deliveryTag / 0x100000000));
    u32(b, o + 4, deliveryTag >>> 0);
    b[o + 8] = redelivered ? 1 : 0;
    o += 9;
    o += copyBytes(routeRaw, 0, routeRaw.length, b, o);
    b[o] = FRAME_END;
    this.#pos = o + 1;
  }

  /** Content header + body frames (body split at frame_max); the body is body[bodyOff, bodyOff + bodySize). */
  content(channel: number, classId: number, propsRaw: Buffer, body: Buffer, bodyOff = 0, bodySize = body.length): void {
    const headerSize = 12 + propsRaw.length;
    this.#reserve(headerSize + 8);
    let b = this.#buf;
    let o = this.#pos;
    b[o] = FRAME_HEADER;
    u16(b, o + 1, channel);
    u32(b, o + 3, headerSize);
    u16(b, o + 7, classId);
    u16(b, o + 9, 0);
    u32(b, o + 11, Math.floor(bodySize / 0x100000000));
    u32(b, o + 15, bodySize >>> 0);
    copyBytes(propsRaw, 0, propsRaw.length, b, o + 19);
    o += 19 + propsRaw.length;
    b[o++] = FRAME_END;
    this.#pos = o;

    const maxPayload = this.frameMax - 8;
    for (let at = 0; at < bodySize; at += maxPayload) {
      const n = Math.min(maxPayload, bodySize - at);
      if (n <= COPY_BODY_MAX) {
        this.#reserve(n + 8);
        b = this.#buf;
        o = this.#pos;
        b[o] = FRAME_BODY;
        u16(b, o + 1, channel);
        u32(b, o + 3, n);
        copyBytes(body, bodyOff + at, bodyOff + at + n, b, o + 7);
        b[o + 7 + n] = FRAME_END;
        this.#pos = o + 8 + n;
      } else {
        this.#reserve(8);
        b = this.#buf;
        o = this.#pos;
        b[o] = FRAME_BODY;
        u16(b, o + 1, channel);
        u32(b, o + 3, n);
        this.#pos = o + 7;
        this.#cut();
        this.#pushChunk(n === body.length ? body : body.subarray(bodyOff + at, bodyOff + at + n));
        this.#buf[this.#pos++] = FRAME_END;
      }
    }
  }

  heartbeat(): void {
    this.#reserve(8);
    const b = this.#buf;
    const o = this.#pos;
    b[o] = FRAME_HEARTBEAT;
    b.writeUInt16BE(0, o + 1);
    b.writeUInt32BE(0, o + 3);
    b[o + 7] = FRAME_END;
    this.#pos = o + 8;
  }

  /** Raw bytes (the protocol header). */
  raw(bytes: Buffer): void {
    this.#reserve(bytes.length);
    bytes.copy(this.#buf, this.#pos);
    this.#pos += bytes.length;
  }

  /** Everything encoded since the last take, in order; null when nothing is pending. */
  take(): Buffer[] | null {
    this.#cut();
    if (this.#chunks.length === 0) return null;
    const out = this.#chunks;
    this.#chunks = [];
    this.#chunkBytes = 0;
    if (this.#buf.length - this.#pos < 512) {
      this.#buf = EMPTY;
      this.#start = this.#pos = 0;
    }
    return out;
  }

  /** Drops everything pending (connection is gone). */
  discard(): void {
    this.#chunks = [];
    this.#chunkBytes = 0;
    this.#start = this.#pos;
  }

  #reserve(n: number): void {
    if (this.#pos + n > this.#buf.length) this.#newSlab(n);
  }

  /** Moves the unflushed slab region into the chunk list. */
  #cut(): void {
    if (this.#pos > this.#start) {
      this.#pushChunk(this.#buf.subarray(this.#start, this.#pos));
      this.#start = this.#pos;
    }
  }

  #pushChunk(b: Buffer): void {
    this.#chunks.push(b);
    this.#chunkBytes += b.length;
  }

  #newSlab(atLeast: number): void {
    this.#cut();
    const size = Math.max(SLAB, Math.min(MAX_SLAB, this.#buf.length * 2), atLeast);
    // a slab that grew within a busy turn stays at most MAX_SLAB; a fresh one starts at SLAB
    this.#buf = Buffer.allocUnsafe(size);
    this.#start = 0;
    this.#pos = 0;
  }
}

// Unchecked big-endian stores for the per-message frames: the offsets are reserved above and
// the values are in range by construction, so Buffer's checked writers only cost calls.
function u16(b: Buffer, o: number, v: number): void {
  b[o] = v >>> 8;
  b[o + 1] = v;
}

function u32(b: Buffer, o: number, v: number): void {
  b[o] = v >>> 24;
  b[o + 1] = v >>> 16;
  b[o + 2] = v >>> 8;
  b[o + 3] = v;
}
