/**
 * GET /api/overview (management-samples/overview.json). Versions are the ones warren
 * announces in connection.start (config.serverProduct/serverVersion), since clients compare
 * them; the runtime is Node.js, said as such in the Erlang fields.
 */
import { WARREN_VERSION } from '../../config.js';
import { EXCHANGE_TYPES } from '../../broker/exchange/index.js';
import type { ManagementContext } from '../context.js';
import { details } from './format.js';
import { messageDepth, messageStats } from './vhost.js';

export function overviewJson(ctx: ManagementContext, visible: Set<string>): Record<string, unknown> {
  const { config, stats, broker, listeners, node } = ctx;
  const counters = stats.counters();
  const rates = stats.totalRates();
  const depth = stats.depth();
  let exchanges = 0;
  let queues = 0;
  for (const [name, v] of broker.vhosts) {
    if (!visible.has(name)) continue;
    exchanges += v.exchanges.size;
    queues += v.queues.size;
  }
  let channels = 0;
  let consumers = 0;
  for (const c of broker.registry.connections) {
    for (const ch of c.channelInfos()) {
      channels++;
      consumers += ch.consumerInfos().length;
    }
  }
  const churn = stats.churn;
  const churnJson: Record<string, unknown> = {};
  const put = (k: string, v: number): void => {
    churnJson[k] = v;
    churnJson[`${k}_details`] = details(0);
  };
  put('channel_closed', churn.channelClosed);
  put('channel_created', churn.channelCreated);
  put('connection_closed', churn.connectionClosed);
  put('connection_created', churn.connectionCreated);
  put('queue_created', churn.queueCreated);
  put('queue_declared', churn.queueCreated);
  put('queue_deleted', churn.queueDeleted);
  const ip = listeners.host;
  return {
    management_version: config.serverVersion,
    rates_mode: 'basic',
    sample_retention_policies: { global: [600, 3600, 28800, 86400], basic: [600, 3600], detailed: [600] },
    exchange_types: [...EXCHANGE_TYPES].sort().map((name) => ({
      name,
      description: `AMQP ${name} exchange, as per the AMQP specification`,
      enabled: true,
    })),
    product_version: config.serverVersion,
    product_name: config.serverProduct,
    rabbitmq_version: config.serverVersion,
    cluster_name: config.clusterName,
    erlang_version: process.versions.node,
    erlang_full_version: `Node.js ${process.version} (warren ${WARREN_VERSION})`,
    release_series_support_status: 'supported',
    disable_stats: false,
    enable_queue_totals: false,
    message_stats: messageStats(counters, rates, { disk_reads: 0, disk_writes: 0 }),
    churn_rates: churnJson,
    queue_totals: messageDepth(depth, rates),
    object_totals: { channels, connections: broker.registry.connections.size, consumers, exchanges, queues },
    statistics_db_event_queue: 0,
    node,
    listeners: [
      {
        node,
        protocol: 'amqp',
        ip_address: ip,
        port: listeners.amqpPort,
        socket_opts: { backlog: 128, nodelay: true, linger: [true, 0], exit_on_close: false },
      },
      { node, protocol: 'http', ip_address: ip, port: listeners.managementPort, socket_opts: { cowboy_opts: { sendfile: false }, port: listeners.managementPort } },
      ...(listeners.prometheusPort > 0
        ? [{
            node,
            protocol: 'http/prometheus',
            ip_address: ip,
            port: listeners.prometheusPort,
            socket_opts: { cowboy_opts: { sendfile: false }, port: listeners.prometheusPort, protocol: 'http/prometheus' },
          }]
        : []),
    ],
    contexts: [
      { ssl_opts: [], node, description: 'RabbitMQ Management', path: '/', cowboy_opts: '[{sendfile,false}]', port: String(listeners.managementPort) },
    ],
  };
}
