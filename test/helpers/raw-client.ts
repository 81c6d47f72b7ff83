/**
 * A raw AMQP 0-9-1 client over node:net for tests that read like transcripts:
 *
 *   const c = await RawClient.connect(tb.host, tb.port);
 *   await c.handshake({ frameMax: 4096 });
 *   await c.openChannel(1);
 *   c.sendFrame(FRAME_HEARTBEAT, 1, Buffer.alloc(0));
 *   const close = await c.expectConnectionClose(505);
 *
 * It does nothing on its own: no heartbeats, no automatic replies. Received bytes are kept
 * as they arrived and parsed into frames only when a test asks (`nextFrame`), so a test can
 * also read bytes that are not frames (`readBytes`, e.g. the protocol header a server sends
 * back to a client that spoke the wrong protocol).
 *
 * Every wait has a deadline and fails with what was (not) received, never hangs.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { expect } from 'vitest';
import * as P from '../../src/protocol/generated.js';
import { encodeTable, table, type FieldTable } from '../../src/protocol/field-table.js';

export const PROTOCOL_HEADER = Buffer.from('AMQP\x00\x00\x09\x01', 'latin1');

export interface Frame {
  type: number;
  channel: number;
  payload: Buffer;
}

/** The arguments of the method named N, e.g. ArgsOf<'connection.tune'> = ConnectionTune. */
export type ArgsOf<N extends P.Method['name']> = Extract<P.Method, { name: N }>['args'];

/** A decoded method and the channel it came on. */
export type ReceivedMethod = P.Method & { channel: number };

export interface HandshakeOptions {
  user?: string;
  pass?: string;
  vhost?: string;
  /** tune-ok values; default: what the server offered (heartbeat default 0: none). */
  frameMax?: number;
  channelMax?: number;
  heartbeat?: number;
  /** client-properties capabilities; default { authentication_failure_close: true }. */
  capabilities?: Record<string, boolean>;
  mechanism?: 'PLAIN' | 'AMQPLAIN';
}

export interface Negotiated {
  start: P.ConnectionStart;
  tune: P.ConnectionTune;
}

type Encoder<A> = (buf: Buffer, off: number, args: A) => number;

const DEFAULT_WAIT = 2000;

/** Encodes one frame: type, channel, size, payload, frame-end. */
export function frameBytes(type: number, channel: number, payload: Buffer, end = P.FRAME_END): Buffer {
  const b = Buffer.alloc(payload.length + 8);
  b[0] = type;
  b.writeUInt16BE(channel, 1);
  b.writeUInt32BE(payload.length, 3);
  payload.copy(b, 7);
  b[payload.length + 7] = end;
  return b;
}

/** A method payload (class id, method id, fields) from a generated encoder. */
export function methodPayload<A>(encode: Encoder<A>, args: A): Buffer {
  const big = Buffer.alloc(256 * 1024);
  return Buffer.from(big.subarray(0, encode(big, 0, args)));
}

/** A method frame, ready for sendRaw (e.g. to corrupt it first). */
export function methodFrame<A>(channel: number, encode: Encoder<A>, args: A): Buffer {
  return frameBytes(P.FRAME_METHOD, channel, methodPayload(encode, args));
}

/** 'connection.close on channel 0 {"replyCode":504,…}', for failure messages. */
export function describeFrame(f: Frame): string {
  if (f.type !== P.FRAME_METHOD) return `frame type ${f.type} on channel ${f.channel} (${f.payload.length} bytes)`;
  try {
    const m = P.decodeMethod(f.payload);
    return `${m.name} on channel ${f.channel} ${JSON.stringify(m.args, mapsAsObjects)}`;
  } catch {
    return `undecodable method frame on channel ${f.channel}: ${f.payload.toString('hex')}`;
  }
}

export class RawClient {
  readonly socket: Socket;
  #buf: Buffer = Buffer.alloc(0);
  #ended = false;
  #notify: (() => void) | null = null;
  /** Every frame handed out by nextFrame/nextEvent, for failure messages. */
  readonly received: Frame[] = [];

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      this.#buf = this.#buf.length === 0 ? chunk : Buffer.concat([this.#buf, chunk]);
      this.#wake();
    });
    // 'end' = the server sent FIN; 'close' = the socket is gone (also after a reset)
    socket.on('end', () => {
      this.#ended = true;
      this.#wake();
    });
    socket.on('close', () => {
      this.#ended = true;
      this.#wake();
    });
    socket.on('error', () => {
      // ECONNRESET and the like: seen as 'close'
    });
  }

  static connect(host: string, port: number, timeoutMs = 5000): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = netConnect({ host, port, noDelay: true });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`TCP connect to ${host}:${port} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        resolve(new RawClient(socket));
      });
    });
  }

  /** True once the server closed TCP (or the socket failed). */
  get closed(): boolean {
    return this.#ended;
  }

  #wake(): void {
    const n = this.#notify;
    this.#notify = null;
    n?.();
  }

  /** Resolves on the next data/close event, or after ms. */
  #waitEvent(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#notify = null;
        resolve();
      }, Math.max(0, ms));
      this.#notify = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  // -------------------------------------------------------------------------------------
  // sending

  sendHeader(bytes: Buffer = PROTOCOL_HEADER): void {
    this.sendRaw(bytes);
  }

  sendRaw(bytes: Buffer): void {
    if (!this.socket.destroyed) this.socket.write(bytes);
  }

  sendFrame(type: number, channel: number, payload: Buffer): void {
    this.sendRaw(frameBytes(type, channel, payload));
  }

  sendMethod<A>(channel: number, encode: Encoder<A>, args: A): void {
    this.sendRaw(methodFrame(channel, encode, args));
  }

  sendHeartbeat(): void {
    this.sendFrame(P.FRAME_HEARTBEAT, 0, Buffer.alloc(0));
  }

  // -------------------------------------------------------------------------------------
  // receiving

  #parseFrame(): Frame | null {
    const b = this.#buf;
    if (b.length < 7) return null;
    const size = b.readUInt32BE(3);
    if (b.length < size + 8) return null;
    const end = b[size + 7];
    if (end !== P.FRAME_END) {
      throw new Error(`server sent a frame with frame-end ${String(end)}: ${b.subarray(0, Math.min(b.length, 64)).toString('hex')}`);
    }
    const f: Frame = { type: b[0]!, channel: b.readUInt16BE(1), payload: Buffer.from(b.subarray(7, size + 7)) };
    this.#buf = b.subarray(size + 8);
    this.received.push(f);
    return f;
  }

  /**
   * The next frame; 'closed' when the server closed TCP and no whole frame is left;
   * 'timeout' when nothing came in time.
   */
  async nextEvent(timeoutMs = DEFAULT_WAIT): Promise<Frame | 'closed' | 'timeout'> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const f = this.#parseFrame();
      if (f !== null) return f;
      if (this.#ended) return 'closed';
      const left = deadline - Date.now();
      if (left <= 0) return 'timeout';
      await this.#waitEvent(left);
    }
  }

  async nextFrame(timeoutMs = DEFAULT_WAIT): Promise<Frame> {
    const e = await this.nextEvent(timeoutMs);
    if (e === 'closed') throw new Error(`server closed TCP while a frame was expected${this.#history()}`);
    if (e === 'timeout') throw new Error(`no frame from the server within ${timeoutMs} ms${this.#history()}`);
    return e;
  }

  /** The next method frame, decoded; heartbeat frames in between are skipped. */
  async nextMethod(timeoutMs = DEFAULT_WAIT): Promise<ReceivedMethod> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const f = await this.nextFrame(Math.max(0, deadline - Date.now()));
      if (f.type === P.FRAME_HEARTBEAT) continue;
      if (f.type !== P.FRAME_METHOD) throw new Error(`expected a method frame, got ${describeFrame(f)}`);
      return { ...P.decodeMethod(f.payload), channel: f.channel };
    }
  }

  /** The next method, which must be `name` on `channel`. */
  async expectMethod<N extends P.Method['name']>(
    channel: number,
    name: N,
    timeoutMs = DEFAULT_WAIT,
  ): Promise<ArgsOf<N>> {
    const m = await this.nextMethod(timeoutMs);
    expect(`${m.name} on channel ${m.channel}`, `reply: ${JSON.stringify(m.args, mapsAsObjects)}`).toBe(`${name} on channel ${channel}`);
    return m.args as unknown as ArgsOf<N>;
  }

  /** Exactly n raw bytes (not parsed as frames). */
  async readBytes(n: number, timeoutMs = DEFAULT_WAIT): Promise<Buffer> {
    const deadline = Date.now() + timeoutMs;
    while (this.#buf.length < n) {
      if (this.#ended) throw new Error(`server closed TCP after ${this.#buf.length} of ${n} expected bytes: ${this.#buf.toString('hex')}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`got ${this.#buf.length} of ${n} expected bytes within ${timeoutMs} ms: ${this.#buf.toString('hex')}`);
      await this.#waitEvent(left);
    }
    const out = Buffer.from(this.#buf.subarray(0, n));
    this.#buf = this.#buf.subarray(n);
    return out;
  }

  /** Resolves when the server has closed TCP; bytes still unread are dropped. */
  async waitClosed(timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.#ended) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`server did not close TCP within ${timeoutMs} ms`);
      await this.#waitEvent(left);
    }
  }

  /**
   * The server's next method must be connection.close with `code`; answers close-ok and
   * returns the close's arguments.
   */
  async expectConnectionClose(code: number, timeoutMs = DEFAULT_WAIT): Promise<P.ConnectionClose> {
    const m = await this.nextMethod(timeoutMs);
    if (m.name !== 'connection.close') throw new Error(`expected connection.close ${code}, got ${m.name} on channel ${m.channel}`);
    expect(m.channel).toBe(0);
    expect({ code: m.args.replyCode, text: m.args.replyText }).toMatchObject({ code });
    this.sendMethod(0, P.encodeConnectionCloseOk, {});
    return m.args;
  }

  /** The server's next method must be channel.close on `channel` with `code`; answers close-ok. */
  async expectChannelClose(channel: number, code: number, timeoutMs = DEFAULT_WAIT): Promise<P.ChannelClose> {
    const m = await this.nextMethod(timeoutMs);
    if (m.name !== 'channel.close') {
      const what = m.name === 'connection.close' ? `connection.close ${m.args.replyCode} ${m.args.replyText}` : m.name;
      throw new Error(`expected channel.close ${code} on channel ${channel}, got ${what} on channel ${m.channel}`);
    }
    expect(m.channel).toBe(channel);
    expect({ code: m.args.replyCode, text: m.args.replyText }).toMatchObject({ code });
    this.sendMethod(channel, P.encodeChannelCloseOk, {});
    return m.args;
  }

  #history(): string {
    if (this.received.length === 0) return ' (nothing received before)';
    return ` (last received: ${describeFrame(this.received[this.received.length - 1]!)})`;
  }

  // -------------------------------------------------------------------------------------
  // conversations

  /** Header, connection.start, start-ok; returns start and the server's tune. */
  async negotiate(o: HandshakeOptions = {}): Promise<Negotiated> {
    const start = await this.login(o);
    const tune = await this.expectMethod(0, 'connection.tune');
    return { start, tune };
  }

  /** Header, connection.start, start-ok with the given credentials; returns start. */
  async login(o: HandshakeOptions = {}): Promise<P.ConnectionStart> {
    this.sendHeader();
    const start = await this.expectMethod(0, 'connection.start');
    const user = o.user ?? 'guest';
    const pass = o.pass ?? 'guest';
    const mechanism = o.mechanism ?? 'PLAIN';
    const response =
      mechanism === 'PLAIN'
        ? Buffer.from(`\0${user}\0${pass}`, 'utf8')
        : amqplainResponse(user, pass);
    const clientProperties: FieldTable = table({
      product: 'warren raw test client',
      capabilities: o.capabilities ?? { authentication_failure_close: true },
    });
    this.sendMethod(0, P.encodeConnectionStartOk, { clientProperties, mechanism, response, locale: 'en_US' });
    return start;
  }

  sendTuneOk(tune: P.ConnectionTuneOk): void {
    this.sendMethod(0, P.encodeConnectionTuneOk, tune);
  }

  sendOpen(vhost = '/'): void {
    this.sendMethod(0, P.encodeConnectionOpen, { virtualHost: vhost, reserved1: '', reserved2: false });
  }

  /** The whole handshake up to connection.open-ok. */
  async handshake(o: HandshakeOptions = {}): Promise<Negotiated> {
    const n = await this.negotiate(o);
    this.sendTuneOk({
      channelMax: o.channelMax ?? n.tune.channelMax,
      frameMax: o.frameMax ?? n.tune.frameMax,
      heartbeat: o.heartbeat ?? 0,
    });
    this.sendOpen(o.vhost ?? '/');
    await this.expectMethod(0, 'connection.open-ok');
    return n;
  }

  async openChannel(channel: number): Promise<void> {
    this.sendMethod(channel, P.encodeChannelOpen, { reserved1: '' });
    await this.expectMethod(channel, 'channel.open-ok');
  }

  /**
   * Client close: connection.close 200, wait (briefly) for close-ok, drop the socket.
   * Never throws: also fine when the server has already gone.
   */
  async close(timeoutMs = 1000): Promise<void> {
    if (!this.#ended && !this.socket.destroyed) {
      this.sendMethod(0, P.encodeConnectionClose, { replyCode: 200, replyText: 'bye', classId: 0, methodId: 0 });
      const deadline = Date.now() + timeoutMs;
      try {
        for (;;) {
          const e = await this.nextEvent(Math.max(0, deadline - Date.now()));
          if (typeof e === 'string') break;
          if (e.type === P.FRAME_METHOD && e.channel === 0 && e.payload.readUInt32BE(0) === P.CONNECTION_CLOSE_OK) break;
        }
      } catch {
        // a malformed frame from the server: the caller's assertions say so
      }
    }
    this.destroy();
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** AMQPLAIN response: a field table LOGIN/PASSWORD without its 4-byte size prefix. */
export function amqplainResponse(user: string, pass: string): Buffer {
  const buf = Buffer.alloc(1024);
  const end = encodeTable(buf, 0, table({ LOGIN: user, PASSWORD: pass }));
  return Buffer.from(buf.subarray(4, end));
}

function mapsAsObjects(_k: string, v: unknown): unknown {
  if (v instanceof Map) return Object.fromEntries(v);
  if (v !== null && typeof v === 'object' && (v as { type?: unknown }).type === 'Buffer') return Buffer.from((v as { data: number[] }).data).toString();
  return v;
}
