/**
 * /api/users… and /api/user-limits…. Only administrators see or change users.
 */
import { created, noContent, ok, type ApiRequest } from '../api-request.js';
import { requireAdmin } from '../auth.js';
import { badRequest, notFound } from '../http-error.js';
import { listReply, objectReply } from '../listing.js';
import type { Router } from '../router.js';
import { deleteUser, isLimitName, limitsJson, permissionJson, putUser, setLimit, topicPermissionJson, userJson } from '../user-admin.js';
import { int } from './common.js';

export function userRoutes(r: Router): void {
  const users = (req: ApiRequest) => {
    requireAdmin(req);
    return [...req.ctx.broker.users.all()];
  };
  r.add('/api/users', { GET: (req) => ok(listReply(req, users(req).map(userJson), ['name'])) });
  r.add('/api/users/without-permissions', {
    GET: (req) => {
      const withPerms = new Set(req.ctx.broker.users.permissions().map((p) => p.user));
      return ok(users(req).filter((u) => !withPerms.has(u.name)).map(userJson));
    },
  });
  r.add('/api/users/bulk-delete', {
    POST: async (req) => {
      requireAdmin(req);
      const names = (await req.body())['users'];
      if (!Array.isArray(names)) throw badRequest('[{key_missing,users}]');
      for (const n of names) deleteUser(req.ctx.broker, String(n));
      return noContent();
    },
  });
  r.add('/api/users/:user', {
    GET: (req) => {
      requireAdmin(req);
      return ok(objectReply(req, userJson(userParam(req))));
    },
    PUT: async (req) => {
      requireAdmin(req);
      return putUser(req.ctx.broker, req.params['user']!, await req.body()) ? created() : noContent();
    },
    DELETE: (req) => {
      requireAdmin(req);
      if (!deleteUser(req.ctx.broker, req.params['user']!)) throw notFound();
      return noContent();
    },
  });
  r.add('/api/users/:user/permissions', {
    GET: (req) => {
      requireAdmin(req);
      const name = userParam(req).name;
      return ok(listReply(req, req.ctx.broker.users.permissions().filter((p) => p.user === name).map(permissionJson), ['vhost']));
    },
  });
  r.add('/api/users/:user/topic-permissions', {
    GET: (req) => {
      requireAdmin(req);
      const name = userParam(req).name;
      return ok(listReply(req, req.ctx.broker.users.allTopicPermissions().filter((t) => t.user === name).map(topicPermissionJson), ['vhost']));
    },
  });

  r.add('/api/user-limits', {
    GET: (req) => {
      const out = users(req).filter((u) => Object.keys(limitsJson(u)).length > 0).map((u) => ({ user: u.name, value: limitsJson(u) }));
      return ok(out);
    },
  });
  r.add('/api/user-limits/:user', {
    GET: (req) => {
      requireAdmin(req);
      const u = userParam(req);
      const value = limitsJson(u);
      return ok(Object.keys(value).length === 0 ? [] : [{ user: u.name, value }]);
    },
  });
  r.add('/api/user-limits/:user/:name', {
    PUT: async (req) => {
      requireAdmin(req);
      const u = userParam(req);
      const name = limitName(req);
      setLimit(req.ctx.broker, u, name, int((await req.body())['value'], 'value'));
      return noContent();
    },
    DELETE: (req) => {
      requireAdmin(req);
      setLimit(req.ctx.broker, userParam(req), limitName(req), undefined);
      return noContent();
    },
  });
}

function userParam(req: ApiRequest) {
  const u = req.ctx.broker.users.get(req.params['user']!);
  if (u === undefined) throw notFound();
  return u;
}

function limitName(req: ApiRequest) {
  const name = req.params['name']!;
  if (!isLimitName(name)) throw badRequest(`Validation failed\n\n${name} is not a valid user limit\n`);
  return name;
}
