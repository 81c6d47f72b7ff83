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
    serverProduct: argv['serverProduct'] as string,
    serverVersion: argv['serverVersion'] as string,
    defaultUser: argv['defaultUser'] as string,
    defaultPass: argv['defaultPass'] as string,
    defaultVhost: argv['defaultVhost'] as string,
    managementPort: argv['managementPort'] as number,
    prometheusPort: argv['prometheusPort'] as number,
  };
  const log = createLogger({ level: config.logLevel });
  let broker;
  try {
    broker = await start(config, log);
  } catch (err) {
    log.fatal({ err: (err as Error).message }, 'warren could not start');
    process.exit(1);
  }
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    broker.close(`broker shutdown (${signal})`).then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, 'error during shutdown');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
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
  'frame-max': { type: 'number', default: d.frameMax, describe: 'largest frame offered in connection.tune (bytes, >= 4096)' },
  'channel-max': { type: 'number', default: d.channelMax, describe: 'most channels per connection offered in connection.tune' },
  heartbeat: { type: 'number', default: d.heartbeat, describe: 'heartbeat interval offered in connection.tune (seconds, 0 = off)' },
  'max-message-size': { type: 'number', default: d.maxMessageSize, describe: 'largest message body accepted (bytes)' },
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
  .example('$0', 'broker on amqp://guest:guest@localhost:5672, data in ./data')
  .example('WARREN_PORT=5673 $0 --data-dir /var/lib/warren', 'options from the environment and flags')
  .version(WARREN_VERSION)
  .alias('h', 'help')
  .strict()
  .wrap(Math.min(110, process.stdout.columns || 110))
  .parseAsync();
