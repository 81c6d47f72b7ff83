/**
 * Exchanges and bindings as RabbitMQ 3.10 shows them (management-samples/exchanges.json,
 * exchange-*.json, bindings.json). The default exchange is listed with name "" and every
 * queue is shown bound to it with its own name as key, as RabbitMQ does.
 */
import { createHash } from 'node:crypto';
import type { Exchange } from '../../broker/exchange/exchange.js';
import type { VHost } from '../../broker/vhost.js';
import type { FieldTable } from '../../protocol/field-table.js';
import type { ManagementContext } from '../context.js';
import { details, tableJson } from './format.js';

export function exchangeJson(ctx: ManagementContext, vhost: VHost, x: Exchange, single = false): Record<string, unknown> {
  const out: Record<string, unknown> = {
    arguments: tableJson(x.arguments),
    auto_delete: x.autoDelete,
    durable: x.durable,
  };
  if (single) out['incoming'] = [];
  out['internal'] = x.internal;
  if (x.publishIn > 0 || x.publishOut > 0) {
    const r = ctx.stats.exchangeRates(x);
    out['message_stats'] = {
      publish_in: x.publishIn,
      publish_in_details: details(r.publishIn),
      publish_out: x.publishOut,
      publish_out_details: details(r.publishOut),
    };
  }
  out['name'] = x.name;
  if (single) out['outgoing'] = [];
  out['type'] = x.type;
  out['user_who_performed_action'] = x.system || x.name === '' ? 'rmq-internal' : (ctx.meta.exchangeCreators.get(x) ?? ctx.config.defaultUser);
  out['vhost'] = vhost.name;
  return out;
}

export interface BindingJson {
  source: string;
  vhost: string;
  destination: string;
  destination_type: 'queue' | 'exchange';
  routing_key: string;
  arguments: Record<string, unknown>;
  properties_key: string;
}

/** Every binding of a vhost, the implicit default-exchange ones first. */
export function vhostBindings(vhost: VHost): BindingJson[] {
  const out: BindingJson[] = [];
  for (const q of vhost.queues.values()) out.push(bindingJson(vhost.name, '', q.name, 'queue', q.name, new Map()));
  for (const x of vhost.exchanges.values()) {
    if (x.name === '') continue;
    for (const b of x.router.bindings()) {
      out.push(bindingJson(vhost.name, x.name, b.destination.name, b.destination.kind, b.routingKey, b.args));
    }
  }
  return out;
}

export function bindingJson(
  vhost: string,
  source: string,
  destination: string,
  kind: 'queue' | 'exchange',
  routingKey: string,
  args: FieldTable,
): BindingJson {
  return {
    source,
    vhost,
    destination,
    destination_type: kind,
    routing_key: routingKey,
    arguments: tableJson(args),
    properties_key: propertiesKey(routingKey, args),
  };
}

/**
 * RabbitMQ's binding "props" id (rabbit_mgmt_format:pack_binding_props): the quoted routing
 * key, "~" plus a short hash of the arguments when there are any, "~" alone for an empty key
 * without arguments. The hash is ours (RabbitMQ uses erlang:phash2), same length and alphabet;
 * clients only pass back what they were given.
 */
export function propertiesKey(routingKey: string, args: FieldTable): string {
  if (args.size === 0) return routingKey === '' ? '~' : quoteBinding(routingKey);
  return `${quoteBinding(routingKey)}~${quoteBinding(argsHash(args))}`;
}

export function argsHash(args: FieldTable): string {
  const canonical = JSON.stringify(tableJson(args));
  return createHash('sha256').update(canonical).digest().subarray(0, 4).toString('base64url');
}

/** mochiweb's quote_plus (alphanumerics and .-~_ kept, space as +), then ~ as %7E. */
export function quoteBinding(s: string): string {
  let out = '';
  for (const byte of Buffer.from(s, 'utf8')) {
    const c = String.fromCharCode(byte);
    if (/[A-Za-z0-9.\-_]/.test(c)) out += c;
    else if (c === ' ') out += '+';
    else out += '%' + byte.toString(16).toUpperCase().padStart(2, '0');
  }
  return out;
}

/** Inverse of propertiesKey's key part: "+" is a space, %XX a byte. */
export function unquoteBinding(s: string): string {
  return decodeURIComponent(s.replace(/\+/g, ' '));
}
