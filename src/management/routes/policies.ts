/**
 * /api/policies… through broker.policies (applied to queues at run time by the broker), and
 * the stored-only runtime parameters: /api/parameters…, /api/global-parameters…,
 * /api/vhost-limits… (kept as the "vhost-limits" parameter "limits", as RabbitMQ stores them).
 */
import type { Broker } from '../../broker/broker.js';
import type { Policy, PolicyTarget } from '../../broker/policies.js';
import { createdOrNoContent, noContent, ok, type ApiRequest } from '../api-request.js';
import { requireAdmin, requirePolicymaker, visibleVhosts } from '../auth.js';
import type { ManagementContext } from '../context.js';
import { badRequest, notFound } from '../http-error.js';
import { listReply } from '../listing.js';
import type { RuntimeParameter } from '../meta.js';
import type { Router } from '../router.js';
import { int, str, vhostParam } from './common.js';

const TARGETS: PolicyTarget[] = ['queues', 'exchanges', 'all', 'classic_queues', 'quorum_queues'];

export function policyJson(p: Policy): Record<string, unknown> {
  return { vhost: p.vhost, name: p.name, pattern: p.pattern, 'apply-to': p.applyTo, definition: p.definition, priority: p.priority };
}

/** Validates and stores a policy (PUT body or definitions entry); true when it is new. */
export function putPolicy(broker: Broker, vhost: string, name: string, body: Record<string, unknown>): boolean {
  const pattern = str(body, 'pattern');
  const definition = body['definition'];
  if (definition === null || typeof definition !== 'object' || Array.isArray(definition)) throw badRequest('[{key_missing,definition}]');
  if (Object.keys(definition).length === 0) throw badRequest('Validation failed\n\nno policy provided\n');
  const applyTo = (body['apply-to'] ?? 'all') as PolicyTarget;
  if (!TARGETS.includes(applyTo)) throw badRequest(`Validation failed\n\n'${String(applyTo)}' is not a valid apply-to value\n`);
  const priority = int(body['priority'], 'priority', 0);
  const isNew = broker.policies.get(vhost, name) === undefined;
  try {
    broker.policies.put({ vhost, name, pattern, applyTo, priority, definition: definition as Record<string, unknown> });
  } catch (err) {
    throw badRequest(`Validation failed\n\n${(err as Error).message}\n`);
  }
  return isNew;
}

/** RabbitMQ's key order for a runtime parameter. */
export function parameterJson(p: RuntimeParameter): Record<string, unknown> {
  return { value: p.value, vhost: p.vhost, component: p.component, name: p.name };
}

export function policyRoutes(r: Router): void {
  const list = (req: ApiRequest, vhost?: string): Record<string, unknown>[] => {
    const visible = visibleVhosts(req);
    return req.ctx.broker.policies.list(vhost).filter((p) => visible.has(p.vhost)).map(policyJson);
  };
  r.add('/api/policies', { GET: (req) => ok(listReply(req, list(req))) });
  r.add('/api/policies/:vhost', { GET: (req) => ok(listReply(req, list(req, vhostParam(req).name))) });
  r.add('/api/policies/:vhost/:name', {
    GET: (req) => {
      const v = vhostParam(req).name;
      const p = req.ctx.broker.policies.get(v, req.params['name']!);
      if (p === undefined) throw notFound();
      return ok(policyJson(p));
    },
    PUT: async (req) => {
      const v = vhostParam(req).name;
      requirePolicymaker(req, v);
      return createdOrNoContent(putPolicy(req.ctx.broker, v, req.params['name']!, await req.body()));
    },
    DELETE: (req) => {
      const v = vhostParam(req).name;
      requirePolicymaker(req, v);
      if (!req.ctx.broker.policies.delete(v, req.params['name']!)) throw notFound();
      return noContent();
    },
  });
  // operator policies are not supported: always none
  r.add('/api/operator-policies', { GET: () => ok([]) });
  r.add('/api/operator-policies/:vhost', { GET: (req) => (vhostParam(req), ok([])) });

  const params = (req: ApiRequest, f: (p: RuntimeParameter) => boolean): RuntimeParameter[] => {
    const visible = visibleVhosts(req);
    return req.ctx.meta.parameters().filter((p) => visible.has(p.vhost) && f(p));
  };
  r.add('/api/parameters', { GET: (req) => ok(listReply(req, params(req, () => true).map(parameterJson))) });
  r.add('/api/parameters/:component', {
    GET: (req) => ok(listReply(req, params(req, (p) => p.component === req.params['component']).map(parameterJson))),
  });
  r.add('/api/parameters/:component/:vhost', {
    GET: (req) => {
      const v = vhostParam(req).name;
      return ok(listReply(req, params(req, (p) => p.component === req.params['component'] && p.vhost === v).map(parameterJson)));
    },
  });
  r.add('/api/parameters/:component/:vhost/:name', {
    GET: (req) => {
      const v = vhostParam(req).name;
      const p = req.ctx.meta.parameter(v, req.params['component']!, req.params['name']!);
      if (p === undefined) throw notFound();
      return ok(parameterJson(p));
    },
    PUT: async (req) => {
      const v = vhostParam(req).name;
      requirePolicymaker(req, v);
      const body = await req.body();
      if (body['value'] === undefined) throw badRequest('[{key_missing,value}]');
      const isNew = req.ctx.meta.setParameter({ vhost: v, component: req.params['component']!, name: req.params['name']!, value: body['value'] });
      return createdOrNoContent(isNew);
    },
    DELETE: (req) => {
      const v = vhostParam(req).name;
      requirePolicymaker(req, v);
      if (!req.ctx.meta.deleteParameter(v, req.params['component']!, req.params['name']!)) throw notFound();
      return noContent();
    },
  });

  r.add('/api/global-parameters', {
    GET: (req) => ok(listReply(req, [...req.ctx.meta.globalParameters].map(([name, value]) => ({ name, value })), ['name'])),
  });
  r.add('/api/global-parameters/:name', {
    GET: (req) => {
      const name = req.params['name']!;
      if (!req.ctx.meta.globalParameters.has(name)) throw notFound();
      return ok({ name, value: req.ctx.meta.globalParameters.get(name) });
    },
    PUT: async (req) => {
      requireAdmin(req);
      const body = await req.body();
      if (body['value'] === undefined) throw badRequest('[{key_missing,value}]');
      const isNew = !req.ctx.meta.globalParameters.has(req.params['name']!);
      req.ctx.meta.globalParameters.set(req.params['name']!, body['value']);
      return createdOrNoContent(isNew);
    },
    DELETE: (req) => {
      requireAdmin(req);
      if (!req.ctx.meta.globalParameters.delete(req.params['name']!)) throw notFound();
      return noContent();
    },
  });

  const limits = (ctx: ManagementContext, vhost: string): Record<string, unknown> | undefined =>
    ctx.meta.parameter(vhost, 'vhost-limits', 'limits')?.value as Record<string, unknown> | undefined;
  r.add('/api/vhost-limits', {
    GET: (req) => {
      const out: Record<string, unknown>[] = [];
      for (const v of visibleVhosts(req)) {
        const value = limits(req.ctx, v);
        if (value !== undefined) out.push({ vhost: v, value });
      }
      return ok(out);
    },
  });
  r.add('/api/vhost-limits/:vhost', {
    GET: (req) => {
      const v = vhostParam(req).name;
      const value = limits(req.ctx, v);
      return ok(value === undefined ? [] : [{ vhost: v, value }]);
    },
  });
  r.add('/api/vhost-limits/:vhost/:name', {
    PUT: async (req) => {
      requireAdmin(req);
      const v = vhostParam(req).name;
      const body = await req.body();
      const value = int(body['value'], 'value');
      const next = { ...(limits(req.ctx, v) ?? {}), [req.params['name']!]: value };
      req.ctx.meta.setParameter({ vhost: v, component: 'vhost-limits', name: 'limits', value: next });
      // rabbitmq-compat: 204 even when the limit is new (management-api.md request 8)
      return noContent();
    },
    DELETE: (req) => {
      requireAdmin(req);
      const v = vhostParam(req).name;
      const next = { ...(limits(req.ctx, v) ?? {}) };
      delete next[req.params['name']!];
      if (Object.keys(next).length === 0) req.ctx.meta.deleteParameter(v, 'vhost-limits', 'limits');
      else req.ctx.meta.setParameter({ vhost: v, component: 'vhost-limits', name: 'limits', value: next });
      return noContent();
    },
  });
}
