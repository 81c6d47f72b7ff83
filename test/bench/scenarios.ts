/**
 * The bench's scenario matrix. Each scenario runs once per target per run and returns its
 * metrics; run.ts takes medians over runs and prints warren next to the compare broker.
 * The load comes from `warren perf` (src/perf) in this process, so both brokers see the
 * same client. See test/bench/README.md for what each row means.
 */
import { performance } from 'node:perf_hooks';
import { PerfConnection } from '../../src/perf/client.js';
import { runPerf, type PerfOptions, type PerfSummary } from '../../src/perf/perf.js';
import { processName, rssBytes, type Target, type WarrenChild } from './brokers.js';

export interface Metric {
  key: string;
  label: string;
  /** null: not available for this broker (n/a). */
  value: number | null;
  /** How to print it. */
  format: 'rate' | 'ms' | 'bytes' | 'mib' | 'mibs' | 'count' | 'ok';
  better: 'higher' | 'lower' | 'none';
}

export interface BenchContext {
  /** Seconds for each throughput scenario, after `warmup` seconds of unmeasured load. */
  seconds: number;
  warmup: number;
  quick: boolean;
  /** The warren child when the target is warren. */
  warren: WarrenChild | undefined;
  log(text: string): void;
}

export interface Scenario {
  id: string;
  title: string;
  warrenOnly?: boolean;
  /** Long fixed-size scenarios run at most this many times per broker, whatever --runs says. */
  maxRuns?: number;
  run(target: Target, ctx: BenchContext): Promise<Metric[]>;
}

const rate = (key: string, label: string, value: number | null): Metric => ({ key, label, value, format: 'rate', better: 'higher' });
const latency = (key: string, label: string, value: number | null): Metric => ({ key, label, value, format: 'ms', better: 'lower' });

async function perf(target: Target, ctx: BenchContext, o: Partial<PerfOptions>, hooks: Parameters<typeof runPerf>[1] = {}): Promise<PerfSummary> {
  // the rows are rates over the window; the drain only serves the accounting, so keep it short
  const s = await runPerf({ uri: target.url, time: ctx.seconds, warmup: ctx.warmup, drainTimeout: 5, ...o }, hooks);
  if (s.errors.length > 0) ctx.log(`    ${target.role}: errors: ${s.errors.join('; ')}`);
  if (!s.accounted) {
    const backlog = s.stillQueued !== null && s.stillQueued > 0 ? `${s.stillQueued} still queued when the drain stopped, ` : '';
    const gone = s.lost !== null ? `lost ${s.lost}` : `${s.undelivered} unconfirmed publishes undelivered (in TCP buffers at the end, or dropped)`;
    ctx.log(`    ${target.role}: not every message delivered: ${backlog}${gone}, duplicates ${s.duplicates}, out of order ${s.outOfOrder}`);
  }
  return s;
}

/** Broker RSS: the warren child, or a local compare broker found by its port. */
function brokerRss(target: Target): number | null {
  return rssBytes(target.pid);
}

async function settle(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

/** Opens up to n connections, `batch` at a time; stops at the first batch with a failure (a broker limit). */
async function openMany(url: string, n: number, batch: number): Promise<{ conns: PerfConnection[]; error: string | undefined }> {
  const conns: PerfConnection[] = [];
  for (let i = 0; i < n; i += batch) {
    const k = Math.min(batch, n - i);
    const res = await Promise.allSettled(Array.from({ length: k }, () => PerfConnection.open(url, { name: 'bench idle', handshakeTimeoutMs: 5000 })));
    for (const r of res) if (r.status === 'fulfilled') conns.push(r.value);
    const bad = res.find((r) => r.status === 'rejected');
    if (bad !== undefined) return { conns, error: (bad.reason as Error).message };
  }
  return { conns, error: undefined };
}

async function closeAll(conns: PerfConnection[], batch: number): Promise<void> {
  for (let i = 0; i < conns.length; i += batch) await Promise.all(conns.slice(i, i + batch).map((c) => c.close().catch(() => c.destroy())));
}

async function deleteQueue(url: string, queue: string): Promise<void> {
  const c = await PerfConnection.open(url, { name: 'bench cleanup' });
  try {
    const ch = await c.openChannel();
    await ch.queueDelete(queue);
  } finally {
    await c.close();
  }
}

/** n idle AMQP connections (handshake done, no channels): broker RSS per connection. */
function idleConnections(n: number): Scenario {
  return {
    id: n === 1000 ? 'idle-connections' : `idle-connections-${n}`,
    title: `${n} idle connections`,
    async run(t, ctx) {
      await settle(500);
      const before = brokerRss(t);
      const t0 = performance.now();
      const { conns, error } = await openMany(t.url, n, 50);
      const openSec = (performance.now() - t0) / 1000;
      if (error !== undefined) ctx.log(`    ${t.role}: only ${conns.length} of ${n} connections opened (${error}); per-connection numbers are over those`);
      await settle(1000);
      const after = brokerRss(t);
      await closeAll(conns, 100);
      const per = before !== null && after !== null && conns.length > 0 ? (after - before) / conns.length : null;
      return [
        { key: 'perConn', label: 'RSS bytes per connection', value: per, format: 'bytes', better: 'lower' },
        { key: 'opened', label: 'connections held', value: conns.length, format: 'count', better: 'higher' },
        rate('open', 'opened conn/s (50 at a time)', error === undefined ? conns.length / openSec : null),
      ];
    },
  };
}

export const SCENARIOS: Scenario[] = [
  {
    id: 'transient-autoack',
    title: 'transient, auto-ack (1 producer, 1 consumer, 16 B)',
    async run(t, ctx) {
      const s = await perf(t, ctx, { autoack: true, queue: 'bench-autoack' });
      return [rate('sent', 'published msg/s', s.sentRate), rate('recv', 'delivered msg/s', s.receivedRate)];
    },
  },
  {
    id: 'transient-manual-ack',
    title: 'transient, manual ack (prefetch 1000, ack multiple every 100)',
    async run(t, ctx) {
      const s = await perf(t, ctx, { prefetch: 1000, multipleAckEvery: 100, queue: 'bench-manual' });
      return [rate('sent', 'published msg/s', s.sentRate), rate('recv', 'delivered msg/s', s.receivedRate)];
    },
  },
  {
    id: 'persistent-confirms',
    title: 'persistent, durable queue, confirms (1000 in flight)',
    async run(t, ctx) {
      let before: Promise<number | null> = Promise.resolve(null);
      let after: Promise<number | null> = Promise.resolve(null);
      const s = await perf(
        t,
        ctx,
        { persistent: true, durable: true, confirm: 1000, prefetch: 1000, multipleAckEvery: 100, queue: 'bench-persistent' },
        { onStart: () => (before = t.fsyncs()), onStop: () => (after = t.fsyncs()) },
      );
      const [b, a] = [await before, await after];
      const fsyncs = a !== null && b !== null ? Math.round((a - b) / s.seconds) : null;
      return [
        rate('confirmed', 'confirmed msg/s', s.confirmedRate),
        rate('recv', 'delivered msg/s', s.receivedRate),
        { key: 'fsyncs', label: 'fsyncs/s (warren)', value: fsyncs, format: 'rate', better: 'none' },
      ];
    },
  },
  {
    id: 'fanout-10',
    title: 'fanout to 10 queues, 10 consumers',
    async run(t, ctx) {
      const s = await perf(t, ctx, { exchangeType: 'fanout', exchange: 'bench-fanout', queues: 10, consumers: 10, autoack: true, queue: 'bench-fanout' });
      return [rate('sent', 'published msg/s', s.sentRate), rate('recv', 'delivered msg/s', s.receivedRate)];
    },
  },
  {
    id: 'topic-1000',
    title: 'topic exchange, 1000 wildcard bindings',
    async run(t, ctx) {
      const s = await perf(t, ctx, { exchangeType: 'topic', exchange: 'bench-topic', bindings: 1000, autoack: true, queue: 'bench-topic' });
      return [rate('sent', 'published msg/s', s.sentRate), rate('recv', 'delivered msg/s', s.receivedRate)];
    },
  },
  {
    id: 'body-1k',
    title: '1 KiB bodies, auto-ack',
    async run(t, ctx) {
      const s = await perf(t, ctx, { size: 1024, autoack: true, queue: 'bench-1k' });
      return [rate('recv', 'delivered msg/s', s.receivedRate), { key: 'mibs', label: 'delivered MiB/s', value: s.receivedBytesRate / 1048576, format: 'mibs', better: 'higher' }];
    },
  },
  {
    id: 'body-64k',
    title: '64 KiB bodies, auto-ack',
    async run(t, ctx) {
      const s = await perf(t, ctx, { size: 65536, autoack: true, queue: 'bench-64k' });
      return [rate('recv', 'delivered msg/s', s.receivedRate), { key: 'mibs', label: 'delivered MiB/s', value: s.receivedBytesRate / 1048576, format: 'mibs', better: 'higher' }];
    },
  },
  {
    id: 'latency-10k',
    title: 'latency at a steady 10,000 msg/s',
    async run(t, ctx) {
      const s = await perf(t, ctx, { rate: 10_000, autoack: true, queue: 'bench-latency' });
      return [latency('p50', 'latency p50 ms', s.latencyMs.p50), latency('p99', 'latency p99 ms', s.latencyMs.p99), rate('recv', 'delivered msg/s', s.receivedRate)];
    },
  },
  idleConnections(1000),
  idleConnections(5000),
  {
    id: 'startup',
    title: 'process start to accepting AMQP; idle RSS',
    warrenOnly: true,
    async run(_t, ctx) {
      const w = ctx.warren!;
      await settle(1000);
      return [
        { key: 'startMs', label: 'start to AMQP handshake ms', value: w.startupMs, format: 'ms', better: 'lower' },
        { key: 'idleRss', label: 'idle RSS MiB', value: (rssBytes(w.pid) ?? 0) / 1048576, format: 'mib', better: 'lower' },
      ];
    },
  },
  {
    id: 'connection-churn',
    title: 'connection churn (open + close, 4 at a time)',
    async run(t, ctx) {
      const end = performance.now() + ctx.seconds * 1000;
      let n = 0;
      let failed = 0;
      const loop = async (): Promise<void> => {
        while (performance.now() < end) {
          try {
            const c = await PerfConnection.open(t.url, { name: 'bench churn' });
            await c.close();
            n++;
          } catch {
            failed++;
          }
        }
      };
      const t0 = performance.now();
      await Promise.all([loop(), loop(), loop(), loop()]);
      if (failed > 0) ctx.log(`    ${t.role}: ${failed} connection attempts failed`);
      return [rate('churn', 'connections opened+closed/s', n / ((performance.now() - t0) / 1000))];
    },
  },
  {
    id: 'memory-1m',
    title: 'memory: 1,000,000 queued 16 B messages',
    maxRuns: 1,
    async run(t, ctx) {
      const n = 1_000_000;
      const queue = 'bench-memory';
      await settle(500);
      const before = brokerRss(t);
      const s = await runPerf({ uri: t.url, producers: 1, consumers: 0, count: n, size: 16, confirm: 5000, queue, keep: true, drainTimeout: 60 });
      await settle(1000);
      const after = brokerRss(t);
      await deleteQueue(t.url, queue);
      if (s.errors.length > 0 || s.confirmed !== n) ctx.log(`    ${t.role}: memory run confirmed ${s.confirmed}/${n} ${s.errors.join('; ')}`);
      const per = before !== null && after !== null ? (after - before) / n : null;
      if (t.role === 'compare' && per !== null) ctx.log(`    compare broker process: ${processName(t.pid!)} (pid ${t.pid})`);
      return [
        { key: 'perMsg', label: 'RSS bytes per queued msg', value: per, format: 'bytes', better: 'lower' },
        rate('publish', 'publish+confirm msg/s', s.confirmedRate),
      ];
    },
  },
  {
    id: 'soak',
    title: 'soak: 4 publishers, 4 consumers, topic routing, every message checked',
    maxRuns: 1,
    async run(t, ctx) {
      const total = ctx.quick ? 200_000 : 1_000_000;
      const s = await runPerf({
        uri: t.url,
        producers: 4,
        consumers: 4,
        queues: 4,
        exchange: 'bench-soak',
        exchangeType: 'topic',
        queue: 'bench-soak',
        count: total / 4,
        confirm: 1000,
        prefetch: 1000,
        multipleAckEvery: 100,
        drainTimeout: 60,
      });
      if (!s.accounted) {
        ctx.log(`    ${t.role}: soak FAILED: lost ${s.lost}, still queued ${s.stillQueued}, duplicates ${s.duplicates}, out of order ${s.outOfOrder}, confirmed ${s.confirmed}/${s.sent} ${s.errors.join('; ')}`);
      }
      return [
        rate('recv', `delivered msg/s (${total / 1e6}M msgs)`, s.receivedRate),
        { key: 'ok', label: 'every message accounted for', value: s.accounted ? 1 : 0, format: 'ok', better: 'none' },
      ];
    },
  },
];
