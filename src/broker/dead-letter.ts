/**
 * Dead-lettering: a message leaving a queue with reason rejected, expired, maxlen or
 * delivery_limit is republished to the queue's dead-letter exchange with the x-death header
 * RabbitMQ 3.10 writes (../shared/reference/headers.md):
 *
 *  - x-death is an array of tables, most recent first, one per (queue, reason); a repeat
 *    increments `count` and moves the entry to the front;
 *  - a first-ever entry has keys in the order count, reason, queue, time, exchange,
 *    routing-keys[, original-expiration]; entries written when x-death already existed come
 *    out with their keys sorted (RabbitMQ re-sorts the table it updates);
 *  - x-first-death-reason/-queue/-exchange are set once;
 *  - the expiration property moves to original-expiration; BCC is removed; routing-keys
 *    holds the routing key plus CC.
 *
 * Cycles (rabbitmq-compat: rabbit_dead_letter:detect_cycles): a message is not delivered
 * to a queue it already died in, unless a rejection happened somewhere in the cycle.
 */
import type { BasicProperties } from '../protocol/generated.js';
import type { Field, FieldTable } from '../protocol/field-table.js';
import { Message } from './message.js';
import type { Queue } from './queue.js';

export type DeadLetterReason = 'rejected' | 'expired' | 'maxlen' | 'delivery_limit';

export function deadLetter(queue: Queue, msg: Message, reason: DeadLetterReason): void {
  const dlxName = queue.deadLetterExchange;
  if (dlxName === undefined) return;
  const vhost = queue.vhost;
  const dlx = vhost.exchanges.get(dlxName);
  if (dlx === undefined) return; // rabbitmq-compat: a missing DLX drops the message

  const props: BasicProperties = { ...msg.properties };
  const headers: FieldTable = new Map(props.headers ?? []);
  const routingKeys: Field[] = [{ type: 'S', value: msg.routingKey }];
  const cc = headers.get('CC');
  if (cc?.type === 'A') for (const k of cc.value) if (k.type === 'S') routingKeys.push(k);
  headers.delete('BCC');

  const now = Math.floor(Date.now() / 1000);
  const existing = headers.get('x-death');
  const deaths: Field[] = existing?.type === 'A' ? [...existing.value] : [];
  let found = -1;
  for (let i = 0; i < deaths.length; i++) {
    const d = deaths[i]!;
    if (d.type !== 'F') continue;
    const q = d.value.get('queue');
    const r = d.value.get('reason');
    if (q?.type === 'S' && q.value === queue.name && r?.type === 'S' && r.value === reason) found = i;
  }
  if (found >= 0) {
    const old = (deaths[found] as { type: 'F'; value: FieldTable }).value;
    const count = old.get('count');
    const updated = new Map(old);
    updated.set('count', { type: 'l', value: (count === undefined ? 0 : Number(count.value)) + 1 });
    deaths.splice(found, 1);
    deaths.unshift({ type: 'F', value: sortKeys(updated) });
  } else {
    const entry: FieldTable = new Map();
    entry.set('count', { type: 'l', value: 1 });
    entry.set('reason', { type: 'S', value: reason });
    entry.set('queue', { type: 'S', value: queue.name });
    entry.set('time', { type: 'T', value: now });
    entry.set('exchange', { type: 'S', value: msg.exchange });
    entry.set('routing-keys', { type: 'A', value: routingKeys });
    if (props.expiration !== undefined) entry.set('original-expiration', { type: 'S', value: props.expiration });
    deaths.unshift({ type: 'F', value: existing === undefined ? entry : sortKeys(entry) });
  }
  headers.set('x-death', { type: 'A', value: deaths });
  if (!headers.has('x-first-death-exchange')) {
    headers.set('x-first-death-exchange', { type: 'S', value: msg.exchange });
    headers.set('x-first-death-queue', { type: 'S', value: queue.name });
    headers.set('x-first-death-reason', { type: 'S', value: reason });
  }
  props.headers = headers;
  props.expiration = undefined;

  const dlrk = queue.deadLetterRoutingKey;
  const keys = dlrk !== undefined ? [dlrk] : routingKeys.map((k) => k.value as string);
  const out: Queue[] = [];
  for (const rk of keys) {
    const m = Message.fromProperties(dlxName, rk, props, msg.body);
    vhost.route(dlx, m, out);
  }
  if (out.length === 0) return;
  // one message object for every target, as for a normal publish
  const dead = Message.fromProperties(dlxName, keys[0]!, props, msg.body);
  const targets: Queue[] = [];
  for (const q of out) if (!targets.includes(q) && !isCycle(deaths, q.name)) targets.push(q);
  vhost.deliverTo(dead, targets);
}

function isCycle(deaths: Field[], target: string): boolean {
  // walk from the most recent death; reaching the target without a rejection on the way
  // means the message would loop forever through automatic reasons
  for (const d of deaths) {
    if (d.type !== 'F') continue;
    const reason = d.value.get('reason');
    const q = d.value.get('queue');
    if (reason?.type === 'S' && reason.value === 'rejected') return false;
    if (q?.type === 'S' && q.value === target) return true;
  }
  return false;
}

function sortKeys(t: FieldTable): FieldTable {
  return new Map([...t.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
