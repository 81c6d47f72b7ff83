/**
 * POST /api/exchanges/{vhost}/{name}/publish (rabbit_mgmt_wm_exchange_publish): publishes one
 * message as a mandatory, confirmed publish would, and answers {"routed": true|false}.
 * Failures are 400 with "<code> <reply text>" as RabbitMQ's API reports a closed channel
 * (error-400-publish-*.json).
 */
import { AmqpError } from '../broker/errors.js';
import { Message } from '../broker/message.js';
import type { Queue } from '../broker/queue.js';
import type { VHost } from '../broker/vhost.js';
import { badRequest } from './http-error.js';
import { jsonProperties } from './json/format.js';

export interface PublishResult {
  routed: boolean;
  /** A queue refused the message (overflow reject-publish): RabbitMQ nacks it. */
  rejected: boolean;
}

/** Routes and enqueues a message the way a channel does (basic.publish without confirms). */
export function publishMessage(vhost: VHost, exchange: string, msg: Message): PublishResult {
  const x = vhost.exchanges.get(exchange);
  if (x === undefined) throw new AmqpError(404, `no exchange '${exchange}' in vhost '${vhost.name}'`);
  const out: Queue[] = [];
  vhost.route(x, msg, out);
  // deliverTo also writes a persistent message for durable queues to the store, as a channel's publish does
  const accepted = out.length === 0 || vhost.deliverTo(msg, out);
  return { routed: out.length > 0, rejected: !accepted };
}

/** The JSON body of an HTTP publish → result, or a 400. */
export function publishFromJson(vhost: VHost, exchange: string, user: string, body: Record<string, unknown>): PublishResult {
  // rabbitmq-compat: with_decode reports every missing key at once
  const missing = ['routing_key', 'properties', 'payload', 'payload_encoding'].filter((k) => body[k] === undefined || body[k] === null);
  if (missing.length > 0) throw badRequest(`[${missing.map((k) => `{key_missing,${k}}`).join(',')}]`);
  const routingKey = body['routing_key'];
  const payload = body['payload'];
  if (typeof payload !== 'string') throw badRequest('payload_not_string');
  if (typeof routingKey !== 'string') throw badRequest('routing_key must be a string');
  const enc = body['payload_encoding'];
  let bytes: Buffer;
  if (enc === 'string') bytes = Buffer.from(payload, 'utf8');
  else if (enc === 'base64') bytes = Buffer.from(payload, 'base64');
  else throw badRequest(`{unsupported_encoding,${JSON.stringify(enc)}}`);
  const props = jsonProperties(body['properties']);
  const fail = (code: number, text: string): never => {
    throw badRequest(`${code} ${text}`);
  };
  const x = vhost.exchanges.get(exchange);
  if (x === undefined) fail(404, `NOT_FOUND - no exchange '${exchange}' in vhost '${vhost.name}'`);
  if (x!.internal) fail(403, `ACCESS_REFUSED - cannot publish to internal exchange '${exchange}' in vhost '${vhost.name}'`);
  if (props.userId !== undefined && props.userId !== user) {
    fail(406, `PRECONDITION_FAILED - user_id property set to '${props.userId}' but authenticated user was '${user}'`);
  }
  const result = publishMessage(vhost, exchange, Message.fromProperties(exchange, routingKey, props, bytes));
  if (result.rejected) throw badRequest('rejected Unable to publish message. Check queue limits.');
  return result;
}
