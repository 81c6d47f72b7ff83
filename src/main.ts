/**
 * Composition root: config → broker → listeners; signals and shutdown. The only module that
 * imports every layer.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { Broker } from './broker/broker.js';
import { resolveConfig, WARREN_VERSION, type BrokerConfig } from './config.js';
import { Connection } from './session/connection.js';
import { createLogger, silentLogger, type Logger } from './util/logger.js';
import { openDurability, type Durability } from './durability.js';

export interface RunningBroker {
  readonly config: BrokerConfig;
  readonly broker: Broker;
  readonly log: Logger;
  /** The AMQP port actually bound (useful with port 0). */
  readonly port: number;
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

  const sockets = new Set<Socket>();
  const server = createServer({ noDelay: true }, (socket) => {
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
    });
  });
  server.on('error', (err) => log.error({ err }, 'AMQP listener error'));

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
    await durability?.close();
    throw err;
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

  let closing: Promise<void> | undefined;
  const close = (reason = 'broker shutdown'): Promise<void> => {
    closing ??= (async () => {
      log.info({ reason, connections: broker.registry.connections.size }, 'shutting down');
      const done = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const c of [...broker.registry.connections]) c.forceClose(reason);
      // give clients a moment to answer close-ok, then drop what is left
      const deadline = Date.now() + 1000;
      while (sockets.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      for (const s of sockets) s.destroy();
      await done;
      clearInterval(consumerTimeout);
      for (const v of broker.vhosts.values()) v.stop();
      await durability?.close();
      log.info('stopped');
    })();
    return closing;
  };

  return { config, broker, log, port, host, url, managementUrl: undefined, close };
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
