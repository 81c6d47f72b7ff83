/**
 * /metrics and /metrics/per-object parse as the Prometheus text format (0.0.4) and carry
 * rabbitmq_prometheus's family names, TYPEs and HELP texts
 * (../shared/reference/prometheus.md), aggregated on /metrics the way RabbitMQ's default
 * endpoint is (one unlabelled sample per queue family) and labelled per object on the other.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import amqplib from 'amqplib';
import type { ChannelModel } from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startManaged, type Managed } from '../helpers/management.js';
import { eventually } from '../helpers/wait.js';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}
interface Family {
  name: string;
  type?: string;
  help?: string;
  samples: Sample[];
}

const METRIC = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** A strict reader of the text exposition format; throws on the first malformed line. */
function parseExposition(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  const family = (name: string): Family => {
    let f = families.get(name);
    if (f === undefined) families.set(name, (f = { name, samples: [] }));
    return f;
  };
  expect(text.endsWith('\n'), 'the exposition ends with a newline').toBe(true);
  const lines = text.slice(0, -1).split('\n');
  lines.forEach((line, i) => {
    const where = `line ${i + 1}: ${line}`;
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+) (.*)$/.exec(line);
      if (m === null) return; // a plain comment
      const [, kind, name, rest] = m as unknown as [string, string, string, string];
      if (!METRIC.test(name)) throw new Error(`bad metric name, ${where}`);
      const f = family(name);
      if (kind === 'TYPE') {
        if (f.type !== undefined) throw new Error(`second TYPE, ${where}`);
        if (f.samples.length > 0) throw new Error(`TYPE after samples, ${where}`);
        if (!['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(rest)) throw new Error(`bad type, ${where}`);
        f.type = rest;
      } else {
        if (f.help !== undefined) throw new Error(`second HELP, ${where}`);
        f.help = rest.replace(/\\n/g, '\n').replace(/\\\\/g, '\\');
      }
      return;
    }
    if (line.trim() === '') throw new Error(`empty line, ${where}`);
    // name, optional {labels}, value, optional timestamp
    let pos = 0;
    const nameMatch = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line);
    if (nameMatch === null) throw new Error(`no metric name, ${where}`);
    const name = nameMatch[0];
    pos = name.length;
    const labels: Record<string, string> = {};
    if (line[pos] === '{') {
      pos++;
      while (line[pos] !== '}') {
        const l = /^([a-zA-Z_][a-zA-Z0-9_]*)="/.exec(line.slice(pos));
        if (l === null) throw new Error(`bad label at column ${pos}, ${where}`);
        const key = l[1]!;
        if (!LABEL.test(key) || key in labels) throw new Error(`bad or repeated label ${key}, ${where}`);
        pos += l[0].length;
        let value = '';
        for (;;) {
          const c = line[pos];
          if (c === undefined) throw new Error(`unterminated label value, ${where}`);
          pos++;
          if (c === '"') break;
          if (c === '\\') {
            const e = line[pos++];
            if (e === 'n') value += '\n';
            else if (e === '\\' || e === '"') value += e;
            else throw new Error(`bad escape \\${e}, ${where}`);
          } else value += c;
        }
        labels[key] = value;
        if (line[pos] === ',') pos++;
        else if (line[pos] !== '}') throw new Error(`expected , or } at column ${pos}, ${where}`);
      }
      pos++;
    }
    const rest = line.slice(pos);
    const v = /^ (\S+)( -?\d+)?$/.exec(rest);
    if (v === null) throw new Error(`bad value part, ${where}`);
    const raw = v[1]!;
    const value = raw === 'NaN' ? NaN : raw === '+Inf' ? Infinity : raw === '-Inf' ? -Infinity : Number(raw);
    if (raw !== 'NaN' && Number.isNaN(value)) throw new Error(`value is not a number, ${where}`);
    const base = families.has(name) ? name : name.replace(/_(sum|count|bucket)$/, '');
    const f = families.get(base);
    if (f === undefined || f.type === undefined) throw new Error(`sample before its TYPE, ${where}`);
    f.samples.push({ name, labels, value });
  });
  for (const f of families.values()) {
    if (f.type === undefined || f.help === undefined) throw new Error(`family ${f.name} lacks TYPE or HELP`);
  }
  return families;
}

/** TYPE and HELP of every family RabbitMQ 3.10.8 has, from prometheus.md. */
function referenceFamilies(): Map<string, { type: string; help: string }> {
  const md = readFileSync(resolve(import.meta.dirname, '../../../shared/reference/prometheus.md'), 'utf8');
  const out = new Map<string, { type: string; help: string }>();
  for (const line of md.split('\n')) {
    const m = /^\| \d+ \| `([^`]+)` \| (\w+) \| (.*?) \| \d+ \|/.exec(line);
    if (m !== null && !out.has(m[1]!)) out.set(m[1]!, { type: m[2]!, help: m[3]! });
  }
  return out;
}

const REQUIRED = [
  'rabbitmq_queue_messages_ready', 'rabbitmq_queue_messages_unacked', 'rabbitmq_queue_messages', 'rabbitmq_queue_consumers',
  'rabbitmq_connections', 'rabbitmq_channels', 'rabbitmq_consumers', 'rabbitmq_queues',
  'rabbitmq_channel_messages_published_total', 'rabbitmq_channel_messages_delivered_total', 'rabbitmq_channel_messages_acked_total',
  'rabbitmq_process_resident_memory_bytes', 'rabbitmq_connections_opened_total', 'rabbitmq_queue_messages_published_total',
  'rabbitmq_build_info', 'rabbitmq_identity_info', 'process_start_time_seconds',
];

let m: Managed;
let conn: ChannelModel;

async function scrape(path: string): Promise<{ status: number; type: string | null; text: string }> {
  const r = await fetch(m.prometheus + path);
  return { status: r.status, type: r.headers.get('content-type'), text: await r.text() };
}

const value = (f: Map<string, Family>, name: string): number => {
  const s = f.get(name)?.samples;
  expect(s, name).toHaveLength(1);
  return s![0]!.value;
};

beforeAll(async () => {
  m = await startManaged({ prometheus: true });
  conn = await amqplib.connect(m.warren.url);
  const ch = await conn.createChannel();
  await ch.assertQueue('prom-q', { durable: false });
  await ch.assertQueue('prom "quoted" \\ q', { durable: false });
  for (let i = 0; i < 3; i++) ch.sendToQueue('prom-q', Buffer.from(`m${i}`));
  const ch2 = await conn.createChannel();
  await ch2.prefetch(1);
  await ch2.consume('prom "quoted" \\ q', () => {});
  await eventually(() => m.warren.broker.vhost('/')!.queues.get('prom-q')!.messageCount === 3, 5000, 'three messages');
});

afterAll(async () => {
  await conn?.close().catch(() => {});
  await m?.warren.close();
});

describe('/metrics', () => {
  it('is the Prometheus text format with RabbitMQ family names, types and help', async () => {
    const r = await scrape('/metrics');
    expect(r.status).toBe(200);
    expect(r.type).toBe('text/plain; version=0.0.4');
    const families = parseExposition(r.text);
    for (const name of REQUIRED) expect(families.has(name), name).toBe(true);
    const ref = referenceFamilies();
    for (const f of families.values()) {
      const known = ref.get(f.name);
      expect(known, `${f.name} is one of RabbitMQ's families`).toBeDefined();
      expect({ type: f.type, help: f.help }, f.name).toEqual(known);
    }
  });

  it('aggregates every queue and channel into one unlabelled sample, as the default endpoint does', async () => {
    const f = parseExposition((await scrape('/metrics')).text);
    for (const name of ['rabbitmq_queue_messages_ready', 'rabbitmq_queue_consumers', 'rabbitmq_channel_consumers']) {
      expect(f.get(name)!.samples, name).toEqual([{ name, labels: {}, value: expect.any(Number) }]);
    }
    expect(value(f, 'rabbitmq_queue_messages_ready')).toBe(3);
    expect(value(f, 'rabbitmq_queue_messages')).toBe(3);
    expect(value(f, 'rabbitmq_queue_consumers')).toBe(1);
    expect(value(f, 'rabbitmq_queues')).toBe(2);
    expect(value(f, 'rabbitmq_connections')).toBe(1);
    expect(value(f, 'rabbitmq_channels')).toBe(2);
    expect(value(f, 'rabbitmq_consumers')).toBe(1);
    expect(value(f, 'rabbitmq_channel_messages_published_total')).toBe(3);
    expect(value(f, 'rabbitmq_queue_messages_published_total')).toBe(3);
    expect(value(f, 'rabbitmq_process_resident_memory_bytes')).toBeGreaterThan(1_000_000);
    expect(f.get('rabbitmq_build_info')!.samples[0]!.labels).toMatchObject({ rabbitmq_version: '3.10.8' });
  });
});

describe('/metrics/per-object', () => {
  it('labels queue families with vhost and queue, channels with channel', async () => {
    const r = await scrape('/metrics/per-object');
    expect(r.status).toBe(200);
    const f = parseExposition(r.text);
    const ready = f.get('rabbitmq_queue_messages_ready')!.samples;
    expect(ready).toContainEqual({ name: 'rabbitmq_queue_messages_ready', labels: { vhost: '/', queue: 'prom-q' }, value: 3 });
    // label values are escaped and come back intact
    expect(ready).toContainEqual({ name: 'rabbitmq_queue_messages_ready', labels: { vhost: '/', queue: 'prom "quoted" \\ q' }, value: 0 });
    const consumers = f.get('rabbitmq_channel_consumers')!.samples;
    expect(consumers).toHaveLength(2);
    for (const s of consumers) expect(Object.keys(s.labels)).toEqual(['channel']);
  });

  it('answers 404 elsewhere', async () => {
    expect((await scrape('/nothing')).status).toBe(404);
  });
});
