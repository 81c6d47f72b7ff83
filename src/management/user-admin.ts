/**
 * Users as the API and definitions files show and change them: RabbitMQ's JSON for a user,
 * its limits and permissions, and creating/updating one from a PUT body or a definitions
 * entry (password → salted SHA-256 hash; password_hash + hashing_algorithm taken as is).
 */
import type { Broker } from '../broker/broker.js';
import { hashPassword, type HashingAlgorithm, type Permission, type TopicPermission, type User } from '../broker/users.js';
import { badRequest } from './http-error.js';
import { tagList } from './json/format.js';

const ALGORITHMS: HashingAlgorithm[] = ['rabbit_password_hashing_sha256', 'rabbit_password_hashing_sha512', 'rabbit_password_hashing_md5'];

/** RabbitMQ's limit names ↔ the broker's fields. */
const LIMITS = { 'max-connections': 'maxConnections', 'max-channels': 'maxChannels' } as const;
export type LimitName = keyof typeof LIMITS;

export function isLimitName(n: string): n is LimitName {
  return n in LIMITS;
}

export function limitsJson(u: User): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, field] of Object.entries(LIMITS)) {
    const v = u.limits?.[field];
    if (v !== undefined) out[name] = v;
  }
  return out;
}

/** Sets (value) or clears (undefined) one limit. */
export function setLimit(broker: Broker, u: User, name: LimitName, value: number | undefined): void {
  const limits = { ...(u.limits ?? {}) };
  if (value === undefined) delete limits[LIMITS[name]];
  else limits[LIMITS[name]] = value;
  const next: User = { ...u };
  if (Object.keys(limits).length > 0) next.limits = limits;
  else delete next.limits;
  broker.users.put(next);
}

export function userJson(u: User): Record<string, unknown> {
  return { name: u.name, password_hash: u.passwordHash, hashing_algorithm: u.hashingAlgorithm, tags: u.tags, limits: limitsJson(u) };
}

export function permissionJson(p: { vhost: string; user: string; permission: Permission }): Record<string, unknown> {
  return { user: p.user, vhost: p.vhost, configure: p.permission.configure, write: p.permission.write, read: p.permission.read };
}

export function topicPermissionJson(p: { vhost: string; user: string; permission: TopicPermission }): Record<string, unknown> {
  return { user: p.user, vhost: p.vhost, exchange: p.permission.exchange, write: p.permission.write, read: p.permission.read };
}

/** Creates or updates a user from a PUT body or a definitions entry; true when created. */
export function putUser(broker: Broker, name: string, body: Record<string, unknown>): boolean {
  const users = broker.users;
  const existing = users.get(name);
  const tags = body['tags'] === undefined ? (existing?.tags ?? []) : tagList(body['tags']);
  let passwordHash = existing?.passwordHash ?? '';
  let algorithm: HashingAlgorithm = existing?.hashingAlgorithm ?? 'rabbit_password_hashing_sha256';
  if (typeof body['password'] === 'string') {
    algorithm = 'rabbit_password_hashing_sha256';
    passwordHash = hashPassword(body['password'], algorithm);
  } else if (typeof body['password_hash'] === 'string') {
    const a = body['hashing_algorithm'] ?? 'rabbit_password_hashing_sha256';
    if (!ALGORITHMS.includes(a as HashingAlgorithm)) throw badRequest(`unknown hashing algorithm ${String(a)}`);
    algorithm = a as HashingAlgorithm;
    passwordHash = body['password_hash'];
  }
  const user: User = { name, passwordHash, hashingAlgorithm: algorithm, tags };
  if (existing?.limits !== undefined) user.limits = existing.limits;
  const limits = body['limits'];
  if (limits !== null && typeof limits === 'object' && !Array.isArray(limits)) {
    const l: NonNullable<User['limits']> = {};
    for (const [k, v] of Object.entries(limits)) if (isLimitName(k) && typeof v === 'number') l[LIMITS[k]] = v;
    if (Object.keys(l).length > 0) user.limits = l;
  }
  users.put(user);
  return existing === undefined;
}

/** Deletes a user with its permissions and topic permissions; false when there is none. */
export function deleteUser(broker: Broker, name: string): boolean {
  if (broker.users.get(name) === undefined) return false;
  for (const t of broker.users.allTopicPermissions()) if (t.user === name) broker.users.clearTopicPermission(t.vhost, name);
  broker.users.delete(name);
  return true;
}
