#!/usr/bin/env node
/**
 * The `warren` command: flags and WARREN_* environment variables → start(config). No logic
 * beyond argv.
 */
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { start } from '../src/main.js';
import { WARREN_VERSION, defaultConfig, type BrokerConfig } from '../src/config.js';
import { createLogger } from '../src/util/logger.js';
import { perfCommand } from '../src/perf/command.js';
import { defaultPerfOptions } from '../src/perf/perf.js';

const d = defaultConfig();

async function runBroker(argv: Record<string, unknown>): Promise<void> {
  const config: Partial<BrokerConfig> = {
    host: argv['host'] as string,
    port: argv['port'] as number,
    dataDir: argv['dataDir'] as string,
    logLevel: argv['logLevel'] as string,
    frameMax: argv['frameMax'] as number,
    channelMax: argv['channelMax'] as number,
    heartbeat: argv['heartbeat'] as number,
    maxMessageSize: argv['maxMessageSize'] as number,
    maxConnections: argv['maxConnections'] as number,
    consumerTimeoutMs: argv['consumerTimeout'] as number,
    memoryHighWatermark: argv['memoryHighWatermark'] as number,
    diskFreeLimit: argv['diskFreeLimit'] as number,
    resourceCheckMs: argv['resourceCheckMs'] as number,
    handshakeTimeoutMs: argv['handshakeTimeout'] as number,
    loopbackUsers: argv['loopbackUsers'] as string[],
    tlsPort: argv['tlsPort'] as number,
    tlsCert: argv['tlsCert'] as string | undefined,
    tlsKey: argv['tlsKey'] as string | undefined,
    tlsCa: argv['tlsCa'] as string | undefined,
    tlsVerifyPeer: argv['tlsVerifyPeer'] as boolean,
    tlsFailIfNoPeerCert: argv['tlsFailIfNoPeerCert'] as boolean,
    serverProduct: argv['serverProduct'] as string,
    serverVersion: argv['serverVersion'] as string,
    defaultUser: argv['defaultUser'] as string,
    defaultPass: argv['defaultPass'] as string,
    defaultVhost: argv['defaultVhost'] as string,
    managementPort: argv['managementPort'] as number,
    prometheusPort: argv['prometheusPort'] as number,
    loadDefinitions: argv['loadDefinitions'] as string | undefined,
    recoverBodiesBytes: (argv['recoverBodiesMib'] as number) * 1024 * 1024,
  };
  const log = createLogger({ level: config.logLevel });
  // Signals are handled from the start: the AMQP port opens before start() resolves (the
  // management listener comes after it), and a SIGTERM in between must still shut down
  // cleanly rather than end the process with the default action.
  let broker: Awaited<ReturnType<typeof start>> | undefined;
  let signalled: string | undefined;
  const shutdown = (running: Awaited<ReturnType<typeof start>>, signal: string): void => {
    running.close(`broker shutdown (${signal})`).then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, 'error during shutdown');
        process.exit(1);
      },
    );
  };
  const onSignal = (signal: string): void => {
    if (signalled !== undefined) return;
    signalled = signal;
    if (broker !== undefined) shutdown(broker, signal); // else: once start() returns
  };
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  try {
    broker = await start(config, log);
  } catch (err) {
    log.fatal({ err: (err as Error).message }, 'warren could not start');
    process.exit(1);
  }
  if (signalled !== undefined) shutdown(broker, signalled);
  if (process.env['BENCH_WARREN_IPC'] === '1') answerBench(broker, onSignal);
}

/**
 * npm run bench starts warren with an IPC channel and BENCH_WARREN_IPC=1 (not WARREN_*, which
 * yargs .env() would take for an option): it may ask for internal counters (message store
 * fsyncs), and warren stops when the bench goes away.
 */
function answerBench(running: Awaited<ReturnType<typeof start>>, onSignal: (signal: string) => void): void {
  process.on('message', (m: unknown) => {
    if (m !== 'warren:counters') return;
    let fsyncs = 0;
    for (const v of running.broker.vhosts.values()) fsyncs += (v.store as { fsyncs?: number } | null)?.fsyncs ?? 0;
    process.send?.({ type: 'warren:counters', fsyncs, rss: process.memoryUsage.rss() });
  });
  process.on('disconnect', () => onSignal('bench went away'));
}

const pd = defaultPerfOptions();
const perfOptions = {
  uri: { type: 'string', default: pd.uri, describe: 'broker to load (amqp://user:pass@host:port/vhost)' },
  producers: { type: 'number', default: pd.producers, describe: 'publishing connections' },
  consumers: { type: 'number', default: pd.consumers, describe: 'consuming connections' },
  size: { type: 'number', default: pd.size, describe: 'message body bytes (>= 16 carries timestamp and sequence number)' },
  time: { type: 'number', describe: 'seconds to publish (default: until --count, or 10 s without it)' },
  warmup: { type: 'number', default: pd.warmup, describe: 'seconds to publish before measuring (left out of rates and latency)' },
  count: { type: 'number', default: pd.count, describe: 'messages per producer (0 = no limit)' },
  queue: { type: 'string', default: pd.queue, describe: 'queue name (with --queues N: <name>-1 … <name>-N)' },
  queues: { type: 'number', default: pd.queues, describe: 'number of queues; producer/consumer i uses queue i mod N' },
  exchange: { type: 'string', default: pd.exchange, describe: "exchange ('' = default exchange; perf-<type> when only --exchange-type is given)" },
  'exchange-type': { type: 'string', default: pd.exchangeType, choices: ['direct', 'fanout', 'topic'], describe: 'type of the exchange perf declares' },
  'routing-key': { type: 'string', describe: 'routing key for every publish (default: one that reaches the queue)' },
  bindings: { type: 'number', default: pd.bindings, describe: 'bindings in all (extra ones are non-matching wildcard patterns on topic)' },
  persistent: { type: 'boolean', default: pd.persistent, describe: 'publish with delivery-mode 2' },
  durable: { type: 'boolean', default: pd.durable, describe: 'declare durable queues and exchange' },
  confirm: { type: 'number', default: pd.confirm, describe: 'publisher confirms with at most N unconfirmed per producer (0 = off)' },
  prefetch: { type: 'number', default: pd.prefetch, describe: 'basic.qos prefetch-count per consumer (0 = unlimited)' },
  autoack: { type: 'boolean', default: pd.autoack, describe: 'consume with no-ack (default: manual acks)' },
  'multiple-ack-every': { type: 'number', default: pd.multipleAckEvery, describe: 'manual acks: basic.ack multiple every N deliveries (0/1 = each)' },
  rate: { type: 'number', default: pd.rate, describe: 'msg/s per producer (0 = as fast as possible)' },
  keep: { type: 'boolean', default: pd.keep, describe: 'leave the queues and exchange perf declared' },
  'drain-timeout': { type: 'number', default: pd.drainTimeout, describe: 'seconds to wait for the backlog and confirms after publishing stops' },
  json: { type: 'boolean', default: false, describe: 'print the summary as one JSON line (live lines go to stderr)' },
} as const;

async function runPerfCommand(argv: Record<string, unknown>): Promise<void> {
  const count = argv['count'] as number;
  const time = (argv['time'] as number | undefined) ?? (count > 0 ? 0 : 10);
  const code = await perfCommand(
    {
      uri: argv['uri'] as string,
      producers: argv['producers'] as number,
      consumers: argv['consumers'] as number,
      size: argv['size'] as number,
      time,
      warmup: argv['warmup'] as number,
      count,
      queue: argv['queue'] as string,
      queues: argv['queues'] as number,
      exchange: argv['exchange'] as string,
      exchangeType: argv['exchangeType'] as string,
      routingKey: argv['routingKey'] as string | undefined,
      bindings: argv['bindings'] as number,
      persistent: argv['persistent'] as boolean,
      durable: argv['durable'] as boolean,
      confirm: argv['confirm'] as number,
      prefetch: argv['prefetch'] as number,
      autoack: argv['autoack'] as boolean,
      multipleAckEvery: argv['multipleAckEvery'] as number,
      rate: argv['rate'] as number,
      keep: argv['keep'] as boolean,
      drainTimeout: argv['drainTimeout'] as number,
    },
    argv['json'] as boolean,
  );
  process.exit(code);
}

const brokerOptions = {
  port: { type: 'number', default: d.port, describe: 'AMQP port (0 = any free port)' },
  host: { type: 'string', default: d.host, describe: "listen address ('::' = all IPv6 and IPv4 addresses)" },
  'data-dir': { type: 'string', default: d.dataDir ?? './data', describe: 'directory for durable definitions and messages' },
  'log-level': {
    type: 'string',
    default: d.logLevel,
    choices: ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'],
    describe: 'log level (logs are pino JSON; pretty when stdout is a terminal)',
  },
  'management-port': { type: 'number', default: d.managementPort, describe: 'HTTP management API and dashboard port (0 = off)' },
  'prometheus-port': { type: 'number', default: d.prometheusPort, describe: 'Prometheus /metrics port (0 = off)' },
  'recover-bodies-mib': {
    type: 'number',
    default: d.recoverBodiesBytes / (1024 * 1024),
    describe: 'at start, keep recovered message bodies in memory up to this many MiB; later ones are read from disk when delivered',
  },
  'load-definitions': { type: 'string', describe: 'definitions.json (RabbitMQ export format) to import at start' },
  'frame-max': { type: 'number', default: d.frameMax, describe: 'largest frame offered in connection.tune (bytes, >= 4096)' },
  'channel-max': { type: 'number', default: d.channelMax, describe: 'most channels per connection offered in connection.tune' },
  heartbeat: { type: 'number', default: d.heartbeat, describe: 'heartbeat interval offered in connection.tune (seconds, 0 = off)' },
  'max-message-size': { type: 'number', default: d.maxMessageSize, describe: 'largest message body accepted (bytes)' },
  'max-connections': { type: 'number', default: d.maxConnections, describe: 'most client connections at once (0 = no limit)' },
  'consumer-timeout': { type: 'number', default: d.consumerTimeoutMs, describe: 'close a channel whose delivery stays unacked this long (ms)' },
  'memory-high-watermark': {
    type: 'number',
    default: d.memoryHighWatermark,
    describe: 'block publishers above this memory use: fraction of RAM (<= 1) or bytes',
  },
  'disk-free-limit': { type: 'number', default: d.diskFreeLimit, describe: 'block publishers when the data disk has less free space (bytes)' },
  'resource-check-ms': { type: 'number', default: d.resourceCheckMs, describe: 'how often memory and disk use are checked against the limits (ms)' },
  'handshake-timeout': { type: 'number', default: d.handshakeTimeoutMs, describe: 'drop a client that has not finished the AMQP handshake in this time (ms)' },
  'loopback-users': { type: 'array', string: true, default: d.loopbackUsers, describe: 'users that may only connect from localhost' },
  'tls-port': { type: 'number', default: d.tlsPort, describe: 'amqps port (used when --tls-cert and --tls-key are set)' },
  'tls-cert': { type: 'string', describe: 'server certificate (PEM) for amqps' },
  'tls-key': { type: 'string', describe: 'server private key (PEM) for amqps' },
  'tls-ca': { type: 'string', describe: 'CA bundle (PEM) to verify client certificates' },
  'tls-verify-peer': { type: 'boolean', default: d.tlsVerifyPeer, describe: 'ask clients for a certificate (enables EXTERNAL login by CN)' },
  'tls-fail-if-no-peer-cert': { type: 'boolean', default: d.tlsFailIfNoPeerCert, describe: 'refuse TLS clients without a valid certificate' },
  'default-user': { type: 'string', default: d.defaultUser, describe: 'user created at first start' },
  'default-pass': { type: 'string', default: d.defaultPass, describe: "the default user's password" },
  'default-vhost': { type: 'string', default: d.defaultVhost, describe: 'vhost created at first start' },
  'server-product': { type: 'string', default: d.serverProduct, describe: 'product reported in connection.start (clients key behaviour on it)' },
  'server-version': { type: 'string', default: d.serverVersion, describe: 'version reported in connection.start' },
} as const;

await yargs(hideBin(process.argv))
  .scriptName('warren')
  .usage('$0 [start] [options]\n\nAn AMQP 0-9-1 message broker that behaves like RabbitMQ 3.x.')
  .env('WARREN')
  .config('config', 'JSON file with any of the options below (camelCase or kebab-case keys)')
  .command(['start', '$0'], 'run the broker (default)', (y) => y.options(brokerOptions), (argv) => runBroker(argv as Record<string, unknown>))
  .command('perf', 'load-test a broker (warren or RabbitMQ), PerfTest-style', (y) => y.options(perfOptions), (argv) => runPerfCommand(argv as Record<string, unknown>))
  .example('$0', 'broker on amqp://guest:guest@localhost:5672, data in ./data')
  .example('WARREN_PORT=5673 $0 --data-dir /var/lib/warren', 'options from the environment and flags')
  .example('$0 perf --uri amqp://guest:guest@localhost:5672 --time 10 --autoack', 'one producer, one consumer, 10 s')
  .version(WARREN_VERSION)
  .alias('h', 'help')
  .strict()
  .wrap(Math.min(110, process.stdout.columns || 110))
  .parseAsync();
