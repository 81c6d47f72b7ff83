/**
 * /api/queues…: list, declare (PUT), delete, purge (DELETE …/contents), get messages,
 * bindings of a queue. Status codes as RabbitMQ: PUT 201 when created, 204 when it existed
 * (an inequivalent redeclare is 400); a missing queue or vhost is 404.
 */
import type { Queue } from '../../broker/queue.js';
import type { VHost } from '../../broker/vhost.js';
import { noContent, ok, createdOrNoContent, type ApiRequest, type ApiResult } from '../api-request.js';
import { visibleVhosts } from '../auth.js';
import { badRequest, notFound } from '../http-error.js';
import { allConsumers, unackedBytesByQueue } from '../json/connection.js';
import { vhostBindings } from '../json/exchange.js';
import { bool, jsonTable } from '../json/format.js';
import { queueJson } from '../json/queue.js';
import { listReply, objectReply } from '../listing.js';
import { getMessages } from '../queue-get.js';
import type { Router } from '../router.js';
import { domain, vhostParam } from './common.js';

export function queueRoutes(r: Router): void {
  r.add('/api/queues', { GET: (req) => ok(listReply(req, listQueues(req, [...visibleVhosts(req)]))) });
  r.add('/api/queues/:vhost', { GET: (req) => ok(listReply(req, listQueues(req, [vhostParam(req).name]))) });
  r.add('/api/queues/:vhost/:name', { GET: getQueue, PUT: putQueue, DELETE: deleteQueue });
  r.add('/api/queues/:vhost/:name/contents', { DELETE: purgeQueue });
  r.add('/api/queues/:vhost/:name/get', { POST: async (req) => ok(getMessages(queueParam(req).queue, await req.body())) });
  r.add('/api/queues/:vhost/:name/bindings', {
    GET: (req) => {
      const { vhost, queue } = queueParam(req);
      const list = vhostBindings(vhost).filter((b) => b.destination_type === 'queue' && b.destination === queue.name);
      return ok(listReply(req, list as unknown as Record<string, unknown>[], ['source', 'routing_key']));
    },
  });
  r.add('/api/queues/:vhost/:name/actions', {
    POST: async (req) => {
      queueParam(req);
      const action = (await req.body())['action'];
      // classic mirrored-queue sync does not exist on one node: accepted, nothing to do
      if (action !== 'sync' && action !== 'cancel_sync') throw badRequest(`Unknown action ${String(action)}`);
      return noContent();
    },
  });
}

function listQueues(req: ApiRequest, vhosts: string[]): Record<string, unknown>[] {
  const unackedBytes = unackedBytesByQueue(req.ctx);
  const out: Record<string, unknown>[] = [];
  for (const name of vhosts) {
    const v = req.ctx.broker.vhost(name);
    if (v === undefined) continue;
    for (const q of v.queues.values()) out.push(queueJson(req.ctx, q, { unackedBytes }));
  }
  return out;
}

export function queueParam(req: ApiRequest): { vhost: VHost; queue: Queue } {
  const vhost = vhostParam(req);
  const queue = vhost.queues.get(req.params['name']!);
  if (queue === undefined) throw notFound();
  return { vhost, queue };
}

function getQueue(req: ApiRequest): ApiResult {
  const { queue } = queueParam(req);
  const consumers = allConsumers(req.ctx).filter((p) => p.consumer.queue === queue);
  return ok(objectReply(req, queueJson(req.ctx, queue, { unackedBytes: unackedBytesByQueue(req.ctx), consumers })));
}

async function putQueue(req: ApiRequest): Promise<{ status: number }> {
  const vhost = vhostParam(req);
  const name = req.params['name']!;
  const body = await req.body();
  const len = Buffer.byteLength(name);
  // rabbitmq-compat: error-400-queue-256-bytes.json, newline included
  if (len > 255) throw badRequest(`queue should be less than 255 bytes, actually was ${len}\n`);
  const isNew = !vhost.queues.has(name);
  domain(() =>
    vhost.declareQueue(
      name,
      {
        passive: false,
        durable: bool(body['durable'], false),
        exclusive: false,
        autoDelete: bool(body['auto_delete'], false),
        arguments: jsonTable(body['arguments']),
      },
      req.ctx.owner,
    ),
  );
  return createdOrNoContent(isNew);
}

function deleteQueue(req: ApiRequest): { status: number } {
  const { vhost, queue } = queueParam(req);
  const ifUnused = req.query.get('if-unused') === 'true';
  const ifEmpty = req.query.get('if-empty') === 'true';
  domain(() => vhost.deleteQueue(queue.name, ifUnused, ifEmpty, queue.exclusive ? queue.owner! : req.ctx.owner));
  return noContent();
}

function purgeQueue(req: ApiRequest): { status: number } {
  const { vhost, queue } = queueParam(req);
  domain(() => vhost.purgeQueue(queue.name, queue.exclusive ? queue.owner! : req.ctx.owner));
  return noContent();
}
