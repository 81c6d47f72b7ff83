/**
 * One AMQP channel: content assembly, delivery tags and unacked deliveries, prefetch,
 * publisher confirms and transactions. Method handling lives in handlers/, one file per
 * class; this file keeps the state they share.
 *
 * Invariants:
 *  - delivery tags are sequential per channel; `#unacked` is ordered by tag, so
 *    `multiple=true` settles a prefix;
 *  - publisher-confirm sequence numbers are confirmed in order, so a run of acks goes out as
 *    one basic.ack multiple=true at the end of the turn;
 *  - channel errors (soft codes) close only this channel; until the client's close-ok every
 *    other frame on it is discarded (the connection enforces that).
 */
import { AmqpError, REPLY } from '../broker/errors.js';
import type { Queue, QueueEntry } from '../broker/queue.js';
import type { VHost } from '../broker/vhost.js';
import { Deque } from '../util/deque.js';
import { Assembler } from '../protocol/assembler.js';
import * as P from '../protocol/generated.js';
import type { Connection } from './connection.js';
import type { ChannelConsumer } from './consumer.js';
import { handleExchange } from './handlers/exchange.js';
import { handleQueue } from './handlers/queue.js';
import { handleBasic, publishContent } from './handlers/basic.js';
import { handleConfirm, handleTx } from './handlers/confirm-tx.js';

const EMPTY = Buffer.alloc(0);

function sameBytes(buf: Buffer, start: number, len: number, prev: Buffer): boolean {
  if (len !== prev.length) return false;
  for (let i = 0; i < len; i++) if (buf[start + i] !== prev[i]) return false;
  return true;
}

function tagOf(u: Unacked): number {
  return u.tag;
}

/** Markers in #syncWait's batch slot. */
const READY = 0;
const NACK = -1;

export interface Unacked {
  readonly tag: number;
  readonly queue: Queue;
  readonly entry: QueueEntry;
  /** null for basic.get deliveries */
  readonly consumer: ChannelConsumer | null;
  /** ms timestamp of the delivery (consumer timeout) */
  readonly at: number;
}

export interface PendingPublish {
  exchange: string;
  routingKey: string;
  mandatory: boolean;
  /** exchange + routing-key shortstrs as received (shared by the messages that repeat them) */
  routeRaw: Buffer | null;
}

export type TxAction = { kind: 'ack'; items: Unacked[] } | { kind: 'reject'; items: Unacked[]; requeue: boolean };

export class Channel {
  readonly connection: Connection;
  readonly id: number;
  readonly vhost: VHost;
  /** We sent channel.close and wait for close-ok. */
  closing = false;
  readonly assembler = new Assembler();
  /** basic.publish waiting for its content. */
  publish: PendingPublish = { exchange: '', routingKey: '', mandatory: false, routeRaw: null };
  /** The last queue declared on this channel ("" in later methods means this one). */
  lastQueue: string | null = null;

  readonly consumers = new Map<string, ChannelConsumer>();
  /** basic.qos global=false: applies to consumers created afterwards. */
  prefetchCount = 0;
  /** basic.qos global=true: shared by all consumers of the channel. */
  globalPrefetch = 0;
  readonly #unacked = new Deque<Unacked>();
  #deliveryTag = 0;

  // publisher confirms
  confirmMode = false;
  #publishSeq = 0;
  #ackFrom = 0;
  #ackTo = 0;
  /** Pairs (seq, batch) in publish order: confirms waiting for a store batch to sync. */
  readonly #syncWait = new Deque<number>();

  // transactions
  txMode = false;
  txPublishes: { exchange: string; mandatory: boolean; msg: import('../broker/message.js').Message }[] = [];
  txActions: TxAction[] = [];

  /** Direct reply-to consumer of this channel (amq.rabbitmq.reply-to), if any. */
  replyTo: { name: string; tag: string } | null = null;

  /** Reused routing result (no allocation per publish). */
  readonly routed: Queue[] = [];

  constructor(connection: Connection, id: number, vhost: VHost) {
    this.connection = connection;
    this.id = id;
    this.vhost = vhost;
  }

  /** Delivery time of the oldest unacked message; 0 when none. */
  get oldestUnackedAt(): number {
    return this.#unacked.peek()?.at ?? 0;
  }

  get unackedCount(): number {
    return this.#unacked.length;
  }

  handle(m: P.Method): void {
    this.assembler.onMethod(m.id >>> 16, m.id & 0xffff, m.id === P.BASIC_PUBLISH);
    try {
      switch (m.id >>> 16) {
        case P.CLASS_BASIC:
          return handleBasic(this, m);
        case P.CLASS_QUEUE:
          return handleQueue(this, m);
        case P.CLASS_EXCHANGE:
          return handleExchange(this, m);
        case P.CLASS_CONFIRM:
          return handleConfirm(this, m);
        case P.CLASS_TX:
          return handleTx(this, m);
        case P.CLASS_CHANNEL:
          if (m.id === P.CHANNEL_FLOW) {
            // rabbitmq-compat: clients may not stop the server's deliveries with flow
            if (!m.args.active) throw new AmqpError(REPLY.NOT_IMPLEMENTED, 'active=false');
            this.connection.send(this.id, P.encodeChannelFlowOk, { active: true });
            return;
          }
          if (m.id === P.CHANNEL_FLOW_OK) return;
      }
      throw new AmqpError(REPLY.COMMAND_INVALID, `unimplemented method ${m.name}`);
    } catch (err) {
      if (err instanceof AmqpError && err.classId === 0) {
        err.classId = m.id >>> 16;
        err.methodId = m.id & 0xffff;
      }
      throw err;
    }
  }

  /**
   * basic.publish parsed in place: reserved-1 u16 | exchange shortstr | routing-key shortstr
   * | bits. Returns false for anything unusual (immediate, odd lengths) so the general
   * decoder answers it. The exchange and routing-key strings of the previous publish are
   * reused when the bytes repeat, so a steady publisher allocates no strings.
   */
  publishFast(buf: Buffer, o: number, end: number): boolean {
    if (o + 4 > end) return false;
    const exLen = buf[o + 2]!;
    const exStart = o + 3;
    const rkAt = exStart + exLen;
    if (rkAt >= end) return false;
    const rkLen = buf[rkAt]!;
    const rkStart = rkAt + 1;
    const bitsAt = rkStart + rkLen;
    if (bitsAt + 1 !== end) return false;
    const bits = buf[bitsAt]!;
    if ((bits & 2) !== 0) return false; // immediate: the general path refuses it
    this.assembler.onMethod(P.CLASS_BASIC, 40, true);
    const p = this.publish;
    const raw = p.routeRaw;
    if (raw === null || !sameBytes(buf, o + 2, bitsAt - o - 2, raw)) {
      p.exchange = buf.toString('utf8', exStart, rkAt);
      p.routingKey = buf.toString('utf8', rkStart, bitsAt);
      const copy = Buffer.allocUnsafeSlow(bitsAt - o - 2);
      buf.copy(copy, 0, o + 2, bitsAt);
      p.routeRaw = copy;
    }
    p.mandatory = (bits & 1) !== 0;
    return true;
  }


  onHeader(buf: Buffer, start: number, end: number): void {
    const done = this.assembler.onHeader(buf, start, end);
    const max = this.connection.config.maxMessageSize;
    if (this.assembler.bodySize > max) {
      const e = new AmqpError(REPLY.PRECONDITION_FAILED, `message size ${this.assembler.bodySize} is larger than configured max size ${max}`);
      e.classId = P.CLASS_BASIC;
      e.methodId = 40;
      throw e;
    }
    if (done) this.#onContent();
  }

  onBody(buf: Buffer, start: number, end: number): void {
    if (this.assembler.onBody(buf, start, end)) this.#onContent();
  }

  #onContent(): void {
    const a = this.assembler;
    const body = a.body;
    a.body = EMPTY; // the assembler must not keep a socket chunk alive
    try {
      publishContent(this, a.propsRaw, body, a.bodyStart, a.bodyEnd);
    } catch (err) {
      if (err instanceof AmqpError && err.classId === 0) {
        err.classId = P.CLASS_BASIC;
        err.methodId = 40;
      }
      throw err;
    }
  }

  // -------------------------------------------------------------------------------------
  // deliveries and acknowledgements

  nextDeliveryTag(): number {
    return ++this.#deliveryTag;
  }

  track(tag: number, queue: Queue, entry: QueueEntry, consumer: ChannelConsumer | null): void {
    this.#unacked.push({ tag, queue, entry, consumer, at: Date.now() });
  }

  /**
   * Removes and returns the deliveries a basic.ack/nack/reject names; 406 for an unknown
   * tag (rabbitmq-compat: "unknown delivery tag N"). tag 0 with multiple means all.
   */
  takeUnacked(tag: number, multiple: boolean): Unacked[] {
    const u = this.#unacked;
    if (multiple && tag === 0) {
      const all = u.toArray();
      u.clear();
      return all;
    }
    const i = this.#indexOf(tag);
    if (i < 0) throw new AmqpError(REPLY.PRECONDITION_FAILED, `unknown delivery tag ${tag}`);
    if (!multiple) return [u.removeAt(i)!];
    const out: Unacked[] = [];
    for (let k = 0; k <= i; k++) out.push(u.shift()!);
    return out;
  }

  /** basic.ack (also called by the connection's in-place parser, the consumer hot path). */
  ack(tag: number, multiple: boolean): void {
    if (!multiple && !this.txMode && this.ackOne(tag)) {
      this.resumeDeliveries();
      return;
    }
    const items = this.takeUnacked(tag, multiple);
    if (this.txMode) {
      this.txActions.push({ kind: 'ack', items });
      return;
    }
    for (const x of items) this.settleAck(x);
    this.resumeDeliveries();
  }

  /** Single ack of the head: the common in-order case, without an array. */
  ackOne(tag: number): boolean {
    const head = this.#unacked.peek();
    if (head === undefined || head.tag !== tag) return false;
    this.#unacked.shift();
    this.settleAck(head);
    return true;
  }

  #indexOf(tag: number): number {
    const i = this.#unacked.lowerBound(tag, tagOf);
    return this.#unacked.at(i)?.tag === tag ? i : -1;
  }

  /** Puts deliveries back (tx.rollback of acks) in tag order. */
  restoreUnacked(items: Unacked[]): void {
    const u = this.#unacked;
    for (const item of items) u.insertAt(u.lowerBound(item.tag, tagOf), item);
  }

  settleAck(x: Unacked): void {
    x.queue.ack(x.entry);
    if (x.consumer !== null) x.consumer.unacked--;
  }

  settleReject(x: Unacked, requeue: boolean): void {
    if (requeue) x.queue.requeue(x.entry);
    else x.queue.discard(x.entry);
    if (x.consumer !== null) x.consumer.unacked--;
  }

  /** After credit was freed or messages requeued: let queues deliver again. */
  resumeDeliveries(extra?: Iterable<Queue>): void {
    for (const c of this.consumers.values()) c.queue.drain();
    if (extra !== undefined) for (const q of extra) q.drain();
  }

  /** basic.recover / channel close: every unacked delivery back to its queue. */
  requeueAll(): void {
    const items = this.#unacked.toArray();
    this.#unacked.clear();
    const queues = new Set<Queue>();
    // reverse order keeps requeue insertions at the head cheap
    for (let i = items.length - 1; i >= 0; i--) {
      const x = items[i]!;
      this.settleReject(x, true);
      queues.add(x.queue);
    }
    for (const q of queues) q.drain();
  }

  /** The socket drained: deliveries may resume. */
  onDrain(): void {
    if (!this.closing) this.resumeDeliveries();
  }

  /** A reply for this channel's direct reply-to consumer (no queue, no ack, no prefetch). */
  deliverReply(msg: import('../broker/message.js').Message): boolean {
    if (this.replyTo === null || this.closing) return false;
    this.connection.send(this.id, P.encodeBasicDeliver, {
      consumerTag: this.replyTo.tag,
      deliveryTag: this.nextDeliveryTag(),
      redelivered: false,
      exchange: msg.exchange,
      routingKey: msg.routingKey,
    });
    this.connection.sendContent(this.id, msg.propsRaw, msg);
    return true;
  }

  consumerCancelledByBroker(c: ChannelConsumer): void {
    this.consumers.delete(c.tag);
    if (this.connection.capabilities.consumerCancelNotify && !this.closing) {
      this.connection.send(this.id, P.encodeBasicCancel, { consumerTag: c.tag, noWait: true });
    }
  }

  // -------------------------------------------------------------------------------------
  // publisher confirms

  /** Next publish sequence number (confirm mode). */
  nextPublishSeq(): number {
    return ++this.#publishSeq;
  }

  /** Message `seq` is safe once routed (transient, or nothing durable took it). */
  confirm(seq: number): void {
    if (this.#syncWait.length > 0) {
      // an earlier message still waits for the disk: confirms leave in order
      this.#syncWait.push(seq);
      this.#syncWait.push(READY);
      return;
    }
    this.#addToAckRun(seq);
  }

  /** Message `seq` was written to the store in `batch`: confirm it once that batch is synced. */
  confirmAfterSync(seq: number): void {
    const store = this.vhost.store!;
    this.#syncWait.push(seq);
    this.#syncWait.push(store.batch);
    store.whenSynced(this);
  }

  /** tx.commit-ok goes out once everything the commit stored is on disk. */
  commitOkAfterSync(): void {
    const store = this.vhost.store;
    if (store === null) {
      this.connection.send(this.id, P.encodeTxCommitOk, {});
      return;
    }
    this.#syncWait.push(0);
    this.#syncWait.push(store.batch);
    store.whenSynced(this);
  }

  /** The store synced `batch`: release the confirms (and commit-oks) waiting on it. */
  onStoreSynced(batch: number): void {
    const w = this.#syncWait;
    if (this.closing) return w.clear();
    while (w.length > 0) {
      const b = w.at(1)!;
      if (b > batch) break;
      const seq = w.shift()!;
      w.shift();
      if (b === NACK) this.#sendNack(seq);
      else if (seq === 0) this.connection.send(this.id, P.encodeTxCommitOk, {});
      else this.#addToAckRun(seq);
    }
    if (w.length > 0) this.vhost.store!.whenSynced(this);
  }

  #addToAckRun(seq: number): void {
    if (this.#ackTo === 0) {
      this.#ackFrom = seq;
      this.connection.beforeFlush(this);
    }
    this.#ackTo = seq;
  }

  /** Message `seq` was refused by a queue: nack it (after the acks before it). */
  reject(seq: number): void {
    if (this.#syncWait.length > 0) {
      this.#syncWait.push(seq);
      this.#syncWait.push(NACK);
      return;
    }
    this.#sendNack(seq);
  }

  #sendNack(seq: number): void {
    this.flushConfirms();
    // rabbitmq-compat (coalesce_and_send): every earlier seq is settled by now, so RabbitMQ
    // says multiple=true, as errors.md row 100 recorded; requeue=true is the default of its
    // #'basic.nack'{} record (errors.json row 100)
    this.connection.send(this.id, P.encodeBasicNack, { deliveryTag: seq, multiple: true, requeue: true });
  }

  /** Called by the connection just before it writes: one ack for the run of confirms. */
  flushConfirms(): void {
    if (this.#ackTo === 0) return;
    const multiple = this.#ackTo > this.#ackFrom;
    this.connection.send(this.id, P.encodeBasicAck, { deliveryTag: this.#ackTo, multiple });
    this.#ackFrom = this.#ackTo = 0;
  }

  // -------------------------------------------------------------------------------------
  // closing

  /** Soft error: channel.close with the error, then wait for close-ok. */
  closeWithError(err: AmqpError): void {
    if (this.closing) return;
    this.connection.log.info({ channel: this.id, code: err.code, text: err.replyText }, 'closing channel');
    this.release();
    this.closing = true;
    this.connection.send(this.id, P.encodeChannelClose, {
      replyCode: err.code,
      replyText: err.replyText,
      classId: err.classId,
      methodId: err.methodId,
    });
  }

  /** Gives back consumers and unacked messages (channel or connection closed). */
  release(): void {
    if (this.closing) return;
    this.closing = true; // consumers stop accepting from here on
    // The assembler is not reset: while the channel closes the connection still feeds it the
    // frames the client had sent (a body refused for its size at the header, a pipelined
    // publish), so it must stay in step with them until close-ok.
    this.flushConfirms();
    this.txPublishes = [];
    this.txActions = [];
    this.#syncWait.clear();
    if (this.replyTo !== null) {
      this.connection.broker.replyTargets.delete(this.replyTo.name);
      this.replyTo = null;
    }
    const consumers = [...this.consumers.values()];
    this.consumers.clear();
    this.requeueAll();
    for (const c of consumers) c.queue.removeConsumer(c);
  }

  // -------------------------------------------------------------------------------------
  // management views (ChannelInfo): read on request only, never on the publish path

  get deliveryTagCount(): number {
    return this.#deliveryTag;
  }

  get publishSeqCount(): number {
    return this.#publishSeq;
  }

  get uncommittedMessageCount(): number {
    return this.txPublishes.length;
  }

  get uncommittedAckCount(): number {
    let n = 0;
    for (const a of this.txActions) n += a.items.length;
    return n;
  }

  consumerInfos(): ChannelConsumer[] {
    return [...this.consumers.values()];
  }

  addUnackedBytes(into: Map<Queue, number>): void {
    const u = this.#unacked;
    for (let i = 0; i < u.length; i++) {
      const x = u.at(i)!;
      into.set(x.queue, (into.get(x.queue) ?? 0) + x.entry.msg.bodySize);
    }
  }
}
