/**
 * /api/permissions… and /api/topic-permissions…: what a user may do in a vhost. PUT answers
 * 201 when the permission is new and 204 when it replaced one; a missing vhost or user named
 * in a PUT is 404 {"error":"not_found","reason":"vhost_not_found"} as in RabbitMQ.
 */
import { createdOrNoContent, noContent, ok, type ApiRequest } from '../api-request.js';
import { requireAdmin } from '../auth.js';
import { HttpError, notFound } from '../http-error.js';
import { listReply } from '../listing.js';
import type { Router } from '../router.js';
import { permissionJson, topicPermissionJson } from '../user-admin.js';
import { str } from './common.js';

export function permissionRoutes(r: Router): void {
  r.add('/api/permissions', {
    GET: (req) => {
      requireAdmin(req);
      return ok(listReply(req, req.ctx.broker.users.permissions().map(permissionJson), ['vhost', 'user']));
    },
  });
  r.add('/api/permissions/:vhost/:user', {
    GET: (req) => {
      requireAdmin(req);
      const { vhost, user } = names(req);
      const p = req.ctx.broker.users.permission(vhost, user);
      if (p === undefined) throw notFound();
      return ok(permissionJson({ vhost, user, permission: p }));
    },
    PUT: async (req) => {
      requireAdmin(req);
      const { vhost, user } = existing(req);
      const body = await req.body();
      const isNew = req.ctx.broker.users.permission(vhost, user) === undefined;
      req.ctx.broker.users.setPermission(vhost, user, { configure: str(body, 'configure'), write: str(body, 'write'), read: str(body, 'read') });
      return createdOrNoContent(isNew);
    },
    DELETE: (req) => {
      requireAdmin(req);
      const { vhost, user } = names(req);
      if (!req.ctx.broker.users.clearPermission(vhost, user)) throw notFound();
      return noContent();
    },
  });

  r.add('/api/topic-permissions', {
    GET: (req) => {
      requireAdmin(req);
      return ok(listReply(req, req.ctx.broker.users.allTopicPermissions().map(topicPermissionJson), ['vhost', 'user']));
    },
  });
  r.add('/api/topic-permissions/:vhost/:user', {
    GET: (req) => {
      requireAdmin(req);
      const { vhost, user } = names(req);
      const list = req.ctx.broker.users.topicPermissions(vhost, user);
      if (list.length === 0) throw notFound();
      return ok(list.map((permission) => topicPermissionJson({ vhost, user, permission })));
    },
    PUT: async (req) => {
      requireAdmin(req);
      const { vhost, user } = existing(req);
      const body = await req.body();
      const exchange = str(body, 'exchange');
      const isNew = !req.ctx.broker.users.topicPermissions(vhost, user).some((t) => t.exchange === exchange);
      req.ctx.broker.users.setTopicPermission(vhost, user, { exchange, write: str(body, 'write', '.*'), read: str(body, 'read', '.*') });
      return createdOrNoContent(isNew);
    },
    DELETE: (req) => {
      requireAdmin(req);
      const { vhost, user } = names(req);
      if (req.ctx.broker.users.topicPermissions(vhost, user).length === 0) throw notFound();
      req.ctx.broker.users.clearTopicPermission(vhost, user);
      return noContent();
    },
  });
}

function names(req: ApiRequest): { vhost: string; user: string } {
  return { vhost: req.params['vhost']!, user: req.params['user']! };
}

/** Both must exist for a PUT. */
function existing(req: ApiRequest): { vhost: string; user: string } {
  const n = names(req);
  if (!req.ctx.broker.vhosts.has(n.vhost)) throw new HttpError(404, 'not_found', 'vhost_not_found');
  if (req.ctx.broker.users.get(n.user) === undefined) throw new HttpError(404, 'not_found', 'user_not_found');
  return n;
}
