/**
 * `warren perf`: a PerfTest/lavinmqperf-style load generator. It declares a topology
 * (queues, optionally an exchange and bindings), connects consumers then producers — each on
 * its own connection — publishes for --time seconds or --count messages per producer,
 * prints a line per second and a summary, then deletes what it declared.
 *
 * Topology (queue i of n is named `<queue>` when n = 1, else `<queue>-<i+1>`; producer j
 * and consumer j use queue j mod n):
 *
 *   exchange ''      routing key = queue name
 *   direct           queue i bound with its own name; routing key = that name
 *   topic            queue i bound with `perf.q<i+1>.*`; routing key `perf.q<i+1>.msg`
 *   fanout           every queue bound; every message goes to every queue
 *   --bindings N     N bindings on the exchange in all: the matching ones above plus
 *                    non-matching wildcard patterns (`perf.x<k>.*`, `*.x<k>.#`, `#.y<k>`)
 *
 * Timing: the run's window is from the first publish (or the end of --warmup) until the
 * producers stop; rates and latency are counted over it. After it, consumers drain what is still queued (for the accounting, not
 * for the rates) until every expected delivery is in, nothing arrived for a while, or the
 * drain deadline passes. A run with --count is measured until its last delivery/confirm.
 */
import { performance } from 'node:perf_hooks';
import { maskUri } from './amqp-uri.js';
import { AmqpClientError, PerfConnection, type PerfChannel } from './client.js';
import { Consumer } from './consumer.js';
import type { LatencySummary } from './histogram.js';
import { Publisher } from './publisher.js';
import { BODY_TRACKED, PerfStats, SequenceTracker } from './stats.js';
import { defaultPerfOptions, type PerfOptions } from './perf-options.js';

export { defaultPerfOptions, type PerfOptions } from './perf-options.js';

export interface PerfLine {
  /** Seconds since the first publish. */
  t: number;
  /** 'warmup' before measuring, 'run' while producing, 'drain' after. */
  phase: 'warmup' | 'run' | 'drain';
  sentRate: number;
  receivedRate: number;
  confirmedRate: number;
  /** Milliseconds, over this interval's deliveries. */
  p50: number;
  p99: number;
}

export interface PerfSummary {
  uri: string;
  /** From connection.start; cluster_name tells warren (warren@host) from RabbitMQ (rabbit@host). */
  server: { product: string; version: string; cluster: string };
  options: Omit<PerfOptions, 'uri'>;
  /** Length of the window the rates are counted over (seconds). */
  seconds: number;
  drainSeconds: number;
  sent: number;
  received: number;
  confirmed: number;
  nacked: number;
  sentRate: number;
  receivedRate: number;
  confirmedRate: number;
  /** Bytes/s of message bodies received. */
  receivedBytesRate: number;
  latencyMs: LatencySummary;
  /** Deliveries the topology implies (sent × routes to consumed queues); null when unknown. */
  expected: number | null;
  /** Distinct (producer, queue, sequence) deliveries seen. */
  unique: number;
  /** Messages still in the consumed queues when the drain gave up (not lost: undelivered); null when not asked. */
  stillQueued: number | null;
  /** Expected deliveries neither seen nor still queued; null when unknown. */
  undelivered: number | null;
  /**
   * The same, when every publish was confirmed by the broker (--confirm): then the broker took
   * them and they are lost. Without confirms "sent" only means handed to the kernel, and an
   * undelivered message may have died in TCP buffers when perf closed; lost is null then.
   */
  lost: number | null;
  duplicates: number;
  outOfOrder: number;
  foreign: number;
  /**
   * Every message accounted for: each expected delivery seen exactly once and in order, every
   * publish confirmed, no connection failed.
   */
  accounted: boolean;
  errors: string[];
}

export interface PerfHooks {
  /** Called once a second with the live numbers. */
  onLine?(line: PerfLine): void;
  /** Called when measuring starts (first publish, or the end of --warmup). */
  onStart?(): void;
  /** Called when the producers have stopped (window closed). */
  onStop?(): void;
  /** Stop early (the run still drains and reports). */
  signal?: AbortSignal;
}

export function queueName(o: Pick<PerfOptions, 'queue' | 'queues'>, i: number): string {
  return o.queues === 1 ? o.queue : `${o.queue}-${i + 1}`;
}

interface Topology {
  exchange: string;
  type: string;
  /** [queue index, routing key] bindings. */
  bindings: [number, string][];
  /** Routing key and target queues per producer (targets null: unknown). */
  routes: { routingKey: string; targets: number[] | null }[];
}

function topology(o: PerfOptions): Topology {
  const exchange = o.exchange === '' && o.exchangeType !== 'direct' ? `perf-${o.exchangeType}` : o.exchange;
  const type = o.exchangeType;
  const bindings: [number, string][] = [];
  const routes: Topology['routes'] = [];
  const n = o.queues;
  const all = Array.from({ length: n }, (_, i) => i);
  if (exchange === '') {
    for (let p = 0; p < o.producers; p++) routes.push({ routingKey: queueName(o, p % n), targets: [p % n] });
  } else if (type === 'fanout') {
    for (let i = 0; i < n; i++) bindings.push([i, '']);
    for (let p = 0; p < o.producers; p++) routes.push({ routingKey: '', targets: all });
  } else if (type === 'direct' || type === 'topic') {
    const key = (i: number): string => (type === 'direct' ? queueName(o, i) : `perf.q${i + 1}.msg`);
    for (let i = 0; i < n; i++) bindings.push([i, type === 'direct' ? key(i) : `perf.q${i + 1}.*`]);
    for (let k = 0; bindings.length < o.bindings; k++) {
      const pattern = type === 'direct' ? `perf.none.${k}` : [`perf.x${k}.*`, `*.x${k}.#`, `#.y${k}`][k % 3]!;
      bindings.push([k % n, pattern]);
    }
    for (let p = 0; p < o.producers; p++) routes.push({ routingKey: key(p % n), targets: [p % n] });
  } else {
    throw new Error(`exchange type '${type}' is not supported by perf (direct, fanout, topic)`);
  }
  if (o.routingKey !== undefined) for (const r of routes) (r.routingKey = o.routingKey), (r.targets = null);
  return { exchange, type, bindings, routes };
}

function validate(o: PerfOptions): void {
  const nonNegInt = (name: string, v: number): void => {
    if (!Number.isInteger(v) || v < 0) throw new Error(`--${name} must be a whole number ≥ 0, got ${v}`);
  };
  nonNegInt('producers', o.producers);
  nonNegInt('consumers', o.consumers);
  nonNegInt('size', o.size);
  nonNegInt('count', o.count);
  nonNegInt('confirm', o.confirm);
  nonNegInt('prefetch', o.prefetch);
  nonNegInt('multiple-ack-every', o.multipleAckEvery);
  nonNegInt('bindings', o.bindings);
  if (!Number.isInteger(o.queues) || o.queues < 1) throw new Error(`--queues must be ≥ 1, got ${o.queues}`);
  if (!(o.time >= 0)) throw new Error(`--time must be ≥ 0, got ${o.time}`);
  if (!(o.warmup >= 0)) throw new Error(`--warmup must be ≥ 0, got ${o.warmup}`);
  if (!(o.rate >= 0)) throw new Error(`--rate must be ≥ 0, got ${o.rate}`);
  if (o.prefetch > 65535) throw new Error('--prefetch must be ≤ 65535 (basic.qos prefetch-count is a short)');
}

/** Runs one load test and resolves with its summary (errors are reported in it, not thrown, once connected). */
export async function runPerf(partial: Partial<PerfOptions>, hooks: PerfHooks = {}): Promise<PerfSummary> {
  const o: PerfOptions = { ...defaultPerfOptions(), ...stripUndefined(partial) };
  validate(o);
  const topo = topology(o);
  const stats = new PerfStats();
  // consumer-only runs read what earlier runs (--keep) left: any producer index is ours then
  const tracker = new SequenceTracker(o.producers > 0 ? o.producers : 1024, o.queues);
  const errors: string[] = [];
  const connections: PerfConnection[] = [];
  const publishers: Publisher[] = [];
  const consumers: Consumer[] = [];
  const open = async (name: string): Promise<PerfConnection> => {
    const c = await PerfConnection.open(o.uri, { name });
    connections.push(c);
    return c;
  };
  let ackEvery = o.multipleAckEvery <= 1 ? 1 : o.multipleAckEvery;
  if (o.prefetch > 0 && ackEvery > o.prefetch) ackEvery = o.prefetch; // else the consumer would stall

  let setup: PerfConnection | undefined;
  let sch: PerfChannel | undefined;
  const createdQueues: string[] = [];
  let createdExchange = false;
  let tick: NodeJS.Timeout | undefined;
  try {
    setup = await open('perf setup');
    sch = await setup.openChannel();
    // declare what is missing; remember it, so only what perf created is deleted at the end
    if (topo.exchange !== '' && !topo.exchange.startsWith('amq.')) {
      if (!(await exists(sch, (ch) => ch.exchangeDeclare(topo.exchange, topo.type, o.durable, true)))) {
        sch = await setup.openChannel();
        await sch.exchangeDeclare(topo.exchange, topo.type, o.durable);
        createdExchange = true;
      }
    }
    for (let i = 0; i < o.queues; i++) {
      const q = queueName(o, i);
      if (!(await exists(sch, (ch) => ch.queueDeclare(q, { passive: true })))) {
        sch = await setup.openChannel();
        await sch.queueDeclare(q, { durable: o.durable });
        createdQueues.push(q);
      }
    }
    for (const [i, key] of topo.bindings) await sch.queueBind(queueName(o, i), topo.exchange, key);

    for (let i = 0; i < o.consumers; i++) {
      const conn = await open(`perf consumer ${i + 1}`);
      const ch = await conn.openChannel();
      if (o.prefetch > 0) await ch.qos(o.prefetch);
      const c = new Consumer(ch, { queue: queueName(o, i % o.queues), queueIndex: i % o.queues, autoack: o.autoack, ackEvery }, stats, tracker);
      await c.start();
      consumers.push(c);
    }
    for (let j = 0; j < o.producers; j++) {
      const conn = await open(`perf producer ${j + 1}`);
      const ch = await conn.openChannel();
      if (o.confirm > 0) await ch.confirmSelect();
      const r = topo.routes[j]!;
      publishers.push(
        new Publisher(ch, { index: j, exchange: topo.exchange, routingKey: r.routingKey, size: o.size, persistent: o.persistent, confirm: o.confirm, rate: o.rate, count: o.count }, stats),
      );
    }
  } catch (err) {
    for (const c of connections) c.destroy();
    throw err;
  }

  // --- the run ---------------------------------------------------------------------------
  let stopping = false;
  for (const c of connections) {
    void c.closed.then((e) => {
      if (e !== null && !stopping) errors.push(e.message);
    });
  }
  const t0 = performance.now();
  let windowEnd = 0;
  // measuring starts at t0, or when --warmup is over: counts from before it are left out of rates
  let base = { t: t0, sent: 0, received: 0, confirmed: 0 };
  let warming = o.warmup > 0;
  let prev = { t: t0, sent: 0, received: 0, confirmed: 0 };
  const line = (): void => {
    const now = performance.now();
    const phase = windowEnd > 0 && now - windowEnd > 500 ? 'drain' : warming && now - t0 < o.warmup * 1000 - 500 ? 'warmup' : 'run';
    const dt = (now - prev.t) / 1000;
    const h = stats.tick();
    hooks.onLine?.({
      t: Math.round((now - t0) / 100) / 10,
      phase,
      sentRate: Math.round((stats.sent - prev.sent) / dt),
      receivedRate: Math.round((stats.received - prev.received) / dt),
      confirmedRate: Math.round((stats.confirmed - prev.confirmed) / dt),
      p50: h.percentileMs(50),
      p99: h.percentileMs(99),
    });
    h.reset();
    prev = { t: now, sent: stats.sent, received: stats.received, confirmed: stats.confirmed };
  };
  tick = setInterval(line, 1000);

  const stopAll = (): void => {
    for (const p of publishers) p.stop();
  };
  const abort = (): void => stopAll();
  hooks.signal?.addEventListener('abort', abort);
  if (hooks.signal?.aborted === true) stopAll();
  let timer: NodeJS.Timeout | undefined;
  if (o.time > 0) timer = setTimeout(stopAll, (o.warmup + o.time) * 1000);
  let warmupTimer: NodeJS.Timeout | undefined;
  if (warming) {
    warmupTimer = setTimeout(() => {
      warming = false;
      base = { t: performance.now(), sent: stats.sent, received: stats.received, confirmed: stats.confirmed };
      stats.window.reset();
      stats.latency.reset();
      hooks.onStart?.();
    }, o.warmup * 1000);
  } else {
    hooks.onStart?.();
  }
  for (const p of publishers) p.start(t0);
  const anyFailure = Promise.race(connections.map((c) => c.closed.then(() => undefined)));

  // window: until every producer has stopped publishing (count reached, time up, aborted)
  if (publishers.length > 0) {
    await Promise.race([Promise.all(publishers.map((p) => p.stopped)), anyFailure]);
  } else {
    // consumers only: the window is --time (or until aborted)
    await Promise.race([
      new Promise<void>((resolve) => {
        if (o.time > 0) setTimeout(resolve, (o.warmup + o.time) * 1000);
        hooks.signal?.addEventListener('abort', () => resolve());
      }),
      anyFailure,
    ]);
  }
  clearTimeout(timer);
  clearTimeout(warmupTimer); // a --count run that ended during warmup is measured from t0
  stopAll();
  windowEnd = publishers.length > 0 ? Math.max(...publishers.map((p) => p.stoppedAt || performance.now())) : performance.now();
  const atStop = { received: stats.received, confirmed: stats.confirmed };
  hooks.onStop?.();

  // drain: confirms outstanding, deliveries expected
  const expected = expectedDeliveries(o, topo, publishers);
  const deadline = windowEnd + o.drainTimeout * 1000;
  const idleLimit = 5000; // a busy broker may pause deliveries (paging, GC) without being done
  for (;;) {
    const now = performance.now();
    const confirmsIn = publishers.every((p) => p.options.confirm === 0 || p.inFlight <= 0);
    const deliveriesIn = o.consumers === 0 || expected === null || stats.received >= expected;
    const lastActivity = Math.max(stats.lastReceivedAt, stats.lastConfirmedAt, windowEnd);
    if ((confirmsIn && deliveriesIn) || now > deadline || now - lastActivity > idleLimit) break;
    if (connections.some((c) => c.error !== null && c !== setup)) break;
    for (const c of consumers) c.flushAcks();
    await new Promise((r) => setTimeout(r, expected === null && confirmsIn ? 100 : 20));
  }
  clearInterval(tick);
  tick = undefined;
  const end = performance.now();
  stats.tick();
  hooks.signal?.removeEventListener('abort', abort);

  // --- report and clean up -----------------------------------------------------------------
  const timeBased = o.time > 0 || o.count === 0;
  const tm = base.t;
  const windowSec = Math.max(1e-3, (windowEnd - tm) / 1000);
  const received = (timeBased ? atStop.received : stats.received) - base.received;
  const confirmed = (timeBased ? atStop.confirmed : stats.confirmed) - base.confirmed;
  const rxSec = timeBased ? windowSec : Math.max(1e-3, ((stats.lastReceivedAt || windowEnd) - tm) / 1000);
  const cfSec = timeBased ? windowSec : Math.max(1e-3, ((stats.lastConfirmedAt || windowEnd) - tm) / 1000);
  const tracked = o.size >= BODY_TRACKED;
  const delivered = tracked ? tracker.unique : stats.received;
  let stillQueued: number | null = null;
  if (expected !== null && o.consumers > 0 && delivered < expected && setup.isOpen) {
    // the drain gave up: tell undelivered (still queued) from lost
    try {
      const ch = await setup.openChannel();
      const consumed = [...new Set(consumers.map((c) => c.options.queue))];
      stillQueued = 0;
      for (const q of consumed) stillQueued += (await ch.queueDeclare(q, { passive: true })).messageCount;
    } catch (err) {
      errors.push(`counting queued messages: ${(err as Error).message}`);
    }
  }
  const undelivered = expected === null || o.consumers === 0 ? null : Math.max(0, expected - delivered - (stillQueued ?? 0));
  const lost = o.confirm > 0 && stats.confirmed === stats.sent ? undelivered : null;
  const allConfirmed = o.confirm === 0 || (stats.confirmed === stats.sent && stats.nacked === 0);
  const server = {
    product: String(setup.serverProperties['product'] ?? '?'),
    version: String(setup.serverProperties['version'] ?? '?'),
    cluster: String(setup.serverProperties['cluster_name'] ?? '?'),
  };

  stopping = true;
  for (const c of consumers) c.flushAcks();
  try {
    if (!o.keep && setup.isOpen) {
      const ch = await setup.openChannel();
      for (const q of createdQueues) await ch.queueDelete(q);
      if (createdExchange) await ch.exchangeDelete(topo.exchange);
    }
  } catch (err) {
    errors.push(`cleanup: ${(err as Error).message}`);
  }
  await Promise.all(
    connections.map((c) =>
      Promise.race([c.close(), new Promise((r) => setTimeout(r, 3000))]).then(
        () => c.destroy(),
        () => c.destroy(),
      ),
    ),
  );
  const { uri, ...options } = o;
  return {
    uri: maskUri(uri),
    server,
    options,
    seconds: round(windowSec, 3),
    drainSeconds: round((end - windowEnd) / 1000, 3),
    sent: stats.sent,
    received: stats.received,
    confirmed: stats.confirmed,
    nacked: stats.nacked,
    sentRate: Math.round((stats.sent - base.sent) / windowSec),
    receivedRate: Math.round(received / rxSec),
    confirmedRate: Math.round(confirmed / cfSec),
    receivedBytesRate: Math.round((received * o.size) / rxSec),
    latencyMs: stats.latency.summary(),
    expected,
    unique: tracker.unique,
    stillQueued,
    undelivered,
    lost,
    duplicates: tracker.duplicates,
    outOfOrder: tracker.outOfOrder,
    foreign: tracker.foreign,
    accounted:
      errors.length === 0 &&
      allConfirmed &&
      (expected === null || o.consumers === 0 || delivered === expected) &&
      tracker.duplicates === 0 &&
      tracker.outOfOrder === 0,
    errors,
  };
}

/** Deliveries implied by the topology: each producer's sends × its targets that have a consumer. */
function expectedDeliveries(o: PerfOptions, topo: Topology, publishers: Publisher[]): number | null {
  if (publishers.length === 0) return null;
  const consumed = new Set<number>();
  for (let c = 0; c < o.consumers; c++) consumed.add(c % o.queues);
  let n = 0;
  for (let j = 0; j < publishers.length; j++) {
    const t = topo.routes[j]!.targets;
    if (t === null) return null;
    n += publishers[j]!.sent * t.filter((q) => consumed.has(q)).length;
  }
  return n;
}

/** Passive declare: true when it exists; a 404 closes the channel (the caller opens another). */
async function exists(ch: PerfChannel, declare: (ch: PerfChannel) => Promise<unknown>): Promise<boolean> {
  try {
    await declare(ch);
    return true;
  } catch (err) {
    if (err instanceof AmqpClientError && err.code === 404) return false;
    throw err;
  }
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
