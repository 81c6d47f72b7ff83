/**
 * Starts what the management plugin and the Prometheus plugin are in RabbitMQ: the HTTP API
 * and dashboard (with its WebSocket) on config.managementPort, /metrics on
 * config.prometheusPort; 0 leaves a listener off. Statistics sampling runs while either is on.
 * close() stops every timer and socket it started.
 */
import { createServer, type Server } from 'node:http';
import type { Broker } from '../broker/broker.js';
import type { BrokerConfig } from '../config.js';
import type { Logger } from '../util/logger.js';
import type { ManagementContext } from './context.js';
import { createManagementServer } from './http-server.js';
import { LiveUpdates } from './live.js';
import { ManagementMeta } from './meta.js';
import { renderMetrics } from './prometheus.js';
import { Router } from './router.js';
import { bindingRoutes } from './routes/bindings.js';
import { connectionRoutes } from './routes/connections.js';
import { definitionRoutes } from './routes/definitions.js';
import { exchangeRoutes } from './routes/exchanges.js';
import { overviewRoutes } from './routes/overview.js';
import { policyRoutes } from './routes/policies.js';
import { queueRoutes } from './routes/queues.js';
import { permissionRoutes } from './routes/permissions.js';
import { userRoutes } from './routes/users.js';
import { vhostRoutes } from './routes/vhosts.js';
import { staticFiles } from './static-files.js';
import { Stats } from './stats.js';

export { ManagementMeta } from './meta.js';
export { loadDefinitionsFile } from './definitions.js';

export interface ManagementOptions {
  broker: Broker;
  config: BrokerConfig;
  log: Logger;
  /** Address the AMQP listener is bound to; the HTTP listeners use the same. */
  host: string;
  amqpPort: number;
  /** Shared with --load-definitions, which runs before the listeners start. */
  meta?: ManagementMeta;
  /** Statistics interval (RabbitMQ's collect_statistics_interval, 5 s). */
  statsIntervalMs?: number;
}

export interface RunningManagement {
  /** http://host:port/ of the API and dashboard, when managementPort is not 0. */
  readonly url: string | undefined;
  readonly prometheusUrl: string | undefined;
  readonly context: ManagementContext | undefined;
  close(): Promise<void>;
}

export function buildRouter(): Router {
  const r = new Router();
  overviewRoutes(r);
  vhostRoutes(r);
  userRoutes(r);
  permissionRoutes(r);
  exchangeRoutes(r);
  queueRoutes(r);
  bindingRoutes(r);
  connectionRoutes(r);
  definitionRoutes(r);
  policyRoutes(r);
  return r;
}

export async function startManagement(o: ManagementOptions): Promise<RunningManagement> {
  const { config, log } = o;
  if (config.managementPort === 0 && config.prometheusPort === 0) {
    return { url: undefined, prometheusUrl: undefined, context: undefined, close: async () => {} };
  }
  const stats = new Stats(o.broker);
  const ctx: ManagementContext = {
    broker: o.broker,
    config,
    log: log.child({ component: 'management' }),
    stats,
    meta: o.meta ?? new ManagementMeta(config.defaultVhost),
    node: config.clusterName,
    startedAt: Date.now(),
    listeners: { host: o.host, amqpPort: o.amqpPort, managementPort: config.managementPort, prometheusPort: config.prometheusPort },
    owner: {},
  };
  stats.start(o.statsIntervalMs);
  const servers: Server[] = [];
  let live: LiveUpdates | undefined;
  const stop = async (): Promise<void> => {
    stats.stop();
    live?.close();
    await Promise.all(servers.map((s) => closeServer(s)));
  };
  let url: string | undefined;
  let prometheusUrl: string | undefined;
  try {
    if (config.managementPort !== 0) {
      const server = createManagementServer(ctx, buildRouter(), staticFiles());
      live = new LiveUpdates(ctx);
      const l = live;
      server.on('upgrade', (req, socket, head) => l.onUpgrade(req, socket, head));
      servers.push(server);
      await listen(server, o.host, config.managementPort, 'management');
      url = `http://${urlHost(o.host)}:${config.managementPort}/`;
      log.info({ url }, 'management listener up');
    }
    if (config.prometheusPort !== 0) {
      const server = createServer((req, res) => {
        const path = (req.url ?? '/').split('?')[0];
        if (req.method !== 'GET' && req.method !== 'HEAD') {
          res.writeHead(405, { allow: 'HEAD, GET, OPTIONS', 'content-length': 0 }).end();
          return;
        }
        if (path !== '/metrics' && path !== '/metrics/per-object') {
          res.writeHead(404, { 'content-length': 0 }).end();
          return;
        }
        const body = Buffer.from(renderMetrics(ctx, path === '/metrics/per-object'), 'utf8');
        res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4', 'content-length': body.length });
        res.end(req.method === 'HEAD' ? undefined : body);
      });
      servers.push(server);
      await listen(server, o.host, config.prometheusPort, 'prometheus');
      prometheusUrl = `http://${urlHost(o.host)}:${config.prometheusPort}/metrics`;
      log.info({ url: prometheusUrl }, 'prometheus listener up');
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { url, prometheusUrl, context: ctx, close: stop };
}

function urlHost(host: string): string {
  if (host === '::' || host === '0.0.0.0') return 'localhost';
  return host.includes(':') ? `[${host}]` : host;
}

function listen(server: Server, host: string, port: number, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      reject(err.code === 'EADDRINUSE' ? new Error(`${what} port ${port} is already in use; choose another with --${what}-port (0 = off)`) : err);
    };
    server.once('error', onError);
    server.listen({ host, port, ipv6Only: false }, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) return resolve();
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
