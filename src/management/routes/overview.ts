/**
 * Broker-wide read-only endpoints: overview, whoami, nodes, cluster name, health checks and
 * the aliveness test.
 */
import { Message } from '../../broker/message.js';
import { ok, type ApiRequest, type ApiResult } from '../api-request.js';
import { isAdmin, requireAdmin, visibleVhosts } from '../auth.js';
import type { ManagementContext } from '../context.js';
import { overviewJson } from '../json/overview.js';
import { publishMessage } from '../publish.js';
import type { Router } from '../router.js';
import { domain, vhostParam } from './common.js';

export function overviewRoutes(r: Router): void {
  r.add('/api/overview', { GET: (req) => ok(overviewJson(req.ctx, visibleVhosts(req))) });
  r.add('/api/whoami', { GET: (req) => ok({ name: req.user.name, tags: req.user.tags }) });
  r.add('/api/cluster-name', {
    GET: (req) => ok({ name: req.ctx.config.clusterName }),
    PUT: (req) => {
      requireAdmin(req);
      return { status: 204 };
    },
  });
  r.add('/api/nodes', { GET: (req) => ok([nodeJson(req.ctx)]) });
  r.add('/api/nodes/:node', { GET: (req) => ok(nodeJson(req.ctx)) });
  r.add('/api/extensions', { GET: () => ok([]) });
  // one node: the cluster's alarms are this node's
  r.add('/api/health/checks/alarms', { GET: (req) => alarmCheck(req, 'There are alarms in effect in the cluster') });
  r.add('/api/health/checks/local-alarms', { GET: (req) => alarmCheck(req, 'There are alarms in effect on the node') });
  r.add('/api/health/checks/virtual-hosts', { GET: () => ok({ status: 'ok' }) });
  r.add('/api/health/checks/port-listener/:port', { GET: (req) => portListener(req) });
  r.add('/api/aliveness-test/:vhost', { GET: (req) => aliveness(req) });
}

function nodeJson(ctx: ManagementContext): Record<string, unknown> {
  const mem = process.memoryUsage();
  return {
    name: ctx.node,
    type: 'disc',
    running: true,
    being_drained: false,
    os_pid: String(process.pid),
    uptime: Date.now() - ctx.startedAt,
    mem_used: mem.rss,
    mem_limit: 0,
    mem_alarm: ctx.broker.alarms.reasons.includes('memory'),
    disk_free_alarm: ctx.broker.alarms.reasons.includes('disk'),
    proc_used: 1,
    processors: 1,
    rates_mode: 'basic',
    run_queue: 0,
  };
}

/** rabbit_mgmt_wm_health_check_alarms: 200 ok, or 503 with the resources in alarm. */
function alarmCheck(req: ApiRequest, reason: string): ApiResult {
  const alarms = req.ctx.broker.alarms.reasons;
  if (alarms.length === 0) return ok({ status: 'ok' });
  return { status: 503, body: { status: 'failed', reason, alarms: alarms.map((resource) => ({ node: req.ctx.node, resource })) } };
}

function portListener(req: ApiRequest): ApiResult {
  const port = Number(req.params['port']);
  const l = req.ctx.listeners;
  const ports = [l.amqpPort, l.managementPort, l.prometheusPort];
  if (ports.includes(port)) return ok({ status: 'ok', port });
  return { status: 503, body: { status: 'failed', reason: `No active listener on port ${port}`, missing: port, ports } };
}

/**
 * rabbitmq-compat (rabbit_mgmt_wm_aliveness_test): declares the queue "aliveness-test",
 * publishes to it through the default exchange and gets the message back.
 */
function aliveness(req: ApiRequest): ApiResult {
  const vhost = vhostParam(req);
  if (!isAdmin(req.user)) requireAdmin(req);
  const ctx = req.ctx;
  const q = domain(() =>
    vhost.declareQueue('aliveness-test', { passive: false, durable: false, exclusive: false, autoDelete: false, arguments: new Map() }, ctx.owner),
  );
  publishMessage(vhost, '', Message.fromProperties('', q.name, {}, Buffer.from('test_message')));
  const entry = q.get(true);
  if (entry === undefined) return { status: 503, body: { status: 'failed', reason: 'aliveness test message was not delivered' } };
  return ok({ status: 'ok' });
}
