/**
 * Permission checks, where and how RabbitMQ 3.10 makes them (rabbit_channel /
 * rabbit_access_control): configure/write/read regexes per user per vhost, and topic
 * permissions on routing keys for topic exchanges.
 *
 *   exchange.declare (not passive)   configure on the exchange (+ write on its AE, read on it)
 *   exchange.delete                  configure on the exchange
 *   exchange.bind/unbind             write on the destination, read on the source
 *   queue.declare (not passive)      configure on the queue (+ DLX: write on the DLX, read on the queue)
 *   queue.delete                     configure on the queue
 *   queue.purge                      read on the queue
 *   queue.bind/unbind                write on the queue, read on the exchange
 *   basic.publish                    write on the exchange (+ topic write on the routing key)
 *   basic.get / basic.consume        read on the queue
 *
 * A refusal is 403 ACCESS_REFUSED with RabbitMQ's text. Regexes are compiled once per
 * permission; publish results are cached per exchange name.
 */
import { accessRefused } from './errors.js';
import type { Permission, TopicPermission, Users } from './users.js';

export type Access = 'configure' | 'write' | 'read';

interface Compiled {
  configure: RegExp;
  write: RegExp;
  read: RegExp;
}

const cache = new WeakMap<Permission, Compiled>();

function compile(p: Permission): Compiled {
  let c = cache.get(p);
  if (c === undefined) {
    c = { configure: anchorless(p.configure), write: anchorless(p.write), read: anchorless(p.read) };
    cache.set(p, c);
  }
  return c;
}

/** RabbitMQ matches permissions with re:run (unanchored); an invalid regex matches nothing. */
function anchorless(src: string): RegExp {
  try {
    return new RegExp(src);
  } catch {
    return /(?!)/;
  }
}

export class AccessChecker {
  readonly #users: Users;
  readonly user: string;
  readonly vhost: string;
  /** exchange name → allowed to publish (cleared when permissions change) */
  readonly #publishCache = new Map<string, boolean>();
  #version = -1;

  constructor(users: Users, user: string, vhost: string) {
    this.#users = users;
    this.user = user;
    this.vhost = vhost;
  }

  #permission(): Compiled | undefined {
    const p = this.#users.permission(this.vhost, this.user);
    return p === undefined ? undefined : compile(p);
  }

  /** Throws 403 unless the user has `access` on the resource. */
  check(access: Access, kind: 'queue' | 'exchange', name: string): void {
    if (!this.allowed(access, kind, name)) throw this.#refused(kind, name);
  }

  allowed(access: Access, kind: 'queue' | 'exchange', name: string): boolean {
    const p = this.#permission();
    // rabbitmq-compat: the default exchange is checked under the name amq.default
    const resource = kind === 'exchange' && name === '' ? 'amq.default' : name;
    return p !== undefined && p[access].test(resource);
  }

  /** basic.publish: write on the exchange, cached per exchange name. */
  checkPublish(exchange: string): void {
    if (this.#version !== this.#users.version) {
      this.#publishCache.clear();
      this.#version = this.#users.version;
    }
    let ok = this.#publishCache.get(exchange);
    if (ok === undefined) {
      ok = this.allowed('write', 'exchange', exchange);
      this.#publishCache.set(exchange, ok);
    }
    if (!ok) throw this.#refused('exchange', exchange);
  }

  /** Topic permissions (rabbitmq-compat: only for topic exchanges, when any are set). */
  checkTopic(access: 'write' | 'read', exchange: string, routingKey: string): void {
    const perms = this.#users.topicPermissions(this.vhost, this.user);
    if (perms.length === 0) return;
    const relevant = perms.filter((t: TopicPermission) => t.exchange === exchange);
    if (relevant.length === 0) return;
    const ok = relevant.some((t) => anchorless(access === 'write' ? t.write : t.read).test(routingKey));
    if (!ok) {
      throw accessRefused(`access to topic '${routingKey}' in exchange '${exchange}' in vhost '${this.vhost}' refused for user '${this.user}'`);
    }
  }

  #refused(kind: 'queue' | 'exchange', name: string): Error {
    return accessRefused(`access to ${kind} '${name}' in vhost '${this.vhost}' refused for user '${this.user}'`);
  }
}
