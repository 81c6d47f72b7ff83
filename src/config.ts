/**
 * Every option of warren with its default. The CLI, the environment (WARREN_*), a config
 * file and startBroker() all produce a partial BrokerConfig; resolveConfig fills the rest.
 */
import { hostname } from 'node:os';

export interface BrokerConfig {
  /** Listen address; '::' listens on IPv6 and IPv4 (dual stack) as RabbitMQ does. */
  host: string;
  port: number;
  /** Where durable definitions and messages live; null keeps everything in memory. */
  dataDir: string | null;
  logLevel: string;
  /** Human log lines instead of JSON; undefined = when stdout is a TTY. */
  logPretty: boolean | undefined;
  /** Send logs nowhere (embedded brokers in test suites). */
  silent: boolean;

  /** connection.tune offers (RabbitMQ 3.10's defaults). */
  frameMax: number;
  channelMax: number;
  heartbeat: number;
  /** Time allowed from TCP accept to connection.open-ok. */
  handshakeTimeoutMs: number;
  /** rabbitmq-compat: wait before silently dropping a client whose login failed (SILENT_CLOSE_DELAY). */
  silentCloseDelayMs: number;
  /** After sending connection.close, how long to wait for close-ok before dropping TCP. */
  closeOkTimeoutMs: number;
  /** RabbitMQ's max_message_size default: 128 MiB. */
  maxMessageSize: number;
  /** An unacked delivery older than this closes its channel with 406 (RabbitMQ's consumer_timeout, 30 min). */
  consumerTimeoutMs: number;
  /** Message store segment file size. */
  segmentSize: number;
  /** Ready bytes above which a durable queue keeps persistent bodies on disk only (64 MiB). */
  pageOutBytes: number;
  /**
   * At start, bodies of recovered messages are kept in memory up to this many bytes; the
   * rest stay in the segment files and are read back when delivered.
   */
  recoverBodiesBytes: number;

  /** Memory high watermark: a fraction of RAM (<= 1) or bytes (> 1). RabbitMQ: 0.4. */
  memoryHighWatermark: number;
  /** Free disk space below which publishers are blocked (bytes). RabbitMQ: 50 MB. */
  diskFreeLimit: number;
  /** How often memory and disk are checked. */
  resourceCheckMs: number;
  /** Most client connections at once (0 = no limit); more are closed at accept. */
  maxConnections: number;

  /** amqps listener: port, PEM files; enabled when tlsCert and tlsKey are set. */
  tlsPort: number;
  tlsCert: string | undefined;
  tlsKey: string | undefined;
  tlsCa: string | undefined;
  /** Ask clients for a certificate and verify it against tlsCa (RabbitMQ's verify_peer). */
  tlsVerifyPeer: boolean;
  /** Refuse clients without a certificate (fail_if_no_peer_cert). */
  tlsFailIfNoPeerCert: boolean;

  /** What connection.start reports; client libraries key behaviour on these. */
  serverProduct: string;
  serverVersion: string;
  clusterName: string;

  defaultUser: string;
  defaultPass: string;
  defaultVhost: string;
  /** Users that may only log in from loopback (RabbitMQ's loopback_users). */
  loopbackUsers: string[];

  /** HTTP management API and dashboard; 0 = off. */
  managementPort: number;
  /** Prometheus /metrics; 0 = off. */
  prometheusPort: number;
  /**
   * A definitions.json (RabbitMQ's export format) imported at start, before the listeners
   * open, as RabbitMQ's load_definitions.
   */
  loadDefinitions?: string;
}

export const WARREN_VERSION = '0.1.0';

export function defaultConfig(): BrokerConfig {
  return {
    host: '::',
    port: 5672,
    dataDir: './data',
    logLevel: 'info',
    logPretty: undefined,
    silent: false,
    frameMax: 131072,
    channelMax: 2047,
    heartbeat: 60,
    handshakeTimeoutMs: 10_000,
    silentCloseDelayMs: 3_000,
    closeOkTimeoutMs: 3_000,
    maxMessageSize: 128 * 1024 * 1024,
    consumerTimeoutMs: 30 * 60 * 1000,
    segmentSize: 8 * 1024 * 1024,
    pageOutBytes: 64 * 1024 * 1024,
    recoverBodiesBytes: 512 * 1024 * 1024,
    memoryHighWatermark: 0.4,
    diskFreeLimit: 50 * 1000 * 1000,
    resourceCheckMs: 1000,
    maxConnections: 0,
    tlsPort: 5671,
    tlsCert: undefined,
    tlsKey: undefined,
    tlsCa: undefined,
    tlsVerifyPeer: false,
    tlsFailIfNoPeerCert: false,
    serverProduct: 'RabbitMQ',
    serverVersion: '3.10.8',
    clusterName: `warren@${hostname()}`,
    defaultUser: 'guest',
    defaultPass: 'guest',
    defaultVhost: '/',
    loopbackUsers: ['guest'],
    managementPort: 15672,
    prometheusPort: 15692,
  };
}

export function resolveConfig(partial: Partial<BrokerConfig> = {}): BrokerConfig {
  const c = defaultConfig();
  for (const [k, v] of Object.entries(partial)) if (v !== undefined) (c as unknown as Record<string, unknown>)[k] = v;
  if (c.frameMax < 4096) throw new Error(`frameMax ${c.frameMax} is below the AMQP minimum of 4096`);
  if (c.channelMax < 1 || c.channelMax > 65535) throw new Error(`channelMax must be 1..65535, got ${c.channelMax}`);
  return c;
}
