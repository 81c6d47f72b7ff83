/**
 * One AMQP connection over any Duplex (TCP, TLS, WebSocket stream): handshake, tuning,
 * heartbeats, channel multiplexing, hard errors and the output path.
 *
 * States: header → start (sent connection.start) → tune (sent tune) → open (tune-ok seen,
 * waiting for connection.open) → running → closing (sent connection.close, waiting for
 * close-ok) → closed. Frames for one connection are gathered in its FrameWriter and written
 * once per event-loop turn (setImmediate), corked, so a burst of deliveries is one syscall.
 * When the socket refuses more (write returns false) `writable` drops until 'drain' and the
 * channels stop taking deliveries.
 */
import type { Duplex } from 'node:stream';
import type { Logger } from '../util/logger.js';
import type { Broker } from '../broker/broker.js';
import type { ConnectionInfo } from '../broker/registry.js';
import type { User } from '../broker/users.js';
import type { VHost } from '../broker/vhost.js';
import type { Message } from '../broker/message.js';
import { AccessChecker } from '../broker/access.js';
import type { AlarmListener } from '../broker/alarms.js';
import type { FlowWaiter } from '../broker/flow.js';
import { AmqpError, REPLY } from '../broker/errors.js';
import { FrameReader, describeOctets, type FrameSink } from '../protocol/frame-reader.js';
import { FrameWriter, type Encoder } from '../protocol/frame-writer.js';
import { FrameViolation } from '../protocol/frame-violation.js';
import { DecodeError } from '../protocol/decode-error.js';
import { decodeTable, plain, type FieldTable } from '../protocol/field-table.js';
import * as P from '../protocol/generated.js';
import { serverProperties, clientCapabilities, type ClientCapabilities } from './server-properties.js';
import { Channel } from './channel.js';
import type { BrokerConfig } from '../config.js';

const PROTOCOL_HEADER = Buffer.from([0x41, 0x4d, 0x51, 0x50, 0, 0, 9, 1]); // "AMQP" 0 0 9 1

const enum State {
  Header,
  Start,
  Tune,
  Open,
  Running,
  Closing,
  Closed,
}

export interface ConnectionOptions {
  /** TLS with a verified client certificate: its CN, offered as the EXTERNAL mechanism. */
  peerCertificateCN?: string;
  broker: Broker;
  config: BrokerConfig;
  log: Logger;
  peerHost: string;
  peerPort: number;
  localHost: string;
  localPort: number;
  /** Called once when the connection is gone (listener bookkeeping). */
  onClosed?: (c: Connection) => void;
}

/** Stop reading a client whose unread output (socket buffer) exceeds this. */
const SOCKET_BACKLOG_LIMIT = 64 * 1024 * 1024;

/**
 * What one connection may hand us per event-loop turn. libuv reads a ready socket up to 32
 * times (2 MiB) per turn; a flooding publisher would then take most of the loop while
 * consumers' acks wait for the next turn and deliveries starve. Capping each connection's
 * share per turn is the first half of our stand-in for RabbitMQ's credit flow (broker/flow.ts
 * is the other): it only bites when the loop is saturated (an idle loop turns again at once),
 * and then every socket gets its turn. The work of a turn grows with frames, not bytes, so
 * frames are what is counted; large bodies are cheap per byte and only bounded in bytes.
 */
const READ_FRAMES_PER_TURN = 2048;
const READ_BYTES_PER_TURN = 1024 * 1024;

export class Connection implements FrameSink, ConnectionInfo, AlarmListener, FlowWaiter {
  readonly id: number;
  readonly name: string;
  readonly peerHost: string;
  readonly peerPort: number;
  readonly connectedAt = Date.now();
  user = '';
  vhost = '';
  clientProperties: Record<string, unknown> = {};
  capabilities: ClientCapabilities = {
    authenticationFailureClose: false,
    consumerCancelNotify: false,
    connectionBlocked: false,
    publisherConfirms: false,
  };
  /** Authenticated user (after start-ok). */
  authUser: User | undefined;
  frameMax: number;
  channelMax: number;
  heartbeat = 0;
  /** False while the socket's buffer is full: channels must not deliver. */
  writable = true;
  /** Permission checks for the user and vhost (set at connection.open). */
  access!: AccessChecker;
  readonly #certCN: string | undefined;
  /** This connection has published: alarms block it. */
  #publisher = false;
  /** Reading paused because of a resource alarm. */
  #blockedByAlarm = false;
  /** Reading paused because the client does not read what we send. */
  #pausedForOutput = false;
  /** Reading paused until the next turn: this turn's READ_FRAMES_PER_TURN / READ_BYTES_PER_TURN is used up. */
  #pausedForTurn = false;
  #turnBytes = 0;
  #turnFramesAtStart = 0;
  /** Reading paused because a queue with consumers fell behind (broker/flow.ts). */
  #pausedForFlow = false;
  #publishedThisTurn = false;
  #turnResetScheduled = false;
  readonly #turnResetBound = (): void => this.#onTurnReset();

  readonly broker: Broker;
  readonly config: BrokerConfig;
  readonly log: Logger;
  readonly #socket: Duplex;
  readonly #reader: FrameReader;
  readonly #writer: FrameWriter;
  readonly #onClosed: ((c: Connection) => void) | undefined;
  #state = State.Header;
  #headerBuf: Buffer | null = null;
  readonly #channels = new Map<number, Channel>();
  #lastChannelNo = -1;
  #lastChannel: Channel | undefined;
  #flushScheduled = false;
  readonly #flushBound = (): void => this.#flush();
  #handshakeTimer: NodeJS.Timeout | undefined;
  #heartbeatTimer: NodeJS.Timeout | undefined;
  #closeTimer: NodeJS.Timeout | undefined;
  #ticksSinceRead = 0;
  #wroteSinceTick = false;
  #closeReason = '';
  /** Listeners waiting for the socket to drain (channels with consumers). */
  readonly #drainWaiters = new Set<Channel>();
  /** Channels with publisher confirms to send before the next write. */
  readonly #confirmers = new Set<Channel>();
  #vhost: VHost | undefined;

  constructor(socket: Duplex, opts: ConnectionOptions) {
    this.#socket = socket;
    this.broker = opts.broker;
    this.config = opts.config;
    this.peerHost = opts.peerHost;
    this.peerPort = opts.peerPort;
    this.#onClosed = opts.onClosed;
    this.#certCN = opts.peerCertificateCN;
    this.id = this.broker.registry.nextConnectionId();
    this.name = `${opts.peerHost}:${opts.peerPort} -> ${opts.localHost}:${opts.localPort}`;
    this.log = opts.log.child({ conn: this.id, peer: `${opts.peerHost}:${opts.peerPort}` });
    this.frameMax = this.config.frameMax;
    this.channelMax = this.config.channelMax;
    this.#reader = new FrameReader(this.config.frameMax);
    this.#writer = new FrameWriter(this.config.frameMax);

    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('drain', () => this.#onDrain());
    socket.on('error', (err: Error) => {
      this.log.debug({ err: err.message }, 'socket error');
      this.#closeReason ||= err.message;
    });
    socket.on('close', () => this.#teardown(this.#closeReason || 'client closed TCP connection'));
    socket.on('end', () => {
      this.#closeReason ||= 'client closed TCP connection';
      socket.end();
    });
    this.#handshakeTimer = setTimeout(() => {
      this.log.warn({ timeoutMs: this.config.handshakeTimeoutMs }, 'handshake timeout, closing connection');
      this.#destroy('handshake timeout');
    }, this.config.handshakeTimeoutMs);
    this.broker.registry.add(this);
    this.log.info({ connection: this.name }, 'accepting AMQP connection');
  }

  get channelCount(): number {
    return this.#channels.size;
  }

  get channels(): IterableIterator<Channel> {
    return this.#channels.values();
  }

  get isRunning(): boolean {
    return this.#state === State.Running;
  }

  // -------------------------------------------------------------------------------------
  // output

  send<A>(channel: number, encode: Encoder<A>, args: A): void {
    if (this.#state === State.Closed) return;
    this.#writer.method(channel, encode, args);
    this.#scheduleFlush();
  }

  /** basic.deliver + content from pre-encoded consumer tag and route (consumer hot path). */
  sendDelivery(channel: number, ctagRaw: Buffer, deliveryTag: number, redelivered: boolean, routeRaw: Buffer, propsRaw: Buffer, msg: Message): void {
    if (this.#state === State.Closed) return;
    this.#writer.basicDeliver(channel, ctagRaw, deliveryTag, redelivered, routeRaw);
    this.#content(channel, propsRaw, msg);
  }

  sendContent(channel: number, propsRaw: Buffer, msg: Message): void {
    if (this.#state === State.Closed) return;
    this.#content(channel, propsRaw, msg);
  }

  /** Content header + body of a message; a packed body is copied from its slab, no view made. */
  #content(channel: number, propsRaw: Buffer, msg: Message): void {
    const buf = msg.bodyBuffer;
    if (buf !== null) this.#writer.content(channel, P.CLASS_BASIC, propsRaw, buf, msg.bodyOffset, msg.bodySize);
    else this.#writer.content(channel, P.CLASS_BASIC, propsRaw, msg.body);
    this.#scheduleFlush();
  }

  /** Bytes encoded but not yet handed to the socket. */
  get pendingOutput(): number {
    return this.#writer.pendingBytes;
  }

  /** A channel has confirms to batch into one basic.ack before the next write. */
  beforeFlush(ch: Channel): void {
    this.#confirmers.add(ch);
    this.#scheduleFlush();
  }

  /** A channel asks to be told when the socket drains. */
  waitForDrain(ch: Channel): void {
    this.#drainWaiters.add(ch);
  }

  #scheduleFlush(): void {
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      setImmediate(this.#flushBound);
    }
  }

  #flush(): void {
    this.#flushScheduled = false;
    this.broker.flushDefinitions();
    if (this.#confirmers.size > 0) {
      for (const ch of this.#confirmers) ch.flushConfirms();
      this.#confirmers.clear();
    }
    const chunks = this.#writer.take();
    if (chunks === null || this.#state === State.Closed) return;
    const s = this.#socket;
    if (s.destroyed) return;
    let ok = true;
    if (chunks.length === 1) ok = s.write(chunks[0]!);
    else {
      s.cork();
      for (const c of chunks) ok = s.write(c);
      s.uncork();
    }
    this.#wroteSinceTick = true;
    if (!ok) {
      this.writable = false;
      // a client that does not read must not make us buffer without bound: stop reading it
      if (!this.#pausedForOutput && (s as { writableLength?: number }).writableLength! > SOCKET_BACKLOG_LIMIT) {
        this.#pausedForOutput = true;
        this.#updateReading();
      }
    } else if (this.#drainWaiters.size > 0) this.#onDrain();
  }

  /** Resource alarm set or cleared (broker.alarms): block publishing connections. */
  onAlarmChange(active: boolean, reason: string): void {
    if (this.#state !== State.Running || !this.#publisher) return;
    if (active === this.#blockedByAlarm) return;
    this.#blockedByAlarm = active;
    if (this.capabilities.connectionBlocked) {
      if (active) this.send(0, P.encodeConnectionBlocked, { reason });
      else this.send(0, P.encodeConnectionUnblocked, {});
    }
    this.log.info({ reason }, active ? 'connection blocked by resource alarm' : 'connection unblocked');
    this.#updateReading();
  }

  get blocked(): boolean {
    return this.#blockedByAlarm;
  }

  #updateReading(): void {
    const s = this.#socket;
    if (this.#blockedByAlarm || this.#pausedForOutput || this.#pausedForTurn || this.#pausedForFlow) s.pause();
    else s.resume();
  }

  /** End of a turn in which this connection was read. */
  #onTurnReset(): void {
    this.#turnResetScheduled = false;
    this.#turnBytes = 0;
    this.#turnFramesAtStart = this.#reader.frames;
    const published = this.#publishedThisTurn;
    this.#publishedThisTurn = false;
    if (published && this.broker.flow.behind && !this.#pausedForFlow && this.#state === State.Running) {
      // a queue with consumers is falling behind: stop reading until it catches up (like
      // RabbitMQ's credit flow, this holds the whole connection, acks it sends included)
      this.#pausedForFlow = true;
      this.broker.flow.wait(this);
    }
    if (this.#pausedForTurn) {
      this.#pausedForTurn = false;
      if (this.#state !== State.Closed) this.#updateReading();
    } else if (this.#pausedForFlow) this.#updateReading();
  }

  onFlowResume(): void {
    this.#pausedForFlow = false;
    if (this.#state !== State.Closed) this.#updateReading();
  }

  #onDrain(): void {
    this.writable = true;
    if (this.#pausedForOutput) {
      this.#pausedForOutput = false;
      this.#updateReading();
    }
    if (this.#drainWaiters.size === 0) return;
    const waiters = [...this.#drainWaiters];
    this.#drainWaiters.clear();
    for (const ch of waiters) ch.onDrain();
  }

  // -------------------------------------------------------------------------------------
  // input

  #onData(chunk: Buffer): void {
    this.#ticksSinceRead = 0;
    this.#turnBytes += chunk.length;
    if (!this.#turnResetScheduled) {
      this.#turnResetScheduled = true;
      setImmediate(this.#turnResetBound);
    }
    if (this.#state === State.Header) {
      chunk = this.#readProtocolHeader(chunk) as Buffer;
      if (chunk === null || chunk.length === 0) return;
    }
    if (this.#state === State.Closed) return;
    this.#reader.push(chunk, this);
    if (
      !this.#pausedForTurn &&
      (this.#reader.frames - this.#turnFramesAtStart >= READ_FRAMES_PER_TURN || this.#turnBytes >= READ_BYTES_PER_TURN)
    ) {
      this.#pausedForTurn = true;
      this.#socket.pause();
    }
  }

  /** Returns the bytes after the header, or null while it is incomplete or was wrong. */
  #readProtocolHeader(chunk: Buffer): Buffer | null {
    const have = this.#headerBuf === null ? chunk : Buffer.concat([this.#headerBuf, chunk]);
    if (have.length < 8) {
      // spec 4.2.2: a header that can already be seen to be wrong is answered at once
      if (!PROTOCOL_HEADER.subarray(0, have.length).equals(have)) this.#badProtocolHeader(have);
      else this.#headerBuf = have;
      return null;
    }
    this.#headerBuf = null;
    if (!have.subarray(0, 8).equals(PROTOCOL_HEADER)) {
      this.#badProtocolHeader(have.subarray(0, 8));
      return null;
    }
    this.#state = State.Start;
    this.send(0, P.encodeConnectionStart, {
      versionMajor: 0,
      versionMinor: 9,
      serverProperties: serverProperties(this.config),
      mechanisms: Buffer.from(this.#certCN !== undefined ? 'EXTERNAL AMQPLAIN PLAIN' : 'AMQPLAIN PLAIN'),
      locales: Buffer.from('en_US'),
    });
    return have.subarray(8);
  }

  #badProtocolHeader(got: Buffer): void {
    // spec 4.2.2 / rabbitmq-compat: answer with the header we speak, then close
    this.log.info({ header: got.toString('hex') }, 'bad protocol header, replying AMQP 0-9-1 and closing');
    this.#state = State.Closing;
    this.#writer.raw(PROTOCOL_HEADER);
    this.#flush();
    this.#socket.end();
  }

  onFrameError(text: string): void {
    this.closeWithError(new AmqpError(REPLY.FRAME_ERROR, text));
  }

  onFrame(type: number, channel: number, buf: Buffer, start: number, end: number): void {
    if (this.#state >= State.Closing) {
      if (this.#state === State.Closing && type === P.FRAME_METHOD && channel === 0) this.#onMethodWhileClosing(buf, start, end);
      return;
    }
    try {
      if (type === P.FRAME_METHOD) {
        if (end - start < 4) {
          throw new AmqpError(REPLY.FRAME_ERROR, `type 1, ${describeOctets(buf, start, end)}: unknown_frame`);
        }
        if (channel === 0) this.#onConnectionMethod(buf, start, end);
        else this.#onChannelMethod(channel, buf, start, end);
      } else if (type === P.FRAME_HEADER || type === P.FRAME_BODY) {
        if (this.#state !== State.Running) return this.#unexpectedBeforeOpen(type, buf, start, end);
        const ch = this.#channel(channel);
        if (ch === undefined) {
          if (channel === 0) throw new AmqpError(REPLY.UNEXPECTED_FRAME, `type ${type}, ${describeOctets(buf, start, end)}`);
          throw new AmqpError(REPLY.UNEXPECTED_FRAME, 'expected method frame, got non method frame instead');
        }
        if (ch.closing) {
          // content of a method that arrived while the channel closes: assembled, dropped
          if (type === P.FRAME_HEADER) ch.assembler.onHeader(buf, start, end, false);
          else ch.assembler.onBody(buf, start, end, false);
        } else if (type === P.FRAME_HEADER) ch.onHeader(buf, start, end);
        else ch.onBody(buf, start, end);
      } else if (type === P.FRAME_HEARTBEAT) {
        if (end > start) throw new AmqpError(REPLY.FRAME_ERROR, `type 8, ${describeOctets(buf, start, end)}: unknown_frame`);
        if (channel !== 0) throw new AmqpError(REPLY.UNEXPECTED_FRAME, `type 8, ${describeOctets(buf, start, end)}`);
      } else {
        throw new AmqpError(REPLY.FRAME_ERROR, `type ${type}, ${describeOctets(buf, start, end)}: unknown_frame`);
      }
    } catch (err) {
      this.#onError(err, channel);
    }
  }

  #onError(err: unknown, channel: number): void {
    if (err instanceof AmqpError) {
      if (err.isHard || channel === 0) this.closeWithError(err);
      else this.#channel(channel)?.closeWithError(err);
    } else if (err instanceof FrameViolation) {
      const e = new AmqpError(err.code, err.text.replace(/^[A-Z_]+ - /, ''), true);
      e.classId = err.classId;
      e.methodId = err.methodId;
      this.closeWithError(e);
    } else {
      this.log.error({ err }, 'internal error while handling a frame');
      this.closeWithError(new AmqpError(REPLY.INTERNAL_ERROR, String((err as Error)?.message ?? err)));
    }
  }

  /** Decodes a method payload; turns decode failures into RabbitMQ's 501/540 replies. */
  #decode(buf: Buffer, start: number, end: number): P.Method {
    try {
      return P.decodeMethod(buf.subarray(start, end));
    } catch (err) {
      if (err instanceof P.UnknownMethodError) {
        // rabbitmq-compat: RabbitMQ drops TCP here; we say why before closing.
        throw new AmqpError(
          REPLY.NOT_IMPLEMENTED,
          `unknown method: class-id ${err.classId}, method-id ${err.methodId}`,
          true,
        );
      }
      if (err instanceof DecodeError) {
        // rabbitmq-compat: the text is "cannot decode <<fields>>" and nothing more (errors.md
        // row 174); 64 octets already fill the 255 characters a reply text may have
        this.log.debug({ err: err.message }, 'undecodable method');
        const bytes: number[] = [];
        for (let i = start + 4; i < end && bytes.length < 64; i++) bytes.push(buf[i]!);
        const e = new AmqpError(REPLY.FRAME_ERROR, `cannot decode <<${bytes.join(',')}>>`);
        e.classId = buf.readUInt16BE(start);
        e.methodId = buf.readUInt16BE(start + 2);
        throw e;
      }
      throw err;
    }
  }

  #unexpectedBeforeOpen(type: number, buf: Buffer, start: number, end: number): void {
    if (this.#state === State.Open) {
      throw new AmqpError(REPLY.UNEXPECTED_FRAME, `type ${type}, ${describeOctets(buf, start, end)}`);
    }
    // rabbitmq-compat: before tune-ok RabbitMQ does not talk to the client; it drops TCP
    this.log.warn({ frameType: type }, 'frame on a channel before the handshake finished, closing TCP');
    this.#destroy('protocol violation during handshake');
  }

  #channel(no: number): Channel | undefined {
    if (no === this.#lastChannelNo) return this.#lastChannel;
    const ch = this.#channels.get(no);
    if (ch !== undefined) {
      this.#lastChannelNo = no;
      this.#lastChannel = ch;
    }
    return ch;
  }

  // -------------------------------------------------------------------------------------
  // channel 0

  #onConnectionMethod(buf: Buffer, start: number, end: number): void {
    const m = this.#decode(buf, start, end);
    switch (this.#state) {
      case State.Start:
        if (m.id === P.CONNECTION_START_OK) return this.#onStartOk(m.args);
        break;
      case State.Tune:
        if (m.id === P.CONNECTION_TUNE_OK) return this.#onTuneOk(m.args);
        break;
      case State.Open:
        if (m.id === P.CONNECTION_OPEN) return this.#onOpen(m.args);
        if (m.id === P.CONNECTION_CLOSE) return this.#onClientClose(m.args);
        break;
      case State.Running:
        if (m.id === P.CONNECTION_CLOSE) return this.#onClientClose(m.args);
        if (m.id === P.CONNECTION_UPDATE_SECRET) return this.#onUpdateSecret(m.args);
        break;
    }
    if (this.#state === State.Start || this.#state === State.Tune) {
      this.log.warn({ method: m.name }, 'unexpected method during handshake, closing TCP');
      return this.#destroy('protocol violation during handshake');
    }
    const e = new AmqpError(
      REPLY.CHANNEL_ERROR,
      `unexpected method in connection state ${this.#state === State.Running ? 'running' : 'opening'}`,
    );
    e.classId = m.id >>> 16;
    e.methodId = m.id & 0xffff;
    throw e;
  }

  #onStartOk(a: P.ConnectionStartOk): void {
    this.clientProperties = plain(a.clientProperties);
    this.capabilities = clientCapabilities(a.clientProperties);
    let user: User | undefined;
    if (a.mechanism === 'EXTERNAL' && this.#certCN !== undefined) {
      // rabbitmq-compat (rabbitmq_auth_mechanism_ssl): the user is the certificate's CN
      user = this.broker.users.get(this.#certCN);
      if (user === undefined) {
        this.log.warn({ user: this.#certCN }, 'login refused: no user named after the client certificate CN');
        return this.#refuseLogin(a.mechanism, 'unknown certificate user');
      }
    } else {
      const credentials = parseCredentials(a.mechanism, a.response);
      if (credentials === null) {
        this.log.warn({ mechanism: a.mechanism }, 'unsupported authentication mechanism or malformed response');
        return this.#refuseLogin(a.mechanism, `unsupported mechanism '${a.mechanism}' or malformed response`);
      }
      user = this.broker.users.authenticate(credentials.user, credentials.pass);
      if (user === undefined) this.log.warn({ user: credentials.user, mechanism: a.mechanism }, 'login refused: wrong user name or password');
    }
    if (user === undefined) return this.#refuseLogin(a.mechanism, 'invalid credentials');
    if (this.config.loopbackUsers.includes(user.name) && !isLoopback(this.peerHost)) {
      this.log.warn({ user: user.name }, 'login refused: user may only connect via localhost (loopbackUsers)');
      // rabbitmq-compat (rabbit_reader auth_fail): the client gets the same safe text as for a
      // wrong password; the reason is only logged
      return this.#refuseLogin(a.mechanism, `user '${user.name}' can only connect via localhost`);
    }
    this.authUser = user;
    this.user = user.name;
    this.#state = State.Tune;
    this.send(0, P.encodeConnectionTune, {
      channelMax: this.config.channelMax,
      frameMax: this.config.frameMax,
      heartbeat: this.config.heartbeat,
    });
  }

  /**
   * rabbitmq-compat: the 403 close goes only to clients that announced
   * authentication_failure_close; others are dropped silently after a delay, which also
   * slows password guessing.
   */
  #refuseLogin(mechanism: string, why: string): void {
    if (this.capabilities.authenticationFailureClose) {
      const e = new AmqpError(
        REPLY.ACCESS_REFUSED,
        `Login was refused using authentication mechanism ${mechanism}. For details see the broker logfile.`,
      );
      this.closeWithError(e);
      return;
    }
    this.#state = State.Closing;
    this.#reader.stop();
    this.#closeTimer = setTimeout(() => this.#destroy(`login refused: ${why}`), this.config.silentCloseDelayMs);
  }

  #onTuneOk(a: P.ConnectionTuneOk): void {
    const c = this.config;
    let problem: string | null = null;
    // rabbitmq-compat: the checks of rabbit_reader; RabbitMQ drops TCP silently, we say why
    if (a.frameMax === 0 || a.frameMax < P.FRAME_MIN_SIZE) problem = `frame_max=${a.frameMax} < ${P.FRAME_MIN_SIZE} min size`;
    else if (a.frameMax > c.frameMax) problem = `frame_max=${a.frameMax} > ${c.frameMax} max size`;
    else if (a.channelMax === 0) problem = `channel_max=0 (no limit) is not allowed, this server's limit is ${c.channelMax}`;
    else if (a.channelMax > c.channelMax) problem = `channel_max=${a.channelMax} > ${c.channelMax} max size`;
    if (problem !== null) {
      this.log.warn({ problem }, 'unacceptable connection.tune-ok');
      this.#state = State.Open; // so the close below is sent with a negotiated frame size
      const e = new AmqpError(REPLY.NOT_ALLOWED, problem);
      e.classId = P.CLASS_CONNECTION;
      e.methodId = 31;
      return this.closeWithError(e);
    }
    this.frameMax = a.frameMax;
    this.channelMax = a.channelMax;
    this.heartbeat = a.heartbeat;
    this.#reader.frameMax = a.frameMax;
    this.#writer.frameMax = a.frameMax;
    this.#state = State.Open;
    if (a.heartbeat > 0) {
      this.#heartbeatTimer = setInterval(() => this.#heartbeatTick(), a.heartbeat * 500);
    }
  }

  #onOpen(a: P.ConnectionOpen): void {
    const vhost = this.broker.vhost(a.virtualHost);
    const fail = (text: string): never => {
      this.log.warn({ vhost: a.virtualHost, user: this.user }, text);
      const e = new AmqpError(REPLY.NOT_ALLOWED, text);
      e.classId = P.CLASS_CONNECTION;
      e.methodId = 40;
      throw e;
    };
    if (vhost === undefined) fail(`vhost ${a.virtualHost} not found`);
    if (this.broker.users.permission(a.virtualHost, this.user) === undefined) {
      fail(`access to vhost '${a.virtualHost}' refused for user '${this.user}'`);
    }
    const vmax = vhost!.limits.maxConnections;
    const umax = this.authUser?.limits?.maxConnections;
    if (vmax !== undefined || umax !== undefined) {
      let inVhost = 0;
      let ofUser = 0;
      for (const c of this.broker.registry.connections) {
        if (c === this) continue;
        if (c.vhost === a.virtualHost) inVhost++;
        if (c.user === this.user && c.vhost !== '') ofUser++;
      }
      if (vmax !== undefined && vmax >= 0 && inVhost >= vmax) {
        fail(`access to vhost '${a.virtualHost}' refused for user '${this.user}': connection limit (${vmax}) is reached`);
      }
      if (umax !== undefined && umax >= 0 && ofUser >= umax) {
        fail(`connection refused for user '${this.user}': user connection limit (${umax}) is reached`);
      }
    }
    this.vhost = a.virtualHost;
    this.#vhost = vhost;
    this.access = new AccessChecker(this.broker.users, this.user, this.vhost);
    this.broker.alarms.subscribe(this);
    clearTimeout(this.#handshakeTimer);
    this.#handshakeTimer = undefined;
    this.#state = State.Running;
    this.send(0, P.encodeConnectionOpenOk, { reserved1: '' });
    this.log.info({ user: this.user, vhost: this.vhost, client: this.clientProperties['product'] }, 'connection opened');
  }

  #onUpdateSecret(a: P.ConnectionUpdateSecret): void {
    // rabbitmq-compat: only meaningful for token-based (OAuth 2) backends; with internal
    // users the new secret is accepted and the connection goes on.
    this.log.info({ reason: a.reason }, 'connection.update-secret');
    this.send(0, P.encodeConnectionUpdateSecretOk, {});
  }

  #onClientClose(a: P.ConnectionClose): void {
    this.log.debug({ code: a.replyCode, text: a.replyText }, 'client sent connection.close');
    this.#closeReason = a.replyCode === 200 ? 'client closed connection' : `client closed connection: ${a.replyCode} ${a.replyText}`;
    this.#releaseChannels();
    this.send(0, P.encodeConnectionCloseOk, {});
    this.#state = State.Closing;
    this.#flush();
    // rabbitmq-compat: after close-ok the client closes TCP; ending it ourselves races the
    // client's reader (amqp091-go reports EOF as an error). Drop it only if it lingers.
    this.#closeTimer = setTimeout(() => this.#destroy(this.#closeReason), this.config.closeOkTimeoutMs);
  }

  #onMethodWhileClosing(buf: Buffer, start: number, end: number): void {
    if (end - start < 4) return;
    const id = buf.readUInt32BE(start);
    if (id === P.CONNECTION_CLOSE_OK) {
      this.#socket.end();
    } else if (id === P.CONNECTION_CLOSE) {
      // both sides closed at once: answer and finish
      this.#writer.method(0, P.encodeConnectionCloseOk, {});
      this.#flush();
      this.#socket.end();
    }
  }

  // -------------------------------------------------------------------------------------
  // channels

  #onChannelMethod(no: number, buf: Buffer, start: number, end: number): void {
    if (this.#state !== State.Running) return this.#unexpectedBeforeOpen(P.FRAME_METHOD, buf, start, end);
    const ch = this.#channel(no);
    const id = buf.readUInt32BE(start);
    if (ch === undefined) {
      const m = this.#decode(buf, start, end);
      if (m.id === P.CHANNEL_OPEN) return this.#openChannel(no);
      throw withMethod(new AmqpError(REPLY.CHANNEL_ERROR, "expected 'channel.open'"), m.id);
    }
    if (ch.closing) {
      // spec 2.2.2.1 / rabbitmq-compat: after sending channel.close, discard all but close/close-ok
      if (id === P.CHANNEL_CLOSE_OK) this.#removeChannel(no);
      else if (id === P.CHANNEL_CLOSE) {
        this.#removeChannel(no);
        this.send(no, P.encodeChannelCloseOk, {});
      } else {
        // rabbitmq-compat: RabbitMQ's reader still assembles content for a closing channel
        // (only the channel drops it), so a publish pipelined behind the failing one is
        // swallowed whole instead of its content header becoming a 505
        ch.assembler.onMethod(id >>> 16, id & 0xffff, P.methodInfo(id)?.content === true);
      }
      return;
    }
    if (id === P.BASIC_PUBLISH) {
      this.#publishedThisTurn = true;
      if (!this.#publisher) {
        this.#publisher = true;
        if (this.broker.alarms.active) this.onAlarmChange(true, this.broker.alarms.reason);
      }
      // hot path: parsed in place, strings reused while they repeat (the general decoder
      // below handles everything unusual, including its errors)
      if (ch.publishFast(buf, start + 4, end)) return;
    } else if (id === P.BASIC_ACK && end - start === 13) {
      // hot path: delivery-tag u64 | multiple bit, parsed in place
      ch.assembler.onMethod(P.CLASS_BASIC, 80, false);
      try {
        ch.ack(buf.readUInt32BE(start + 4) * 0x100000000 + buf.readUInt32BE(start + 8), (buf[start + 12]! & 1) !== 0);
      } catch (err) {
        if (err instanceof AmqpError) throw withMethod(err, id);
        throw err;
      }
      return;
    }
    const m = this.#decode(buf, start, end);
    switch (m.id) {
      case P.CHANNEL_OPEN:
        throw withMethod(new AmqpError(REPLY.CHANNEL_ERROR, "second 'channel.open' seen"), m.id);
      case P.CHANNEL_CLOSE:
        ch.release();
        this.#removeChannel(no);
        this.send(no, P.encodeChannelCloseOk, {});
        return;
      case P.CHANNEL_CLOSE_OK:
        throw withMethod(new AmqpError(REPLY.COMMAND_INVALID, 'unimplemented method'), m.id);
      default:
        ch.handle(m);
    }
  }

  #openChannel(no: number): void {
    if (this.#channels.size >= this.channelMax) {
      throw new AmqpError(
        REPLY.NOT_ALLOWED,
        `number of channels opened (${this.#channels.size}) has reached the negotiated channel_max (${this.channelMax})`,
      );
    }
    const umax = this.authUser?.limits?.maxChannels;
    if (umax !== undefined && umax >= 0) {
      let n = 0;
      for (const c of this.broker.registry.connections) if (c.user === this.user) n += c.channelCount;
      if (n >= umax) {
        // rabbitmq-compat: class/method 0/0, as for channel_max (rabbit_reader create_channel)
        throw new AmqpError(
          REPLY.NOT_ALLOWED,
          `number of channels opened for user '${this.user}' has reached the maximum allowed user limit of (${umax})`,
        );
      }
    }
    this.#channels.set(no, new Channel(this, no, this.#vhost!));
    this.send(no, P.encodeChannelOpenOk, { reserved1: Buffer.alloc(0) });
  }

  #removeChannel(no: number): void {
    this.#channels.delete(no);
    if (this.#lastChannelNo === no) {
      this.#lastChannelNo = -1;
      this.#lastChannel = undefined;
    }
  }

  /** Release every channel's consumers and unacked messages (connection is ending). */
  #releaseChannels(): void {
    for (const ch of this.#channels.values()) ch.release();
    this.#channels.clear();
    this.#lastChannelNo = -1;
    this.#lastChannel = undefined;
    this.#confirmers.clear();
    // spec: exclusive queues are deleted when their connection closes
    this.#vhost?.deleteExclusiveQueues(this);
  }

  // -------------------------------------------------------------------------------------
  // closing

  /** Hard error: connection.close with the error's code and text; wait for close-ok. */
  closeWithError(err: AmqpError): void {
    if (this.#state >= State.Closing) return;
    if (this.#state === State.Start || this.#state === State.Header) {
      // before tuning RabbitMQ does not send close methods (except the auth-failure close)
      if (err.code !== REPLY.ACCESS_REFUSED) return this.#destroy(err.replyText);
    }
    const level = err.code === REPLY.CONNECTION_FORCED ? 'info' : 'warn';
    this.log[level]({ code: err.code, text: err.replyText, classId: err.classId, methodId: err.methodId }, 'closing connection');
    this.#closeReason = err.replyText;
    this.#releaseChannels();
    this.#writer.method(0, P.encodeConnectionClose, {
      replyCode: err.code,
      replyText: err.replyText,
      classId: err.classId,
      methodId: err.methodId,
    });
    // keep reading, but only close-ok / close count from now on (onFrame); after a framing
    // error the reader has stopped and the timer below or the client's FIN ends it
    this.#state = State.Closing;
    this.#flush();
    this.#closeTimer = setTimeout(() => this.#destroy(this.#closeReason), this.config.closeOkTimeoutMs);
  }

  /** rabbitmq-compat (consumer_timeout): a channel whose oldest unacked delivery is too old is closed. */
  checkConsumerTimeouts(now: number, timeoutMs: number): void {
    if (this.#state !== State.Running) return;
    for (const ch of this.#channels.values()) {
      const at = ch.oldestUnackedAt;
      if (at !== 0 && now - at > timeoutMs && !ch.closing) {
        ch.closeWithError(
          new AmqpError(
            REPLY.PRECONDITION_FAILED,
            `delivery acknowledgement on channel ${ch.id} timed out. Timeout value used: ${timeoutMs} ms. This timeout value can be configured, see consumers doc guide to learn more`,
          ),
        );
      }
    }
  }

  /** Server-initiated close with 320 (management, shutdown). */
  forceClose(reason: string): void {
    if (this.#state < State.Open) return this.#destroy(reason);
    this.closeWithError(new AmqpError(REPLY.CONNECTION_FORCED, reason));
  }

  #heartbeatTick(): void {
    if (++this.#ticksSinceRead >= 5) {
      // spec 4.2.7: a peer silent for two heartbeat intervals is gone. rabbitmq-compat
      // (rabbit_heartbeat): RabbitMQ checks once per interval and so drops a client 2–3
      // intervals after its last data; with checks every half interval we drop after 2–2.5,
      // never sooner than RabbitMQ would (a client that heartbeats late under load survives)
      this.log.warn({ timeoutSeconds: this.heartbeat }, 'missed heartbeats from client, closing TCP connection');
      return this.#destroy(`missed heartbeats from client, timeout: ${this.heartbeat}s`);
    }
    if (!this.#wroteSinceTick && !this.#flushScheduled) {
      this.#writer.heartbeat();
      this.#flush();
    }
    this.#wroteSinceTick = false;
  }

  #destroy(reason: string): void {
    this.#closeReason ||= reason;
    // what was already said goes out first (connection.start, when garbage followed the
    // protocol header in the same read)
    this.#flush();
    this.#socket.destroy();
    this.#teardown(reason);
  }

  #teardown(reason: string): void {
    if (this.#state === State.Closed) return;
    const wasRunning = this.#state === State.Running || this.vhost !== '';
    this.#state = State.Closed;
    this.#reader.stop();
    this.#writer.discard();
    clearTimeout(this.#handshakeTimer);
    clearInterval(this.#heartbeatTimer);
    clearTimeout(this.#closeTimer);
    this.#releaseChannels();
    this.#drainWaiters.clear();
    this.broker.registry.remove(this);
    this.broker.alarms.unsubscribe(this);
    this.broker.flow.forget(this);
    if (!this.#socket.destroyed) this.#socket.destroy();
    this.log.info({ user: this.user || undefined, vhost: this.vhost || undefined, reason: this.#closeReason || reason }, wasRunning ? 'connection closed' : 'connection closed during handshake');
    this.#onClosed?.(this);
  }

  // -------------------------------------------------------------------------------------
  // management views (ConnectionInfo): read on request only, never on the frame path

  get stateName(): string {
    // rabbitmq-compat: management shows a publisher stopped by a resource alarm as 'blocked'
    // and one held back by flow control as 'flow'
    if (this.#state === State.Running) {
      if (this.#blockedByAlarm) return 'blocked';
      if (this.#pausedForFlow) return 'flow';
    }
    return ['starting', 'starting', 'tuning', 'opening', 'running', 'closing', 'closed'][this.#state] ?? 'closed';
  }

  /** recv_oct: socket bytes read (0 for a Duplex that does not count, e.g. a test pair). */
  get bytesReceived(): number {
    return (this.#socket as Partial<import('node:net').Socket>).bytesRead ?? 0;
  }

  /** send_oct: socket bytes written. */
  get bytesSent(): number {
    return (this.#socket as Partial<import('node:net').Socket>).bytesWritten ?? 0;
  }

  channelInfos(): Channel[] {
    return [...this.#channels.values()];
  }
}

function withMethod(e: AmqpError, id: number): AmqpError {
  e.classId = id >>> 16;
  e.methodId = id & 0xffff;
  return e;
}

/** PLAIN: "[authzid] NUL user NUL pass"; AMQPLAIN: a field table without its size prefix. */
function parseCredentials(mechanism: string, response: Buffer): { user: string; pass: string } | null {
  if (mechanism === 'PLAIN') {
    const first = response.indexOf(0);
    const second = first < 0 ? -1 : response.indexOf(0, first + 1);
    if (second < 0) return null;
    return { user: response.toString('utf8', first + 1, second), pass: response.toString('utf8', second + 1) };
  }
  if (mechanism === 'AMQPLAIN') {
    const framed = Buffer.allocUnsafe(response.length + 4);
    framed.writeUInt32BE(response.length, 0);
    response.copy(framed, 4);
    let t: FieldTable;
    try {
      t = decodeTable(framed, 0, framed.length).table;
    } catch {
      return null;
    }
    const login = t.get('LOGIN');
    const password = t.get('PASSWORD');
    if (login?.type !== 'S' || password?.type !== 'S') return null;
    return { user: login.value, pass: password.value };
  }
  return null;
}

function isLoopback(host: string): boolean {
  return host === '::1' || host.startsWith('127.') || host.startsWith('::ffff:127.') || host === 'localhost';
}
