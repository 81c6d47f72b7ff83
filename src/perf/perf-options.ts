/**
 * The options of `warren perf` and their defaults, apart from the load generator itself so
 * that the CLI can describe them (--help) without loading it.
 */
export interface PerfOptions {
  uri: string;
  producers: number;
  consumers: number;
  /** Body bytes (≥ 16 carries timestamp and sequence number). */
  size: number;
  /** Seconds to publish; 0 = until --count (or forever without one). */
  time: number;
  /** Seconds to publish before measuring (JIT, caches); rates and latency leave them out. */
  warmup: number;
  /** Messages per producer; 0 = no limit. */
  count: number;
  queue: string;
  queues: number;
  exchange: string;
  exchangeType: string;
  /** Routing key for every publish; default derived from the topology (see above). */
  routingKey: string | undefined;
  bindings: number;
  persistent: boolean;
  durable: boolean;
  /** Max unconfirmed publishes per producer; 0 = no confirms. */
  confirm: number;
  prefetch: number;
  autoack: boolean;
  /** Manual acks: multiple=true every N; 0 or 1 = ack each message. */
  multipleAckEvery: number;
  /** msg/s per producer; 0 = unlimited. */
  rate: number;
  /** Leave queues and exchange in place at the end. */
  keep: boolean;
  /** Longest wait for the backlog/confirms after the window (seconds). */
  drainTimeout: number;
}

export function defaultPerfOptions(): PerfOptions {
  return {
    uri: 'amqp://guest:guest@localhost:5672',
    producers: 1,
    consumers: 1,
    size: 16,
    time: 0,
    warmup: 0,
    count: 0,
    queue: 'perf-test',
    queues: 1,
    exchange: '',
    exchangeType: 'direct',
    routingKey: undefined,
    bindings: 0,
    persistent: false,
    durable: false,
    confirm: 0,
    prefetch: 0,
    autoack: false,
    multipleAckEvery: 0,
    rate: 0,
    keep: false,
    drainTimeout: 30,
  };
}
