/**
 * Per-channel content assembly: basic.publish → content header → body frames.
 *
 * Invariants: between a content-bearing method and the last byte of its body, only header
 * and body frames for that method are allowed on the channel (spec 4.2.6). A body that came in
 * one frame is handed on as a range of the buffer it arrived in, a longer one joined into a
 * buffer of exactly body-size bytes.
 * Texts of the violations are RabbitMQ 3.10's (rabbit_command_assembler).
 */
import { FrameViolation } from './frame-violation.js';
import { UNEXPECTED_FRAME } from './generated.js';

const IDLE = 0;
const HEADER = 1;
const BODY = 2;
const EMPTY = Buffer.alloc(0);

export class Assembler {
  #state = IDLE;
  #classId = 0;
  #methodId = 0;
  #received = 0;
  /** Raw property-flags + properties of the content header, copied. */
  propsRaw: Buffer = EMPTY;
  /**
   * When complete, the body is body[bodyStart, bodyEnd). A body that came in one frame is not
   * copied here: `body` is then the socket chunk (or the reader's buffer for a split frame)
   * and the range is valid only until the caller returns; the taker decides what to keep
   * (Message.published). A body of several frames is joined into a buffer of its own.
   */
  body: Buffer = EMPTY;
  bodyStart = 0;
  bodyEnd = 0;
  bodySize = 0;

  get idle(): boolean {
    return this.#state === IDLE;
  }

  /** A method frame arrived; `content` says whether the method carries content. */
  onMethod(classId: number, methodId: number, content: boolean): void {
    if (this.#state === HEADER) {
      throw new FrameViolation(
        UNEXPECTED_FRAME,
        `UNEXPECTED_FRAME - expected content header for class ${this.#classId}, got non content header frame instead`,
        this.#classId,
        this.#methodId,
      );
    }
    if (this.#state === BODY) {
      throw new FrameViolation(
        UNEXPECTED_FRAME,
        'UNEXPECTED_FRAME - expected content body, got non content body frame instead',
        this.#classId,
        this.#methodId,
      );
    }
    if (content) {
      this.#state = HEADER;
      this.#classId = classId;
      this.#methodId = methodId;
    }
  }

  /**
   * Content header payload buf[start, end). Returns true when the content is complete
   * (body-size 0). `checkSize` may throw to refuse the announced size.
   */
  onHeader(buf: Buffer, start: number, end: number, keep = true): boolean {
    if (this.#state !== HEADER) throw nonMethod();
    if (end - start < 14) {
      throw new FrameViolation(501, `FRAME_ERROR - content header of ${end - start} bytes is too short`);
    }
    const classId = buf.readUInt16BE(start);
    if (classId !== this.#classId) {
      throw new FrameViolation(
        UNEXPECTED_FRAME,
        `UNEXPECTED_FRAME - expected content header for class ${this.#classId}, got one for class ${classId} instead`,
        this.#classId,
        this.#methodId,
      );
    }
    const size = buf.readUInt32BE(start + 4) * 0x100000000 + buf.readUInt32BE(start + 8);
    this.propsRaw = keep ? propsOf(buf, start + 12, end) : EMPTY;
    this.bodySize = size;
    this.#received = 0;
    if (size === 0) {
      this.body = EMPTY;
      this.bodyStart = this.bodyEnd = 0;
      this.#state = IDLE;
      return true;
    }
    this.body = EMPTY;
    this.#state = BODY;
    return false;
  }

  /**
   * Body payload buf[start, end). Returns true when the body is complete. With keep=false
   * (content of a refused or closing channel's publish) bytes are only counted, so a
   * hostile announced size costs no memory.
   */
  onBody(buf: Buffer, start: number, end: number, keep = true): boolean {
    if (this.#state !== BODY) throw nonMethod();
    const n = end - start;
    if (!keep) {
      this.#received += n;
      if (this.#received > this.bodySize) throw overflow(this.bodySize, this.#classId, this.#methodId);
      if (this.#received < this.bodySize) return false;
      this.body = EMPTY;
      this.bodyStart = this.bodyEnd = 0;
      this.#state = IDLE;
      return true;
    }
    if (this.#received === 0 && n === this.bodySize) {
      // the common case: whole body in one frame, lent as it is
      this.body = buf;
      this.bodyStart = start;
      this.bodyEnd = end;
      this.#state = IDLE;
      return true;
    }
    if (this.#received + n > this.bodySize) throw overflow(this.bodySize, this.#classId, this.#methodId);
    if (this.#received === 0) this.body = Buffer.allocUnsafe(this.bodySize);
    buf.copy(this.body, this.#received, start, end);
    this.#received += n;
    if (this.#received < this.bodySize) return false;
    this.bodyStart = 0;
    this.bodyEnd = this.bodySize;
    this.#state = IDLE;
    return true;
  }

  /** Forget a half-assembled message (channel closed). */
  reset(): void {
    this.#state = IDLE;
    this.propsRaw = EMPTY;
    this.body = EMPTY;
  }
}

// The property blocks most messages carry, shared (never mutated) instead of copied per
// message: none; delivery-mode 1; delivery-mode 2.
const NO_PROPS = Buffer.from([0, 0]);
const MODE_1 = Buffer.from([0x10, 0, 1]);
const MODE_2 = Buffer.from([0x10, 0, 2]);

function propsOf(buf: Buffer, start: number, end: number): Buffer {
  const n = end - start;
  if (n === 2 && buf[start] === 0 && buf[start + 1] === 0) return NO_PROPS;
  if (n === 3 && buf[start] === 0x10 && buf[start + 1] === 0) {
    if (buf[start + 2] === 2) return MODE_2;
    if (buf[start + 2] === 1) return MODE_1;
  }
  return copyOut(buf, start, end);
}

/** Own copy of buf[start, end) (no intermediate view object). */
function copyOut(buf: Buffer, start: number, end: number): Buffer {
  const out = Buffer.allocUnsafe(end - start);
  buf.copy(out, 0, start, end);
  return out;
}

function overflow(size: number, classId: number, methodId: number): FrameViolation {
  return new FrameViolation(
    UNEXPECTED_FRAME,
    `UNEXPECTED_FRAME - content body frames carry more than the ${size} bytes announced in the content header`,
    classId,
    methodId,
  );
}

function nonMethod(): FrameViolation {
  return new FrameViolation(UNEXPECTED_FRAME, 'UNEXPECTED_FRAME - expected method frame, got non method frame instead');
}
