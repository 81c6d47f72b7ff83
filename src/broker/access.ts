/**
 * Permission checks, where and how RabbitMQ 3.10 makes them (rabbit_channel /
 * rabbit_access_control): configure/write/read regexes per user per vhost, and topic
 * permissions on routing keys for topic exchanges.
 *
 *   exchange.declare (not passive)   configure on the exchange; a new exchange with an AE:
 *                                    read on the exchange, then write on the AE
 *   exchange.delete                  configure on the exchange
 *   exchange.bind/unbind             write on the destination, read on the source
 *   queue.declare (not passive)      configure on the queue; a new queue with a DLX: read on
 *                                    the queue, then write on the DLX
 *   queue.delete                     configure on the queue
 *   queue.purge                      read on the queue
 *   queue.bind/unbind                write on the queue, read on the exchange
 *   basic.publish                    write on the exchange (+ topic write on the routing key)
 *   basic.get / basic.consume        read on the queue
 *   bindings to a topic exchange     + topic read on the binding key
 *
 * rabbitmq-compat details: the default exchange is checked (and named in the refusal) as
 * amq.default; an empty permission string means ^$ (nothing); regexes are unanchored; topic
 * permission regexes have {username} and {vhost} replaced first.
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
/** A topic permission belongs to one user in one vhost: its expansion is fixed. */
const topicCache = new WeakMap<TopicPermission, { write: RegExp; read: RegExp }>();

/** Most exchange names remembered per connection for publish decisions. */
const PUBLISH_CACHE_MAX = 1024;

function compile(p: Permission): Compiled {
  let c = cache.get(p);
  if (c === undefined) {
    c = { configure: anchorless(p.configure), write: anchorless(p.write), read: anchorless(p.read) };
    cache.set(p, c);
  }
  return c;
}

/**
 * RabbitMQ matches permissions with re:run (unanchored); "" means ^$ (rabbit_access_control
 * reads an empty permission as <<"^$">>); an invalid regex matches nothing.
 */
function anchorless(src: string): RegExp {
  if (src === '') return /^$/;
  try {
    return new RegExp(src);
  } catch {
    return /(?!)/;
  }
}

/** rabbitmq-compat (rabbit_auth_backend_internal expand_topic_permission): plain replacement. */
function expandTopic(src: string, user: string, vhost: string): string {
  return src.split('{username}').join(user).split('{vhost}').join(vhost);
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
    return p !== undefined && p[access].test(resourceName(kind, name));
  }

  /**
   * exchange.bind/unbind and queue.bind/unbind (rabbit_channel binding_action): write on the
   * destination; the default exchange as either end is refused; read on the source; when the
   * source is a topic exchange, topic read on the binding key. `sourceType` is undefined when
   * the source does not exist (the caller's 404 comes after these checks).
   */
  checkBinding(destKind: 'queue' | 'exchange', destination: string, source: string, routingKey: string, sourceType: string | undefined): void {
    this.check('write', destKind, destination);
    if ((destKind === 'exchange' && destination === '') || source === '') {
      throw accessRefused('operation not permitted on the default exchange');
    }
    this.check('read', 'exchange', source);
    if (sourceType === 'topic') this.checkTopic('read', source, routingKey);
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
      // bounded: a client publishing to ever new names must not grow it
      if (this.#publishCache.size >= PUBLISH_CACHE_MAX) this.#publishCache.clear();
      this.#publishCache.set(exchange, ok);
    }
    if (!ok) throw this.#refused('exchange', exchange);
  }

  /**
   * Topic permissions (rabbitmq-compat: the caller asks only for topic exchanges; a user
   * without a topic permission for the exchange may use any key).
   */
  checkTopic(access: 'write' | 'read', exchange: string, routingKey: string): void {
    const perms = this.#users.topicPermissions(this.vhost, this.user);
    if (perms.length === 0) return;
    let t: TopicPermission | undefined;
    for (const x of perms) if (x.exchange === exchange) t = x;
    if (t === undefined) return;
    let c = topicCache.get(t);
    if (c === undefined) {
      c = {
        write: anchorless(expandTopic(t.write, this.user, this.vhost)),
        read: anchorless(expandTopic(t.read, this.user, this.vhost)),
      };
      topicCache.set(t, c);
    }
    if (!c[access].test(routingKey)) {
      throw accessRefused(`access to topic '${routingKey}' in exchange '${exchange}' in vhost '${this.vhost}' refused for user '${this.user}'`);
    }
  }

  #refused(kind: 'queue' | 'exchange', name: string): Error {
    return accessRefused(`access to ${kind} '${resourceName(kind, name)}' in vhost '${this.vhost}' refused for user '${this.user}'`);
  }
}

/** rabbitmq-compat: the default exchange is checked, and refused, under the name amq.default. */
function resourceName(kind: 'queue' | 'exchange', name: string): string {
  return kind === 'exchange' && name === '' ? 'amq.default' : name;
}
