/**
 * Dead-lettering: a message leaving a queue with reason rejected, expired, maxlen or
 * delivery_limit is republished to the queue's dead-letter exchange with the headers RabbitMQ
 * 3.10 writes (rabbit_dead_letter:make_msg; ../shared/reference/headers.md section 1):
 *
 *  - x-death is an array of tables, one per (queue, reason). A first death writes
 *    [count, reason, queue, time, exchange, routing-keys(, original-expiration)] and the
 *    x-first-death-reason/-queue/-exchange headers;
 *  - a later death puts its entry first with sorted keys: a new (queue, reason) gets count 1,
 *    a known one has only its count incremented (time, exchange, routing-keys stay). With two
 *    or more entries already there, RabbitMQ regroups them and the others come out in
 *    REVERSED order, their keys untouched (rabbitmq-compat: group_by_queue_and_reason folds
 *    without reversing back; recorded in test/wire/queue-features/dead-lettering.test.ts);
 *  - the whole headers table is then sorted by key (rabbit_misc:set_table_value);
 *  - the expiration property moves to original-expiration; routing-keys holds the routing
 *    key plus the CC header keys; the message is routed with those and the BCC keys of its
 *    publish, or, with x-dead-letter-routing-key, with that key alone, losing its CC header.
 *
 * Cycles (rabbitmq-compat: rabbit_dead_letter:detect_cycles): a message is not delivered
 * to a queue it already died in, unless a rejection happened somewhere in the cycle.
 */
import type { BasicProperties } from '../protocol/generated.js';
import type { Field, FieldTable } from '../protocol/field-table.js';
import { Message } from './message.js';
import type { Queue } from './queue.js';
import { hiddenBccKeys, keepBccKeys } from './sender-routes.js';

export type DeadLetterReason = 'rejected' | 'expired' | 'maxlen' | 'delivery_limit';

export function deadLetter(queue: Queue, msg: Message, reason: DeadLetterReason): void {
  const dlxName = queue.deadLetterExchange;
  if (dlxName === undefined) return;
  const vhost = queue.vhost;
  const dlx = vhost.exchanges.get(dlxName);
  if (dlx === undefined) return; // rabbitmq-compat: a missing DLX drops the message

  const props: BasicProperties = { ...msg.properties };
  const headers: FieldTable = new Map(props.headers ?? []);
  // rabbitmq-compat: the first routing key is the publish's, the others come from CC and BCC
  const routingKeys: Field[] = [{ type: 'S', value: msg.routingKey }];
  for (const h of ROUTING_HEADERS) {
    const v = headers.get(h);
    if (v?.type === 'A') for (const k of v.value) if (k.type === 'S') routingKeys.push(k);
  }

  const info: FieldTable = new Map();
  info.set('reason', { type: 'S', value: reason });
  info.set('queue', { type: 'S', value: queue.name });
  info.set('time', { type: 'T', value: Math.floor(Date.now() / 1000) });
  info.set('exchange', { type: 'S', value: msg.exchange });
  info.set('routing-keys', { type: 'A', value: routingKeys });
  if (props.expiration !== undefined) info.set('original-expiration', { type: 'S', value: props.expiration });

  const existing = headers.get('x-death');
  let deaths: Field[];
  if (existing === undefined) {
    const entry: FieldTable = new Map([['count', { type: 'l', value: 1 }]]);
    for (const [k, v] of info) entry.set(k, v);
    deaths = [{ type: 'F', value: entry }];
    headers.set('x-first-death-reason', { type: 'S', value: reason });
    headers.set('x-first-death-queue', { type: 'S', value: queue.name });
    headers.set('x-first-death-exchange', { type: 'S', value: msg.exchange });
  } else {
    const tables = existing.type === 'A' ? grouped(existing.value) : [];
    let entry: FieldTable | undefined;
    const others: Field[] = [];
    for (const t of tables) {
      if (entry === undefined && t.type === 'F' && strField(t.value, 'queue') === queue.name && strField(t.value, 'reason') === reason) {
        entry = new Map(t.value);
        const count = t.value.get('count');
        entry.set('count', { type: 'l', value: count === undefined ? 1 : Number(count.value) + 1 });
      } else others.push(t);
    }
    if (entry === undefined) {
      entry = new Map([['count', { type: 'l', value: 1 }]]);
      for (const [k, v] of info) entry.set(k, v);
    }
    deaths = [{ type: 'F', value: sortTable(entry) }, ...others];
  }
  headers.set('x-death', { type: 'A', value: deaths });

  const dlrk = queue.deadLetterRoutingKey;
  // rabbitmq-compat: a dead-letter routing key replaces the keys, and CC goes with them
  if (dlrk !== undefined) headers.delete('CC');
  props.headers = sortTable(headers);
  props.expiration = undefined;

  // routed once: route() adds the CC keys still in the headers (no dead-letter routing key)
  // and the BCC keys of the original publish, which no header shows any more
  const dead = Message.fromProperties(dlxName, dlrk ?? msg.routingKey, props, msg.body);
  const bcc = dlrk === undefined ? hiddenBccKeys(msg) : undefined;
  if (bcc !== undefined) keepBccKeys(dead, bcc);
  const out: Queue[] = [];
  vhost.route(dlx, dead, out, bcc);
  if (out.length === 0) return;
  let n = 0;
  for (const q of out) if (!isCycle(deaths, q.name)) out[n++] = q;
  out.length = n;
  if (n > 0) vhost.deliverTo(dead, out);
}

const ROUTING_HEADERS = ['CC', 'BCC'];

function strField(t: FieldTable, key: string): string | undefined {
  const f = t.get(key);
  return f?.type === 'S' ? f.value : undefined;
}

/**
 * rabbitmq-compat (rabbit_dead_letter:group_by_queue_and_reason): with two or more entries,
 * one per (queue, reason) survives (the first), a missing count becomes the number of
 * duplicates, and the result comes out in reverse order.
 */
function grouped(tables: Field[]): Field[] {
  if (tables.length < 2) return tables;
  const out: Field[] = [];
  const seen = new Set<string>();
  for (const t of tables) {
    if (t.type !== 'F') continue;
    const q = strField(t.value, 'queue');
    const r = strField(t.value, 'reason');
    const key = `${q ?? ''}\u0000${r ?? ''}`;
    if (seen.has(key)) continue;
    seen.add(key);
    if (t.value.has('count')) out.push(t);
    else {
      let n = 0;
      for (const u of tables) if (u.type === 'F' && strField(u.value, 'queue') === q && strField(u.value, 'reason') === r) n++;
      out.push({ type: 'F', value: new Map<string, Field>([['count', { type: 'l', value: n }], ...t.value]) });
    }
  }
  return out.reverse();
}

function isCycle(deaths: Field[], target: string): boolean {
  // walk from the most recent death; reaching the target without a rejection on the way
  // means the message would loop forever through automatic reasons; anything that is not a
  // table was put there by a client, so the cycle is not "fully automatic"
  for (const d of deaths) {
    if (d.type !== 'F') return false;
    if (strField(d.value, 'reason') === 'rejected') return false;
    if (strField(d.value, 'queue') === target) return true;
  }
  return false;
}

/** Keys in byte order, as Erlang sorts binaries (rabbit_misc:sort_field_table). */
export function sortTable(t: FieldTable): FieldTable {
  return new Map([...t.entries()].sort(([a], [b]) => Buffer.compare(Buffer.from(a), Buffer.from(b))));
}
