/**
 * POST /api/queues/{vhost}/{name}/get (rabbit_mgmt_wm_queue_get): takes up to `count`
 * messages with basic.get semantics, then settles them as `ackmode` says:
 *   ack_requeue_true    got with ack, requeued afterwards (so they come back redelivered);
 *   ack_requeue_false   got with no-ack: removed;
 *   reject_requeue_true  rejected with requeue;
 *   reject_requeue_false rejected without requeue: removed (dead-lettered where configured).
 * Requeueing happens after all gets, as RabbitMQ's closing channel does, so one request never
 * sees the same message twice and message_count counts down.
 */
import type { Queue, QueueEntry } from '../broker/queue.js';
import { badRequest, HttpError } from './http-error.js';
import { isUtf8, propertiesJson } from './json/format.js';
import { int } from './routes/common.js';

const ACK_MODES = ['ack_requeue_true', 'ack_requeue_false', 'reject_requeue_true', 'reject_requeue_false'] as const;
type AckMode = (typeof ACK_MODES)[number];

export function getMessages(q: Queue, body: Record<string, unknown>): Record<string, unknown>[] {
  const missing = ['ackmode', 'count', 'encoding'].filter((k) => body[k] === undefined || body[k] === null);
  if (missing.length > 0) throw badRequest(`[${missing.map((k) => `{key_missing,${k}}`).join(',')}]`);
  const ackmode = String(body['ackmode']);
  // rabbitmq-compat: an unknown ackmode crashes the handler: 500 with an empty body
  if (!(ACK_MODES as readonly string[]).includes(ackmode)) throw new HttpError(500, null);
  const count = int(body['count'], 'count');
  const encoding = body['encoding'];
  if (encoding !== 'auto' && encoding !== 'base64') throw badRequest('Unsupported encoding. Please use auto or base64.');
  const truncate = body['truncate'] === undefined || body['truncate'] === null ? undefined : int(body['truncate'], 'truncate');
  const mode = ackmode as AckMode;
  const noAck = mode === 'ack_requeue_false';
  const taken: QueueEntry[] = [];
  const out: Record<string, unknown>[] = [];
  for (let i = 0; i < count; i++) {
    const entry = q.get(noAck);
    if (entry === undefined) break;
    if (!noAck) taken.push(entry);
    const body = entry.msg.body;
    const shown = truncate !== undefined && body.length > truncate ? body.subarray(0, truncate) : body;
    const asString = encoding === 'auto' && isUtf8(shown);
    out.push({
      payload_bytes: entry.msg.bodySize,
      redelivered: entry.redelivered,
      exchange: entry.msg.exchange,
      routing_key: entry.msg.routingKey,
      message_count: q.messageCount,
      properties: propertiesJson(entry.msg.properties),
      payload: asString ? shown.toString('utf8') : shown.toString('base64'),
      payload_encoding: asString ? 'string' : 'base64',
    });
  }
  if (mode === 'reject_requeue_false') {
    for (const e of taken) q.discard(e);
  } else if (taken.length > 0) {
    // newest first: each goes back in front of the ones after it, cheaply at the head
    for (let i = taken.length - 1; i >= 0; i--) q.requeue(taken[i]!);
    q.drain();
  }
  return out;
}
