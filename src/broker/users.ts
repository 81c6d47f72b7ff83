/**
 * Users, password hashes and per-vhost permissions.
 *
 * Hashes use RabbitMQ's scheme (rabbit_password_hashing_sha256, the 3.6+ default) so a
 * definitions.json exported from RabbitMQ imports as-is:
 *   password_hash = base64( salt[4] ++ sha256( salt[4] ++ utf8(password) ) )
 * MD5 (rabbit_password_hashing_md5, pre-3.6 exports) and SHA-512 are verified the same way.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

export type HashingAlgorithm = 'rabbit_password_hashing_sha256' | 'rabbit_password_hashing_sha512' | 'rabbit_password_hashing_md5';

export interface Permission {
  configure: string;
  write: string;
  read: string;
}

export interface TopicPermission {
  exchange: string;
  write: string;
  read: string;
}

export interface User {
  name: string;
  passwordHash: string;
  hashingAlgorithm: HashingAlgorithm;
  tags: string[];
  /** RabbitMQ's user limits (max-connections, max-channels); absent = none. */
  limits?: { maxConnections?: number; maxChannels?: number };
}

const DIGEST: Record<HashingAlgorithm, string> = {
  rabbit_password_hashing_sha256: 'sha256',
  rabbit_password_hashing_sha512: 'sha512',
  rabbit_password_hashing_md5: 'md5',
};

export function hashPassword(password: string, algorithm: HashingAlgorithm = 'rabbit_password_hashing_sha256'): string {
  const salt = randomBytes(4);
  const digest = createHash(DIGEST[algorithm]).update(salt).update(password, 'utf8').digest();
  return Buffer.concat([salt, digest]).toString('base64');
}

export function checkPassword(user: User, password: string): boolean {
  if (user.passwordHash === '') return false; // rabbitmq-compat: a user without a password cannot log in with one
  const stored = Buffer.from(user.passwordHash, 'base64');
  if (stored.length < 5) return false;
  const salt = stored.subarray(0, 4);
  const digest = createHash(DIGEST[user.hashingAlgorithm] ?? 'sha256').update(salt).update(password, 'utf8').digest();
  const expected = stored.subarray(4);
  return digest.length === expected.length && timingSafeEqual(digest, expected);
}

/** Returned when a user has none: asked on every publish to a topic exchange, so not allocated. */
const NO_TOPIC_PERMISSIONS: readonly TopicPermission[] = Object.freeze([]);

export class Users {
  readonly #users = new Map<string, User>();
  /** vhost → user → topic permissions */
  readonly #topic = new Map<string, Map<string, TopicPermission[]>>();
  /** Bumped on every change so cached permission decisions can be dropped. */
  version = 0;
  /** Called after any change (the broker saves durable definitions). */
  onChange: () => void = () => {};

  #changed(): void {
    this.version++;
    this.onChange();
  }

  setTopicPermission(vhost: string, user: string, t: TopicPermission): void {
    let m = this.#topic.get(vhost);
    if (m === undefined) this.#topic.set(vhost, (m = new Map()));
    const list = (m.get(user) ?? []).filter((x) => x.exchange !== t.exchange);
    list.push(t);
    m.set(user, list);
    this.#changed();
  }

  clearTopicPermission(vhost: string, user: string, exchange?: string): void {
    const m = this.#topic.get(vhost);
    const list = m?.get(user);
    if (m === undefined || list === undefined) return;
    const rest = exchange === undefined ? [] : list.filter((x) => x.exchange !== exchange);
    if (rest.length === 0) m.delete(user);
    else m.set(user, rest);
    this.#changed();
  }

  topicPermissions(vhost: string, user: string): readonly TopicPermission[] {
    return this.#topic.get(vhost)?.get(user) ?? NO_TOPIC_PERMISSIONS;
  }

  allTopicPermissions(): { vhost: string; user: string; permission: TopicPermission }[] {
    const out: { vhost: string; user: string; permission: TopicPermission }[] = [];
    for (const [vhost, m] of this.#topic) for (const [user, list] of m) for (const permission of list) out.push({ vhost, user, permission });
    return out;
  }
  /** vhost → user → permission */
  readonly #permissions = new Map<string, Map<string, Permission>>();

  get(name: string): User | undefined {
    return this.#users.get(name);
  }

  all(): IterableIterator<User> {
    return this.#users.values();
  }

  put(user: User): void {
    this.#users.set(user.name, user);
    this.#changed();
  }

  add(name: string, password: string, tags: string[] = []): User {
    const user: User = { name, passwordHash: hashPassword(password), hashingAlgorithm: 'rabbit_password_hashing_sha256', tags };
    this.#users.set(name, user);
    this.#changed();
    return user;
  }

  delete(name: string): boolean {
    for (const perms of this.#permissions.values()) perms.delete(name);
    const ok = this.#users.delete(name);
    this.#changed();
    return ok;
  }

  /** The user when name and password match, else undefined. */
  authenticate(name: string, password: string): User | undefined {
    const user = this.#users.get(name);
    return user !== undefined && checkPassword(user, password) ? user : undefined;
  }

  setPermission(vhost: string, user: string, p: Permission): void {
    let m = this.#permissions.get(vhost);
    if (m === undefined) this.#permissions.set(vhost, (m = new Map()));
    m.set(user, p);
    this.#changed();
  }

  permission(vhost: string, user: string): Permission | undefined {
    return this.#permissions.get(vhost)?.get(user);
  }

  clearPermission(vhost: string, user: string): boolean {
    const ok = this.#permissions.get(vhost)?.delete(user) ?? false;
    this.#changed();
    return ok;
  }

  dropVhost(vhost: string): void {
    this.#permissions.delete(vhost);
  }

  permissions(): { vhost: string; user: string; permission: Permission }[] {
    const out: { vhost: string; user: string; permission: Permission }[] = [];
    for (const [vhost, m] of this.#permissions) for (const [user, permission] of m) out.push({ vhost, user, permission });
    return out;
  }
}
