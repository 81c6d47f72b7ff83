/**
 * Shared set-up of the queue-feature wire tests: one amqplib connection per file, queues
 * with unique names that are deleted afterwards on an external broker.
 */
import { afterAll, beforeAll, expect } from 'vitest';
import type { Channel, ChannelModel, ConfirmChannel } from 'amqplib';
import { useBroker, type TestBroker } from '../../helpers/broker.js';
import type { BrokerConfig } from '../../../src/config.js';
import { connect, openChannel, openConfirmChannel, uniq, useCleanup } from '../../helpers/amqp.js';
import { eventually } from '../../helpers/wait.js';

export interface FeatureContext {
  tb: TestBroker;
  conn(): ChannelModel;
  /** A fresh channel on the file's connection. */
  channel(): Promise<Channel>;
  confirmChannel(): Promise<ConfirmChannel>;
  /** Declares a queue with a unique name (non-durable unless opts say otherwise). */
  queue(ch: Channel, prefix: string, args?: Record<string, unknown>, opts?: Record<string, unknown>): Promise<string>;
  /** An exchange with a unique name. */
  exchange(ch: Channel, prefix: string, type: string, args?: Record<string, unknown>): Promise<string>;
}

export function useFeatures(options: Partial<BrokerConfig> = {}): FeatureContext {
  const tb = useBroker(options);
  const tidy = useCleanup(tb);
  let conn: ChannelModel | undefined;
  beforeAll(async () => {
    conn = await connect(tb.url);
  });
  afterAll(async () => {
    await conn?.close().catch(() => {});
  });
  return {
    tb,
    conn: () => conn!,
    channel: () => openChannel(conn!),
    confirmChannel: () => openConfirmChannel(conn!),
    async queue(ch, prefix, args = {}, opts = {}) {
      const q = tidy.queue(uniq(prefix));
      await ch.assertQueue(q, { durable: false, ...opts, arguments: args });
      return q;
    },
    async exchange(ch, prefix, type, args = {}) {
      const x = tidy.exchange(uniq(prefix));
      await ch.assertExchange(x, type, { durable: false, arguments: args });
      return x;
    },
  };
}

/** queue.declare passive → message count. */
export async function messageCount(ch: Channel, q: string): Promise<number> {
  return (await ch.checkQueue(q)).messageCount;
}

/** Polls passive declares until the queue holds `n` ready messages. */
export async function countReaches(ch: Channel, q: string, n: number, ms = 5000): Promise<void> {
  let last = -1;
  await eventually(async () => (last = await messageCount(ch, q)) === n, ms, `${q} to hold ${n} messages`).catch(() => {
    expect(last, `message count of ${q}`).toBe(n);
  });
}

/** amqplib's typed header values, for arguments whose type matters. */
export const long = (value: number): { '!': string; value: number } => ({ '!': 'long', value });

/**
 * Whether queue `q` exists, found without touching it: a mandatory publish (expiration 0, so
 * nothing stays behind) comes back as basic.return when no queue of that name exists.
 * rabbitmq-compat: a passive queue.declare or basic.get would count as use and restart the
 * queue's x-expires countdown.
 */
export async function queueExists(ch: ConfirmChannel, q: string): Promise<boolean> {
  let returned = false;
  const onReturn = (m: { fields: { routingKey: string } }): void => {
    if (m.fields.routingKey === q) returned = true;
  };
  ch.on('return', onReturn);
  try {
    ch.publish('', q, Buffer.from('probe'), { mandatory: true, expiration: '0' });
    await ch.waitForConfirms(); // spec: basic.return comes before the confirm
  } finally {
    ch.off('return', onReturn);
  }
  return !returned;
}

/** Resolves once `q` is gone (x-expires, auto-delete). */
export async function queueGone(ch: ConfirmChannel, q: string, ms = 5000): Promise<void> {
  await eventually(async () => !(await queueExists(ch, q)), ms, `queue ${q} to be deleted`);
}

/**
 * Waits until `ms` have passed on the broker's own clock: a canary message with that TTL is
 * dead-lettered into a second queue, and its arrival there is the event waited for.
 */
export async function brokerTimePasses(ch: ConfirmChannel, ms: number): Promise<void> {
  const landing = (await ch.assertQueue('', { exclusive: true })).queue;
  const canary = (await ch.assertQueue('', {
    exclusive: true,
    arguments: { 'x-message-ttl': ms, 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': landing },
  })).queue;
  ch.sendToQueue(canary, Buffer.from('canary'));
  await ch.waitForConfirms();
  await eventually(async () => (await ch.get(landing, { noAck: true })) !== false, ms + 5000, `a ${ms} ms canary`);
  await ch.deleteQueue(canary);
  await ch.deleteQueue(landing);
}
