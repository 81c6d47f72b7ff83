/**
 * Messaging acceptance, queues: declare (server-named, passive, exclusive, auto-delete,
 * arguments, redeclare), bind/unbind, purge, delete, the "" shortcut for the channel's last
 * declared queue, and consumers of a deleted queue. Texts and counts are RabbitMQ 3.10.8's
 * (../shared/reference/errors.md rows 1–54 and 77–87, headers.md sections 4 and 5).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Channel, ChannelModel } from 'amqplib';
import { useBroker } from '../helpers/broker.js';
import {
  Collector,
  closed,
  connect,
  expectServerClose,
  expectUsable,
  getOne,
  openChannel,
  rpc,
  send,
  uniq,
  useCleanup,
  useSharedConnection,
} from '../helpers/amqp.js';
import { eventually, withTimeout } from '../helpers/wait.js';

const tb = useBroker();
const tidy = useCleanup(tb);

let conn: ChannelModel;
useSharedConnection(tb, (c) => (conn = c));
/** A second client, for exclusivity. */
let other: ChannelModel;
beforeAll(async () => {
  other = await connect(tb.url);
});
afterAll(async () => {
  await other.close();
});

const int = (value: number): { '!': string; value: number } => ({ '!': 'int', value });
const long = (value: number): { '!': string; value: number } => ({ '!': 'long', value });

/** A non-durable queue this file owns (deleted afterwards on an external broker). */
async function declareQueue(ch: Channel, prefix: string, opts: Record<string, unknown> = {}): Promise<string> {
  const q = tidy.queue(uniq(prefix));
  await ch.assertQueue(q, { durable: false, ...opts });
  return q;
}

/** queue.declare passive → [message_count, consumer_count]. */
async function counts(ch: Channel, q: string): Promise<[number, number]> {
  const ok = await ch.checkQueue(q);
  expect(ok.queue).toBe(q);
  return [ok.messageCount, ok.consumerCount];
}

/**
 * Passive declares until the counts are `expected`: RabbitMQ answers them ahead of publishes
 * and nacks still in the queue's mailbox (stat is a prioritised call).
 */
async function settlesAt(ch: Channel, q: string, expected: [number, number]): Promise<void> {
  let last: [number, number] = [-1, -1];
  await eventually(async () => {
    last = await counts(ch, q);
    return last[0] === expected[0] && last[1] === expected[1];
  }, 5000, `counts of ${q} to be ${String(expected)}`).catch(() => {
    expect(last).toEqual(expected);
  });
}

/** Resolves once passive declares of `q` answer 404 (deletion in RabbitMQ is asynchronous). */
async function expectGone(q: string): Promise<void> {
  await eventually(async () => {
    const probe = await openChannel(conn);
    try {
      await probe.checkQueue(q);
      await probe.close();
      return false;
    } catch {
      const err = await closed(probe);
      expect(err?.message).toContain(`NOT_FOUND - no queue '${q}' in vhost '/'`);
      return true;
    }
  }, 5000, `queue ${q} to be deleted`);
}

const locked = (q: string): string =>
  `RESOURCE_LOCKED - cannot obtain exclusive access to locked queue '${q}' in vhost '/'. It could be originally declared on another connection or the exclusive property value does not match that of the original declaration.`;

describe('queue.declare', () => {
  it('an empty name gets a server-generated amq.gen-… name (headers.md 4)', async () => {
    const ch = await openChannel(conn);
    const names = new Set<string>();
    for (let i = 0; i < 5; i++) {
      const ok = await ch.assertQueue('', { exclusive: true });
      expect(ok.queue).toMatch(/^amq\.gen-[A-Za-z0-9_-]{22}$/);
      expect(ok).toMatchObject({ messageCount: 0, consumerCount: 0 });
      names.add(ok.queue);
    }
    expect(names.size).toBe(5);
    await ch.close();
  });

  it('passive: 404 for a missing queue (errors.md 1, 23); other fields are ignored (19)', async () => {
    const ch = await openChannel(conn);
    const q = await declareQueue(ch, 'passive');
    // amqplib's checkQueue sends durable=true: ignored for passive
    expect(await counts(ch, q)).toEqual([0, 0]);
    const missing = uniq('missing');
    await expectServerClose(ch, 404, `NOT_FOUND - no queue '${missing}' in vhost '/'`, () => ch.checkQueue(missing));
    const ch2 = await openChannel(conn);
    await expectServerClose(ch2, 404, `NOT_FOUND - no queue 'amq.${missing}' in vhost '/'`, () => ch2.checkQueue(`amq.${missing}`));
    await expectUsable(conn);
  });

  it('a new name starting with "amq." is refused with 403 (errors.md 22)', async () => {
    const ch = await openChannel(conn);
    const name = `amq.${uniq('q')}`;
    await expectServerClose(ch, 403, `ACCESS_REFUSED - queue name '${name}' contains reserved prefix 'amq.*'`, () =>
      ch.assertQueue(name, { durable: false }),
    );
  });

  it('accepts a 255-byte name (errors.md 25)', async () => {
    const ch = await openChannel(conn);
    const name = tidy.queue(uniq('long').padEnd(255, 'n'));
    const ok = await ch.assertQueue(name, { durable: false });
    expect(ok.queue).toBe(name);
    await ch.deleteQueue(name);
    await ch.close();
  });

  it('reports message and consumer counts in declare-ok, get-ok, purge-ok and delete-ok (headers.md 5)', async () => {
    const ch = await openChannel(conn);
    const q = await declareQueue(ch, 'count');
    expect(await ch.assertQueue(q, { durable: false })).toEqual({ queue: q, messageCount: 0, consumerCount: 0 });
    for (const b of ['1', '2', '3']) ch.sendToQueue(q, Buffer.from(b));
    await settlesAt(ch, q, [3, 0]);
    expect(await ch.assertQueue(q, { durable: false })).toEqual({ queue: q, messageCount: 3, consumerCount: 0 });
    const first = await getOne(ch, q);
    expect(first.fields).toMatchObject({ redelivered: false, exchange: '', routingKey: q, messageCount: 2 });
    expect(first.content.toString()).toBe('1');
    expect(await counts(ch, q), 'an unacked message is not counted').toEqual([2, 0]);

    const consuming = await openChannel(conn);
    await consuming.prefetch(1);
    const c = new Collector();
    const { consumerTag } = await consuming.consume(q, c.onMessage);
    await c.count(1);
    expect(c.bodies()).toEqual(['2']);
    expect(await counts(ch, q)).toEqual([1, 1]);
    await consuming.cancel(consumerTag);
    expect(await counts(ch, q), 'cancelled; its delivery is still unacked').toEqual([1, 0]);
    await consuming.close();
    expect(await counts(ch, q), 'its channel closed: the delivery is back').toEqual([2, 0]);

    ch.nack(first, false, true);
    await settlesAt(ch, q, [3, 0]);
    const again = await getOne(ch, q, { noAck: true });
    expect(again.fields).toMatchObject({ redelivered: true, messageCount: 2 });
    expect(again.content.toString()).toBe('1');
    expect(await ch.purgeQueue(q)).toEqual({ messageCount: 2 });
    expect(await ch.get(q)).toBe(false);
    ch.sendToQueue(q, Buffer.from('4'));
    ch.sendToQueue(q, Buffer.from('5'));
    expect(await ch.deleteQueue(q)).toEqual({ messageCount: 2 });
    await ch.close();
  });
});

describe('exclusive queues', () => {
  it('belong to their connection: declare, passive declare, bind, purge, delete, consume and get from another are 405 (errors.md 20, 21, 51, 54, 82, 127, 133)', async () => {
    const mine = await openChannel(conn);
    const q = tidy.queue(uniq('excl'));
    await mine.assertQueue(q, { exclusive: true, durable: false });
    const attempts: [string, (ch: Channel) => Promise<unknown>][] = [
      ['declare', (ch) => ch.assertQueue(q, { exclusive: true, durable: false })],
      ['declare non-exclusive', (ch) => ch.assertQueue(q, { durable: false })],
      ['passive declare', (ch) => ch.checkQueue(q)],
      ['bind', (ch) => ch.bindQueue(q, 'amq.direct', 'k')],
      ['purge', (ch) => ch.purgeQueue(q)],
      ['delete', (ch) => ch.deleteQueue(q)],
      ['consume', (ch) => ch.consume(q, () => {})],
      ['get', (ch) => ch.get(q)],
    ];
    for (const [, attempt] of attempts) {
      const ch = await openChannel(other);
      await expectServerClose(ch, 405, locked(q), () => attempt(ch));
    }
    // its own connection uses it freely
    mine.sendToQueue(q, Buffer.from('mine'));
    expect((await getOne(mine, q, { noAck: true })).content.toString()).toBe('mine');
    await expectUsable(other);
    await mine.close();
  });

  it('cannot be redeclared with another exclusive flag on the same connection (errors.md 6, 7)', async () => {
    const ch = await openChannel(conn);
    const shared = await declareQueue(ch, 'not-excl');
    await expectServerClose(ch, 405, locked(shared), () => ch.assertQueue(shared, { exclusive: true, durable: false }));
    const ch2 = await openChannel(conn);
    const excl = tidy.queue(uniq('excl'));
    await ch2.assertQueue(excl, { exclusive: true, durable: false });
    await expectServerClose(ch2, 405, locked(excl), () => ch2.assertQueue(excl, { durable: false }));
  });

  it('are never durable: redeclaring one with durable=false after durable=true is fine', async () => {
    const ch = await openChannel(conn);
    const q = tidy.queue(uniq('excl-durable'));
    await ch.assertQueue(q, { exclusive: true, durable: true });
    await ch.assertQueue(q, { exclusive: true, durable: false });
    await ch.assertQueue(q, { exclusive: true, durable: true });
    await ch.close();
  });

  it('are deleted when their connection closes, taking their messages with them', async () => {
    const c = await connect(tb.url);
    const ch = await openChannel(c);
    const q = tidy.queue(uniq('excl-gone'));
    await ch.assertQueue(q, { exclusive: true, durable: false });
    ch.sendToQueue(q, Buffer.from('lost'));
    await ch.checkQueue(q);
    await c.close();
    await expectGone(q);
    // and the name is free again, for anyone
    const ch2 = await openChannel(other);
    expect(await ch2.assertQueue(q, { exclusive: true, durable: false })).toMatchObject({ messageCount: 0 });
    await ch2.close();
  });
});

describe('auto-delete queues', () => {
  it('go when their last consumer is cancelled, not before, and not if they never had one', async () => {
    const ch = await openChannel(conn);
    const q = await declareQueue(ch, 'ad', { autoDelete: true });
    const never = await declareQueue(ch, 'ad-never', { autoDelete: true });
    const a = await ch.consume(q, () => {});
    const b = await ch.consume(q, () => {});
    expect(await counts(ch, q)).toEqual([0, 2]);
    await ch.cancel(a.consumerTag);
    expect(await counts(ch, q)).toEqual([0, 1]);
    await ch.cancel(b.consumerTag);
    await expectGone(q);
    expect(await counts(ch, never)).toEqual([0, 0]);
    await ch.close();
  });

  it('go when the channel of their last consumer closes', async () => {
    const ch = await openChannel(conn);
    const q = await declareQueue(ch, 'ad-close', { autoDelete: true });
    const consuming = await openChannel(conn);
    await consuming.consume(q, () => {});
    await consuming.close();
    await expectGone(q);
    await ch.close();
  });
});

describe('queue.declare arguments', () => {
  it('refuses invalid values with RabbitMQ 3.10 texts (errors.md 27–44, 47)', async () => {
    type Case = [row: number, opts: Record<string, unknown>, args: Record<string, unknown>, detail: (q: string) => string];
    const inv = (arg: string, why: string) => (q: string) => `invalid arg '${arg}' for queue '${q}' in vhost '/': ${why}`;
    const prop = (p: string) => (q: string) => `invalid property '${p}' for queue '${q}' in vhost '/'`;
    const cases: Case[] = [
      [27, {}, { 'x-message-ttl': int(-1) }, inv('x-message-ttl', '{value_negative,-1}')],
      [28, {}, { 'x-message-ttl': 'abc' }, inv('x-message-ttl', '"expected integer, got longstr"')],
      [29, {}, { 'x-expires': int(0) }, inv('x-expires', '{value_zero,0}')],
      [30, {}, { 'x-expires': int(-5) }, inv('x-expires', '{value_negative,-5}')],
      [31, {}, { 'x-max-length': int(-1) }, inv('x-max-length', '{value_negative,-1}')],
      [32, {}, { 'x-max-length-bytes': 'big' }, inv('x-max-length-bytes', '"expected integer, got longstr"')],
      [33, {}, { 'x-max-priority': int(300) }, inv('x-max-priority', '{max_value_exceeded,300}')],
      [34, {}, { 'x-max-priority': int(-1) }, inv('x-max-priority', '{value_negative,-1}')],
      [35, {}, { 'x-overflow': 'bogus' }, inv('x-overflow', 'invalid_overflow')],
      [36, {}, { 'x-queue-type': 'bogus' }, inv('x-queue-type', `"unsupported queue type 'bogus'"`)],
      [37, {}, { 'x-queue-mode': 'bogus' }, inv('x-queue-mode', `"unsupported queue mode 'bogus'"`)],
      [38, {}, { 'x-dead-letter-routing-key': 'k' }, inv('x-dead-letter-routing-key', 'routing_key_but_no_dlx_defined')],
      [39, {}, { 'x-dead-letter-exchange': int(5) }, (q) => `invalid type 'signedint' for arg 'x-dead-letter-exchange' in queue '${q}' in vhost '/'`],
      [40, {}, { 'x-single-active-consumer': 'yes' }, inv('x-single-active-consumer', '{unacceptable_type,longstr}')],
      [41, { durable: false }, { 'x-queue-type': 'quorum' }, prop('non-durable')],
      [42, { durable: true, exclusive: true }, { 'x-queue-type': 'quorum' }, prop('exclusive-owner')],
      [43, { durable: true, autoDelete: true }, { 'x-queue-type': 'quorum' }, prop('auto-delete')],
      [44, { durable: true }, { 'x-queue-type': 'quorum', 'x-max-priority': int(10) }, (q) => `invalid arg 'x-max-priority' for queue '${q}' in vhost '/' of queue type rabbit_quorum_queue`],
      [47, { durable: false }, { 'x-queue-type': 'stream' }, prop('non-durable')],
    ];
    for (const [row, opts, args, detail] of cases) {
      const ch = await openChannel(conn);
      const q = tidy.queue(uniq(`arg-${row}`));
      await expectServerClose(ch, 406, `PRECONDITION_FAILED - ${detail(q)}`, () =>
        ch.assertQueue(q, { durable: false, ...opts, arguments: args }),
      );
    }
    await expectUsable(conn);
  });

  it('accepts what RabbitMQ accepts (errors.md 45, 46)', async () => {
    const ch = await openChannel(conn);
    for (const args of [
      { 'x-queue-type': 'quorum', 'x-overflow': 'reject-publish-dlx' },
      { 'x-queue-type': 'quorum', 'x-delivery-limit': 'two' },
    ]) {
      const q = tidy.queue(uniq('qq'));
      expect(await ch.assertQueue(q, { durable: true, arguments: args })).toEqual({ queue: q, messageCount: 0, consumerCount: 0 });
      await ch.deleteQueue(q);
    }
    await ch.close();
  });
});

describe('redeclaring a queue', () => {
  const head = (q: string, arg: string): string => `PRECONDITION_FAILED - inequivalent arg '${arg}' for queue '${q}' in vhost '/': `;

  it('with other properties or arguments: 406 (errors.md 2–5, 9–15, 17)', async () => {
    type Case = [row: number, first: Record<string, unknown>, second: Record<string, unknown>, text: (q: string) => string];
    const cases: Case[] = [
      [2, { durable: false }, { durable: true }, (q) => `${head(q, 'durable')}received 'true' but current is 'false'`],
      [3, { durable: true }, { durable: false }, (q) => `${head(q, 'durable')}received 'false' but current is 'true'`],
      [4, { autoDelete: false }, { autoDelete: true }, (q) => `${head(q, 'auto_delete')}received 'true' but current is 'false'`],
      [5, { autoDelete: true }, { autoDelete: false }, (q) => `${head(q, 'auto_delete')}received 'false' but current is 'true'`],
      [9, { arguments: { 'x-message-ttl': int(1000) } }, { arguments: { 'x-message-ttl': int(2000) } }, (q) => `${head(q, 'x-message-ttl')}received '2000' but current is '1000'`],
      [10, { arguments: { 'x-message-ttl': int(1000) } }, { arguments: { 'x-message-ttl': '1000' } }, (q) => `${head(q, 'x-message-ttl')}received '1000' but current is '1000'`],
      [11, { arguments: { 'x-message-ttl': int(1000) } }, {}, (q) => `${head(q, 'x-message-ttl')}received none but current is the value '1000' of type 'signedint'`],
      [12, {}, { arguments: { 'x-message-ttl': int(1000) } }, (q) => `${head(q, 'x-message-ttl')}received the value '1000' of type 'signedint' but current is none`],
      [13, { arguments: { 'x-dead-letter-exchange': 'a' } }, { arguments: { 'x-dead-letter-exchange': 'b' } }, (q) => `${head(q, 'x-dead-letter-exchange')}received 'b' but current is 'a'`],
      [14, { arguments: { 'x-max-length': int(10) } }, { arguments: { 'x-max-length': int(20) } }, (q) => `${head(q, 'x-max-length')}received '20' but current is '10'`],
      [15, { arguments: { 'x-expires': int(60000) } }, { arguments: { 'x-expires': int(30000) } }, (q) => `${head(q, 'x-expires')}received '30000' but current is '60000'`],
      [17, { durable: true, arguments: { 'x-queue-type': 'quorum' } }, { durable: true }, (q) => `${head(q, 'x-queue-type')}received none but current is the value 'quorum' of type 'longstr'`],
    ];
    for (const [row, first, second, text] of cases) {
      const ch = await openChannel(conn);
      const q = tidy.queue(uniq(`redecl-${row}`));
      await ch.assertQueue(q, { durable: false, ...first });
      await expectServerClose(ch, 406, text(q), () => ch.assertQueue(q, { durable: false, ...second }));
      const cleanup = await openChannel(conn);
      await cleanup.deleteQueue(q);
      await cleanup.close();
    }
    await expectUsable(conn);
  });

  it('with equivalent arguments is fine (errors.md 8, 16, 18)', async () => {
    const ch = await openChannel(conn);
    const cases: [Record<string, unknown>, Record<string, unknown>][] = [
      [{ 'x-message-ttl': int(1000) }, { 'x-message-ttl': long(1000) }],
      [{}, { 'x-queue-type': 'classic' }],
      [{ 'x-ref-custom': int(1) }, { 'x-ref-custom': int(2) }],
    ];
    for (const [first, second] of cases) {
      const q = await declareQueue(ch, 'equiv', { arguments: first });
      expect(await ch.assertQueue(q, { durable: false, arguments: second })).toEqual({ queue: q, messageCount: 0, consumerCount: 0 });
      await ch.deleteQueue(q);
    }
    await ch.close();
  });
});

describe('queue.bind and queue.unbind', () => {
  it('404 for a missing queue or exchange; the exchange is looked up first (errors.md 77–79)', async () => {
    const ch = await openChannel(conn);
    const q = await declareQueue(ch, 'bind');
    const missingQ = uniq('missing-q');
    const missingX = uniq('missing-x');
    await expectServerClose(ch, 404, `NOT_FOUND - no queue '${missingQ}' in vhost '/'`, () => ch.bindQueue(missingQ, 'amq.direct', 'k'));
    const ch2 = await openChannel(conn);
    await expectServerClose(ch2, 404, `NOT_FOUND - no exchange '${missingX}' in vhost '/'`, () => ch2.bindQueue(q, missingX, 'k'));
    const ch3 = await openChannel(conn);
    await expectServerClose(ch3, 404, `NOT_FOUND - no exchange '${missingX}' in vhost '/'`, () => ch3.bindQueue(missingQ, missingX, 'k'));
    await expectUsable(conn);
  });

  it('unbind is idempotent: a missing binding, queue or exchange is fine (errors.md 84–86)', async () => {
    const ch = await openChannel(conn);
    const q = await declareQueue(ch, 'unbind');
    await ch.bindQueue(q, 'amq.direct', 'k');
    await ch.unbindQueue(q, 'amq.direct', 'k');
    await ch.unbindQueue(q, 'amq.direct', 'k');
    await ch.unbindQueue(q, 'amq.direct', 'never-bound');
    await ch.unbindQueue(uniq('missing-q'), 'amq.direct', 'k');
    await ch.unbindQueue(q, uniq('missing-x'), 'k');
    ch.publish('amq.direct', 'k', Buffer.from('x'));
    expect(await ch.get(q)).toBe(false);
    await ch.close();
  });

  it('binding twice is one binding; arguments are part of a binding', async () => {
    const ch = await openChannel(conn);
    const q = await declareQueue(ch, 'bind-twice');
    await ch.bindQueue(q, 'amq.direct', 'k');
    await ch.bindQueue(q, 'amq.direct', 'k');
    await ch.bindQueue(q, 'amq.direct', 'k', { a: '1' });
    await ch.unbindQueue(q, 'amq.direct', 'k');
    ch.publish('amq.direct', 'k', Buffer.from('still bound with arguments'));
    expect((await getOne(ch, q, { noAck: true })).content.toString()).toBe('still bound with arguments');
    await ch.unbindQueue(q, 'amq.direct', 'k', { a: '1' });
    ch.publish('amq.direct', 'k', Buffer.from('x'));
    expect(await ch.get(q)).toBe(false);
    await ch.close();
  });
});

describe('queue.purge and queue.delete', () => {
  it('purge answers the number of ready messages removed; unacked ones stay (errors.md 53)', async () => {
    const ch = await openChannel(conn);
    const q = await declareQueue(ch, 'purge');
    for (let i = 0; i < 5; i++) ch.sendToQueue(q, Buffer.from(String(i)));
    const held = await getOne(ch, q);
    expect(await ch.purgeQueue(q)).toEqual({ messageCount: 4 });
    expect(await ch.purgeQueue(q)).toEqual({ messageCount: 0 });
    ch.nack(held, false, true);
    await settlesAt(ch, q, [1, 0]);
    const missing = uniq('missing');
    await expectServerClose(ch, 404, `NOT_FOUND - no queue '${missing}' in vhost '/'`, () => ch.purgeQueue(missing));
  });

  it('delete if-unused refuses a queue with a consumer, if-empty one with messages (errors.md 48, 49)', async () => {
    const ch = await openChannel(conn);
    const used = await declareQueue(ch, 'del-used');
    const full = await declareQueue(ch, 'del-full');
    await ch.consume(used, () => {});
    ch.sendToQueue(full, Buffer.from('x'));
    await expectServerClose(ch, 406, `PRECONDITION_FAILED - queue '${used}' in vhost '/' in use`, () =>
      ch.deleteQueue(used, { ifUnused: true }),
    );
    const ch2 = await openChannel(conn);
    expect(await counts(ch2, used), 'the consumer went with its channel').toEqual([0, 0]);
    await expectServerClose(ch2, 406, `PRECONDITION_FAILED - queue '${full}' in vhost '/' not empty`, () =>
      ch2.deleteQueue(full, { ifEmpty: true }),
    );
    const ch3 = await openChannel(conn);
    expect(await ch3.deleteQueue(used, { ifUnused: true, ifEmpty: true })).toEqual({ messageCount: 0 });
    expect(await ch3.deleteQueue(full, { ifUnused: true })).toEqual({ messageCount: 1 });
    expect(await ch3.deleteQueue(uniq('never-declared'))).toEqual({ messageCount: 0 });
    await ch3.close();
  });

  it('a deleted queue cancels its consumers with basic.cancel; their channel stays open', async () => {
    const ch = await openChannel(conn);
    const q = await declareQueue(ch, 'del-cancel');
    const c1 = new Collector();
    const c2 = new Collector();
    const consuming = await openChannel(conn);
    const cancels: string[] = [];
    consuming.on('cancel', (f: { consumerTag: string }) => cancels.push(f.consumerTag));
    const t1 = (await consuming.consume(q, c1.onMessage)).consumerTag;
    const t2 = (await consuming.consume(q, c2.onMessage)).consumerTag;
    ch.sendToQueue(q, Buffer.from('before'));
    await c1.until((c) => c.messages.length + c2.messages.length === 1, 'one delivery');
    expect(await ch.deleteQueue(q)).toEqual({ messageCount: 0 });
    await c1.cancel();
    await c2.cancel();
    expect(cancels.sort()).toEqual([t1, t2].sort());
    // the channel is fine: acking the delivery of the deleted queue is allowed
    const delivered = [...c1.messages, ...c2.messages][0]!;
    consuming.ack(delivered);
    await expectUsable(conn);
    await consuming.checkExchange('amq.direct');
    await consuming.close();
  });
});

describe('"" means the last queue declared on the channel', () => {
  it('for bind (queue and routing key), consume, get, purge, unbind and delete', async () => {
    const ch = await openChannel(conn);
    const q = await declareQueue(ch, 'last');
    await ch.bindQueue('', 'amq.direct', ''); // spec: the routing key becomes the queue name too
    ch.publish('amq.direct', q, Buffer.from('via the shortcut'));
    const m = await getOne(ch, '', { noAck: true });
    expect(m.fields.routingKey).toBe(q);
    expect(m.content.toString()).toBe('via the shortcut');
    ch.publish('amq.direct', q, Buffer.from('purged'));
    expect(await ch.purgeQueue('')).toEqual({ messageCount: 1 });
    const c = new Collector();
    const { consumerTag } = await ch.consume('', c.onMessage, { noAck: true });
    ch.publish('amq.direct', q, Buffer.from('consumed'));
    await c.count(1);
    await ch.cancel(consumerTag);
    await ch.unbindQueue('', 'amq.direct', '');
    ch.publish('amq.direct', q, Buffer.from('unbound'));
    expect(await ch.get('')).toBe(false);
    ch.sendToQueue(q, Buffer.from('counted'));
    expect(await ch.deleteQueue('')).toEqual({ messageCount: 1 });
    await ch.close();
  });

  it('a server-named queue is the last declared one', async () => {
    const ch = await openChannel(conn);
    const { queue } = await ch.assertQueue('', { exclusive: true });
    ch.sendToQueue(queue, Buffer.from('x'));
    expect((await getOne(ch, '', { noAck: true })).fields.routingKey).toBe(queue);
    await ch.close();
  });

  it('with none declared: 404 "no previously declared queue" (errors.md 52, 81), and for get, consume, purge', async () => {
    const attempts: ((ch: Channel) => Promise<unknown>)[] = [
      (ch) => ch.deleteQueue(''),
      (ch) => ch.bindQueue('', 'amq.direct', 'k'),
      (ch) => ch.bindQueue('', uniq('missing-x'), 'k'), // before the exchange is looked up
      (ch) => ch.get(''),
      (ch) => ch.consume('', () => {}),
      (ch) => ch.purgeQueue(''),
      (ch) => ch.unbindQueue('', 'amq.direct', 'k'),
    ];
    for (const attempt of attempts) {
      const ch = await openChannel(conn);
      await expectServerClose(ch, 404, 'NOT_FOUND - no previously declared queue', () => attempt(ch));
    }
    await expectUsable(conn);
  });

  it('but not for a passive declare: "" is looked up as is (errors.md 24)', async () => {
    const ch = await openChannel(conn);
    await expectServerClose(ch, 404, "NOT_FOUND - no queue '' in vhost '/'", () => ch.checkQueue(''));
    const ch2 = await openChannel(conn);
    await declareQueue(ch2, 'last-passive');
    await expectServerClose(ch2, 404, "NOT_FOUND - no queue '' in vhost '/'", () => ch2.checkQueue(''));
  });

  it('is per channel', async () => {
    const ch1 = await openChannel(conn);
    const ch2 = await openChannel(conn);
    await declareQueue(ch1, 'per-channel');
    await expectServerClose(ch2, 404, 'NOT_FOUND - no previously declared queue', () => ch2.purgeQueue(''));
    expect(await ch1.purgeQueue('')).toEqual({ messageCount: 0 });
    await ch1.close();
  });
});

describe('raw queue methods', () => {
  it('queue.declare nowait gives no reply; the queue exists for the next method', async () => {
    const ch = await openChannel(conn);
    const q = tidy.queue(uniq('nowait'));
    const fields = { queue: q, passive: false, durable: false, exclusive: false, autoDelete: false, nowait: true, arguments: {} };
    send(ch, 'QueueDeclare', fields);
    expect(await withTimeout(ch.checkQueue(q), 5000, 'passive declare')).toMatchObject({ queue: q, messageCount: 0 });
    expect(await rpc(ch, 'QueueDelete', { queue: q, ifUnused: false, ifEmpty: false, nowait: false }, 'QueueDeleteOk')).toEqual({ messageCount: 0 });
    await ch.close();
  });
});
