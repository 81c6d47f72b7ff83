/**
 * RabbitMQ's definitions.json over the API: GET /api/definitions[/vhost] exports, POST
 * imports, and --load-definitions imports a file at start. The topology (users, vhosts,
 * permissions, topic permissions, policies, queues, exchanges, bindings) goes through the
 * broker's own export/import (src/broker/definitions.ts, which the data directory uses too);
 * this adds what only the management layer keeps (vhost descriptions and tags, runtime and
 * global parameters, user limits), RabbitMQ's key order, and 400 answers for bad input.
 *
 * A file exported from RabbitMQ 3.x imports here (users keep their password_hash and
 * hashing_algorithm) and the export imports back into RabbitMQ.
 */
import { readFileSync } from 'node:fs';
import type { Broker } from '../broker/broker.js';
import { exportDefinitions as brokerExport, importDefinitions as brokerImport, type Definitions } from '../broker/definitions.js';
import { AmqpError } from '../broker/errors.js';
import { badRequest, detailOf, HttpError } from './http-error.js';
import { tagList } from './json/format.js';
import type { ManagementMeta } from './meta.js';
import { parameterJson } from './routes/policies.js';
import { putUser, userJson } from './user-admin.js';
import { createVhost } from './vhost-admin.js';

export interface DefinitionsTarget {
  broker: Broker;
  meta: ManagementMeta;
}

type Json = Record<string, unknown>;

/** Arguments with sorted keys, as RabbitMQ stores declared arguments. */
function sortedArgs<T extends { arguments?: Record<string, unknown> }>(o: T): T {
  const a = o.arguments ?? {};
  return { ...o, arguments: Object.fromEntries(Object.keys(a).sort().map((k) => [k, a[k]])) };
}

/** rabbitmq-compat: bindings are listed by vhost, then source exchange. */
function sortedBindings(d: Definitions): NonNullable<Definitions['bindings']> {
  const order = new Map<string, number>();
  for (const b of d.bindings ?? []) if (!order.has(b.vhost)) order.set(b.vhost, order.size);
  return [...(d.bindings ?? [])].sort((a, b) => order.get(a.vhost)! - order.get(b.vhost)! || (a.source < b.source ? -1 : a.source > b.source ? 1 : 0));
}

export function exportDefinitions(t: DefinitionsTarget, version: string, product: string): Json {
  const { broker, meta } = t;
  const d = brokerExport(broker, { version });
  return {
    rabbit_version: version,
    rabbitmq_version: version,
    product_name: product,
    product_version: version,
    users: [...broker.users.all()].map(userJson),
    vhosts: [...broker.vhosts.keys()].map((name) => {
      const m = meta.vhost(name);
      // rabbitmq-compat: 3.10 exports the name only; metadata is added when there is some
      if (m.tags.length === 0 && (m.description === '' || m.description === 'Default virtual host')) return { name };
      return { name, description: m.description, tags: m.tags, metadata: { description: m.description, tags: m.tags } };
    }),
    permissions: d.permissions,
    topic_permissions: d.topic_permissions,
    parameters: meta.parameters().map(parameterJson),
    global_parameters: [...meta.globalParameters].map(([name, value]) => ({ name, value })),
    policies: d.policies,
    queues: (d.queues ?? []).map(sortedArgs),
    exchanges: (d.exchanges ?? []).map(sortedArgs),
    bindings: sortedBindings(d).map(sortedArgs),
  };
}

export function exportVhostDefinitions(t: DefinitionsTarget, vhost: string, version: string): Json {
  const d = brokerExport(t.broker, { vhost, version });
  const strip = <T extends { vhost?: string }>(o: T): Omit<T, 'vhost'> => {
    const { vhost: _v, ...rest } = o;
    return rest;
  };
  return {
    rabbit_version: version,
    parameters: t.meta.parameters().filter((p) => p.vhost === vhost).map(parameterJson),
    policies: d.policies,
    queues: (d.queues ?? []).map(sortedArgs).map(strip),
    exchanges: (d.exchanges ?? []).map(sortedArgs).map(strip),
    bindings: sortedBindings(d).map(sortedArgs).map(strip),
  };
}

/**
 * Imports a definitions object. With `onlyVhost` (POST /api/definitions/{vhost}) only
 * policies, parameters, queues, exchanges and bindings are read, all into that vhost.
 * Bad input is a 400 with the reason; what was imported before the bad item stays, as in
 * RabbitMQ.
 */
export function importDefinitions(t: DefinitionsTarget, defs: unknown, onlyVhost?: string): void {
  if (defs === null || typeof defs !== 'object' || Array.isArray(defs)) throw badRequest('not_json');
  const d = defs as Json;
  const { broker, meta } = t;
  const list = (key: string): Json[] => {
    const v = d[key];
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v) || v.some((x) => x === null || typeof x !== 'object')) throw badRequest(`definitions: ${key} must be a list of objects`);
    return v as Json[];
  };
  const named = (o: Json, key: string, what: string): void => {
    if (typeof o[key] !== 'string') throw badRequest(`definitions: ${what} without ${key}: ${JSON.stringify(o)}`);
  };
  const scoped = (key: string): Json[] =>
    list(key).map((o) => {
      if (onlyVhost !== undefined) return { ...o, vhost: onlyVhost };
      named(o, 'vhost', key);
      return o;
    });

  const topology: Definitions = {
    policies: scoped('policies') as Definitions['policies'],
    queues: scoped('queues') as Definitions['queues'],
    exchanges: scoped('exchanges') as Definitions['exchanges'],
    bindings: scoped('bindings') as Definitions['bindings'],
  };
  for (const q of topology.queues!) named(q as unknown as Json, 'name', 'queue');
  for (const x of topology.exchanges!) named(x as unknown as Json, 'name', 'exchange');
  for (const b of topology.bindings!) for (const k of ['source', 'destination']) named(b as unknown as Json, k, 'binding');
  // the default exchange's bindings are implicit (a RabbitMQ export never has them)
  topology.bindings = topology.bindings!.filter((b) => b.source !== '');

  if (onlyVhost === undefined) {
    for (const u of list('users')) {
      named(u, 'name', 'user');
      putUser(broker, u['name'] as string, u);
    }
    for (const v of list('vhosts')) {
      named(v, 'name', 'vhost');
      const md = (v['metadata'] ?? {}) as Json;
      const description = v['description'] ?? md['description'];
      const tags = v['tags'] ?? md['tags'];
      createVhost(broker, meta, v['name'] as string, {
        ...(description !== undefined ? { description: String(description) } : {}),
        ...(tags !== undefined ? { tags: tagList(tags) } : {}),
        ...(v['default_queue_type'] !== undefined ? { defaultQueueType: String(v['default_queue_type']) } : {}),
      });
    }
    for (const p of list('permissions')) for (const k of ['vhost', 'user', 'configure', 'write', 'read']) named(p, k, 'permission');
    for (const p of list('topic_permissions')) for (const k of ['vhost', 'user', 'exchange']) named(p, k, 'topic permission');
    topology.permissions = list('permissions') as Definitions['permissions'];
    topology.topic_permissions = list('topic_permissions').map((p) => ({ write: '.*', read: '.*', ...p })) as Definitions['topic_permissions'];
    for (const g of list('global_parameters')) {
      named(g, 'name', 'global parameter');
      meta.globalParameters.set(g['name'] as string, g['value']);
    }
  }
  for (const p of list('parameters')) {
    for (const k of ['component', 'name']) named(p, k, 'parameter');
    const vhost = onlyVhost ?? String(p['vhost'] ?? '/');
    broker.addVhost(vhost);
    meta.setParameter({ vhost, component: p['component'] as string, name: p['name'] as string, value: p['value'] });
  }
  try {
    brokerImport(broker, topology, onlyVhost);
  } catch (err) {
    if (err instanceof AmqpError) throw badRequest(detailOf(err.replyText));
    if (err instanceof HttpError) throw err;
    throw badRequest(`Validation failed\n\n${(err as Error).message}\n`);
  }
}

/** --load-definitions FILE: read, parse and import; errors name the file. */
export function loadDefinitionsFile(t: DefinitionsTarget, path: string): void {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new Error(`cannot read definitions file ${path}: ${(err as Error).message}`);
  }
  let defs: unknown;
  try {
    defs = JSON.parse(text);
  } catch (err) {
    throw new Error(`definitions file ${path} is not JSON: ${(err as Error).message}`);
  }
  try {
    importDefinitions(t, defs);
  } catch (err) {
    const e = err as Error & { reason?: string };
    throw new Error(`cannot import definitions file ${path}: ${e.reason ?? e.message}`);
  }
}
