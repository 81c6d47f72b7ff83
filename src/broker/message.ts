/**
 * A published message, shared by every queue it was routed to (stored once).
 *
 * The content header's property bytes are kept raw (`propsRaw`: property flags + properties,
 * exactly as the publisher sent them) and reused verbatim in every delivery; they are decoded
 * only when a feature needs a property (headers exchange, expiration, priority,
 * delivery-mode, dead-lettering), and then once.
 */
import { decodeBasicProperties, encodeBasicProperties, basicPropertiesSize, type BasicProperties } from '../protocol/generated.js';
import type { FieldTable } from '../protocol/field-table.js';
import type { Routable } from './exchange/exchange-type.js';
import { PACK_MAX, packBody, packedSlab } from './body-slab.js';

/** Where a body left in the segment files is read back from. */
export interface BodySource {
  readBody(id: number): Buffer;
}

export class Message implements Routable {
  exchange: string;
  routingKey: string;
  propsRaw: Buffer;
  readonly bodySize: number;
  /**
   * exchange and routing-key as shortstrs (length octet + bytes), exactly as they go into
   * basic.deliver; shared by consecutive messages of a publisher. null when unknown.
   */
  routeRaw: Buffer | null = null;
  /** Id in the vhost's message store while persisted (0 = not stored). */
  storeId = 0;
  /**
   * Where the body is: the whole of #buf, or bodySize bytes of a shared slab at #off (small
   * bodies, see body-slab.ts); null while it is left on disk (#source).
   */
  #buf: Buffer | null;
  #off = 0;
  #source: BodySource | null = null;
  #props: BasicProperties | undefined;

  constructor(exchange: string, routingKey: string, propsRaw: Buffer, body: Buffer) {
    this.exchange = exchange;
    this.routingKey = routingKey;
    this.propsRaw = propsRaw;
    this.#buf = body;
    this.bodySize = body.length;
  }

  /**
   * A published message whose body is src[start, end) of a buffer lent for the call (a socket
   * chunk, the reader's buffer for a split frame, or the assembler's joined body). A small
   * body is packed into a slab; a larger one that fills most of that buffer is kept as a view
   * (a large frame is then never copied twice); any other is copied out, so as not to pin the
   * chunk it came in.
   */
  static published(exchange: string, routingKey: string, propsRaw: Buffer, src: Buffer, start: number, end: number): Message {
    const n = end - start;
    if (n > PACK_MAX) {
      let body: Buffer;
      if (2 * n >= src.length) body = start === 0 && end === src.length ? src : src.subarray(start, end);
      else {
        body = Buffer.allocUnsafe(n);
        src.copy(body, 0, start, end);
      }
      return new Message(exchange, routingKey, propsRaw, body);
    }
    const m = new Message(exchange, routingKey, propsRaw, EMPTY);
    (m as { bodySize: number }).bodySize = n;
    if (n > 0) {
      m.#off = packBody(src, start, end);
      m.#buf = packedSlab;
    }
    return m;
  }

  /** A recovered message whose body stays on disk until delivered. */
  static paged(exchange: string, routingKey: string, propsRaw: Buffer, bodySize: number, storeId: number, source: BodySource): Message {
    const m = new Message(exchange, routingKey, propsRaw, EMPTY);
    (m as { bodySize: number }).bodySize = bodySize;
    m.#buf = null;
    m.#source = source;
    m.storeId = storeId;
    return m;
  }

  /** Persisted for durable queues only: its body may leave memory (pageOut). */
  pageable = false;

  /** Drops the in-memory body; it is read back from `source` (the store) when needed. */
  pageOut(source: BodySource): void {
    if (this.storeId === 0 || this.#buf === null) return;
    this.#buf = null;
    this.#source = source;
  }

  /** The body; read back from the message store when it was left on disk. */
  get body(): Buffer {
    const b = this.#buf;
    if (b === null) return this.#source!.readBody(this.storeId);
    const off = this.#off;
    return off === 0 && b.length === this.bodySize ? b : b.subarray(off, off + this.bodySize);
  }

  /**
   * The buffer holding the body in memory (bodySize bytes at bodyOffset), null when the body
   * is on disk: lets the frame writer copy a packed body without making a view of it.
   */
  get bodyBuffer(): Buffer | null {
    return this.#buf;
  }

  get bodyOffset(): number {
    return this.#off;
  }

  static fromProperties(exchange: string, routingKey: string, props: BasicProperties, body: Buffer): Message {
    const m = new Message(exchange, routingKey, encodeProperties(props), body);
    m.#props = props;
    return m;
  }

  get properties(): BasicProperties {
    return (this.#props ??= decodeBasicProperties(this.propsRaw, 0, this.propsRaw.length));
  }

  /** Replaces the properties (dead-lettering adds x-death); re-encodes the raw bytes. */
  setProperties(p: BasicProperties): void {
    this.#props = p;
    this.propsRaw = encodeProperties(p);
  }

  get headers(): FieldTable | undefined {
    // property flags: bit 13 = headers; skip decoding entirely when absent
    if (this.propsRaw.length < 2 || (this.propsRaw.readUInt16BE(0) & 0x2000) === 0) return undefined;
    return this.properties.headers;
  }

  /** delivery-mode 2 */
  get persistent(): boolean {
    if (this.propsRaw.length < 2 || (this.propsRaw.readUInt16BE(0) & 0x1000) === 0) return false;
    return this.properties.deliveryMode === 2;
  }

  /** Bytes this message accounts for in queue length limits (body only, as RabbitMQ). */
  get size(): number {
    return this.bodySize;
  }
}

const EMPTY = Buffer.alloc(0);

export function encodeProperties(p: BasicProperties): Buffer {
  const buf = Buffer.allocUnsafe(basicPropertiesSize(p));
  const end = encodeBasicProperties(buf, 0, p);
  return end === buf.length ? buf : buf.subarray(0, end);
}

/** Which property flag bits are set, for cheap presence checks (spec: bit 15 = content-type). */
export const PROPERTY_FLAG = {
  contentType: 0x8000,
  contentEncoding: 0x4000,
  headers: 0x2000,
  deliveryMode: 0x1000,
  priority: 0x0800,
  correlationId: 0x0400,
  replyTo: 0x0200,
  expiration: 0x0100,
  messageId: 0x0080,
  timestamp: 0x0040,
  type: 0x0020,
  userId: 0x0010,
  appId: 0x0008,
  clusterId: 0x0004,
} as const;

export function hasProperty(m: Message, flag: number): boolean {
  return m.propsRaw.length >= 2 && (m.propsRaw.readUInt16BE(0) & flag) !== 0;
}
