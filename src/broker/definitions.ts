/**
 * RabbitMQ's definitions.json: export the broker's topology and import one (from RabbitMQ,
 * from warren's data directory, from --load-definitions or the management API).
 */
import { plain, toField, type FieldTable } from '../protocol/field-table.js';
import type { Broker } from './broker.js';
import type { Exchange } from './exchange/exchange.js';
import type { PolicyTarget } from './policies.js';
import type { HashingAlgorithm } from './users.js';

export interface Definitions {
  rabbit_version?: string;
  rabbitmq_version?: string;
  product_name?: string;
  product_version?: string;
  users?: { name: string; password_hash?: string; password?: string; hashing_algorithm?: string; tags?: string[] | string; limits?: object }[];
  vhosts?: { name: string; limits?: unknown; metadata?: unknown }[];
  permissions?: { user: string; vhost: string; configure: string; write: string; read: string }[];
  topic_permissions?: { user: string; vhost: string; exchange: string; write: string; read: string }[];
  parameters?: unknown[];
  global_parameters?: unknown[];
  policies?: { vhost: string; name: string; pattern: string; 'apply-to'?: string; definition: Record<string, unknown>; priority?: number }[];
  queues?: { name: string; vhost: string; durable?: boolean; auto_delete?: boolean; arguments?: Record<string, unknown> }[];
  exchanges?: { name: string; vhost: string; type: string; durable?: boolean; auto_delete?: boolean; internal?: boolean; arguments?: Record<string, unknown> }[];
  bindings?: { source: string; vhost: string; destination: string; destination_type: string; routing_key: string; arguments?: Record<string, unknown> }[];
}

export interface ExportOptions {
  /** Only durable exchanges, queues and bindings (the data directory's snapshot). */
  durableOnly?: boolean;
  vhost?: string;
  version?: string;
}

function isDurableExchange(x: Exchange): boolean {
  return x.durable && !x.system;
}

export function exportDefinitions(broker: Broker, o: ExportOptions = {}): Definitions {
  const version = o.version ?? '3.10.8';
  const d: Required<Pick<Definitions, 'users' | 'vhosts' | 'permissions' | 'policies' | 'queues' | 'exchanges' | 'bindings'>> & Definitions = {
    rabbit_version: version,
    rabbitmq_version: version,
    product_name: 'RabbitMQ',
    product_version: version,
    users: [],
    vhosts: [],
    permissions: [],
    topic_permissions: [],
    parameters: [],
    global_parameters: [],
    policies: [],
    queues: [],
    exchanges: [],
    bindings: [],
  };
  if (o.vhost === undefined) {
    for (const u of broker.users.all()) {
      d.users.push({ name: u.name, password_hash: u.passwordHash, hashing_algorithm: u.hashingAlgorithm, tags: [...u.tags], limits: {} });
    }
    for (const v of broker.vhosts.keys()) d.vhosts.push({ name: v });
    for (const p of broker.users.permissions()) d.permissions.push({ user: p.user, vhost: p.vhost, ...p.permission });
    for (const t of broker.users.allTopicPermissions()) d.topic_permissions!.push({ user: t.user, vhost: t.vhost, ...t.permission });
  }
  for (const p of broker.policies.list(o.vhost)) {
    d.policies.push({ vhost: p.vhost, name: p.name, pattern: p.pattern, 'apply-to': p.applyTo, definition: p.definition, priority: p.priority });
  }
  for (const vhost of broker.vhosts.values()) {
    if (o.vhost !== undefined && vhost.name !== o.vhost) continue;
    for (const q of vhost.queues.values()) {
      if (q.exclusive || (o.durableOnly && !q.durable)) continue;
      d.queues.push({ name: q.name, vhost: vhost.name, durable: q.durable, auto_delete: q.autoDelete, arguments: plain(q.arguments) });
    }
    for (const x of vhost.exchanges.values()) {
      if (x.system || (o.durableOnly && !isDurableExchange(x))) continue;
      d.exchanges.push({
        name: x.name,
        vhost: vhost.name,
        type: x.type,
        durable: x.durable,
        auto_delete: x.autoDelete,
        internal: x.internal,
        arguments: plain(x.arguments),
      });
    }
    for (const x of vhost.exchanges.values()) {
      if (x.name === '') continue;
      if (o.durableOnly && !x.durable) continue;
      for (const b of x.router.bindings()) {
        const dest = b.destination;
        if (dest.kind === 'queue' && (dest.exclusive || (o.durableOnly && !dest.durable))) continue;
        if (dest.kind === 'exchange' && o.durableOnly && !dest.durable) continue;
        d.bindings.push({
          source: x.name,
          vhost: vhost.name,
          destination: dest.name,
          destination_type: dest.kind,
          routing_key: b.routingKey,
          arguments: plain(b.args),
        });
      }
    }
  }
  return d;
}

export function toTable(obj: Record<string, unknown> | undefined): FieldTable {
  const t: FieldTable = new Map();
  if (obj !== undefined && obj !== null) for (const k of Object.keys(obj)) t.set(k, toField(obj[k]));
  return t;
}

/**
 * Imports definitions; existing objects are kept (redeclared with the same properties),
 * missing ones created. `owner` is the connection identity used for queue declarations.
 */
export function importDefinitions(broker: Broker, d: Definitions, vhostOverride?: string): void {
  for (const v of d.vhosts ?? []) broker.addVhost(v.name);
  for (const u of d.users ?? []) {
    const tags = Array.isArray(u.tags) ? u.tags : typeof u.tags === 'string' && u.tags !== '' ? u.tags.split(',') : [];
    if (u.password_hash !== undefined) {
      broker.users.put({
        name: u.name,
        passwordHash: u.password_hash,
        hashingAlgorithm: (u.hashing_algorithm ?? 'rabbit_password_hashing_sha256') as HashingAlgorithm,
        tags,
      });
    } else {
      broker.users.add(u.name, u.password ?? '', tags);
    }
  }
  for (const p of d.permissions ?? []) {
    broker.addVhost(p.vhost);
    broker.users.setPermission(p.vhost, p.user, { configure: p.configure, write: p.write, read: p.read });
  }
  for (const t of d.topic_permissions ?? []) {
    broker.addVhost(t.vhost);
    broker.users.setTopicPermission(t.vhost, t.user, { exchange: t.exchange, write: t.write, read: t.read });
  }
  const vh = (name: string): string => vhostOverride ?? name;
  for (const p of d.policies ?? []) {
    broker.addVhost(vh(p.vhost));
    broker.policies.put({
      vhost: vh(p.vhost),
      name: p.name,
      pattern: p.pattern,
      applyTo: (p['apply-to'] ?? 'all') as PolicyTarget,
      priority: p.priority ?? 0,
      definition: p.definition,
    });
  }
  for (const x of d.exchanges ?? []) {
    const vhost = broker.addVhost(vh(x.vhost));
    if (x.name === '' || x.name.startsWith('amq.')) continue;
    vhost.declareExchange(x.name, x.type, {
      passive: false,
      durable: x.durable ?? true,
      autoDelete: x.auto_delete ?? false,
      internal: x.internal ?? false,
      arguments: toTable(x.arguments),
    });
  }
  for (const q of d.queues ?? []) {
    const vhost = broker.addVhost(vh(q.vhost));
    vhost.declareQueue(
      q.name,
      { passive: false, durable: q.durable ?? true, exclusive: false, autoDelete: q.auto_delete ?? false, arguments: toTable(q.arguments) },
      IMPORT_OWNER,
    );
  }
  for (const b of d.bindings ?? []) {
    const vhost = broker.addVhost(vh(b.vhost));
    if (b.destination_type === 'exchange') vhost.bindExchange(b.destination, b.source, b.routing_key, toTable(b.arguments));
    else vhost.bindQueue(b.destination, b.source, b.routing_key, toTable(b.arguments), IMPORT_OWNER);
  }
}

/** Declarations that come from definitions belong to no connection. */
export const IMPORT_OWNER = Object.freeze({ importer: true });

