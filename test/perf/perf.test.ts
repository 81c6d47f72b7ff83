/**
 * `warren perf` against an in-process warren: the generator accounts for every message it
 * sends (sent = received, confirms = sent, sequence numbers seen once and in order) across
 * the topologies it builds, and leaves nothing declared behind. No timing assertions: the
 * numbers are the bench's business.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBroker, type RunningBroker } from '../../src/index.js';
import { runPerf, type PerfSummary } from '../../src/perf/perf.js';
import { formatLine, formatSummary } from '../../src/perf/command.js';
import { Histogram } from '../../src/perf/histogram.js';
import { SequenceTracker } from '../../src/perf/stats.js';
import { parseAmqpUri } from '../../src/perf/amqp-uri.js';
import { PerfConnection } from '../../src/perf/client.js';

let broker: RunningBroker;

beforeAll(async () => {
  broker = await startBroker();
});

afterAll(async () => {
  await broker?.close();
});

function expectAccounted(s: PerfSummary, deliveries: number): void {
  expect(s.errors).toEqual([]);
  expect(s.received).toBe(deliveries);
  expect(s.expected).toBe(deliveries);
  expect(s.unique).toBe(deliveries);
  expect(s.undelivered).toBe(0);
  expect(s.lost).toBe(s.options.confirm > 0 ? 0 : null);
  expect(s.stillQueued).toBeNull();
  expect(s.duplicates).toBe(0);
  expect(s.outOfOrder).toBe(0);
  expect(s.foreign).toBe(0);
  expect(s.accounted).toBe(true);
}

function perfLeftovers(): string[] {
  const v = broker.broker.vhosts.get('/')!;
  return [...v.queues.keys(), ...v.exchanges.keys()].filter((n) => n.startsWith('perf'));
}

describe('warren perf', () => {
  it('2 producers with confirms, 2 consumers with manual multiple acks: every message accounted for', async () => {
    const lines: unknown[] = [];
    const s = await runPerf(
      { uri: broker.url, producers: 2, consumers: 2, queues: 2, count: 3000, confirm: 100, prefetch: 200, multipleAckEvery: 10 },
      { onLine: (l) => lines.push(l) },
    );
    expect(s.sent).toBe(6000);
    expect(s.confirmed).toBe(s.sent);
    expect(s.nacked).toBe(0);
    expectAccounted(s, 6000);
    expect(s.latencyMs.count).toBe(6000);
    // the JSON summary (--json) carries the same numbers
    const json = JSON.parse(JSON.stringify(s)) as PerfSummary;
    expect(json.sent).toBe(json.received);
    expect(json.confirmed).toBe(json.sent);
    expect(json.uri).not.toContain(':guest@');
    expect(formatSummary(s)).toContain('OK');
    expect(perfLeftovers()).toEqual([]);
  });

  it('fanout delivers each message to every queue', async () => {
    const s = await runPerf({ uri: broker.url, exchangeType: 'fanout', queues: 3, consumers: 3, count: 500, autoack: true });
    expect(s.sent).toBe(500);
    expectAccounted(s, 1500);
    expect(perfLeftovers()).toEqual([]);
  });

  it('topic with many wildcard bindings routes each message to its one queue', async () => {
    const s = await runPerf({ uri: broker.url, exchangeType: 'topic', producers: 2, consumers: 2, queues: 2, bindings: 200, count: 1000, autoack: true, persistent: true, durable: true });
    expectAccounted(s, 2000);
    expect(perfLeftovers()).toEqual([]);
  });

  it('runs for a time at a limited rate, then drains', async () => {
    const lines: string[] = [];
    const s = await runPerf({ uri: broker.url, time: 1.2, rate: 400, confirm: 50 }, { onLine: (l) => lines.push(formatLine(l)) });
    expect(s.sent).toBeGreaterThan(0);
    expect(s.sent).toBeLessThanOrEqual(400 * 1.2 + 1); // the rate is a ceiling
    expect(s.confirmed).toBe(s.sent);
    expectAccounted(s, s.sent);
    expect(lines.length).toBeGreaterThanOrEqual(1);
  });

  it('keeps its queue with --keep, and a later consumer-only run reads the backlog', async () => {
    const pub = await runPerf({ uri: broker.url, consumers: 0, count: 700, confirm: 100, queue: 'perf-kept', keep: true });
    expect(pub.confirmed).toBe(700);
    expect(pub.expected).toBe(0);
    expect(broker.broker.vhosts.get('/')!.queues.get('perf-kept')?.messageCount).toBe(700);
    // the queue existed before this run, so this run does not delete it either
    const sub = await runPerf({ uri: broker.url, producers: 0, consumers: 1, time: 0.5, queue: 'perf-kept', autoack: true });
    expect(sub.received).toBe(700);
    expect(sub.foreign).toBe(0);
    expect(broker.broker.vhosts.get('/')!.queues.has('perf-kept')).toBe(true);
    const c = await PerfConnection.open(broker.url);
    await (await c.openChannel()).queueDelete('perf-kept');
    await c.close();
    expect(perfLeftovers()).toEqual([]);
  });

  it('reports a broker error instead of hanging', async () => {
    await expect(runPerf({ uri: broker.url.replace('guest:guest', 'guest:wrong'), count: 1 })).rejects.toThrow(/ACCESS_REFUSED|403|closed/);
  });
});

describe('perf building blocks', () => {
  it('histogram percentiles are within 2 %', () => {
    const h = new Histogram();
    for (let i = 1; i <= 10_000; i++) h.recordMs(i / 100); // 0.01 … 100 ms
    const s = h.summary();
    expect(s.count).toBe(10_000);
    expect(s.p50).toBeGreaterThan(50 * 0.98);
    expect(s.p50).toBeLessThan(50 * 1.02);
    expect(s.p99).toBeGreaterThan(99 * 0.98);
    expect(s.p99).toBeLessThan(99 * 1.02);
    expect(s.max).toBe(100);
  });

  it('sequence tracker counts duplicates and reordering', () => {
    const t = new SequenceTracker(2, 1);
    const last = new Float64Array(2).fill(-1);
    for (const seq of [0, 1, 2, 2, 5000, 3]) t.record(0, seq, 0, last);
    t.record(7, 0, 0, last);
    expect(t.unique).toBe(5);
    expect(t.duplicates).toBe(1);
    expect(t.outOfOrder).toBe(1);
    expect(t.foreign).toBe(1);
  });

  it('parses amqp URIs as RabbitMQ does', () => {
    expect(parseAmqpUri('amqp://u:p%40ss@h:5673/v%2fh')).toEqual({ host: 'h', port: 5673, user: 'u', pass: 'p@ss', vhost: 'v/h' });
    expect(parseAmqpUri('amqp://localhost')).toMatchObject({ port: 5672, user: 'guest', vhost: '/' });
  });
});
