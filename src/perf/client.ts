/**
 * A small AMQP 0-9-1 client for load generation, built on warren's own codec over node:net.
 * It is not a general client library: it knows what `warren perf` and the bench need —
 * handshake (PLAIN, accept the server's tune values, open the URI's vhost), declare/bind/
 * delete, qos, consume, confirm.select, acks, raw pre-encoded publish batches — and it keeps
 * the hot paths free of allocation:
 *
 *  - outgoing methods go into one FrameWriter and leave in one corked write per event-loop
 *    turn (setImmediate), like warren's own connections;
 *  - publishers hand over whole batches of pre-encoded frames (`writeRaw`), written after
 *    whatever methods are pending so frame order is kept;
 *  - basic.deliver, basic.ack and basic.nack are read straight from the frame bytes, not
 *    through decodeMethod; a delivery's body is shown to the handler as a view of the socket
 *    chunk (its first body frame), never copied.
 *
 * Ordering invariants: one RPC at a time per channel (queued in call order); a channel's
 * content frames follow its method frame with nothing from that channel in between
 * (spec: 4.2.6 content framing), so the content state machine is per channel.
 */
import { connect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { FrameReader, type FrameSink } from '../protocol/frame-reader.js';
import { FrameWriter, type Encoder } from '../protocol/frame-writer.js';
import { table } from '../protocol/field-table.js';
import * as P from '../protocol/generated.js';
import { parseAmqpUri } from './amqp-uri.js';

const PROTOCOL_HEADER = Buffer.from('AMQP\x00\x00\x09\x01', 'latin1');
const HANDSHAKE_TIMEOUT_MS = 15_000;
const CLOSE_TIMEOUT_MS = 3_000;

/** A connection.close or channel.close from the server, or a failure of the socket. */
export class AmqpClientError extends Error {
  override name = 'AmqpClientError';
  readonly code: number;
  constructor(message: string, code = 0) {
    super(message);
    this.code = code;
  }
}

export interface DeliveryHandler {
  /**
   * One basic.deliver. buf[start, end) is the start of the body (its first body frame; empty
   * for an empty body), valid only during the call. `readAt` is when the socket chunk holding
   * it was read (performance.now()).
   */
  onDelivery(deliveryTag: number, bodySize: number, buf: Buffer, start: number, end: number, readAt: number): void;
}

export interface ConfirmHandler {
  /** spec: basic.ack / basic.nack from the server on a channel in confirm mode. */
  onConfirm(deliveryTag: number, multiple: boolean, nack: boolean): void;
}

export interface ConnectOptions {
  /** connection_name in client-properties (shown by the management UI). */
  name?: string;
  /** Override the heartbeat the server offers (seconds); default: accept the server's. */
  heartbeat?: number;
  /** Give up when the handshake has not finished by then (default 15 s). */
  handshakeTimeoutMs?: number;
}

interface PendingRpc {
  expect: number;
  resolve(m: P.Method): void;
  reject(err: Error): void;
}

const enum Content {
  None,
  Deliver,
  Other,
}

export class PerfChannel {
  readonly id: number;
  readonly connection: PerfConnection;
  deliveries: DeliveryHandler | null = null;
  confirms: ConfirmHandler | null = null;
  /** basic.return count (mandatory publishes the server could not route). */
  returned = 0;
  /** Set when the channel is gone (server channel.close or connection failure). */
  error: AmqpClientError | null = null;
  /** Resolves when the channel is gone, with why. */
  readonly failed: Promise<AmqpClientError>;
  #resolveFailed!: (err: AmqpClientError) => void;
  #rpcTail: Promise<unknown> = Promise.resolve();
  #pending: PendingRpc | null = null;
  #content = Content.None;
  #deliveryTag = 0;
  #bodySize = 0;
  #bodyRemaining = 0;
  readonly #ackArgs: P.BasicAck = { deliveryTag: 0, multiple: false };

  constructor(connection: PerfConnection, id: number) {
    this.connection = connection;
    this.id = id;
    this.failed = new Promise((resolve) => (this.#resolveFailed = resolve));
  }

  /** Sends a synchronous method and resolves with the reply whose id is `expect`. */
  rpc<A>(encode: Encoder<A>, args: A, expect: number): Promise<P.Method> {
    const run = (): Promise<P.Method> =>
      new Promise<P.Method>((resolve, reject) => {
        if (this.error !== null) return reject(this.error);
        this.#pending = { expect, resolve, reject };
        this.connection.method(this.id, encode, args);
      });
    const p = this.#rpcTail.then(run, run);
    this.#rpcTail = p.catch(() => undefined);
    return p;
  }

  /** An asynchronous method (no reply). */
  send<A>(encode: Encoder<A>, args: A): void {
    if (this.error === null) this.connection.method(this.id, encode, args);
  }

  async exchangeDeclare(exchange: string, type: string, durable: boolean, passive = false): Promise<void> {
    await this.rpc(P.encodeExchangeDeclare, { reserved1: 0, exchange, type, passive, durable, autoDelete: false, internal: false, noWait: false, arguments: new Map() }, P.EXCHANGE_DECLARE_OK);
  }

  async exchangeDelete(exchange: string): Promise<void> {
    await this.rpc(P.encodeExchangeDelete, { reserved1: 0, exchange, ifUnused: false, noWait: false }, P.EXCHANGE_DELETE_OK);
  }

  async queueDeclare(queue: string, opts: { durable?: boolean; passive?: boolean; exclusive?: boolean; autoDelete?: boolean } = {}): Promise<P.QueueDeclareOk> {
    const m = await this.rpc(
      P.encodeQueueDeclare,
      { reserved1: 0, queue, passive: opts.passive ?? false, durable: opts.durable ?? false, exclusive: opts.exclusive ?? false, autoDelete: opts.autoDelete ?? false, noWait: false, arguments: new Map() },
      P.QUEUE_DECLARE_OK,
    );
    return m.args as P.QueueDeclareOk;
  }

  async queueBind(queue: string, exchange: string, routingKey: string): Promise<void> {
    await this.rpc(P.encodeQueueBind, { reserved1: 0, queue, exchange, routingKey, noWait: false, arguments: new Map() }, P.QUEUE_BIND_OK);
  }

  async queueDelete(queue: string): Promise<number> {
    const m = await this.rpc(P.encodeQueueDelete, { reserved1: 0, queue, ifUnused: false, ifEmpty: false, noWait: false }, P.QUEUE_DELETE_OK);
    return (m.args as P.QueueDeleteOk).messageCount;
  }

  async queuePurge(queue: string): Promise<number> {
    const m = await this.rpc(P.encodeQueuePurge, { reserved1: 0, queue, noWait: false }, P.QUEUE_PURGE_OK);
    return (m.args as P.QueuePurgeOk).messageCount;
  }

  async qos(prefetchCount: number): Promise<void> {
    await this.rpc(P.encodeBasicQos, { prefetchSize: 0, prefetchCount, global: false }, P.BASIC_QOS_OK);
  }

  async consume(queue: string, noAck: boolean): Promise<string> {
    const m = await this.rpc(
      P.encodeBasicConsume,
      { reserved1: 0, queue, consumerTag: '', noLocal: false, noAck, exclusive: false, noWait: false, arguments: new Map() },
      P.BASIC_CONSUME_OK,
    );
    return (m.args as P.BasicConsumeOk).consumerTag;
  }

  async confirmSelect(): Promise<void> {
    await this.rpc(P.encodeConfirmSelect, { nowait: false }, P.CONFIRM_SELECT_OK);
  }

  /** spec: basic.ack multiple — acknowledges every delivery up to and including the tag. */
  ack(deliveryTag: number, multiple: boolean): void {
    this.#ackArgs.deliveryTag = deliveryTag;
    this.#ackArgs.multiple = multiple;
    this.send(P.encodeBasicAck, this.#ackArgs);
  }

  async close(): Promise<void> {
    if (this.error !== null) return;
    await this.rpc(P.encodeChannelClose, { replyCode: P.REPLY_SUCCESS, replyText: 'bye', classId: 0, methodId: 0 }, P.CHANNEL_CLOSE_OK);
    this.#fail(new AmqpClientError('channel closed by client'));
  }

  // --- inbound, called by the connection --------------------------------------------------

  /** @internal */
  onDeliver(deliveryTag: number): void {
    this.#content = Content.Deliver;
    this.#deliveryTag = deliveryTag;
  }

  /** @internal */
  onHeader(bodySize: number, readAt: number): void {
    this.#bodySize = bodySize;
    this.#bodyRemaining = bodySize;
    if (bodySize === 0) this.#contentDone(EMPTY, 0, 0, readAt);
  }

  /** @internal */
  onBody(buf: Buffer, start: number, end: number, readAt: number): void {
    const first = this.#bodyRemaining === this.#bodySize;
    this.#bodyRemaining -= end - start;
    if (first) this.#contentDone(buf, start, end, readAt);
    if (this.#bodyRemaining <= 0) this.#content = Content.None;
  }

  #contentDone(buf: Buffer, start: number, end: number, readAt: number): void {
    if (this.#content === Content.Deliver && this.deliveries !== null) {
      this.deliveries.onDelivery(this.#deliveryTag, this.#bodySize, buf, start, end, readAt);
    }
    if (this.#bodySize === 0) this.#content = Content.None;
  }

  /** @internal */
  onMethod(m: P.Method): void {
    switch (m.id) {
      case P.CHANNEL_CLOSE: {
        const a = m.args;
        this.connection.method(this.id, P.encodeChannelCloseOk, {});
        this.#fail(new AmqpClientError(`channel closed by server: ${a.replyCode} ${a.replyText}`, a.replyCode));
        return;
      }
      case P.BASIC_RETURN:
        this.returned++;
        this.#content = Content.Other;
        return;
      case P.BASIC_GET_OK:
        this.#content = Content.Other;
        break;
      case P.BASIC_CANCEL:
        // consumer_cancel_notify: the queue was deleted under the consumer. Not answered —
        // RabbitMQ (and warren) close the connection with 503 on a client's basic.cancel-ok
        return;
    }
    const p = this.#pending;
    if (p !== null && p.expect === m.id) {
      this.#pending = null;
      p.resolve(m);
    }
  }

  /** @internal */
  fail(err: AmqpClientError): void {
    this.#fail(err);
  }

  #fail(err: AmqpClientError): void {
    if (this.error !== null) return;
    this.error = err;
    const p = this.#pending;
    this.#pending = null;
    p?.reject(err);
    this.connection.forgetChannel(this.id);
    this.#resolveFailed(err);
  }
}

const EMPTY = Buffer.alloc(0);

export class PerfConnection implements FrameSink {
  readonly uri: string;
  frameMax = 131072;
  channelMax = 2047;
  heartbeat = 0;
  serverProperties: Record<string, unknown> = {};
  /** True between connection.blocked and connection.unblocked. */
  blocked = false;
  /** When the socket chunk being processed was read (performance.now()). */
  readAt = 0;
  /** Set once the connection is gone; `closed` resolves at the same time (with null after a clean close by us). */
  error: AmqpClientError | null = null;
  readonly closed: Promise<AmqpClientError | null>;

  readonly #socket: Socket;
  readonly #reader = new FrameReader(1 << 20);
  #writer = new FrameWriter(131072);
  readonly #channels: (PerfChannel | undefined)[] = [];
  #nextChannel = 1;
  #flushScheduled = false;
  readonly #flushBound = (): void => this.#flush();
  #wrote = false;
  #heartbeatTimer: NodeJS.Timeout | undefined;
  #open = false;
  #closing = false;
  #onOpen: ((err: Error | null) => void) | null = null;
  #onCloseOk: (() => void) | null = null;
  #resolveClosed!: (err: AmqpClientError | null) => void;
  readonly #opts: ConnectOptions;
  readonly #user: string;
  readonly #pass: string;
  readonly #vhost: string;

  private constructor(uri: string, opts: ConnectOptions) {
    this.uri = uri;
    this.#opts = opts;
    const u = parseAmqpUri(uri);
    this.#user = u.user;
    this.#pass = u.pass;
    this.#vhost = u.vhost;
    this.closed = new Promise((resolve) => (this.#resolveClosed = resolve));
    this.#socket = connect({ host: u.host, port: u.port, noDelay: true });
    this.#socket.on('connect', () => this.#socket.write(PROTOCOL_HEADER));
    this.#socket.on('data', (chunk: Buffer) => {
      this.readAt = performance.now();
      this.#reader.push(chunk, this);
    });
    this.#socket.on('error', (err) => this.#fail(new AmqpClientError(`socket error: ${err.message}`)));
    this.#socket.on('close', () => this.#fail(this.#closing ? null : new AmqpClientError('connection closed by server (TCP)')));
  }

  /** Connects and completes the handshake (PLAIN, tune as offered, open the URI's vhost). */
  static open(uri: string, opts: ConnectOptions = {}): Promise<PerfConnection> {
    const c = new PerfConnection(uri, opts);
    return new Promise<PerfConnection>((resolve, reject) => {
      const timer = setTimeout(() => c.#fail(new AmqpClientError('handshake timeout')), opts.handshakeTimeoutMs ?? HANDSHAKE_TIMEOUT_MS);
      c.#onOpen = (err) => {
        clearTimeout(timer);
        c.#onOpen = null;
        if (err === null) resolve(c);
        else {
          c.#socket.destroy();
          reject(err);
        }
      };
    });
  }

  get isOpen(): boolean {
    return this.#open && this.error === null;
  }

  /** False while the socket buffer is over its high-water mark: wait for `drain`. */
  get writable(): boolean {
    return !this.#socket.writableNeedDrain;
  }

  onceDrain(cb: () => void): void {
    this.#socket.once('drain', cb);
  }

  async openChannel(): Promise<PerfChannel> {
    if (this.error !== null) throw this.error;
    let id = this.#nextChannel;
    while (this.#channels[id] !== undefined) id = (id % this.channelMax) + 1;
    this.#nextChannel = (id % this.channelMax) + 1;
    const ch = new PerfChannel(this, id);
    this.#channels[id] = ch;
    await ch.rpc(P.encodeChannelOpen, { reserved1: '' }, P.CHANNEL_OPEN_OK);
    return ch;
  }

  /** @internal */
  forgetChannel(id: number): void {
    this.#channels[id] = undefined;
  }

  /** Queues one method frame; everything queued leaves in one write at the end of the turn. */
  method<A>(channel: number, encode: Encoder<A>, args: A): void {
    if (this.error !== null) return;
    this.#writer.method(channel, encode, args);
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      setImmediate(this.#flushBound);
    }
  }

  /**
   * Writes pre-encoded frames now, after any queued methods. Returns socket.write's answer:
   * false means wait for drain. `done` runs when the buffer may be reused.
   */
  writeRaw(bytes: Buffer, done?: (err?: Error | null) => void): boolean {
    if (this.error !== null) {
      done?.(this.error);
      return false;
    }
    this.#flush();
    this.#wrote = true;
    return this.#socket.write(bytes, done);
  }

  /** spec: connection.close — waits for close-ok (or the socket closing), then ends TCP. */
  async close(): Promise<void> {
    if (this.error !== null || this.#closing) {
      await this.closed;
      return;
    }
    this.#closing = true;
    const done = new Promise<void>((resolve) => {
      this.#onCloseOk = resolve;
      void this.closed.then(() => resolve());
    });
    this.method(0, P.encodeConnectionClose, { replyCode: P.REPLY_SUCCESS, replyText: 'bye', classId: 0, methodId: 0 });
    const timer = setTimeout(() => this.#socket.destroy(), CLOSE_TIMEOUT_MS);
    await done;
    clearTimeout(timer);
    this.#socket.end();
    await this.closed;
  }

  /** Drops the TCP connection without the AMQP close handshake. */
  destroy(): void {
    this.#closing = true;
    this.#socket.destroy();
  }

  // --- FrameSink ---------------------------------------------------------------------------

  onFrame(type: number, channel: number, buf: Buffer, start: number, end: number): void {
    if (type === P.FRAME_METHOD) {
      if (channel === 0) return this.#onConnectionMethod(P.decodeMethodAt(buf, start, end));
      const ch = this.#channels[channel];
      if (ch === undefined) return;
      const id = buf.readUInt32BE(start);
      if (id === P.BASIC_DELIVER) {
        // consumer-tag shortstr, then delivery-tag longlong
        const at = start + 5 + buf[start + 4]!;
        ch.onDeliver(buf.readUInt32BE(at) * 0x100000000 + buf.readUInt32BE(at + 4));
      } else if (id === P.BASIC_ACK || id === P.BASIC_NACK) {
        const tag = buf.readUInt32BE(start + 4) * 0x100000000 + buf.readUInt32BE(start + 8);
        ch.confirms?.onConfirm(tag, (buf[start + 12]! & 1) !== 0, id === P.BASIC_NACK);
      } else {
        ch.onMethod(P.decodeMethodAt(buf, start, end));
      }
    } else if (type === P.FRAME_HEADER) {
      const ch = this.#channels[channel];
      if (ch !== undefined) ch.onHeader(buf.readUInt32BE(start + 4) * 0x100000000 + buf.readUInt32BE(start + 8), this.readAt);
    } else if (type === P.FRAME_BODY) {
      const ch = this.#channels[channel];
      if (ch !== undefined) ch.onBody(buf, start, end, this.readAt);
    }
    // heartbeats need no answer: our own traffic (or our heartbeats) keeps the server content
  }

  onFrameError(text: string): void {
    this.#fail(new AmqpClientError(`frame error from server: ${text}`));
    this.#socket.destroy();
  }

  // --- internals -------------------------------------------------------------------------

  #onConnectionMethod(m: P.Method): void {
    switch (m.id) {
      case P.CONNECTION_START: {
        const mechanisms = m.args.mechanisms.toString('latin1').split(' ');
        if (!mechanisms.includes('PLAIN')) return this.#fail(new AmqpClientError(`server offers no PLAIN mechanism (${mechanisms.join(' ')})`));
        this.serverProperties = Object.fromEntries([...m.args.serverProperties].map(([k, f]) => [k, f.value]));
        this.#writer.method(0, P.encodeConnectionStartOk, {
          clientProperties: table({
            product: 'warren perf',
            platform: `Node.js ${process.version}`,
            capabilities: {
              publisher_confirms: true,
              'basic.nack': true,
              consumer_cancel_notify: true,
              'connection.blocked': true,
              authentication_failure_close: true,
            },
            connection_name: this.#opts.name ?? 'warren perf',
          }),
          mechanism: 'PLAIN',
          response: Buffer.from(`\0${this.#user}\0${this.#pass}`, 'utf8'),
          locale: 'en_US',
        });
        this.#flush();
        return;
      }
      case P.CONNECTION_TUNE: {
        const t = m.args;
        // accept what the server offers; 0 means "no limit" for channel-max and frame-max
        this.channelMax = t.channelMax === 0 ? 65535 : t.channelMax;
        this.frameMax = t.frameMax === 0 ? 131072 : t.frameMax;
        this.heartbeat = this.#opts.heartbeat ?? t.heartbeat;
        this.#reader.frameMax = this.frameMax;
        this.#writer = new FrameWriter(this.frameMax);
        this.#writer.method(0, P.encodeConnectionTuneOk, { channelMax: this.channelMax, frameMax: this.frameMax, heartbeat: this.heartbeat });
        this.#writer.method(0, P.encodeConnectionOpen, { virtualHost: this.#vhost, reserved1: '', reserved2: false });
        this.#flush();
        return;
      }
      case P.CONNECTION_OPEN_OK:
        this.#open = true;
        if (this.heartbeat > 0) this.#startHeartbeats();
        this.#onOpen?.(null);
        return;
      case P.CONNECTION_CLOSE: {
        const a = m.args;
        this.#writer.method(0, P.encodeConnectionCloseOk, {});
        this.#flush();
        this.#closing = true; // let close-ok leave before TCP ends
        this.#fail(new AmqpClientError(`connection closed by server: ${a.replyCode} ${a.replyText}`, a.replyCode));
        this.#socket.end();
        return;
      }
      case P.CONNECTION_CLOSE_OK:
        this.#onCloseOk?.();
        return;
      case P.CONNECTION_BLOCKED:
        this.blocked = true;
        return;
      case P.CONNECTION_UNBLOCKED:
        this.blocked = false;
        return;
    }
  }

  #startHeartbeats(): void {
    // spec: 4.2.7 — send a heartbeat when nothing else went out for half the interval
    this.#heartbeatTimer = setInterval(() => {
      if (!this.#wrote && this.error === null) {
        this.#writer.heartbeat();
        this.#flush();
      }
      this.#wrote = false;
    }, (this.heartbeat * 1000) / 2);
    this.#heartbeatTimer.unref();
  }

  #flush(): void {
    this.#flushScheduled = false;
    const chunks = this.#writer.take();
    if (chunks === null || this.#socket.destroyed) return;
    this.#wrote = true;
    if (chunks.length === 1) {
      this.#socket.write(chunks[0]!);
      return;
    }
    this.#socket.cork();
    for (const c of chunks) this.#socket.write(c);
    this.#socket.uncork();
  }

  /** The connection is gone: null after our own clean close, else why. */
  #fail(reason: AmqpClientError | null): void {
    if (this.error !== null) return;
    const err = reason ?? new AmqpClientError('connection closed by client');
    this.error = err;
    clearInterval(this.#heartbeatTimer);
    for (const ch of this.#channels) ch?.fail(err);
    if (this.#onOpen !== null) this.#onOpen(err);
    this.#onCloseOk?.();
    this.#resolveClosed(reason);
    if (!this.#socket.destroyed && !this.#closing) this.#socket.destroy();
  }
}
