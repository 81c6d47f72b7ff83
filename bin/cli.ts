/**
 * The `warren` command line: options, the yargs definition, and a quick path for the common
 * case that skips loading yargs.
 *
 * Why the quick path: loading yargs (cliui, string-width's Intl.Segmenter, y18n, ~40 ES
 * modules) takes about as long as loading the whole broker, and the broker is usually started
 * by a script with a few `--option value` flags. quickBrokerArgv() accepts exactly such a
 * command line, whose meaning under yargs is plain, and returns what yargs would hand to the
 * start command; for anything else (--help, --version, perf, --config, WARREN* variables,
 * unknown, repeated or negated options, arrays, values that are empty, quoted, start with '-'
 * or are numbers in any but the plainest notation) it returns undefined and yargs parses as
 * always, errors and help text included. test/cli/quick-argv.test.ts checks it against yargs.
 */
import type { Argv } from 'yargs';
import { WARREN_VERSION, defaultConfig } from '../src/config.js';
import { defaultPerfOptions } from '../src/perf/perf-options.js';

const d = defaultConfig();

export const brokerOptions = {
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

const pd = defaultPerfOptions();
export const perfOptions = {
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

export interface CliHandlers {
  start(argv: Record<string, unknown>): Promise<void>;
  perf(argv: Record<string, unknown>): Promise<void>;
}

/** The whole yargs definition, ready for parse() or parseAsync(). */
export function defineCli(y: Argv, run: CliHandlers): Argv {
  return y
    .scriptName('warren')
    .usage('$0 [start] [options]\n\nAn AMQP 0-9-1 message broker that behaves like RabbitMQ 3.x.')
    .env('WARREN')
    .config('config', 'JSON file with any of the options below (camelCase or kebab-case keys)')
    .command(['start', '$0'], 'run the broker (default)', (c) => c.options(brokerOptions), (argv) => run.start(argv as Record<string, unknown>))
    .command('perf', 'load-test a broker (warren or RabbitMQ), PerfTest-style', (c) => c.options(perfOptions), (argv) => run.perf(argv as Record<string, unknown>))
    .example('$0', 'broker on amqp://guest:guest@localhost:5672, data in ./data')
    .example('WARREN_PORT=5673 $0 --data-dir /var/lib/warren', 'options from the environment and flags')
    .example('$0 perf --uri amqp://guest:guest@localhost:5672 --time 10 --autoack', 'one producer, one consumer, 10 s')
    .version(WARREN_VERSION)
    .alias('h', 'help')
    .strict()
    .wrap(Math.min(110, process.stdout.columns || 110));
}

/** kebab-case → camelCase, as yargs names the options it hands to a command. */
function camel(name: string): string {
  return name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

/** A number as yargs reads it for a number option: Number(text), here only for plain decimals. */
const PLAIN_NUMBER = /^(0|[1-9][0-9]{0,15})(\.[0-9]{1,15})?$/;

/**
 * The start command's options (camelCase keys, defaults filled in) for a command line of
 * `[start] (--name value | --name=value | --boolean-name)*` over the broker options, each at
 * most once; undefined for any other command line or when a WARREN* variable is set.
 */
export function quickBrokerArgv(args: readonly string[], env: NodeJS.ProcessEnv): Record<string, unknown> | undefined {
  // yargs .env('WARREN') reads every variable whose name starts with WARREN
  for (const k of Object.keys(env)) if (k.startsWith('WARREN')) return undefined;
  const given = new Map<string, string | boolean>();
  let i = args[0] === 'start' ? 1 : 0;
  while (i < args.length) {
    const arg = args[i++]!;
    if (!arg.startsWith('--')) return undefined;
    const eq = arg.indexOf('=');
    const name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
    if (!Object.hasOwn(brokerOptions, name) || given.has(name)) return undefined;
    const option: { type: string; choices?: readonly string[] } = brokerOptions[name as keyof typeof brokerOptions];
    let text: string | undefined = eq < 0 ? undefined : arg.slice(eq + 1);
    if (option.type === 'boolean') {
      // `--flag` alone is true; `--flag true|false` and `--flag=true|false` as written
      if (text === undefined && (args[i] === 'true' || args[i] === 'false')) text = args[i++];
      if (text === undefined) given.set(name, true);
      else if (text === 'true' || text === 'false') given.set(name, text === 'true');
      else return undefined;
      continue;
    }
    if (option.type !== 'number' && option.type !== 'string') return undefined; // arrays: yargs
    text ??= args[i++];
    if (text === undefined || text === '' || text.startsWith('-') || text.startsWith('"') || text.startsWith("'")) return undefined;
    if (option.type === 'number' && !PLAIN_NUMBER.test(text)) return undefined;
    if (option.choices !== undefined && !option.choices.includes(text)) return undefined;
    given.set(name, text);
  }
  const argv: Record<string, unknown> = {};
  for (const [name, option] of Object.entries(brokerOptions)) {
    const value = given.get(name);
    if (value === undefined) argv[camel(name)] = 'default' in option ? option.default : undefined;
    else argv[camel(name)] = option.type === 'number' ? Number(value) : value;
  }
  return argv;
}
