#!/usr/bin/env node
/**
 * The `warren` command: flags and WARREN_* environment variables → start(config). No logic
 * beyond argv.
 */
import type { BrokerConfig } from '../src/config.js';
import type { RunningBroker } from '../src/main.js';
import { defineCli, quickBrokerArgv } from './cli.js';

// What a command needs is loaded when it runs (import() below): the broker never loads the
// load generator, `perf` and --help never load the broker, and a plain `--option value`
// command line starts the broker without loading yargs (see cli.ts).

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
  const [{ start }, { createLogger }] = await Promise.all([import('../src/main.js'), import('../src/util/logger.js')]);
  const log = createLogger({ level: config.logLevel });
  // Signals are handled from the start: the AMQP port opens before start() resolves (the
  // management listener comes after it), and a SIGTERM in between must still shut down
  // cleanly rather than end the process with the default action.
  let broker: RunningBroker | undefined;
  let signalled: string | undefined;
  const shutdown = (running: RunningBroker, signal: string): void => {
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
function answerBench(running: RunningBroker, onSignal: (signal: string) => void): void {
  process.on('message', (m: unknown) => {
    if (m !== 'warren:counters') return;
    let fsyncs = 0;
    for (const v of running.broker.vhosts.values()) fsyncs += (v.store as { fsyncs?: number } | null)?.fsyncs ?? 0;
    process.send?.({ type: 'warren:counters', fsyncs, rss: process.memoryUsage.rss() });
  });
  process.on('disconnect', () => onSignal('bench went away'));
}

async function runPerfCommand(argv: Record<string, unknown>): Promise<void> {
  const count = argv['count'] as number;
  const time = (argv['time'] as number | undefined) ?? (count > 0 ? 0 : 10);
  const { perfCommand } = await import('../src/perf/command.js');
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

const quick = quickBrokerArgv(process.argv.slice(2), process.env);
if (quick !== undefined) {
  await runBroker(quick);
} else {
  const [{ default: yargs }, { hideBin }] = await Promise.all([import('yargs'), import('yargs/helpers')]);
  await defineCli(yargs(hideBin(process.argv)), { start: runBroker, perf: runPerfCommand }).parseAsync();
}
