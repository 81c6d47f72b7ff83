/**
 * Small helpers shared by the route files: finding a vhost, turning the broker's domain
 * errors into RabbitMQ's 400 answers, reading body fields.
 */
import { AmqpError } from '../../broker/errors.js';
import type { VHost } from '../../broker/vhost.js';
import type { ApiRequest } from '../api-request.js';
import { requireVhost } from '../auth.js';
import { badRequest, detailOf, HttpError, notFound } from '../http-error.js';

/** The vhost named in the path; 404 when missing, 401 when the user may not use it. */
export function vhostParam(req: ApiRequest, name = req.params['vhost']!): VHost {
  const v = req.ctx.broker.vhost(name);
  if (v === undefined) throw notFound();
  requireVhost(req, name);
  return v;
}

/**
 * Runs a broker operation; an AmqpError becomes 400 with its text minus the "NAME - "
 * prefix, as RabbitMQ's API reports a failed declare (error-400-inequivalent.json).
 */
export function domain<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof AmqpError) {
      if (err.code === 404) throw notFound();
      if (err.code === 403) throw new HttpError(401, 'not_authorised', 'Access refused.');
      throw badRequest(detailOf(err.replyText));
    }
    throw err;
  }
}

export function str(body: Record<string, unknown>, key: string, dflt?: string): string {
  const v = body[key];
  if (v === undefined || v === null) {
    if (dflt !== undefined) return dflt;
    throw badRequest(`[{key_missing,${key}}]`);
  }
  if (typeof v !== 'string') throw badRequest(`${key} must be a string`);
  return v;
}

/** RabbitMQ's parse_int: a number or a numeric string. */
export function int(v: unknown, key: string, dflt?: number): number {
  if (v === undefined || v === null || v === '') {
    if (dflt !== undefined) return dflt;
    throw badRequest(`[{key_missing,${key}}]`);
  }
  const n = typeof v === 'string' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n)) throw badRequest(`{not_integer,${JSON.stringify(v)}}`);
  return n;
}

/** rabbitmq-compat: "amq.default" names the default exchange in API paths. */
export function exchangeName(name: string): string {
  return name === 'amq.default' ? '' : name;
}
