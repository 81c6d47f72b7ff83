/**
 * Message statistics the way RabbitMQ's management plugin shows them: counters that only
 * grow (publish, deliver_get, ack, redeliver per queue; publish_in/out per exchange) and a
 * rate for each, sampled every 5 s (RabbitMQ's collect_statistics_interval).
 *
 * Counts are read live from the broker (queue.publishCount, exchange.publishIn, …), so a GET
 * right after a publish already shows it; rates change at each sample. A queue or exchange
 * that goes away hands its last sampled counts to its vhost's "retired" totals, so vhost and
 * overview counters never go down (what happened after the last sample of a deleted queue is
 * lost, as RabbitMQ loses it too).
 *
 * Churn (connections, channels, queues created/closed) is counted from the registry and from
 * what each sample sees appear and disappear.
 */
import type { Broker } from '../broker/broker.js';
import type { Exchange } from '../broker/exchange/exchange.js';
import type { Queue } from '../broker/queue.js';
import type { ChannelInfo } from '../broker/registry.js';

export const STATS_INTERVAL_MS = 5000;

/** Monotonic message counters of a vhost or the whole broker. */
export interface MessageCounters {
  publish: number; // messages published into exchanges (publish_in of all exchanges)
  publishOut: number;
  queuePublish: number; // messages enqueued
  deliverGet: number;
  ack: number;
  redeliver: number;
}

export interface Depth {
  messages: number;
  ready: number;
  unacked: number;
}

export interface Churn {
  connectionCreated: number;
  connectionClosed: number;
  channelCreated: number;
  channelClosed: number;
  queueCreated: number;
  queueDeleted: number;
}

const zeroCounters = (): MessageCounters => ({ publish: 0, publishOut: 0, queuePublish: 0, deliverGet: 0, ack: 0, redeliver: 0 });

/** Per-key vectors of values and their per-second rates between the last two samples. */
class RateTracker<K> {
  readonly #prev = new Map<K, { t: number; v: number[] }>();
  readonly #rates = new Map<K, number[]>();
  readonly #changedAt = new Map<K, number>();

  sample(k: K, v: number[], t: number): void {
    const p = this.#prev.get(k);
    if (p !== undefined) {
      const dt = (t - p.t) / 1000;
      this.#rates.set(k, v.map((x, i) => (dt > 0 ? round1((x - p.v[i]!) / dt) : 0)));
      if (v.some((x, i) => x !== p.v[i])) this.#changedAt.set(k, t);
    } else {
      this.#changedAt.set(k, t);
    }
    this.#prev.set(k, { t, v });
  }

  rates(k: K): number[] | undefined {
    return this.#rates.get(k);
  }

  last(k: K): number[] | undefined {
    return this.#prev.get(k)?.v;
  }

  /** When the vector last changed (ms), undefined before its first sample. */
  changedAt(k: K): number | undefined {
    return this.#changedAt.get(k);
  }

  keys(): IterableIterator<K> {
    return this.#prev.keys();
  }

  forget(k: K): void {
    this.#prev.delete(k);
    this.#rates.delete(k);
    this.#changedAt.delete(k);
  }
}

function round1(x: number): number {
  return Math.round(x * 10) / 10;
}

// vector layouts
const Q_PUBLISH = 0, Q_DELIVER = 1, Q_ACK = 2, Q_REDELIVER = 3, Q_MESSAGES = 4, Q_READY = 5, Q_UNACKED = 6;
const X_IN = 0, X_OUT = 1;

export interface QueueRates {
  publish: number;
  deliverGet: number;
  ack: number;
  redeliver: number;
  messages: number;
  ready: number;
  unacked: number;
}

export class Stats {
  readonly #broker: Broker;
  readonly #queues = new RateTracker<Queue>();
  readonly #queueVhost = new Map<Queue, string>();
  readonly #exchanges = new RateTracker<Exchange>();
  readonly #exchangeVhost = new Map<Exchange, string>();
  readonly #totals = new RateTracker<string>(); // '' = whole broker, else a vhost name
  readonly #retired = new Map<string, MessageCounters>();
  #channels = new Set<ChannelInfo>();
  readonly churn: Churn = { connectionCreated: 0, connectionClosed: 0, channelCreated: 0, channelClosed: 0, queueCreated: 0, queueDeleted: 0 };
  #timer: NodeJS.Timeout | undefined;

  constructor(broker: Broker) {
    this.#broker = broker;
  }

  start(intervalMs = STATS_INTERVAL_MS): void {
    this.sample();
    // not unref'd: the broker's close() stops it, and a test that forgets close() should see it
    this.#timer = setInterval(() => this.sample(), intervalMs);
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** One statistics emission: every queue, exchange, vhost and the totals. */
  sample(now = Date.now()): void {
    const broker = this.#broker;
    const seenQ = new Set<Queue>();
    const seenX = new Set<Exchange>();
    for (const [vname, vhost] of broker.vhosts) {
      for (const q of vhost.queues.values()) {
        seenQ.add(q);
        if (!this.#queueVhost.has(q)) {
          this.#queueVhost.set(q, vname);
          this.churn.queueCreated++;
        }
        this.#queues.sample(q, queueVector(q), now);
      }
      for (const x of vhost.exchanges.values()) {
        seenX.add(x);
        this.#exchangeVhost.set(x, vname);
        this.#exchanges.sample(x, [x.publishIn, x.publishOut], now);
      }
    }
    for (const q of [...this.#queues.keys()]) {
      if (seenQ.has(q)) continue;
      const v = this.#queues.last(q)!;
      const r = this.#retiredOf(this.#queueVhost.get(q)!);
      r.queuePublish += v[Q_PUBLISH]!;
      r.deliverGet += v[Q_DELIVER]!;
      r.ack += v[Q_ACK]!;
      r.redeliver += v[Q_REDELIVER]!;
      this.#queues.forget(q);
      this.#queueVhost.delete(q);
      this.churn.queueDeleted++;
    }
    for (const x of [...this.#exchanges.keys()]) {
      if (seenX.has(x)) continue;
      const v = this.#exchanges.last(x)!;
      const r = this.#retiredOf(this.#exchangeVhost.get(x)!);
      r.publish += v[X_IN]!;
      r.publishOut += v[X_OUT]!;
      this.#exchanges.forget(x);
      this.#exchangeVhost.delete(x);
    }
    // channels: the registry knows connections, each its channels
    const channels = new Set<ChannelInfo>();
    for (const c of broker.registry.connections) for (const ch of c.channelInfos()) channels.add(ch);
    for (const ch of channels) if (!this.#channels.has(ch)) this.churn.channelCreated++;
    for (const ch of this.#channels) if (!channels.has(ch)) this.churn.channelClosed++;
    this.#channels = channels;
    this.churn.connectionCreated = broker.registry.connectionsOpened;
    this.churn.connectionClosed = broker.registry.connectionsOpened - broker.registry.connections.size;

    for (const vname of broker.vhosts.keys()) this.#totals.sample(vname, totalsVector(this.counters(vname), this.depth(vname)), now);
    this.#totals.sample('', totalsVector(this.counters(), this.depth()), now);
  }

  #retiredOf(vhost: string): MessageCounters {
    let r = this.#retired.get(vhost);
    if (r === undefined) this.#retired.set(vhost, (r = zeroCounters()));
    return r;
  }

  /** Live counters of one vhost, or of the whole broker when vhost is undefined. */
  counters(vhost?: string): MessageCounters {
    const c = zeroCounters();
    const add = (r: MessageCounters): void => {
      c.publish += r.publish;
      c.publishOut += r.publishOut;
      c.queuePublish += r.queuePublish;
      c.deliverGet += r.deliverGet;
      c.ack += r.ack;
      c.redeliver += r.redeliver;
    };
    for (const [v, r] of this.#retired) if (vhost === undefined || v === vhost) add(r);
    for (const [vname, vh] of this.#broker.vhosts) {
      if (vhost !== undefined && vname !== vhost) continue;
      for (const x of vh.exchanges.values()) {
        c.publish += x.publishIn;
        c.publishOut += x.publishOut;
      }
      for (const q of vh.queues.values()) {
        c.queuePublish += q.publishCount;
        c.deliverGet += q.deliverCount;
        c.ack += q.ackCount;
        c.redeliver += q.redeliverCount;
      }
    }
    return c;
  }

  depth(vhost?: string): Depth {
    const d: Depth = { messages: 0, ready: 0, unacked: 0 };
    for (const [vname, vh] of this.#broker.vhosts) {
      if (vhost !== undefined && vname !== vhost) continue;
      for (const q of vh.queues.values()) {
        d.ready += q.messageCount;
        d.unacked += q.unackedCount;
      }
    }
    d.messages = d.ready + d.unacked;
    return d;
  }

  queueRates(q: Queue): QueueRates {
    return ratesOf(this.#queues.rates(q));
  }

  /** When a queue's counters or depth last changed (for idle_since), if sampled. */
  queueChangedAt(q: Queue): number | undefined {
    return this.#queues.changedAt(q);
  }

  exchangeRates(x: Exchange): { publishIn: number; publishOut: number } {
    const r = this.#exchanges.rates(x);
    return { publishIn: r?.[X_IN] ?? 0, publishOut: r?.[X_OUT] ?? 0 };
  }

  /** Rates of a vhost's (or, with no argument, the broker's) counters and depth. */
  totalRates(vhost = ''): QueueRates & { publishIn: number } {
    const r = this.#totals.rates(vhost);
    return {
      publishIn: r?.[0] ?? 0,
      publish: r?.[0] ?? 0,
      deliverGet: r?.[1] ?? 0,
      ack: r?.[2] ?? 0,
      redeliver: r?.[3] ?? 0,
      messages: r?.[4] ?? 0,
      ready: r?.[5] ?? 0,
      unacked: r?.[6] ?? 0,
    };
  }
}

function queueVector(q: Queue): number[] {
  const ready = q.messageCount;
  const unacked = q.unackedCount;
  return [q.publishCount, q.deliverCount, q.ackCount, q.redeliverCount, ready + unacked, ready, unacked];
}

function totalsVector(c: MessageCounters, d: Depth): number[] {
  return [c.publish, c.deliverGet, c.ack, c.redeliver, d.messages, d.ready, d.unacked];
}

function ratesOf(r: number[] | undefined): QueueRates {
  return {
    publish: r?.[Q_PUBLISH] ?? 0,
    deliverGet: r?.[Q_DELIVER] ?? 0,
    ack: r?.[Q_ACK] ?? 0,
    redeliver: r?.[Q_REDELIVER] ?? 0,
    messages: r?.[Q_MESSAGES] ?? 0,
    ready: r?.[Q_READY] ?? 0,
    unacked: r?.[Q_UNACKED] ?? 0,
  };
}
