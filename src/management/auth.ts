/**
 * HTTP basic authentication against broker.users, with RabbitMQ's answers
 * (../shared/reference/management-samples/error-401-*.json):
 *   no Authorization header → 401, empty body, www-authenticate;
 *   wrong user or password  → 401 {"error":"not_authorized","reason":"Login failed"};
 *   not allowed to do that  → 401 {"error":"not_authorised","reason":"Not administrator user"}
 * (the two spellings are RabbitMQ's).
 */
import type { IncomingMessage } from 'node:http';
import type { User, Users } from '../broker/users.js';
import type { ApiRequest } from './api-request.js';
import { HttpError } from './http-error.js';

const CHALLENGE = { 'www-authenticate': 'Basic realm="RabbitMQ Management"' };
/** Tags that may use the management API at all (rabbit_web_dispatch_access_control). */
const MANAGEMENT_TAGS = ['management', 'policymaker', 'monitoring', 'administrator'];

/** Splits "Basic base64(user:pass)"; null when absent or not basic. */
export function basicCredentials(header: string | undefined): { user: string; pass: string } | null {
  if (header === undefined) return null;
  const m = /^Basic\s+(\S+)\s*$/i.exec(header);
  if (m === null) return null;
  const text = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = text.indexOf(':');
  if (colon < 0) return null;
  return { user: text.slice(0, colon), pass: text.slice(colon + 1) };
}

export function isLoopback(host: string | undefined): boolean {
  if (host === undefined) return false;
  return host === '::1' || host.startsWith('127.') || host.startsWith('::ffff:127.');
}

/** Authenticates a request or an Authorization value (WebSocket handshake message). */
export function authenticate(users: Users, authorization: string | undefined, remote: string | undefined, loopbackUsers: string[]): User {
  const cred = basicCredentials(authorization);
  if (cred === null) throw new HttpError(401, null, '', CHALLENGE);
  const user = users.authenticate(cred.user, cred.pass);
  if (user === undefined) throw new HttpError(401, 'not_authorized', 'Login failed', CHALLENGE);
  if (loopbackUsers.includes(user.name) && !isLoopback(remote)) {
    throw new HttpError(401, 'not_authorised', 'User can only log in via localhost', CHALLENGE);
  }
  if (!user.tags.some((t) => MANAGEMENT_TAGS.includes(t))) {
    throw new HttpError(401, 'not_authorised', 'Not management user', CHALLENGE);
  }
  return user;
}

export function authenticateRequest(users: Users, req: IncomingMessage, loopbackUsers: string[]): User {
  return authenticate(users, req.headers.authorization, req.socket.remoteAddress, loopbackUsers);
}

export const isAdmin = (u: User): boolean => u.tags.includes('administrator');
/** Monitors see every vhost, connection and channel (is_monitor). */
export const isMonitor = (u: User): boolean => isAdmin(u) || u.tags.includes('monitoring');

export function requireAdmin(req: ApiRequest): void {
  if (!isAdmin(req.user)) throw new HttpError(401, 'not_authorised', 'Not administrator user');
}

export function requireMonitor(req: ApiRequest): void {
  if (!isMonitor(req.user)) throw new HttpError(401, 'not_authorised', 'Not monitor user');
}

export function requirePolicymaker(req: ApiRequest, vhost: string): void {
  const u = req.user;
  if (isAdmin(u)) return;
  if (!u.tags.includes('policymaker')) throw new HttpError(401, 'not_authorised', 'Not policymaker user');
  requireVhost(req, vhost);
}

/** The user may use this vhost (has any permission on it), as is_authorized_vhost. */
export function requireVhost(req: ApiRequest, vhost: string): void {
  if (isAdmin(req.user)) return;
  if (req.ctx.broker.users.permission(vhost, req.user.name) === undefined) {
    throw new HttpError(401, 'not_authorised', 'Access refused.');
  }
}

/** Vhosts whose objects this user may list. */
export function visibleVhosts(req: ApiRequest): Set<string> {
  const all = [...req.ctx.broker.vhosts.keys()];
  if (isMonitor(req.user)) return new Set(all);
  return new Set(all.filter((v) => req.ctx.broker.users.permission(v, req.user.name) !== undefined));
}
