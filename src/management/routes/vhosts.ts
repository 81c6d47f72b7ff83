/**
 * /api/vhosts…: list, create or update (PUT: 201 new, 204 existing), delete, and the
 * permissions granted on one vhost.
 */
import { createdOrNoContent, noContent, ok, type ApiRequest } from '../api-request.js';
import { requireAdmin, visibleVhosts } from '../auth.js';
import { notFound } from '../http-error.js';
import { bool, tagList } from '../json/format.js';
import { vhostJson } from '../json/vhost.js';
import { listReply, objectReply } from '../listing.js';
import type { Router } from '../router.js';
import { createVhost, deleteVhost } from '../vhost-admin.js';
import { vhostParam } from './common.js';
import { permissionJson, topicPermissionJson } from '../user-admin.js';

export function vhostRoutes(r: Router): void {
  r.add('/api/vhosts', { GET: (req) => ok(listReply(req, [...visibleVhosts(req)].map((v) => vhostJson(req.ctx, v)), ['name'])) });
  r.add('/api/vhosts/:vhost', {
    GET: (req) => ok(objectReply(req, vhostJson(req.ctx, vhostParam(req).name))),
    PUT: putVhost,
    DELETE: (req) => {
      requireAdmin(req);
      if (!deleteVhost(req.ctx.broker, req.ctx.meta, req.params['vhost']!)) throw notFound();
      return noContent();
    },
  });
  r.add('/api/vhosts/:vhost/permissions', {
    GET: (req) => {
      requireAdmin(req);
      const v = vhostParam(req).name;
      const list = req.ctx.broker.users.permissions().filter((p) => p.vhost === v).map(permissionJson);
      return ok(listReply(req, list, ['user']));
    },
  });
  r.add('/api/vhosts/:vhost/topic-permissions', {
    GET: (req) => {
      requireAdmin(req);
      const v = vhostParam(req).name;
      return ok(listReply(req, req.ctx.broker.users.allTopicPermissions().filter((t) => t.vhost === v).map(topicPermissionJson), ['user']));
    },
  });
}

async function putVhost(req: ApiRequest): Promise<{ status: number }> {
  requireAdmin(req);
  const body = await req.body();
  const name = req.params['vhost']!;
  const meta = req.ctx.meta.vhost(name);
  const { isNew } = createVhost(req.ctx.broker, req.ctx.meta, name, {
    description: body['description'] === undefined ? meta.description : String(body['description']),
    tags: body['tags'] === undefined ? meta.tags : tagList(body['tags']),
    defaultQueueType: body['default_queue_type'] === undefined ? meta.defaultQueueType : String(body['default_queue_type']),
    tracing: bool(body['tracing'], meta.tracing),
  });
  if (isNew) {
    // rabbitmq-compat: the creating user gets full permissions on the new vhost
    req.ctx.broker.users.setPermission(name, req.user.name, { configure: '.*', write: '.*', read: '.*' });
  }
  return createdOrNoContent(isNew);
}
