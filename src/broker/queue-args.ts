/**
 * queue.declare arguments: validation and equivalence, with RabbitMQ 3.10's texts
 * (../shared/reference/errors.md rows 2–47).
 */
import { RABBIT_TYPE_NAMES, intValue, type Field, type FieldTable } from '../protocol/field-table.js';
import { preconditionFailed } from './errors.js';

/** Arguments RabbitMQ compares on redeclare; others (x-custom, …) are ignored. */
const EQUIVALENCE_KEYS = [
  'x-expires', 'x-message-ttl', 'x-dead-letter-exchange', 'x-dead-letter-routing-key', 'x-max-length',
  'x-max-length-bytes', 'x-max-in-memory-length', 'x-max-in-memory-bytes', 'x-max-priority', 'x-overflow',
  'x-queue-mode', 'x-queue-type', 'x-quorum-initial-group-size', 'x-delivery-limit', 'x-single-active-consumer',
  'x-queue-master-locator', 'x-queue-leader-locator', 'x-max-age', 'x-dead-letter-strategy',
];

const INTEGER = new Set(['b', 'B', 's', 'u', 'I', 'i', 'l', 'T']);

export interface QueueIdentity {
  name: string;
  vhost: string;
  durable: boolean;
  exclusive: boolean;
  autoDelete: boolean;
}

function where(q: QueueIdentity): string {
  return `for queue '${q.name}' in vhost '${q.vhost}'`;
}

/** Throws 406 with RabbitMQ's text for the first invalid argument. */
export function validateQueueArgs(q: QueueIdentity, args: FieldTable): void {
  const bad = (key: string, why: string): never => {
    throw preconditionFailed(`invalid arg '${key}' ${where(q)}: ${why}`);
  };
  const int = (key: string, f: Field, min: 'zero-ok' | 'positive', max?: number): void => {
    if (!INTEGER.has(f.type)) bad(key, `"expected integer, got ${RABBIT_TYPE_NAMES[f.type]}"`);
    const v = intValue(f)!;
    if (v < 0) bad(key, `{value_negative,${v}}`);
    if (v === 0 && min === 'positive') bad(key, `{value_zero,0}`);
    if (max !== undefined && v > max) bad(key, `{max_value_exceeded,${v}}`);
  };
  const type = stringArg(args, 'x-queue-type') ?? 'classic';
  for (const [key, f] of args) {
    switch (key) {
      case 'x-message-ttl':
      case 'x-max-length':
      case 'x-max-length-bytes':
        int(key, f, 'zero-ok');
        break;
      case 'x-expires':
        int(key, f, 'positive');
        break;
      case 'x-max-priority':
        int(key, f, 'zero-ok', 255);
        break;
      case 'x-overflow':
        if (f.type !== 'S' || !['drop-head', 'reject-publish', 'reject-publish-dlx'].includes(f.value)) bad(key, 'invalid_overflow');
        break;
      case 'x-queue-type':
        if (f.type !== 'S' || !['classic', 'quorum', 'stream'].includes(f.value)) {
          bad(key, `"unsupported queue type '${f.type === 'S' ? f.value : String(f.value)}'"`);
        }
        break;
      case 'x-queue-mode':
        if (f.type !== 'S' || !['default', 'lazy'].includes(f.value)) bad(key, `"unsupported queue mode '${String(f.value)}'"`);
        break;
      case 'x-dead-letter-exchange':
        if (f.type !== 'S') {
          throw preconditionFailed(
            `invalid type '${RABBIT_TYPE_NAMES[f.type]}' for arg '${key}' in queue '${q.name}' in vhost '${q.vhost}'`,
          );
        }
        break;
      case 'x-dead-letter-routing-key':
        if (f.type !== 'S') {
          throw preconditionFailed(
            `invalid type '${RABBIT_TYPE_NAMES[f.type]}' for arg '${key}' in queue '${q.name}' in vhost '${q.vhost}'`,
          );
        }
        if (!args.has('x-dead-letter-exchange')) bad(key, 'routing_key_but_no_dlx_defined');
        break;
      case 'x-single-active-consumer':
        if (f.type !== 't') bad(key, `{unacceptable_type,${RABBIT_TYPE_NAMES[f.type]}}`);
        break;
    }
  }
  if (type === 'quorum' || type === 'stream') {
    const prop = (p: string): never => {
      throw preconditionFailed(`invalid property '${p}' ${where(q)}`);
    };
    if (!q.durable) prop('non-durable');
    if (q.exclusive) prop('exclusive-owner');
    if (q.autoDelete) prop('auto-delete');
    if (type === 'quorum' && args.has('x-max-priority')) {
      throw preconditionFailed(`invalid arg 'x-max-priority' ${where(q)} of queue type rabbit_quorum_queue`);
    }
    if (type === 'stream') {
      throw preconditionFailed(
        `invalid arg 'x-queue-type' ${where(q)}: "unsupported queue type 'stream': warren has classic and quorum queues only"`,
      );
    }
  }
}

/** Throws 406 "inequivalent arg" when a redeclare's arguments differ from the queue's. */
export function assertEquivalentArgs(q: QueueIdentity, current: FieldTable, received: FieldTable): void {
  for (const key of EQUIVALENCE_KEYS) {
    let cur = current.get(key);
    let rec = received.get(key);
    if (key === 'x-queue-type') {
      // rabbitmq-compat: "classic" is the default, so absent and "classic" are equivalent
      if (cur?.type === 'S' && cur.value === 'classic') cur = undefined;
      if (rec?.type === 'S' && rec.value === 'classic') rec = undefined;
    }
    if (cur === undefined && rec === undefined) continue;
    const head = `inequivalent arg '${key}' ${where(q)}: `;
    if (rec === undefined) {
      throw preconditionFailed(`${head}received none but current is the value '${show(cur!)}' of type '${RABBIT_TYPE_NAMES[cur!.type]}'`);
    }
    if (cur === undefined) {
      throw preconditionFailed(`${head}received the value '${show(rec)}' of type '${RABBIT_TYPE_NAMES[rec.type]}' but current is none`);
    }
    if (!sameValue(cur, rec)) throw preconditionFailed(`${head}received '${show(rec)}' but current is '${show(cur)}'`);
  }
}

/** Integer types compare by value (I 1000 ≡ l 1000); others need the same type and value. */
function sameValue(a: Field, b: Field): boolean {
  if (INTEGER.has(a.type) && INTEGER.has(b.type)) return intValue(a) === intValue(b);
  if (a.type !== b.type) return false;
  if (a.type === 'x' && b.type === 'x') return a.value.equals(b.value);
  return JSON.stringify(a.value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)) ===
    JSON.stringify(b.value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
}

function show(f: Field): string {
  if (f.type === 'x') return f.value.toString('hex');
  if (typeof f.value === 'object' && f.value !== null) return JSON.stringify(f.value);
  return String(f.value);
}

export function stringArg(args: FieldTable, key: string): string | undefined {
  const f = args.get(key);
  return f?.type === 'S' ? f.value : undefined;
}

export function intArg(args: FieldTable, key: string): number | undefined {
  return intValue(args.get(key));
}
