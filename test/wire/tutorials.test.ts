/**
 * RabbitMQ's six tutorials (https://www.rabbitmq.com/tutorials, the JavaScript/amqplib
 * versions) as tests: what a newcomer does first must work exactly as on RabbitMQ 3.10.8.
 * Each tutorial opens its own connections, as its separate programs would.
 *
 * Names get a per-run suffix so that a run against an external broker (WARREN_TEST_URL) is not
 * disturbed by another run's durable queue or by a second client bound to the same exchange.
 * To know that nothing more will arrive, the last message published reaches every queue of
 * the test ("end"): deliveries from one channel to one queue keep their order, so once the
 * marker is in, the list is complete.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import amqplib from 'amqplib';
import { useBroker } from '../helpers/broker.js';
import { eventually, withTimeout } from '../helpers/wait.js';

const tb = useBroker();
const run = randomBytes(3).toString('hex');
const name = (base: string): string => `${base}.${run}`;
const WAIT_MS = 5000;

/** Message bodies received by one consumer, with a way to wait for a condition on them. */
class Inbox {
  readonly bodies: string[] = [];
  #waiters: Array<() => void> = [];

  push(body: string): void {
    this.bodies.push(body);
    for (const w of this.#waiters.splice(0)) w();
  }

  until(done: (bodies: string[]) => boolean, what: string, ms = WAIT_MS): Promise<void> {
    const p = new Promise<void>((resolve) => {
      const check = (): void => {
        if (done(this.bodies)) resolve();
        else this.#waiters.push(check);
      };
      check();
    });
    return withTimeout(p, ms, `${what} (got ${JSON.stringify(this.bodies)})`);
  }

  /** Waits for the "end" marker. */
  untilEnd(what: string): Promise<void> {
    return this.until((b) => b.includes('end'), `"end" to reach ${what}`);
  }
}

let opened: amqplib.ChannelModel[] = [];
let errors: unknown[] = [];
/** Deleted after the test's connections are closed (deleting under a consumer cancels it). */
let leftovers: Array<{ queue: string } | { exchange: string }> = [];

async function connect(): Promise<amqplib.ChannelModel> {
  const conn = await amqplib.connect(tb.url);
  conn.on('error', (e: unknown) => errors.push(e));
  opened.push(conn);
  return conn;
}

async function channel(conn?: amqplib.ChannelModel): Promise<amqplib.Channel> {
  const ch = await (conn ?? (await connect())).createChannel();
  ch.on('error', (e: unknown) => errors.push(e));
  return ch;
}

/** Consumes into an inbox; a server-side cancel (null message) is recorded as an error. */
async function consumeInto(ch: amqplib.Channel, queue: string, inbox: Inbox): Promise<void> {
  await ch.consume(
    queue,
    (msg) => {
      if (msg === null) errors.push(new Error(`consumer on ${queue} cancelled by the server`));
      else inbox.push(msg.content.toString());
    },
    { noAck: true },
  );
}

afterEach(async () => {
  await Promise.all(opened.map((c) => c.close().catch(() => undefined)));
  opened = [];
  const seen = errors;
  errors = [];
  if (leftovers.length > 0) {
    const conn = await amqplib.connect(tb.url);
    const ch = await conn.createChannel();
    for (const l of leftovers) {
      if ('queue' in l) await ch.deleteQueue(l.queue);
      else await ch.deleteExchange(l.exchange);
    }
    leftovers = [];
    await conn.close();
  }
  expect(seen).toEqual([]);
});

describe('RabbitMQ tutorials with amqplib', () => {
  it('1 "Hello World!": send to a named queue, receive it', async () => {
    const queue = name('hello');
    leftovers.push({ queue });
    const sender = await channel();
    await sender.assertQueue(queue, { durable: false });
    const receiver = await channel();
    await receiver.assertQueue(queue, { durable: false });
    const inbox = new Inbox();
    await consumeInto(receiver, queue, inbox);

    sender.sendToQueue(queue, Buffer.from('Hello World!'));
    await inbox.until((b) => b.length >= 1, 'Hello World! to arrive');
    expect(inbox.bodies).toEqual(['Hello World!']);
    // noAck consumer: nothing is left in the queue
    expect((await sender.checkQueue(queue)).messageCount).toBe(0);
  });

  it('2 work queues: durable queue, persistent tasks, prefetch 1 favours the fast worker, each task done once', async () => {
    const queue = name('task_queue');
    leftovers.push({ queue });
    const producer = await channel();
    await producer.assertQueue(queue, { durable: true });

    // tutorial 2: redeclaring with other parameters is an error
    const other = await channel();
    const closed = new Promise<unknown>((resolve) => other.once('error', resolve));
    await expect(other.assertQueue(queue, { durable: false })).rejects.toThrow(
      new RegExp(`406 \\(PRECONDITION-FAILED\\) with message "PRECONDITION_FAILED - inequivalent arg 'durable' for queue '${queue.replace(/\./g, '\\.')}' in vhost '/': received 'false' but current is 'true'"`),
    );
    const channelError = await withTimeout(closed, WAIT_MS, 'the channel error event');
    errors = errors.filter((e) => e !== channelError);

    const tasks = Array.from({ length: 24 }, (_, i) => `task ${i} ${'.'.repeat((i % 4) + 1)}`);
    const done = new Inbox();
    const byFast: string[] = [];
    const bySlow: string[] = [];
    const notPersistent: string[] = [];
    const redelivered: string[] = [];
    let slowHeldTwo = false;

    // The slow worker "works" until the fast one has finished 3 more tasks (or nothing else is
    // left): event-driven slowness, so the test needs no clock.
    const slowCh = await channel();
    const fastCh = await channel();
    let held: { msg: amqplib.ConsumeMessage; fastAtReceipt: number } | null = null;
    const maybeFinishSlow = (): void => {
      if (held === null) return;
      if (byFast.length - held.fastAtReceipt >= 3 || done.bodies.length === tasks.length - 1) {
        const { msg } = held;
        held = null;
        slowCh.ack(msg);
        done.push(msg.content.toString());
      }
    };
    const check = (msg: amqplib.ConsumeMessage): void => {
      if (msg.properties.deliveryMode !== 2) notPersistent.push(msg.content.toString());
      if (msg.fields.redelivered) redelivered.push(msg.content.toString());
    };
    for (const ch of [slowCh, fastCh]) {
      await ch.assertQueue(queue, { durable: true });
      await ch.prefetch(1);
    }
    await slowCh.consume(queue, (msg) => {
      if (msg === null) return void errors.push(new Error('slow worker cancelled'));
      check(msg);
      if (held !== null) slowHeldTwo = true;
      bySlow.push(msg.content.toString());
      held = { msg, fastAtReceipt: byFast.length };
      maybeFinishSlow();
    });
    await fastCh.consume(queue, (msg) => {
      if (msg === null) return void errors.push(new Error('fast worker cancelled'));
      check(msg);
      byFast.push(msg.content.toString());
      fastCh.ack(msg);
      done.push(msg.content.toString());
      maybeFinishSlow();
    });

    for (const t of tasks) producer.sendToQueue(queue, Buffer.from(t), { persistent: true });
    await done.until((b) => b.length >= tasks.length, `all ${tasks.length} tasks to be done`);

    expect([...done.bodies].sort()).toEqual([...tasks].sort());
    expect(byFast.length + bySlow.length, 'no task delivered twice').toBe(tasks.length);
    expect(byFast.length, `fast ${byFast.length} vs slow ${bySlow.length}`).toBeGreaterThan(bySlow.length);
    expect(bySlow.length, 'the slow worker got work too').toBeGreaterThanOrEqual(1);
    expect(slowHeldTwo, 'prefetch 1: the slow worker never holds two tasks').toBe(false);
    expect(notPersistent).toEqual([]);
    expect(redelivered).toEqual([]);
    const q = await producer.checkQueue(queue);
    expect(q.messageCount).toBe(0);
  });

  it('3 publish/subscribe: fanout "logs", two exclusive server-named queues both get every message', async () => {
    const exchange = name('logs');
    leftovers.push({ exchange });
    const subscribers: Array<{ queue: string; inbox: Inbox; conn: amqplib.ChannelModel }> = [];
    for (let i = 0; i < 2; i++) {
      const conn = await connect();
      const ch = await channel(conn);
      await ch.assertExchange(exchange, 'fanout', { durable: false });
      const { queue } = await ch.assertQueue('', { exclusive: true });
      await ch.bindQueue(queue, exchange, '');
      const inbox = new Inbox();
      await consumeInto(ch, queue, inbox);
      subscribers.push({ queue, inbox, conn });
    }
    expect(subscribers[0]!.queue).toMatch(/^amq\.gen-/);
    expect(subscribers[1]!.queue).toMatch(/^amq\.gen-/);
    expect(subscribers[0]!.queue).not.toBe(subscribers[1]!.queue);

    const emitter = await channel();
    await emitter.assertExchange(exchange, 'fanout', { durable: false });
    const logs = Array.from({ length: 10 }, (_, i) => `log line ${i}`);
    for (const l of [...logs, 'end']) emitter.publish(exchange, '', Buffer.from(l));

    for (const [i, s] of subscribers.entries()) {
      await s.inbox.untilEnd(`subscriber ${i}`);
      expect(s.inbox.bodies, `subscriber ${i}`).toEqual([...logs, 'end']);
    }

    // "once we disconnect the consumer the queue should be automatically deleted"
    for (const s of subscribers) await s.conn.close();
    opened = opened.filter((c) => !subscribers.some((s) => s.conn === c));
    const probeConn = await connect();
    for (const s of subscribers) {
      await eventually(
        async () => {
          const probe = await probeConn.createChannel();
          probe.on('error', () => undefined);
          try {
            await probe.checkQueue(s.queue);
            await probe.close();
            return false;
          } catch (e) {
            return /404 \(NOT-FOUND\)/.test(String(e));
          }
        },
        WAIT_MS,
        `exclusive queue ${s.queue} to be deleted`,
      );
    }
  });

  it('4 routing: direct "direct_logs" delivers by severity', async () => {
    const exchange = name('direct_logs');
    leftovers.push({ exchange });
    const bindings: Record<string, string[]> = {
      errorsToDisk: ['error'],
      console: ['info', 'warning', 'error'],
    };
    const inboxes: Record<string, Inbox> = {};
    for (const [who, severities] of Object.entries(bindings)) {
      const ch = await channel();
      await ch.assertExchange(exchange, 'direct', { durable: false });
      const { queue } = await ch.assertQueue('', { exclusive: true });
      for (const s of severities) await ch.bindQueue(queue, exchange, s);
      inboxes[who] = new Inbox();
      await consumeInto(ch, queue, inboxes[who]);
    }

    const emitter = await channel();
    await emitter.assertExchange(exchange, 'direct', { durable: false });
    const sent: Array<[string, string]> = [
      ['info', 'info: service started'],
      ['warning', 'warning: disk 80% full'],
      ['error', 'error: disk full'],
      ['debug', 'debug: nobody listens to this'],
      ['error', 'error: cannot write'],
      ['info', 'info: retrying'],
      ['critical', 'critical: nobody is bound to this either'],
      ['error', 'end'],
    ];
    for (const [severity, text] of sent) emitter.publish(exchange, severity, Buffer.from(text));

    await inboxes['errorsToDisk']!.untilEnd('the error-only queue');
    await inboxes['console']!.untilEnd('the info/warning/error queue');
    expect(inboxes['errorsToDisk']!.bodies).toEqual(['error: disk full', 'error: cannot write', 'end']);
    expect(inboxes['console']!.bodies).toEqual([
      'info: service started',
      'warning: disk 80% full',
      'error: disk full',
      'error: cannot write',
      'info: retrying',
      'end',
    ]);
  });

  it('5 topics: "topic_logs" with "#", "kern.*", "*.critical"', async () => {
    const exchange = name('topic_logs');
    leftovers.push({ exchange });
    const bindings: Record<string, string[]> = {
      all: ['#'],
      kern: ['kern.*'],
      critical: ['*.critical'],
      kernOrCritical: ['kern.*', '*.critical'],
    };
    const inboxes: Record<string, Inbox> = {};
    for (const [who, keys] of Object.entries(bindings)) {
      const ch = await channel();
      await ch.assertExchange(exchange, 'topic', { durable: false });
      const { queue } = await ch.assertQueue('', { exclusive: true });
      for (const k of keys) await ch.bindQueue(queue, exchange, k);
      inboxes[who] = new Inbox();
      await consumeInto(ch, queue, inboxes[who]);
    }

    const emitter = await channel();
    await emitter.assertExchange(exchange, 'topic', { durable: false });
    // routing key → who receives it (written out by hand, not computed by a matcher)
    const cases: Array<[string, string[]]> = [
      ['kern.critical', ['all', 'kern', 'critical', 'kernOrCritical']],
      ['kern.info', ['all', 'kern', 'kernOrCritical']],
      ['cron.critical', ['all', 'critical', 'kernOrCritical']],
      ['cron.info', ['all']],
      ['kern', ['all']],
      ['kern.disk.critical', ['all']],
      ['quick.orange.rabbit', ['all']],
      ['', ['all']],
    ];
    for (const [key] of cases) emitter.publish(exchange, key, Buffer.from(`${key}: message`));
    emitter.publish(exchange, 'kern.critical', Buffer.from('end'));

    for (const [who, inbox] of Object.entries(inboxes)) {
      await inbox.untilEnd(who);
      const expected = cases.filter(([, to]) => to.includes(who)).map(([key]) => `${key}: message`);
      expect(inbox.bodies, who).toEqual([...expected, 'end']);
    }
  });

  it('6 RPC: "rpc_queue" server, exclusive callback queue, correlation ids, 20 fib requests', async () => {
    const rpcQueue = name('rpc_queue');
    leftovers.push({ queue: rpcQueue });
    const fib = (n: number): number => (n < 2 ? n : fib(n - 1) + fib(n - 2));
    const expectedFib = [0, 1, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 233, 377, 610, 987, 1597, 2584, 4181];

    // the server
    const server = await channel();
    await server.assertQueue(rpcQueue, { durable: false });
    await server.prefetch(1);
    const replyTos = new Set<string>();
    await server.consume(rpcQueue, (msg) => {
      if (msg === null) return void errors.push(new Error('rpc server cancelled'));
      const n = Number(msg.content.toString());
      replyTos.add(String(msg.properties.replyTo));
      server.sendToQueue(msg.properties.replyTo as string, Buffer.from(String(fib(n))), {
        correlationId: msg.properties.correlationId as string,
      });
      server.ack(msg);
    });

    // the client
    const client = await channel();
    const { queue: callbackQueue } = await client.assertQueue('', { exclusive: true });
    const pending = new Map<string, (answer: string) => void>();
    const strays: unknown[] = [];
    await client.consume(
      callbackQueue,
      (msg) => {
        if (msg === null) return void errors.push(new Error('rpc client cancelled'));
        const settle = pending.get(msg.properties.correlationId as string);
        if (settle === undefined) strays.push(msg.properties.correlationId);
        else {
          pending.delete(msg.properties.correlationId as string);
          settle(msg.content.toString());
        }
      },
      { noAck: true },
    );
    const call = (n: number): Promise<string> => {
      const correlationId = randomUUID();
      const answer = new Promise<string>((resolve) => pending.set(correlationId, resolve));
      client.sendToQueue(rpcQueue, Buffer.from(String(n)), { correlationId, replyTo: callbackQueue });
      return withTimeout(answer, WAIT_MS, `the answer to fib(${n})`);
    };

    // one at a time like the tutorial's client, then all at once
    const sequential: string[] = [];
    for (let n = 0; n < 10; n++) sequential.push(await call(n));
    const concurrent = await Promise.all(Array.from({ length: 10 }, (_, i) => call(10 + i)));
    expect([...sequential, ...concurrent].map(Number)).toEqual(expectedFib);
    expect(strays).toEqual([]);
    expect([...replyTos]).toEqual([callbackQueue]);
  });
});
