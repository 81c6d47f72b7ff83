/**
 * Messaging acceptance, exchanges: routing by type, the default and predeclared exchanges,
 * declare/delete/bind rules and RabbitMQ 3.10's refusals (../shared/reference/errors.md rows
 * 55–95), over the wire with amqplib.
 */
import { describe, expect, it } from 'vitest';
import type { Channel, ChannelModel } from 'amqplib';
import { useBroker } from '../helpers/broker.js';
import {
  closed,
  connect,
  expectServerClose,
  expectUsable,
  openChannel,
  rpc,
  uniq,
  useCleanup,
  useSharedConnection,
} from '../helpers/amqp.js';
import { eventually } from '../helpers/wait.js';

const tb = useBroker();
const tidy = useCleanup(tb);

let conn: ChannelModel;
useSharedConnection(tb, (c) => (conn = c));

/** Fresh exclusive queues (gone with the connection). */
async function queues(ch: Channel, n: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push((await ch.assertQueue('', { exclusive: true })).queue);
  return out;
}

/** Publishes one message and reports which of `qs` received it (each emptied by basic.get). */
async function routedTo(
  ch: Channel,
  exchange: string,
  routingKey: string,
  qs: string[],
  headers?: Record<string, unknown>,
): Promise<string[]> {
  const body = `${exchange}/${routingKey}/${JSON.stringify(headers ?? null)}`;
  ch.publish(exchange, routingKey, Buffer.from(body), headers === undefined ? {} : { headers });
  const got: string[] = [];
  for (const q of qs) {
    // one channel: the publish reached every queue before this basic.get (RabbitMQ too)
    const m = await ch.get(q, { noAck: true });
    if (m === false) continue;
    expect(m.content.toString()).toBe(body);
    expect(m.fields.exchange).toBe(exchange);
    expect(m.fields.routingKey).toBe(routingKey);
    got.push(q);
    expect(await ch.get(q, { noAck: true }), `${q} got the message once`).toBe(false);
  }
  return got;
}

async function declare(ch: Channel, type: string, opts: { autoDelete?: boolean; internal?: boolean } = {}): Promise<string> {
  const x = tidy.exchange(uniq(type));
  await ch.assertExchange(x, type, { durable: false, ...opts });
  return x;
}

describe('routing', () => {
  it('direct: a message goes to the queues bound with exactly its routing key, once each', async () => {
    const ch = await openChannel(conn);
    const x = await declare(ch, 'direct');
    const [qa, qb, qab] = await queues(ch, 3);
    await ch.bindQueue(qa!, x, 'a');
    await ch.bindQueue(qb!, x, 'b');
    await ch.bindQueue(qab!, x, 'a');
    await ch.bindQueue(qab!, x, 'b');
    const all = [qa!, qb!, qab!];
    expect(await routedTo(ch, x, 'a', all)).toEqual([qa, qab]);
    expect(await routedTo(ch, x, 'b', all)).toEqual([qb, qab]);
    expect(await routedTo(ch, x, 'A', all)).toEqual([]);
    expect(await routedTo(ch, x, 'a.b', all)).toEqual([]);
    await ch.unbindQueue(qab!, x, 'a');
    expect(await routedTo(ch, x, 'a', all)).toEqual([qa]);
    await ch.close();
  });

  it('fanout: every bound queue gets the message whatever the routing key', async () => {
    const ch = await openChannel(conn);
    const x = await declare(ch, 'fanout');
    const [q1, q2, unbound] = await queues(ch, 3);
    await ch.bindQueue(q1!, x, '');
    await ch.bindQueue(q2!, x, 'ignored');
    await ch.bindQueue(q2!, x, 'twice'); // two bindings, still one copy
    const all = [q1!, q2!, unbound!];
    expect(await routedTo(ch, x, '', all)).toEqual([q1, q2]);
    expect(await routedTo(ch, x, 'anything.at.all', all)).toEqual([q1, q2]);
    await ch.close();
  });

  it('topic: * is one word, # zero or more; the empty key has no words', async () => {
    const ch = await openChannel(conn);
    const x = await declare(ch, 'topic');
    const keys = ['*.orange.*', '*.*.rabbit', 'lazy.#', '#', 'a.*', '', 'a..b', '#.end'];
    const qs = await queues(ch, keys.length);
    for (let i = 0; i < keys.length; i++) await ch.bindQueue(qs[i]!, x, keys[i]!);
    const by = (...ks: string[]): string[] => ks.map((k) => qs[keys.indexOf(k)]!);
    expect(await routedTo(ch, x, 'quick.orange.rabbit', qs)).toEqual(by('*.orange.*', '*.*.rabbit', '#'));
    expect(await routedTo(ch, x, 'lazy.orange.elephant', qs)).toEqual(by('*.orange.*', 'lazy.#', '#'));
    expect(await routedTo(ch, x, 'lazy', qs)).toEqual(by('lazy.#', '#'));
    expect(await routedTo(ch, x, 'quick.brown.fox', qs)).toEqual(by('#'));
    expect(await routedTo(ch, x, 'a', qs)).toEqual(by('#'));
    expect(await routedTo(ch, x, 'a.x', qs)).toEqual(by('#', 'a.*'));
    expect(await routedTo(ch, x, '', qs)).toEqual(by('#', ''));
    expect(await routedTo(ch, x, 'a..b', qs)).toEqual(by('#', 'a..b'));
    expect(await routedTo(ch, x, 'end', qs)).toEqual(by('#', '#.end'));
    expect(await routedTo(ch, x, 'x.y.end', qs)).toEqual(by('#', '#.end'));
    await ch.close();
  });

  it('headers: x-match all (the default), any, all-with-x and any-with-x', async () => {
    const ch = await openChannel(conn);
    const x = await declare(ch, 'headers');
    const [all, dflt, any, allX, anyX, anyOnlyX, everything] = await queues(ch, 7);
    await ch.bindQueue(all!, x, '', { 'x-match': 'all', a: '1', b: '2', 'x-k': 'v' });
    await ch.bindQueue(dflt!, x, '', { a: '1', b: '2' });
    await ch.bindQueue(any!, x, '', { 'x-match': 'any', a: '1', b: '2' });
    await ch.bindQueue(allX!, x, '', { 'x-match': 'all-with-x', a: '1', 'x-k': 'v' });
    await ch.bindQueue(anyX!, x, '', { 'x-match': 'any-with-x', 'x-k': 'v' });
    await ch.bindQueue(anyOnlyX!, x, '', { 'x-match': 'any', 'x-k': 'v' }); // considers nothing: never
    await ch.bindQueue(everything!, x, '', {}); // all of nothing: always
    const qs = [all!, dflt!, any!, allX!, anyX!, anyOnlyX!, everything!];
    expect(await routedTo(ch, x, 'rk-is-ignored', qs, { a: '1', b: '2' })).toEqual([all, dflt, any, everything]);
    expect(await routedTo(ch, x, '', qs, { a: '1', b: '2', c: '3' })).toEqual([all, dflt, any, everything]);
    expect(await routedTo(ch, x, '', qs, { a: '1' })).toEqual([any, everything]);
    expect(await routedTo(ch, x, '', qs, { a: 'other', b: '2' })).toEqual([any, everything]);
    expect(await routedTo(ch, x, '', qs, { a: '1', 'x-k': 'v' })).toEqual([any, allX, anyX, everything]);
    expect(await routedTo(ch, x, '', qs, { 'x-k': 'v' })).toEqual([anyX, everything]);
    expect(await routedTo(ch, x, '', qs)).toEqual([everything]);
    await ch.close();
  });

  it('headers: a bad x-match is refused with 406 (errors.md 83)', async () => {
    const ch = await openChannel(conn);
    const [q] = await queues(ch, 1);
    await expectServerClose(
      ch,
      406,
      'PRECONDITION_FAILED - Invalid x-match field value <<"bogus">>; expected all, any, all-with-x, or any-with-x',
      () => ch.bindQueue(q!, 'amq.headers', '', { 'x-match': 'bogus' }),
    );
    await expectUsable(conn);
  });

  it('the predeclared amq.direct, amq.fanout, amq.topic, amq.headers and amq.match route', async () => {
    const ch = await openChannel(conn);
    for (const x of ['amq.direct', 'amq.fanout', 'amq.topic', 'amq.headers', 'amq.match']) await ch.checkExchange(x);
    // redeclaring with their own properties is fine (errors.md 65)
    await ch.assertExchange('amq.direct', 'direct', { durable: true });
    await ch.assertExchange('amq.match', 'headers', { durable: true });
    const [qd, qf, qt, qh, qm] = await queues(ch, 5);
    await ch.bindQueue(qd!, 'amq.direct', 'k');
    await ch.bindQueue(qf!, 'amq.fanout', '');
    await ch.bindQueue(qt!, 'amq.topic', 'k.#');
    await ch.bindQueue(qh!, 'amq.headers', '', { 'x-match': 'any', h: 'x' });
    await ch.bindQueue(qm!, 'amq.match', '', { h: 'y' });
    const qs = [qd!, qf!, qt!, qh!, qm!];
    expect(await routedTo(ch, 'amq.direct', 'k', qs)).toEqual([qd]);
    expect(await routedTo(ch, 'amq.fanout', 'whatever', qs)).toEqual([qf]);
    expect(await routedTo(ch, 'amq.topic', 'k.l.m', qs)).toEqual([qt]);
    expect(await routedTo(ch, 'amq.headers', '', qs, { h: 'x' })).toEqual([qh]);
    expect(await routedTo(ch, 'amq.match', '', qs, { h: 'y' })).toEqual([qm]);
    await ch.close();
  });

  it('the default exchange routes to the queue named by the routing key', async () => {
    const ch = await openChannel(conn);
    const [q1, q2] = await queues(ch, 2);
    expect(await routedTo(ch, '', q1!, [q1!, q2!])).toEqual([q1]);
    expect(await routedTo(ch, '', 'no-such-queue-' + q2!, [q1!, q2!])).toEqual([]);
    await ch.close();
  });
});

describe('the default exchange cannot be touched', () => {
  const text = 'ACCESS_REFUSED - operation not permitted on the default exchange';

  it('binding a queue to it: 403 (errors.md 80)', async () => {
    const ch = await openChannel(conn);
    const [q] = await queues(ch, 1);
    await expectServerClose(ch, 403, text, () => ch.bindQueue(q!, '', q!));
    await expectUsable(conn);
  });

  it('unbinding a queue from it: 403 (errors.md 87)', async () => {
    const ch = await openChannel(conn);
    const [q] = await queues(ch, 1);
    await expectServerClose(ch, 403, text, () => ch.unbindQueue(q!, '', q!));
  });

  it('deleting it: 403 (errors.md 75)', async () => {
    const ch = await openChannel(conn);
    await expectServerClose(ch, 403, text, () => ch.deleteExchange(''));
  });

  it('declaring it, actively or passively: 403 (errors.md 67, 68)', async () => {
    const ch = await openChannel(conn);
    await expectServerClose(ch, 403, text, () => ch.assertExchange('', 'direct', { durable: true }));
    const ch2 = await openChannel(conn);
    await expectServerClose(ch2, 403, text, () => ch2.checkExchange(''));
  });

  it('as either end of an exchange binding: 403 (errors.md 90, 91)', async () => {
    const ch = await openChannel(conn);
    await expectServerClose(ch, 403, text, () => ch.bindExchange('', 'amq.direct', 'k'));
    const ch2 = await openChannel(conn);
    await expectServerClose(ch2, 403, text, () => ch2.bindExchange('amq.direct', '', 'k'));
    await expectUsable(conn);
  });

  it('"amq.default" is not a name for it: publishing there is 404 (errors.md 106)', async () => {
    const ch = await openChannel(conn);
    await expectServerClose(ch, 404, "NOT_FOUND - no exchange 'amq.default' in vhost '/'", () =>
      ch.publish('amq.default', 'k', Buffer.from('x')),
    );
  });

  it('the system exchanges cannot be deleted (errors.md 76)', async () => {
    const ch = await openChannel(conn);
    await expectServerClose(ch, 403, "ACCESS_REFUSED - deletion of system exchange 'amq.direct' in vhost '/' not allowed", () =>
      ch.deleteExchange('amq.direct'),
    );
    const ch2 = await openChannel(conn);
    await ch2.checkExchange('amq.direct');
    await ch2.close();
  });
});

describe('exchange.declare', () => {
  it('passive: 404 for a missing exchange, ok for an existing one whatever the type (errors.md 55, 63)', async () => {
    const ch = await openChannel(conn);
    const x = await declare(ch, 'direct');
    await ch.checkExchange(x);
    await rpc(ch, 'ExchangeDeclare', { exchange: x, type: 'fanout', passive: true, durable: false, autoDelete: false, internal: false, nowait: false, arguments: {} }, 'ExchangeDeclareOk');
    const missing = uniq('x-missing');
    await expectServerClose(ch, 404, `NOT_FOUND - no exchange '${missing}' in vhost '/'`, () => ch.checkExchange(missing));
    await expectUsable(conn);
  });

  it('redeclaring with the same properties is fine; with others, 406 naming the first difference (errors.md 56–62)', async () => {
    const ch0 = await openChannel(conn);
    const x = await declare(ch0, 'direct');
    await ch0.assertExchange(x, 'direct', { durable: false });
    const durableX = tidy.exchange(uniq('durable'));
    await ch0.assertExchange(durableX, 'direct', { durable: true });
    const aeX = tidy.exchange(uniq('ae'));
    await ch0.assertExchange(aeX, 'direct', { durable: false, alternateExchange: 'a' });
    await ch0.close();
    const head = (name: string, arg: string): string => `PRECONDITION_FAILED - inequivalent arg '${arg}' for exchange '${name}' in vhost '/': `;
    const cases: [string, string, Record<string, unknown>, string][] = [
      [x, 'fanout', { durable: false }, `${head(x, 'type')}received 'fanout' but current is 'direct'`],
      [x, 'direct', { durable: true }, `${head(x, 'durable')}received 'true' but current is 'false'`],
      [durableX, 'direct', { durable: false }, `${head(durableX, 'durable')}received 'false' but current is 'true'`],
      [x, 'direct', { durable: false, autoDelete: true }, `${head(x, 'auto_delete')}received 'true' but current is 'false'`],
      [x, 'direct', { durable: false, internal: true }, `${head(x, 'internal')}received 'true' but current is 'false'`],
      [aeX, 'direct', { durable: false, alternateExchange: 'b' }, `${head(aeX, 'alternate-exchange')}received 'b' but current is 'a'`],
      [aeX, 'direct', { durable: false }, `${head(aeX, 'alternate-exchange')}received none but current is the value 'a' of type 'longstr'`],
    ];
    for (const [name, type, opts, text] of cases) {
      const ch = await openChannel(conn);
      await expectServerClose(ch, 406, text, () => ch.assertExchange(name, type, opts));
    }
    await expectUsable(conn);
  });

  it('a new name starting with "amq." is refused with 403 (errors.md 64); amq.direct as fanout is 406 (66)', async () => {
    const ch = await openChannel(conn);
    const name = 'amq.' + uniq('x');
    await expectServerClose(ch, 403, `ACCESS_REFUSED - exchange name '${name}' contains reserved prefix 'amq.*'`, () =>
      ch.assertExchange(name, 'direct', { durable: false }),
    );
    const ch2 = await openChannel(conn);
    await expectServerClose(
      ch2,
      406,
      "PRECONDITION_FAILED - inequivalent arg 'type' for exchange 'amq.direct' in vhost '/': received 'fanout' but current is 'direct'",
      () => ch2.assertExchange('amq.direct', 'fanout', { durable: true }),
    );
  });

  it('an unknown type closes the connection with 503 (errors.md 69, 70)', async () => {
    for (const type of ['ref-bogus', 'x-consistent-hash']) {
      const c = await connect(tb.url);
      const ch = await openChannel(c);
      const other = await openChannel(c);
      await expectServerClose(c, 503, `COMMAND_INVALID - unknown exchange type '${type}'`, () =>
        ch.assertExchange(uniq('x-type'), type, { durable: false }),
      );
      expect(await closed(other), 'every channel of the connection is gone').toBeUndefined();
    }
    await expectUsable(conn);
  });

  it('the empty type closes the connection with 503 (errors.md 71)', async () => {
    const c = await connect(tb.url);
    const ch = await openChannel(c);
    await expectServerClose(c, 503, "COMMAND_INVALID - invalid exchange type ''", () =>
      ch.assertExchange(uniq('x-type'), '', { durable: false }),
    );
  });

  it('the type is checked before anything else: the default exchange with a bogus type is 503', async () => {
    const c = await connect(tb.url);
    const ch = await openChannel(c);
    await expectServerClose(c, 503, "COMMAND_INVALID - unknown exchange type 'ref-bogus'", () =>
      ch.assertExchange('', 'ref-bogus', { durable: true }),
    );
  });
});

describe('exchange.delete', () => {
  it('if-unused refuses an exchange that is a binding source (406, errors.md 72)', async () => {
    const ch = await openChannel(conn);
    const x = await declare(ch, 'direct');
    const [q] = await queues(ch, 1);
    await ch.bindQueue(q!, x, 'k');
    await expectServerClose(ch, 406, `PRECONDITION_FAILED - exchange '${x}' in vhost '/' in use`, () =>
      ch.deleteExchange(x, { ifUnused: true }),
    );
    const ch2 = await openChannel(conn);
    await ch2.checkExchange(x);
    await ch2.unbindQueue(q!, x, 'k');
    await ch2.deleteExchange(x, { ifUnused: true });
    await expectServerClose(ch2, 404, `NOT_FOUND - no exchange '${x}' in vhost '/'`, () => ch2.checkExchange(x));
  });

  it('if-unused deletes an exchange that is only the destination of an exchange binding (errors.md 73)', async () => {
    const ch = await openChannel(conn);
    const src = await declare(ch, 'fanout');
    const dst = await declare(ch, 'fanout');
    await ch.bindExchange(dst, src, '');
    await ch.deleteExchange(dst, { ifUnused: true });
    await ch.deleteExchange(src, { ifUnused: true }); // its binding went with dst
    await ch.close();
  });

  it('deleting a missing exchange is fine (errors.md 74)', async () => {
    const ch = await openChannel(conn);
    await ch.deleteExchange(uniq('never-declared'));
    await ch.deleteExchange(uniq('never-declared'), { ifUnused: true });
    await ch.close();
  });

  it('takes the bindings with it: a queue bound to a deleted exchange is unbound', async () => {
    const ch = await openChannel(conn);
    const x = await declare(ch, 'fanout');
    const [q] = await queues(ch, 1);
    await ch.bindQueue(q!, x, '');
    await ch.deleteExchange(x);
    await ch.assertExchange(x, 'fanout', { durable: false });
    expect(await routedTo(ch, x, '', [q!])).toEqual([]);
    await ch.deleteExchange(x);
    await ch.close();
  });
});

describe('exchange-to-exchange bindings', () => {
  it('route through a chain and stop when unbound', async () => {
    const ch = await openChannel(conn);
    const a = await declare(ch, 'topic');
    const b = await declare(ch, 'direct');
    const c = await declare(ch, 'fanout');
    const [qa, qb, qc] = await queues(ch, 3);
    await ch.bindExchange(b, a, 'k.*'); // a --k.*--> b --k.x--> c --> qc
    await ch.bindExchange(c, b, 'k.x');
    await ch.bindQueue(qa!, a, 'k.y');
    await ch.bindQueue(qb!, b, 'k.y');
    await ch.bindQueue(qc!, c, '');
    const qs = [qa!, qb!, qc!];
    expect(await routedTo(ch, a, 'k.x', qs)).toEqual([qc]);
    expect(await routedTo(ch, a, 'k.y', qs)).toEqual([qa, qb]);
    expect(await routedTo(ch, a, 'z', qs)).toEqual([]);
    await ch.unbindExchange(c, b, 'k.x');
    expect(await routedTo(ch, a, 'k.x', qs)).toEqual([]);
    await ch.close();
  });

  it('a cycle delivers each message once to each queue', async () => {
    const ch = await openChannel(conn);
    const a = await declare(ch, 'fanout');
    const b = await declare(ch, 'fanout');
    const c = await declare(ch, 'fanout');
    await ch.bindExchange(b, a, '');
    await ch.bindExchange(c, b, '');
    await ch.bindExchange(a, c, '');
    await ch.bindExchange(a, a, ''); // to itself, too
    const [qa, qb, qc] = await queues(ch, 3);
    await ch.bindQueue(qa!, a, '');
    await ch.bindQueue(qb!, b, '');
    await ch.bindQueue(qc!, c, '');
    await ch.bindQueue(qc!, a, ''); // reachable twice
    for (const x of [a, b, c]) expect(await routedTo(ch, x, 'r', [qa!, qb!, qc!])).toEqual([qa, qb, qc]);
    await ch.close();
  });

  it('a missing source or destination is 404 (errors.md 88, 89); unbinding what is not there is fine (92, 93)', async () => {
    const ch = await openChannel(conn);
    const x = await declare(ch, 'direct');
    const missingSrc = uniq('missing-src');
    const missingDst = uniq('missing-dst');
    await ch.unbindExchange(x, missingSrc, 'k');
    await ch.unbindExchange(x, 'amq.direct', 'never-bound');
    await expectServerClose(ch, 404, `NOT_FOUND - no exchange '${missingSrc}' in vhost '/'`, () => ch.bindExchange(x, missingSrc, 'k'));
    const ch2 = await openChannel(conn);
    await expectServerClose(ch2, 404, `NOT_FOUND - no exchange '${missingDst}' in vhost '/'`, () => ch2.bindExchange(missingDst, x, 'k'));
    await expectUsable(conn);
  });
});

describe('publishing to exchanges', () => {
  it('a missing exchange is 404 on the channel; the connection goes on (errors.md 94)', async () => {
    const ch = await openChannel(conn);
    const other = await openChannel(conn);
    const missing = uniq('pub-missing');
    await expectServerClose(ch, 404, `NOT_FOUND - no exchange '${missing}' in vhost '/'`, () =>
      ch.publish(missing, 'k', Buffer.from('x')),
    );
    await other.checkExchange('amq.direct'); // the other channel is untouched
    await other.close();
    await expectUsable(conn);
  });

  it('an internal exchange is 403 (errors.md 95), but routes what reaches it through a binding', async () => {
    const ch = await openChannel(conn);
    const internal = await declare(ch, 'fanout', { internal: true });
    const front = await declare(ch, 'fanout');
    const [q] = await queues(ch, 1);
    await ch.bindExchange(internal, front, '');
    await ch.bindQueue(q!, internal, '');
    expect(await routedTo(ch, front, 'k', [q!])).toEqual([q]);
    await expectServerClose(ch, 403, `ACCESS_REFUSED - cannot publish to internal exchange '${internal}' in vhost '/'`, () =>
      ch.publish(internal, 'k', Buffer.from('x')),
    );
    await expectUsable(conn);
  });

  it('several pipelined publishes to a missing exchange close the channel once, not the connection', async () => {
    const ch = await openChannel(conn);
    const missing = uniq('pub-missing');
    for (let i = 0; i < 20; i++) ch.publish(missing, 'k', Buffer.alloc(1000, i));
    await expectServerClose(ch, 404, `NOT_FOUND - no exchange '${missing}' in vhost '/'`);
    await expectUsable(conn);
  });
});

describe('auto-delete exchanges', () => {
  it('go when their last queue binding is removed, not before', async () => {
    const ch = await openChannel(conn);
    const x = await declare(ch, 'direct', { autoDelete: true });
    const [q1, q2] = await queues(ch, 2);
    await ch.checkExchange(x); // no binding yet: still there
    await ch.bindQueue(q1!, x, 'a');
    await ch.bindQueue(q2!, x, 'b');
    await ch.unbindQueue(q1!, x, 'a');
    await ch.checkExchange(x);
    await ch.unbindQueue(q2!, x, 'b');
    await eventually(async () => {
      const probe = await openChannel(conn);
      try {
        await probe.checkExchange(x);
        await probe.close();
        return false;
      } catch {
        return (await closed(probe))?.code === 404;
      }
    }, 5000, `auto-delete exchange ${x} to go`);
    await ch.close();
  });

  it('go when the last bound queue is deleted, and when the last exchange binding is removed', async () => {
    const ch = await openChannel(conn);
    const x = await declare(ch, 'fanout', { autoDelete: true });
    const [q] = await queues(ch, 1);
    await ch.bindQueue(q!, x, '');
    await ch.deleteQueue(q!);
    const y = await declare(ch, 'fanout', { autoDelete: true });
    const dst = await declare(ch, 'fanout');
    await ch.bindExchange(dst, y, '');
    await ch.unbindExchange(dst, y, '');
    for (const gone of [x, y]) {
      await eventually(async () => {
        const probe = await openChannel(conn);
        try {
          await probe.checkExchange(gone);
          await probe.close();
          return false;
        } catch {
          return (await closed(probe))?.code === 404;
        }
      }, 5000, `auto-delete exchange ${gone} to go`);
    }
    await ch.checkExchange(dst);
    await ch.close();
  });
});
