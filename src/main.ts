/**
 * Composition root: config → broker → listeners; signals and shutdown. The only module that
 * imports every layer.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { readFileSync } from 'node:fs';
import type { TLSSocket } from 'node:tls';
import { startResourceMonitor } from './resources.js';
import { Broker } from './broker/broker.js';
import { resolveConfig, WARREN_VERSION, type BrokerConfig } from './config.js';
import { Connection } from './session/connection.js';
import { ManagementMeta } from './management/meta.js';
import type { RunningManagement } from './management/management.js';
import { createLogger, silentLogger, type Logger } from './util/logger.js';
import { openDurability, type Durability } from './durability.js';

export interface RunningBroker {
  readonly config: BrokerConfig;
  readonly broker: Broker;
  readonly log: Logger;
  /** The AMQP port actually bound (useful with port 0). */
  readonly port: number;
  /** The amqps port, when TLS is configured. */
  readonly tlsPort: number | undefined;
  readonly host: string;
  /** amqp://guest:guest@host:port (default user). */
  readonly url: string;
  readonly managementUrl: string | undefined;
  /** Closes client connections with 320 CONNECTION_FORCED, stops listening, frees timers. */
  close(reason?: string): Promise<void>;
}

export async function start(partial: Partial<BrokerConfig> = {}, logger?: Logger): Promise<RunningBroker> {
  const startedAt = process.hrtime.bigint();
  const config = resolveConfig(partial);
  const log = logger ?? (config.silent ? silentLogger() : createLogger({ level: config.logLevel, pretty: config.logPretty }));
  let durability: Durability | undefined;
  let broker: Broker;
  if (config.dataDir !== null) {
    durability = openDurability(config, log);
    broker = durability.broker;
  } else {
    broker = new Broker({
      defaultUser: config.defaultUser,
      defaultPass: config.defaultPass,
      defaultVhost: config.defaultVhost,
      maxMessageSize: config.maxMessageSize,
    });
  }
  // vhost descriptions, topic permissions, parameters: kept by the management layer and
  // filled by --load-definitions before any client can connect (RabbitMQ's load_definitions)
  const managementMeta = new ManagementMeta(config.defaultVhost);
  if (config.loadDefinitions !== undefined && config.loadDefinitions !== '') {
    try {
      const { loadDefinitionsFile } = await import('./management/definitions.js');
      loadDefinitionsFile({ broker, meta: managementMeta }, config.loadDefinitions);
    } catch (err) {
      await durability?.close();
      throw err;
    }
    log.info({ file: config.loadDefinitions }, 'definitions imported');
  }

  const sockets = new Set<Socket>();
  const accept = (socket: Socket, peerCertificateCN?: string): void => {
    if (config.maxConnections > 0 && broker.registry.connections.size >= config.maxConnections) {
      // rabbitmq-compat: over the connection limit the socket is closed at once
      log.warn({ peer: socket.remoteAddress, limit: config.maxConnections }, 'connection refused: maxConnections reached');
      socket.destroy();
      return;
    }
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    new Connection(socket, {
      broker,
      config,
      log,
      peerHost: socket.remoteAddress ?? '?',
      peerPort: socket.remotePort ?? 0,
      localHost: socket.localAddress ?? '?',
      localPort: socket.localPort ?? 0,
      peerCertificateCN,
    });
  };
  const server = createServer({ noDelay: true }, (socket) => accept(socket));
  server.on('error', (err) => log.error({ err }, 'AMQP listener error'));
  // node:tls is loaded only when amqps is configured
  const tlsServer =
    config.tlsCert !== undefined && config.tlsKey !== undefined
      ? (await import('node:tls')).createServer(
          {
            cert: readFileSync(config.tlsCert),
            key: readFileSync(config.tlsKey),
            ca: config.tlsCa !== undefined ? readFileSync(config.tlsCa) : undefined,
            requestCert: config.tlsVerifyPeer,
            rejectUnauthorized: config.tlsVerifyPeer && config.tlsFailIfNoPeerCert,
          },
          (socket: TLSSocket) => {
            socket.setNoDelay(true);
            // rabbitmq-compat (ssl verify_peer): a certificate the client presents must verify
            // even when fail_if_no_peer_cert lets clients without one in
            if (config.tlsVerifyPeer && !socket.authorized && Object.keys(socket.getPeerCertificate() ?? {}).length > 0) {
              log.warn({ peer: socket.remoteAddress, err: String(socket.authorizationError) }, 'TLS client certificate refused');
              socket.destroy();
              return;
            }
            const cert = socket.authorized ? socket.getPeerCertificate() : undefined;
            const cn = cert?.subject?.CN;
            accept(socket, typeof cn === 'string' ? cn : Array.isArray(cn) ? cn[0] : undefined);
          },
        )
      : undefined;
  tlsServer?.on('error', (err) => log.error({ err }, 'AMQPS listener error'));
  tlsServer?.on('tlsClientError', (err) => log.warn({ err: err.message }, 'TLS handshake failed'));
  const resources = startResourceMonitor(config, broker.alarms, log);

  const consumerTimeout = setInterval(() => {
    const now = Date.now();
    for (const c of broker.registry.connections) (c as Connection).checkConsumerTimeouts(now, config.consumerTimeoutMs);
  }, Math.min(60_000, Math.max(50, config.consumerTimeoutMs / 2)));
  consumerTimeout.unref();

  let host: string;
  try {
    host = await listen(server, config, log);
  } catch (err) {
    clearInterval(consumerTimeout);
    resources.stop();
    await durability?.close();
    throw err;
  }
  let tlsPort: number | undefined;
  if (tlsServer !== undefined) {
    await new Promise<void>((resolve, reject) => {
      tlsServer.once('error', reject);
      tlsServer.listen({ host, port: config.tlsPort, ipv6Only: false }, () => {
        tlsServer.off('error', reject);
        resolve();
      });
    });
    const a = tlsServer.address();
    tlsPort = typeof a === 'object' && a !== null ? a.port : config.tlsPort;
    log.info({ host, port: tlsPort }, 'AMQPS (TLS) listener up');
  }
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : config.port;
  const urlHost = host === '::' || host === '0.0.0.0' ? 'localhost' : host.includes(':') ? `[${host}]` : host;
  const user = encodeURIComponent(config.defaultUser);
  const pass = encodeURIComponent(config.defaultPass);
  const vhostPath = config.defaultVhost === '/' ? '' : `/${encodeURIComponent(config.defaultVhost)}`;
  const url = `amqp://${user}:${pass}@${urlHost}:${port}${vhostPath}`;
  const ms = Number(process.hrtime.bigint() - startedAt) / 1e6;
  log.info({ host, port, version: WARREN_VERSION, startupMs: Math.round(ms * 10) / 10 }, 'AMQP listener up');

  // The management layer (HTTP, WebSocket, dashboard) is loaded only when one of its
  // listeners is on, and after the AMQP port is open so that clients need not wait for it.
  let management: Pick<RunningManagement, 'url' | 'close'> = { url: undefined, close: async () => {} };
  try {
    if (config.managementPort !== 0 || config.prometheusPort !== 0) {
      const { startManagement } = await import('./management/management.js');
      management = await startManagement({ broker, config, log, host, amqpPort: port, meta: managementMeta });
    }
  } catch (err) {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    if (tlsServer !== undefined) await new Promise<void>((resolve) => tlsServer.close(() => resolve()));
    clearInterval(consumerTimeout);
    resources.stop();
    await durability?.close();
    throw err;
  }

  let closing: Promise<void> | undefined;
  const close = (reason = 'broker shutdown'): Promise<void> => {
    closing ??= (async () => {
      log.info({ reason, connections: broker.registry.connections.size }, 'shutting down');
      await management.close();
      const done = new Promise<void>((resolve) => server.close(() => resolve()));
      const tlsDone = tlsServer === undefined ? Promise.resolve() : new Promise<void>((resolve) => tlsServer.close(() => resolve()));
      resources.stop();
      for (const c of [...broker.registry.connections]) c.forceClose(reason);
      // give clients a moment to answer close-ok, then drop what is left
      const deadline = Date.now() + 1000;
      while (sockets.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      for (const s of sockets) s.destroy();
      await done;
      await tlsDone;
      clearInterval(consumerTimeout);
      for (const v of broker.vhosts.values()) v.stop();
      await durability?.close();
      log.info('stopped');
    })();
    return closing;
  };

  return { config, broker, log, port, tlsPort, host, url, managementUrl: management.url, close };
}

/** Listens on the configured host; '::' falls back to IPv4 when the machine has no IPv6. */
function listen(server: Server, config: BrokerConfig, log: Logger): Promise<string> {
  const attempt = (host: string): Promise<void> =>
    new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      server.once('error', onError);
      server.listen({ host, port: config.port, ipv6Only: false }, () => {
        server.off('error', onError);
        resolve();
      });
    });
  return attempt(config.host).then(
    () => config.host,
    (err: NodeJS.ErrnoException) => {
      if (config.host === '::' && (err.code === 'EAFNOSUPPORT' || err.code === 'EADDRNOTAVAIL')) {
        log.warn('IPv6 not available, listening on IPv4 only');
        return attempt('0.0.0.0').then(() => '0.0.0.0');
      }
      if (err.code === 'EADDRINUSE') {
        throw new Error(`port ${config.port} is already in use (is another broker running?); choose another with --port`);
      }
      throw err;
    },
  );
}
