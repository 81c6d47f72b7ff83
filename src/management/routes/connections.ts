/**
 * /api/connections, /api/channels, /api/consumers (and their per-vhost forms). Users who are
 * neither administrator nor monitoring see only their own connections, as in RabbitMQ.
 * DELETE /api/connections/{name} closes it with 320 CONNECTION_FORCED; the X-Reason header,
 * when given, is the reply text (default "Closed via management plugin").
 */
import type { ConnectionInfo } from '../../broker/registry.js';
import { noContent, ok, type ApiRequest } from '../api-request.js';
import { isAdmin, isMonitor, visibleVhosts } from '../auth.js';
import { HttpError, notFound } from '../http-error.js';
import { allConsumers, channelJson, channelName, connectionJson, consumerJson } from '../json/connection.js';
import { listReply, objectReply } from '../listing.js';
import type { Router } from '../router.js';
import { vhostParam } from './common.js';

export function connectionRoutes(r: Router): void {
  r.add('/api/connections', { GET: (req) => ok(listReply(req, connections(req).map((c) => connectionJson(req.ctx, c)), ['name'])) });
  r.add('/api/vhosts/:vhost/connections', {
    GET: (req) => {
      const v = vhostParam(req).name;
      return ok(listReply(req, connections(req).filter((c) => c.vhost === v).map((c) => connectionJson(req.ctx, c)), ['name']));
    },
  });
  r.add('/api/connections/:name', {
    GET: (req) => ok(objectReply(req, connectionJson(req.ctx, connectionParam(req), true))),
    DELETE: (req) => {
      const c = connectionParam(req);
      if (!isAdmin(req.user) && c.user !== req.user.name) throw new HttpError(401, 'not_authorised', 'Not administrator user');
      const reason = req.raw.headers['x-reason'];
      c.forceClose(typeof reason === 'string' && reason !== '' ? reason : 'Closed via management plugin');
      return noContent();
    },
  });
  r.add('/api/connections/:name/channels', {
    GET: (req) => {
      const c = connectionParam(req);
      return ok(listReply(req, c.channelInfos().map((ch) => channelJson(req.ctx, c, ch)), ['name']));
    },
  });
  r.add('/api/channels', { GET: (req) => ok(listReply(req, channels(req, undefined), ['name'])) });
  r.add('/api/vhosts/:vhost/channels', { GET: (req) => ok(listReply(req, channels(req, vhostParam(req).name), ['name'])) });
  r.add('/api/channels/:name', {
    GET: (req) => {
      const name = req.params['name']!;
      for (const c of connections(req)) {
        for (const ch of c.channelInfos()) if (channelName(c, ch) === name) return ok(objectReply(req, channelJson(req.ctx, c, ch, true)));
      }
      throw notFound();
    },
  });
  r.add('/api/consumers', { GET: (req) => ok(listReply(req, consumers(req, undefined), ['queue.vhost', 'queue.name', 'consumer_tag'])) });
  r.add('/api/consumers/:vhost', {
    GET: (req) => ok(listReply(req, consumers(req, vhostParam(req).name), ['queue.vhost', 'queue.name', 'consumer_tag'])),
  });
}

/** Connections this user may see. */
function connections(req: ApiRequest): ConnectionInfo[] {
  const all = [...req.ctx.broker.registry.connections];
  return isMonitor(req.user) ? all : all.filter((c) => c.user === req.user.name);
}

function connectionParam(req: ApiRequest): ConnectionInfo {
  const name = req.params['name']!;
  const c = connections(req).find((x) => x.name === name);
  if (c === undefined) throw notFound();
  return c;
}

function channels(req: ApiRequest, vhost: string | undefined): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const c of connections(req)) {
    if (vhost !== undefined && c.vhost !== vhost) continue;
    for (const ch of c.channelInfos()) out.push(channelJson(req.ctx, c, ch));
  }
  return out;
}

function consumers(req: ApiRequest, vhost: string | undefined): Record<string, unknown>[] {
  const visible = visibleVhosts(req);
  return allConsumers(req.ctx)
    .filter((p) => visible.has(p.connection.vhost) && (vhost === undefined || p.connection.vhost === vhost))
    .map((p) => consumerJson(req.ctx, p.connection, p.channel, p.consumer));
}
