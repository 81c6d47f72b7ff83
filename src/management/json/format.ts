/**
 * Conversions between the broker's values and RabbitMQ's JSON: argument tables, message
 * properties, timestamps, `*_details` rate objects.
 */
import { fromField, type Field, type FieldTable } from '../../protocol/field-table.js';
import type { BasicProperties } from '../../protocol/generated.js';
import { badRequest } from '../http-error.js';

export const details = (rate: number): { rate: number } => ({ rate });

/** A field table as JSON; keys sorted, as RabbitMQ stores declared arguments sorted. */
export function tableJson(t: FieldTable | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (t === undefined) return out;
  for (const k of [...t.keys()].sort()) out[k] = fieldJson(t.get(k)!);
  return out;
}

function fieldJson(f: Field): unknown {
  if (f.type === 'F') return tableJson(f.value);
  if (f.type === 'A') return f.value.map(fieldJson);
  if (f.type === 'x') return f.value.toString('utf8');
  return fromField(f);
}

/**
 * JSON → field table with RabbitMQ's types (rabbit_mgmt_format:to_amqp_table): strings are
 * longstr, integers long, other numbers double, objects tables, arrays arrays, null void.
 */
export function jsonTable(v: unknown, what = 'arguments'): FieldTable {
  const t: FieldTable = new Map();
  if (v === undefined || v === null || v === '') return t;
  if (typeof v !== 'object' || Array.isArray(v)) throw badRequest(`${what} must be a JSON object`);
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) t.set(k, jsonField(x));
  return t;
}

function jsonField(v: unknown): Field {
  if (v === null || v === undefined) return { type: 'V', value: null };
  if (typeof v === 'boolean') return { type: 't', value: v };
  if (typeof v === 'string') return { type: 'S', value: v };
  if (typeof v === 'number') return Number.isInteger(v) ? { type: 'l', value: v } : { type: 'd', value: v };
  if (Array.isArray(v)) return { type: 'A', value: v.map(jsonField) };
  return { type: 'F', value: jsonTable(v) };
}

/** "2026-11-22T07:05:42.473+00:00", RabbitMQ's idle_since format. */
export function isoTimestamp(ms: number): string {
  return new Date(ms).toISOString().replace('Z', '+00:00');
}

const PROPERTY_NAMES: [keyof BasicProperties, string][] = [
  ['contentType', 'content_type'],
  ['contentEncoding', 'content_encoding'],
  ['headers', 'headers'],
  ['deliveryMode', 'delivery_mode'],
  ['priority', 'priority'],
  ['correlationId', 'correlation_id'],
  ['replyTo', 'reply_to'],
  ['expiration', 'expiration'],
  ['messageId', 'message_id'],
  ['timestamp', 'timestamp'],
  ['type', 'type'],
  ['userId', 'user_id'],
  ['appId', 'app_id'],
  ['clusterId', 'cluster_id'],
];

/**
 * Message properties as queue/get shows them. rabbitmq-compat: a message without properties
 * shows `[]` (an empty Erlang proplist), not `{}` (management-samples/queue-get.json).
 */
export function propertiesJson(p: BasicProperties): Record<string, unknown> | [] {
  const out: Record<string, unknown> = {};
  let any = false;
  for (const [k, name] of PROPERTY_NAMES) {
    const v = p[k];
    if (v === undefined) continue;
    any = true;
    out[name] = k === 'headers' ? tableJson(v as FieldTable) : v;
  }
  return any ? out : [];
}

/** JSON properties of an HTTP publish → BasicProperties (rabbit_mgmt_format:to_basic_properties). */
export function jsonProperties(v: unknown): BasicProperties {
  const p: BasicProperties = {};
  if (v === undefined || v === null || (Array.isArray(v) && v.length === 0)) return p;
  if (typeof v !== 'object' || Array.isArray(v)) throw badRequest('properties must be a JSON object');
  const o = v as Record<string, unknown>;
  const str = (name: string): string | undefined => {
    const x = o[name];
    if (x === undefined || x === null) return undefined;
    if (typeof x === 'string') return x;
    if (typeof x === 'number') return String(x);
    throw badRequest(`property ${name} must be a string`);
  };
  const int = (name: string): number | undefined => {
    const x = o[name];
    if (x === undefined || x === null) return undefined;
    const n = typeof x === 'string' ? Number(x) : x;
    if (typeof n !== 'number' || !Number.isInteger(n)) throw badRequest(`property ${name} must be an integer`);
    return n;
  };
  const set = <K extends keyof BasicProperties>(k: K, x: BasicProperties[K] | undefined): void => {
    if (x !== undefined) p[k] = x;
  };
  set('contentType', str('content_type'));
  set('contentEncoding', str('content_encoding'));
  if (o['headers'] !== undefined && o['headers'] !== null) p.headers = jsonTable(o['headers'], 'headers');
  set('deliveryMode', int('delivery_mode'));
  set('priority', int('priority'));
  set('correlationId', str('correlation_id'));
  set('replyTo', str('reply_to'));
  set('expiration', str('expiration'));
  set('messageId', str('message_id'));
  set('timestamp', int('timestamp'));
  set('type', str('type'));
  set('userId', str('user_id'));
  set('appId', str('app_id'));
  set('clusterId', str('cluster_id'));
  return p;
}

/** Strict UTF-8 check: decoding and re-encoding gives the same bytes. */
export function isUtf8(b: Buffer): boolean {
  const s = b.toString('utf8');
  return !s.includes('\uFFFD') || Buffer.from(s, 'utf8').equals(b);
}

/** RabbitMQ's parse_bool for JSON bodies: true/false or "true"/"false" (rabbitmqadmin sends strings). */
export function bool(v: unknown, dflt: boolean): boolean {
  if (v === undefined || v === null) return dflt;
  if (v === true || v === 'true') return true;
  if (v === false || v === 'false') return false;
  throw badRequest(`{bad_bool,${JSON.stringify(v)}}`);
}

/** Tags as a list: "a,b" or ["a","b"]. */
export function tagList(v: unknown): string[] {
  if (v === undefined || v === null) return [];
  if (Array.isArray(v)) return v.map(String).filter((t) => t !== '');
  return String(v).split(',').map((t) => t.trim()).filter((t) => t !== '');
}
