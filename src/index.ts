/**
 * Public API for embedding warren, e.g. in a test suite:
 *
 *   const broker = await startBroker();          // random free port, in memory
 *   const conn = await amqplib.connect(broker.url);
 *   …
 *   await broker.close();                          // no timers or sockets left behind
 */
import { start, type RunningBroker } from './main.js';
import type { BrokerConfig } from './config.js';

export type { BrokerConfig } from './config.js';
export type { RunningBroker } from './main.js';

export interface StartOptions extends Partial<BrokerConfig> {}

export function startBroker(options: StartOptions = {}): Promise<RunningBroker> {
  return start({
    host: '127.0.0.1',
    port: 0,
    dataDir: null,
    silent: options.logLevel === undefined,
    managementPort: 0,
    prometheusPort: 0,
    ...options,
  });
}
