/**
 * A queue: its ready messages, the consumers attached to it, and the count of messages
 * delivered but not yet acknowledged. Classic and quorum queues share this code; quorum
 * adds delivery counting (x-delivery-count, x-delivery-limit).
 *
 * Invariants:
 *  - ready entries are ordered by seq (publish order) within a priority level; a requeued
 *    entry goes back where its seq puts it, so redelivered messages come back at the head;
 *  - deliveries go to consumers that can accept (prefetch credit + writable connection):
 *    highest consumer priority first, round-robin within a priority; with single active
 *    consumer only the first consumer gets messages; when nobody can accept, delivery stops
 *    until a consumer calls drain();
 *  - an entry is ready, or unacked (held by a channel), or gone; a persistent message on a
 *    durable queue is acked in the store exactly when it is gone from this queue;
 *  - TTL: only entries at the head of a level expire (as in RabbitMQ); a timer fires at the
 *    head's expiry, so expired messages go without waiting for a consumer.
 */
import type { FieldTable } from '../protocol/field-table.js';
import type { Consumer } from './consumer.js';
import { deadLetter, sortTable, type DeadLetterReason } from './dead-letter.js';
import type { Destination } from './exchange/exchange-type.js';
import { FLOW_BACKLOG, FLOW_RESUME } from './flow.js';
import { Message, PROPERTY_FLAG, hasProperty } from './message.js';
import type { Policy } from './policies.js';
import { intArg, stringArg } from './queue-args.js';
import { ReadyList } from './ready-list.js';
import type { VHost } from './vhost.js';

export interface QueueEntry {
  readonly seq: number;
  readonly msg: Message;
  readonly priority: number;
  redelivered: boolean;
  /** ms timestamp at which the message expires; 0 = never */
  expiresAt: number;
  /** quorum queues: how often it was returned to the queue */
  deliveryCount: number;
}

export interface QueueOptions {
  durable: boolean;
  exclusive: boolean;
  autoDelete: boolean;
  arguments: FieldTable;
  /** The connection an exclusive queue belongs to. */
  owner: object | null;
}

export type Overflow = 'drop-head' | 'reject-publish' | 'reject-publish-dlx';

export class Queue implements Destination {
  readonly kind = 'queue' as const;
  readonly name: string;
  readonly vhost: VHost;
  readonly durable: boolean;
  readonly exclusive: boolean;
  readonly autoDelete: boolean;
  readonly arguments: FieldTable;
  readonly owner: object | null;
  readonly queueType: string;
  readonly quorum: boolean;
  /** Marks the queue during one routing pass (deduplication without a Set). */
  routeMark = 0;
  deleted = false;
  /** The policy that currently applies, if any. */
  policy: Policy | undefined;

  // effective settings: arguments combined with the policy (see #configure)
  messageTtl: number | undefined;
  expires: number | undefined;
  maxLength: number | undefined;
  maxLengthBytes: number | undefined;
  overflow: Overflow = 'drop-head';
  deadLetterExchange: string | undefined;
  deadLetterRoutingKey: string | undefined;
  deliveryLimit: number | undefined;
  readonly singleActiveConsumer: boolean;
  readonly maxPriority: number;

  readonly #ready: ReadyList;
  #readyBytes = 0;
  #nextSeq = 1;
  #unacked = 0;
  readonly #consumers: Consumer[] = [];
  #rr = 0;
  #prioritized = false;
  #hadConsumer = false;
  #draining = false;
  /** Consumers took a message since this queue last asked publishers to wait (flow.ts). */
  #consumed = false;
  /** This queue asked publishers to wait and has not caught up yet. */
  #askedFlow = false;
  /** Some ready entry may carry an expiry: head changes must look at the TTL timer. */
  #ttlSeen = false;
  /** Requeues since the last drain(): the length limits are checked there, once per batch. */
  #requeuedOverLimit = false;
  #expiryTimer: NodeJS.Timeout | undefined;
  #expiryAt = 0;
  #expiresTimer: NodeJS.Timeout | undefined;
  readonly #scratch: QueueEntry[] = [];

  // statistics for the management API
  publishCount = 0;
  deliverCount = 0;
  ackCount = 0;
  redeliverCount = 0;
  /** Messages whose bodies this queue sent to disk-only (large backlog). */
  pagedOutCount = 0;

  constructor(vhost: VHost, name: string, o: QueueOptions) {
    this.vhost = vhost;
    this.name = name;
    this.durable = o.durable;
    this.exclusive = o.exclusive;
    this.autoDelete = o.autoDelete;
    this.arguments = o.arguments;
    this.owner = o.owner;
    this.queueType = stringArg(o.arguments, 'x-queue-type') ?? 'classic';
    this.quorum = this.queueType === 'quorum';
    const sac = o.arguments.get('x-single-active-consumer');
    this.singleActiveConsumer = sac?.type === 't' && sac.value;
    this.maxPriority = Math.min(255, intArg(o.arguments, 'x-max-priority') ?? 0);
    this.#ready = new ReadyList(this.maxPriority);
    this.#configure();
  }

  /** Recomputes effective settings from arguments and policy. */
  #configure(): void {
    const a = this.arguments;
    const def = this.policy?.definition ?? {};
    const num = (arg: string, key: string): number | undefined => {
      const x = intArg(a, arg);
      const p = typeof def[key] === 'number' ? (def[key] as number) : undefined;
      // rabbitmq-compat: when both set a limit, the lower one applies
      return x === undefined ? p : p === undefined ? x : Math.min(x, p);
    };
    const str = (arg: string, key: string): string | undefined =>
      stringArg(a, arg) ?? (typeof def[key] === 'string' ? (def[key] as string) : undefined);
    this.messageTtl = num('x-message-ttl', 'message-ttl');
    this.expires = num('x-expires', 'expires');
    this.maxLength = num('x-max-length', 'max-length');
    this.maxLengthBytes = num('x-max-length-bytes', 'max-length-bytes');
    this.overflow = (str('x-overflow', 'overflow') ?? 'drop-head') as Overflow;
    this.deadLetterExchange = str('x-dead-letter-exchange', 'dead-letter-exchange');
    this.deadLetterRoutingKey = str('x-dead-letter-routing-key', 'dead-letter-routing-key');
    this.deliveryLimit = this.quorum ? num('x-delivery-limit', 'delivery-limit') : undefined;
    this.#touch();
  }

  setPolicy(p: Policy | undefined): void {
    this.policy = p;
    this.#configure();
    this.#enforceLimits();
    this.#scheduleExpiry();
  }

  get messageCount(): number {
    return this.#ready.length;
  }

  get readyBytes(): number {
    return this.#readyBytes;
  }

  get unackedCount(): number {
    return this.#unacked;
  }

  get consumerCount(): number {
    return this.#consumers.length;
  }

  get consumers(): readonly Consumer[] {
    return this.#consumers;
  }

  /** Exclusive consumer present (basic.consume exclusive=true). */
  get hasExclusiveConsumer(): boolean {
    return this.#consumers.length > 0 && this.#consumers[0]!.exclusive;
  }

  /** The consumer that gets messages under x-single-active-consumer. */
  get activeConsumer(): Consumer | undefined {
    return this.singleActiveConsumer ? this.#consumers[0] : undefined;
  }

  // -------------------------------------------------------------------------------------
  // publishing

  /** Would a new message of `size` bytes exceed a limit whose overflow refuses publishes? */
  refuses(size: number): boolean {
    if (this.overflow === 'drop-head') return false;
    return (
      (this.maxLength !== undefined && this.#ready.length >= this.maxLength) ||
      (this.maxLengthBytes !== undefined && this.#readyBytes + size > this.maxLengthBytes)
    );
  }

  /**
   * Appends a message. Returns false when the queue refuses it (reject-publish overflow);
   * with reject-publish-dlx the refused message is dead-lettered.
   */
  enqueue(msg: Message): boolean {
    if (this.overflow !== 'drop-head' && this.refuses(msg.bodySize)) {
      if (this.overflow === 'reject-publish-dlx') deadLetter(this, msg, 'maxlen');
      return false;
    }
    // one clock reading for the expiry and the delivery attempt below: a TTL-0 message meets
    // a waiting consumer however late in the millisecond it arrived
    const now = this.messageTtl !== undefined || hasProperty(msg, PROPERTY_FLAG.expiration) ? Date.now() : 0;
    const expiresAt = this.#expiryOf(msg, now);
    let priority = 0;
    if (this.maxPriority > 0 && hasProperty(msg, PROPERTY_FLAG.priority)) {
      priority = Math.min(this.maxPriority, msg.properties.priority ?? 0);
    }
    this.#ready.push({ seq: this.#nextSeq++, msg, priority, redelivered: false, expiresAt, deliveryCount: 0 });
    this.#readyBytes += msg.bodySize;
    this.publishCount++;
    // a large backlog keeps its bodies in the segment files only, read back on delivery
    if (msg.pageable && this.#readyBytes > (this.vhost.broker.options.pageOutBytes ?? PAGE_OUT_BYTES)) {
      msg.pageOut(this.vhost.store!);
      this.pagedOutCount++;
    }
    // rabbitmq-compat (deliver_or_enqueue): delivery is tried first, then the head is dropped
    // over a limit, so even x-max-length 0 hands a message to a waiting consumer
    if (this.#consumers.length > 0) {
      this.#drain(now);
      if (this.#ready.length > FLOW_BACKLOG && this.#consumed) {
        // consumers are taking messages but the backlog grows: publishers wait (flow.ts)
        this.#consumed = false;
        this.#askedFlow = true;
        this.vhost.broker.flow.markBehind();
      }
    }
    if (this.maxLength !== undefined || this.maxLengthBytes !== undefined) this.#enforceLimits();
    if (expiresAt !== 0) {
      this.#ttlSeen = true;
      if (expiresAt <= now) this.#expireHeads(); // TTL 0: delivered now or never
      else if (this.#expiryAt === 0 || expiresAt < this.#expiryAt) this.#scheduleExpiry();
    }
    return true;
  }

  /** Puts back a message recovered from the store (start-up). */
  recover(msg: Message, redelivered: boolean): void {
    const priority = this.maxPriority > 0 ? Math.min(this.maxPriority, msg.properties.priority ?? 0) : 0;
    const expiresAt = this.#expiryOf(msg, Date.now());
    this.#ready.push({ seq: this.#nextSeq++, msg, priority, redelivered, expiresAt, deliveryCount: 0 });
    this.#readyBytes += msg.bodySize;
    if (expiresAt !== 0) {
      // the TTL counts again from recovery (the store keeps no publish time)
      this.#ttlSeen = true;
      if (this.#expiryAt === 0) this.#scheduleExpiry();
    }
  }

  #expiryOf(msg: Message, now: number): number {
    let ttl = this.messageTtl;
    if (hasProperty(msg, PROPERTY_FLAG.expiration)) {
      const e = Number(msg.properties.expiration);
      if (Number.isFinite(e) && (ttl === undefined || e < ttl)) ttl = e;
    }
    return ttl === undefined ? 0 : now + ttl;
  }

  /** drop-head: the head messages go (dead-lettered as maxlen when a DLX is set). */
  #enforceLimits(): void {
    if (this.overflow !== 'drop-head') return;
    const maxLen = this.maxLength;
    const maxBytes = this.maxLengthBytes;
    while (
      this.#ready.length > 0 &&
      ((maxLen !== undefined && this.#ready.length > maxLen) || (maxBytes !== undefined && this.#readyBytes > maxBytes))
    ) {
      // rabbitmq-compat (rabbit_priority_queue:drop): the head is the next message to be
      // delivered, so a priority queue drops its highest-priority message, not its oldest
      const e = this.#ready.shift()!;
      this.#readyBytes -= e.msg.bodySize;
      this.#gone(e, 'maxlen');
    }
  }

  // -------------------------------------------------------------------------------------
  // consuming

  addConsumer(c: Consumer): void {
    if (c.priority !== 0) this.#prioritized = true;
    // keep consumers ordered by priority, highest first; equal priorities in arrival order.
    // rabbitmq-compat (3.10): single active consumer ignores priorities, the first to come
    // stays active and the next in arrival order takes over
    let i = this.#consumers.length;
    if (!this.singleActiveConsumer) while (i > 0 && this.#consumers[i - 1]!.priority < c.priority) i--;
    this.#consumers.splice(i, 0, c);
    this.#hadConsumer = true;
    this.#touch();
  }

  /** Removes a consumer; returns true when the queue auto-deleted as a result. */
  removeConsumer(c: Consumer): boolean {
    const i = this.#consumers.indexOf(c);
    if (i < 0) return false;
    this.#consumers.splice(i, 1);
    if (this.#rr > i) this.#rr--;
    if (this.autoDelete && this.#hadConsumer && this.#consumers.length === 0 && !this.deleted) {
      this.vhost.deleteQueueNow(this, 'auto-delete: last consumer gone');
      return true;
    }
    this.#touch();
    // single active consumer: the next one takes over
    if (this.#consumers.length > 0) this.drain();
    return false;
  }

  /** Hands ready messages to consumers while any can accept. */
  drain(): void {
    this.#drain(0);
  }

  /** `now`: the clock reading to expire against (0: read it when needed). */
  #drain(now: number): void {
    if (this.#draining || this.deleted) return; // re-entered from a delivery: the outer loop goes on
    if (this.#requeuedOverLimit) {
      // rabbitmq-compat (requeue_and_run → maybe_drop_head): requeued messages count again
      this.#requeuedOverLimit = false;
      this.#enforceLimits();
    }
    this.#draining = true;
    try {
      const consumers = this.#consumers;
      const ready = this.#ready;
      while (ready.length > 0 && consumers.length > 0) {
        const c = this.#pickConsumer();
        if (c === undefined) break;
        const entry = ready.shift()!;
        this.#readyBytes -= entry.msg.bodySize;
        if (entry.expiresAt !== 0) {
          if (now === 0) now = Date.now();
          // strictly past: a TTL-0 message meeting a consumer with credit is delivered
          // (rabbitmq-compat: deliver_or_enqueue tries delivery before any expiry)
          if (entry.expiresAt < now) {
            this.#gone(entry, 'expired');
            continue;
          }
        }
        this.#handOut(entry, c.noAck);
        c.deliver(this, entry);
        if (c.noAck) this.#settled(entry);
        this.#consumed = true;
      }
    } finally {
      this.#draining = false;
    }
    if (this.#askedFlow && this.#ready.length <= FLOW_RESUME) {
      this.#askedFlow = false;
      this.vhost.broker.flow.release();
    }
    if (this.#ttlSeen) this.#rearmExpiry();
  }

  #handOut(entry: QueueEntry, noAck: boolean): void {
    this.deliverCount++;
    if (entry.redelivered) this.redeliverCount++;
    if (!noAck) {
      this.#unacked++;
      if (entry.msg.storeId !== 0 && this.durable) this.vhost.store?.delivered(entry.msg.storeId, this.name);
    }
  }

  #pickConsumer(): Consumer | undefined {
    const consumers = this.#consumers;
    if (this.singleActiveConsumer) {
      const c = consumers[0]!;
      return c.canAccept() ? c : undefined;
    }
    const n = consumers.length;
    if (!this.#prioritized) {
      for (let k = 0; k < n; k++) {
        const i = (this.#rr + k) % n;
        const c = consumers[i]!;
        if (c.canAccept()) {
          this.#rr = (i + 1) % n;
          return c;
        }
      }
      return undefined;
    }
    // priority groups, highest first; round-robin inside a group
    for (let start = 0; start < n; ) {
      const p = consumers[start]!.priority;
      let end = start;
      while (end < n && consumers[end]!.priority === p) end++;
      const size = end - start;
      for (let k = 0; k < size; k++) {
        const i = start + ((this.#rr + k) % size);
        const c = consumers[i]!;
        if (c.canAccept()) {
          this.#rr = (this.#rr + k + 1) % size;
          return c;
        }
      }
      start = end;
    }
    return undefined;
  }

  /**
   * Properties to deliver: quorum queues add x-delivery-count (as RabbitMQ 3.10 does), which
   * sorts the headers table by key (rabbitmq-compat: rabbit_misc:set_table_value).
   */
  deliveryProps(entry: QueueEntry): Buffer {
    if (!this.quorum) return entry.msg.propsRaw;
    const props = { ...entry.msg.properties };
    const headers = new Map(props.headers ?? []);
    headers.set('x-delivery-count', { type: 'l', value: entry.deliveryCount });
    props.headers = sortTable(headers);
    return Message.fromProperties('', '', props, EMPTY).propsRaw;
  }

  /** basic.get: the head entry, or undefined when empty. */
  get(noAck: boolean): QueueEntry | undefined {
    this.#touch();
    const now = Date.now();
    for (;;) {
      const entry = this.#ready.shift();
      if (entry === undefined) return undefined;
      this.#readyBytes -= entry.msg.bodySize;
      if (entry.expiresAt !== 0 && entry.expiresAt <= now) {
        this.#gone(entry, 'expired');
        continue;
      }
      this.#handOut(entry, noAck);
      if (noAck) this.#settled(entry);
      if (this.#ttlSeen) this.#rearmExpiry();
      return entry;
    }
  }

  // -------------------------------------------------------------------------------------
  // settling deliveries

  ack(entry: QueueEntry): void {
    this.#unacked--;
    this.ackCount++;
    this.#settled(entry);
  }

  /** Rejected without requeue: dead-lettered (reason rejected) or dropped. */
  discard(entry: QueueEntry): void {
    this.#unacked--;
    this.#gone(entry, 'rejected');
  }

  /**
   * Puts an unacked entry back at the position its seq gives it, flagged redelivered.
   * Call drain() after a batch of requeues.
   */
  requeue(entry: QueueEntry): void {
    this.#unacked--;
    if (this.deleted) return;
    entry.redelivered = true;
    if (this.quorum) {
      entry.deliveryCount++;
      if (this.deliveryLimit !== undefined && entry.deliveryCount > this.deliveryLimit) {
        this.#gone(entry, 'delivery_limit');
        return;
      }
    }
    if (entry.expiresAt !== 0 && entry.expiresAt <= Date.now()) {
      this.#gone(entry, 'expired');
      return;
    }
    this.#readyBytes += entry.msg.bodySize;
    this.#ready.requeue(entry);
    if (this.maxLength !== undefined || this.maxLengthBytes !== undefined) this.#requeuedOverLimit = true;
    if (entry.expiresAt !== 0) {
      this.#ttlSeen = true;
      this.#scheduleExpiry();
    }
  }

  /** The entry leaves the queue for good: dead-letter it if a DLX is set, release storage. */
  #gone(entry: QueueEntry, reason: DeadLetterReason): void {
    if (this.deadLetterExchange !== undefined && !this.deleted) deadLetter(this, entry.msg, reason);
    this.#settled(entry);
  }

  #settled(entry: QueueEntry): void {
    if (entry.msg.storeId !== 0 && this.durable) this.vhost.store?.ack(entry.msg.storeId, this.name);
  }

  purge(): number {
    const entries = this.#ready.drainAll();
    this.#readyBytes = 0;
    for (const e of entries) this.#settled(e);
    return entries.length;
  }

  /** Marks deleted and tells consumers; the vhost removes bindings. Returns ready count. */
  markDeleted(): number {
    this.deleted = true;
    this.stop();
    const entries = this.#ready.drainAll();
    this.#readyBytes = 0;
    const store = this.vhost.store;
    if (store !== null && this.durable) {
      const ids: number[] = [];
      for (const e of entries) if (e.msg.storeId !== 0) ids.push(e.msg.storeId);
      store.dropQueue(this.name, ids);
    }
    const consumers = this.#consumers.splice(0);
    for (const c of consumers) c.cancelledByQueue(this);
    return entries.length;
  }

  /** Clears timers (queue deleted or broker stopping). */
  stop(): void {
    clearTimeout(this.#expiryTimer);
    clearTimeout(this.#expiresTimer);
    this.#expiryTimer = this.#expiresTimer = undefined;
    this.#expiryAt = 0;
  }

  // -------------------------------------------------------------------------------------
  // timers: message TTL and queue expiry

  #scheduleExpiry(): void {
    if (this.deleted) return;
    const heads = this.#scratch;
    this.#ready.heads(heads);
    let next = 0;
    for (const h of heads) if (h.expiresAt !== 0 && (next === 0 || h.expiresAt < next)) next = h.expiresAt;
    heads.length = 0;
    if (next === this.#expiryAt) return;
    clearTimeout(this.#expiryTimer);
    this.#expiryAt = next;
    if (next === 0) return;
    this.#expiryTimer = setTimeout(() => {
      this.#expiryAt = 0;
      this.#expireHeads();
    }, Math.max(0, next - Date.now()));
  }

  /**
   * The head changed (delivered, fetched): its expiry may come before the armed timer, or no
   * timer may be armed (the old head never expired). rabbitmq-compat: drop_expired_msgs after
   * every fetch arms the TTL timer for the new head.
   */
  #rearmExpiry(): void {
    if (this.#ready.length === 0) {
      this.#ttlSeen = false;
      return;
    }
    if (this.maxPriority === 0) {
      const h = this.#ready.peek()!;
      if (h.expiresAt === 0 || (this.#expiryAt !== 0 && this.#expiryAt <= h.expiresAt)) return;
    }
    this.#scheduleExpiry();
  }

  /** Removes expired entries at the heads, then re-arms the timer for the next head. */
  #expireHeads(): void {
    const now = Date.now();
    const heads = this.#scratch;
    for (;;) {
      this.#ready.heads(heads);
      let removed = false;
      for (const h of heads) {
        if (h.expiresAt !== 0 && h.expiresAt <= now) {
          this.#ready.removeHead(h);
          this.#readyBytes -= h.msg.bodySize;
          this.#gone(h, 'expired');
          removed = true;
        }
      }
      heads.length = 0;
      if (!removed) break;
    }
    this.#scheduleExpiry();
  }

  /** x-expires: (re)start the countdown while the queue is unused. */
  #touch(): void {
    if (this.expires === undefined || this.deleted) return;
    clearTimeout(this.#expiresTimer);
    this.#expiresTimer = undefined;
    if (this.#consumers.length > 0) return;
    this.#expiresTimer = setTimeout(() => {
      if (this.#consumers.length === 0 && !this.deleted) this.vhost.deleteQueueNow(this, 'x-expires: unused');
    }, this.expires);
  }

  /** queue.declare of an existing queue counts as use (x-expires). */
  touch(): void {
    this.#touch();
  }
}

const EMPTY = Buffer.alloc(0);
/** Ready bytes above which a durable queue stops keeping persistent bodies in memory. */
const PAGE_OUT_BYTES = 64 * 1024 * 1024;

export type { DeadLetterReason };
