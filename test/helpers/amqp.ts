/**
 * amqplib conveniences for wire tests: server closes as values instead of unhandled 'error'
 * events, unique object names, a message collector, and cleanup of what a test declared on
 * an external broker (an in-process warren is thrown away with its objects).
 *
 * amqplib reports a server's channel.close as an 'error' event on the channel (and rejects
 * the pending RPC), a connection.close as 'error' + 'close' on the connection; the reply
 * text is in `.message` as `… with message "<text>"` and the code in `.code`.
 */
import type { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, expect } from 'vitest';
import amqplib from 'amqplib';
import type { Channel, ChannelModel, ConfirmChannel, ConsumeMessage, GetMessage } from 'amqplib';
import { external, type TestBroker } from './broker.js';
import { withTimeout } from './wait.js';

const require = createRequire(import.meta.url);
/** amqplib's method ids, for methods its API does not expose (tx.*, basic.recover requeue=false…). */
export const defs = require('amqplib/lib/defs.js') as Record<string, number>;

/** What amqplib makes of a server close: `code` is the reply code. */
export interface ServerClose extends Error {
  code: number;
  classId?: number;
  methodId?: number;
}

const closes = new WeakMap<EventEmitter, Promise<ServerClose | undefined>>();

function watch<T extends EventEmitter>(e: T): T {
  closes.set(
    e,
    new Promise((resolve) => {
      e.once('error', (err: ServerClose) => resolve(err));
      e.once('close', (err?: ServerClose) => resolve(err));
    }),
  );
  e.on('error', () => {}); // reported through closed(); an unhandled 'error' would crash the run
  return e;
}

export async function connect(url: string): Promise<ChannelModel> {
  return watch(await amqplib.connect(url));
}

export async function openChannel(conn: ChannelModel): Promise<Channel> {
  return watch(await conn.createChannel());
}

export async function openConfirmChannel(conn: ChannelModel): Promise<ConfirmChannel> {
  return watch(await conn.createConfirmChannel());
}

/** Resolves when the channel or connection is closed: with the server's error, if any. */
export function closed(e: Channel | ChannelModel): Promise<ServerClose | undefined> {
  const p = closes.get(e);
  if (p === undefined) throw new Error('not opened through test/helpers/amqp.ts');
  return p;
}

/** The reply text of a server close, out of amqplib's message. */
export function replyText(err: Error): string {
  const m = /with message "([\s\S]*)"$/.exec(err.message);
  return m === null ? err.message : m[1]!;
}

/**
 * Runs `action` (its own rejection, if any, is the server's close too) and expects the
 * channel or connection to be closed by the server with exactly `code` and `text`.
 */
export async function expectServerClose(
  target: Channel | ChannelModel,
  code: number,
  text: string,
  action?: () => unknown,
): Promise<void> {
  if (action !== undefined) {
    try {
      await action();
    } catch {
      // the RPC that caused the close is rejected; the close itself is checked below
    }
  }
  const err = await withTimeout(closed(target), 5000, `the server to close with ${code}`);
  expect(err, `closed by the server with ${code} ${text}`).toBeDefined();
  expect({ code: err!.code, text: replyText(err!) }).toEqual({ code, text });
}

/** The connection still carries messages: a round trip through a fresh exclusive queue. */
export async function expectUsable(conn: ChannelModel): Promise<void> {
  const ch = await openChannel(conn);
  const { queue } = await ch.assertQueue('', { exclusive: true });
  ch.sendToQueue(queue, Buffer.from('still alive'));
  const got = await getOne(ch, queue, { noAck: true });
  expect(got.content.toString()).toBe('still alive');
  await ch.deleteQueue(queue);
  await ch.close();
}

/**
 * One amqplib connection for the tests of a file: opened before them, checked after each one
 * (errors included, it must still carry messages) and closed after all. `set` receives it.
 */
export function useSharedConnection(tb: TestBroker, set: (conn: ChannelModel) => void): void {
  let conn: ChannelModel | undefined;
  beforeAll(async () => {
    conn = await connect(tb.url);
    set(conn);
  });
  afterEach(async () => {
    await expectUsable(conn!);
  });
  afterAll(async () => {
    await conn?.close();
  });
}

/**
 * basic.get that must find a message. After a publish on the same channel RabbitMQ's queue
 * has it (one Erlang mailbox, in order); a publish on another channel may still be on its
 * way, hence the short retry.
 */
export async function getOne(ch: Channel, queue: string, opts: { noAck?: boolean } = {}): Promise<GetMessage> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const m = await ch.get(queue, opts);
    if (m !== false) return m;
    if (Date.now() > deadline) throw new Error(`no message in ${queue} after 5 s`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Unique names, so that runs against an external broker do not meet each other's objects. */
export function uniq(prefix: string): string {
  return `wt-${prefix}-${randomBytes(4).toString('hex')}`;
}

/** Collects a consumer's deliveries; `null` from amqplib means the server cancelled it. */
export class Collector {
  readonly messages: ConsumeMessage[] = [];
  cancelled = false;
  #waiters: (() => void)[] = [];

  /** Pass as amqplib's onMessage. */
  readonly onMessage = (m: ConsumeMessage | null): void => {
    if (m === null) this.cancelled = true;
    else this.messages.push(m);
    const w = this.#waiters;
    this.#waiters = [];
    for (const f of w) f();
  };

  bodies(): string[] {
    return this.messages.map((m) => m.content.toString());
  }

  /** Waits until `pred` holds after some delivery (or cancel). */
  until(pred: (c: Collector) => boolean, what: string, ms = 10_000): Promise<void> {
    if (pred(this)) return Promise.resolve();
    return withTimeout(
      new Promise<void>((resolve) => {
        const check = (): void => {
          if (pred(this)) resolve();
          else this.#waiters.push(check);
        };
        this.#waiters.push(check);
      }),
      ms,
      what,
    );
  }

  count(n: number, ms = 10_000): Promise<void> {
    return this.until((c) => c.messages.length >= n, `${n} deliveries (have ${this.messages.length})`, ms);
  }

  cancel(ms = 5000): Promise<void> {
    return this.until((c) => c.cancelled, 'basic.cancel from the server', ms);
  }
}

/**
 * Objects to delete after the file's tests, on an external broker only. Register after
 * useBroker() so that this afterAll runs before the broker's.
 */
export function useCleanup(tb: TestBroker): { queue(name: string): string; exchange(name: string): string } {
  const queues = new Set<string>();
  const exchanges = new Set<string>();
  afterAll(async () => {
    if (!external || queues.size + exchanges.size === 0) return;
    const conn = await connect(tb.url);
    let ch = await openChannel(conn);
    const attempt = async (f: (c: Channel) => Promise<unknown>): Promise<void> => {
      try {
        await f(ch);
      } catch {
        ch = await openChannel(conn); // e.g. 405: still exclusive to a live connection
      }
    };
    for (const q of queues) await attempt((c) => c.deleteQueue(q));
    for (const x of exchanges) await attempt((c) => c.deleteExchange(x));
    await conn.close();
  });
  return {
    queue: (name) => (queues.add(name), name),
    exchange: (name) => (exchanges.add(name), name),
  };
}

interface Internals {
  /** Resolves with the reply's fields. */
  rpc(method: number, fields: object, expect: number): Promise<Record<string, unknown>>;
  sendImmediately(method: number, fields: object): void;
  sendMessage(fields: object, properties: object, content: Buffer): boolean;
}

/** A synchronous method amqplib has no API for, e.g. rpc(ch, 'TxSelect', {}, 'TxSelectOk'). */
export function rpc(ch: Channel, method: string, fields: object, reply: string): Promise<Record<string, unknown>> {
  return (ch as unknown as Internals).rpc(defs[method]!, fields, defs[reply]!);
}

/** An asynchronous method as is, e.g. send(ch, 'BasicAck', { deliveryTag: 99, multiple: false }). */
export function send(ch: Channel, method: string, fields: object): void {
  (ch as unknown as Internals).sendImmediately(defs[method]!, fields);
}

/** basic.publish with method fields amqplib does not let through (immediate=true). */
export function publishRaw(
  ch: Channel,
  fields: { exchange: string; routingKey: string; mandatory?: boolean; immediate?: boolean },
  content: Buffer,
): boolean {
  return (ch as unknown as Internals).sendMessage(
    { ticket: 0, mandatory: false, immediate: false, ...fields },
    { headers: {} },
    content,
  );
}
