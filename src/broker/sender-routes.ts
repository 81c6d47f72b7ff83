/**
 * Sender-selected distribution (rabbitmq-compat: rabbit_basic:header_routes, strip_bcc): the
 * CC and BCC headers, arrays of longstr, add routing keys to a publish; BCC is removed from
 * the message before any queue (or a basic.return) sees it.
 *
 * The BCC keys stay known to the broker (not to consumers): dead-lettering without a
 * dead-letter routing key routes with every key of the original publish, BCC ones included
 * (rabbitmq-compat: #basic_message.routing_keys).
 *
 * Hot path: a message without headers costs one flag test, one with headers two
 * Buffer.indexOf scans of its raw properties; only a message that names CC or BCC is decoded.
 */
import type { FieldTable } from '../protocol/field-table.js';
import { PROPERTY_FLAG, hasProperty, type Message } from './message.js';

/** BCC keys of messages whose BCC header was removed. */
const bccKeys = new WeakMap<Message, string[]>();

/** The BCC keys `msg` was published (or dead-lettered) with, if any. */
export function hiddenBccKeys(msg: Message): string[] | undefined {
  return bccKeys.get(msg);
}

/** Carries BCC keys over to a message made from another (dead-lettering). */
export function keepBccKeys(msg: Message, keys: string[]): void {
  bccKeys.set(msg, keys);
}

// a field-table key is a shortstr: length octet + name
const CC_KEY = Buffer.from('\x02CC', 'latin1');
const BCC_KEY = Buffer.from('\x03BCC', 'latin1');

/** The extra routing keys of `msg` (CC then BCC), or undefined; strips BCC from `msg`. */
export function senderSelectedKeys(msg: Message): string[] | undefined {
  if (!hasProperty(msg, PROPERTY_FLAG.headers)) return undefined;
  const raw = msg.propsRaw;
  const hasBcc = raw.indexOf(BCC_KEY) >= 0;
  if (!hasBcc && raw.indexOf(CC_KEY) < 0) return undefined;
  const props = msg.properties;
  const headers = props.headers;
  if (headers === undefined) return undefined;
  let keys: string[] | undefined;
  for (const name of ['CC', 'BCC']) {
    const f = headers.get(name);
    if (f?.type === 'A') for (const k of f.value) if (k.type === 'S') (keys ??= []).push(k.value);
  }
  const bcc = hasBcc ? headers.get('BCC') : undefined;
  if (bcc !== undefined) {
    if (bcc.type === 'A') bccKeys.set(msg, bcc.value.flatMap((k) => (k.type === 'S' ? [k.value] : [])));
    const stripped: FieldTable = new Map(headers);
    stripped.delete('BCC');
    msg.setProperties({ ...props, headers: stripped });
  }
  return keys;
}
