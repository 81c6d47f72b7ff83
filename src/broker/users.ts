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

export interface User {
  name: string;
  passwordHash: string;
  hashingAlgorithm: HashingAlgorithm;
  tags: string[];
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

export class Users {
  readonly #users = new Map<string, User>();
  /** Called after any change (the broker saves durable definitions). */
  onChange: () => void = () => {};
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
    this.onChange();
  }

  add(name: string, password: string, tags: string[] = []): User {
    const user: User = { name, passwordHash: hashPassword(password), hashingAlgorithm: 'rabbit_password_hashing_sha256', tags };
    this.#users.set(name, user);
    this.onChange();
    return user;
  }

  delete(name: string): boolean {
    for (const perms of this.#permissions.values()) perms.delete(name);
    const ok = this.#users.delete(name);
    this.onChange();
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
    this.onChange();
  }

  permission(vhost: string, user: string): Permission | undefined {
    return this.#permissions.get(vhost)?.get(user);
  }

  clearPermission(vhost: string, user: string): boolean {
    const ok = this.#permissions.get(vhost)?.delete(user) ?? false;
    this.onChange();
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
