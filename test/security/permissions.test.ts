/**
 * RabbitMQ's permission table, one row per test: which of configure / write / read each
 * operation needs, on which resource, in which order, and the 403 text when it is missing;
 * vhost access (530 at connection.open), password hashes exported from RabbitMQ, and guest
 * limited to loopback.
 *
 * The user under test, sec-perm, may act on objects whose names say so:
 *
 *   configure  ^sec-c              sec-c-…, sec-cw-…, sec-cr-…, sec-cwr-…
 *   write      ^sec-c?w            sec-w-…, sec-cw-…, sec-wr-…            (+ amq.topic)
 *   read       ^sec-c?w?r          sec-r-…, sec-cr-…, sec-wr-…, sec-cwr-… (+ amq.topic)
 *
 * Objects a test needs to exist are made by guest (all permissions). Users are made in the
 * in-process broker, or with rabbitmqctl when WARREN_TEST_URL points at RabbitMQ, so every
 * test here also runs against RabbitMQ 3.10.8.
 */
import { networkInterfaces } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import amqplib from 'amqplib';
import type { Channel, ChannelModel } from 'amqplib';
import * as P from '../../src/protocol/generated.js';
import { AccessSetup, ALL } from '../helpers/access-setup.js';
import { external, internalIt, useBroker } from '../helpers/broker.js';
import { closed, connect, expectServerClose, getOne, openChannel, replyText, uniq, useCleanup } from '../helpers/amqp.js';
import { RawClient } from '../helpers/raw-client.js';
import { withTimeout } from '../helpers/wait.js';

const USER = 'sec-perm';
const PASS = 'sec-perm-pw';
/** Permissions: none at all (empty strings match only the empty name). */
const EMPTY_USER = 'sec-perm-empty';
/** No permissions on the vhost. */
const NOPERM_USER = 'sec-perm-none';
/** Write on the default exchange only. */
const DEFAULT_X_USER = 'sec-perm-default';
/** Made from a password hash exported from RabbitMQ 3.10.8 (rabbitmqctl export_definitions). */
const HASH_USER = 'sec-perm-hash';
const HASH_PASSWORD = 'S3cret-p@ss';
const RABBITMQ_HASH = '448Rf+Wbvp8ygCcuauyW7mxacoQq5ELr5pFG+qF13fZJX4pf';

const tb = useBroker();
const cleanup = useCleanup(tb);
const setup = new AccessSetup(tb);

const suffix = uniq('p').slice(3); // p-<hex>
/** An object name with permission flags, e.g. obj('cw', 'q') = sec-cw-q-p-1a2b3c4d. */
const obj = (flags: string, kind: string): string => `sec-${flags}-${kind}-${suffix}`;

const Q = {
  c: obj('c', 'q'),
  w: obj('w', 'q'),
  r: obj('r', 'q'),
  wr: obj('wr', 'q'),
};
const X = {
  c: obj('c', 'x'),
  c2: obj('c', 'x2'),
  w: obj('w', 'x'),
  r: obj('r', 'x'),
  wr: obj('wr', 'x'),
  /** a direct exchange with a topic permission that matches no key: not checked */
  wrDirect: obj('wr', 'xdirect'),
};

function refused(kind: 'queue' | 'exchange', name: string, user = USER): string {
  return `ACCESS_REFUSED - access to ${kind} '${name}' in vhost '/' refused for user '${user}'`;
}

function topicRefused(routingKey: string, exchange: string): string {
  return `ACCESS_REFUSED - access to topic '${routingKey}' in exchange '${exchange}' in vhost '/' refused for user '${USER}'`;
}

let admin: ChannelModel;
let adminCh: Channel;
let user: ChannelModel;

beforeAll(async () => {
  setup.addUser(USER, PASS);
  setup.setPermissions('/', USER, { configure: '^sec-c', write: '^sec-c?w|^amq\\.topic$', read: '^sec-c?w?r|^amq\\.topic$' });
  // rabbitmq-compat: topic permissions expand {username} and {vhost}
  setup.setTopicPermissions('/', USER, 'amq.topic', '^{username}\\.w\\.', '^{username}\\.r\\.');
  setup.setTopicPermissions('/', USER, X.wrDirect, '^nothing-matches$', '^nothing-matches$');
  setup.addUser(EMPTY_USER, PASS);
  setup.setPermissions('/', EMPTY_USER, { configure: '', write: '', read: '' });
  setup.addUser(NOPERM_USER, PASS);
  setup.addUser(DEFAULT_X_USER, PASS);
  setup.setPermissions('/', DEFAULT_X_USER, { configure: '', write: '^amq\\.default$', read: '' });
  await setup.addUserWithHash(HASH_USER, RABBITMQ_HASH);
  setup.setPermissions('/', HASH_USER, ALL);

  admin = await connect(tb.url);
  adminCh = await openChannel(admin);
  for (const q of Object.values(Q)) await adminCh.assertQueue(cleanup.queue(q), { durable: false });
  for (const x of Object.values(X)) await adminCh.assertExchange(cleanup.exchange(x), 'direct', { durable: false });
  user = await connect(tb.urlWith({ user: USER, pass: PASS }));
}, 120_000);

afterAll(async () => {
  await user?.close().catch(() => {});
  await admin?.close().catch(() => {});
  setup.cleanup();
}, 60_000);

/** A fresh channel of sec-perm (a refusal closes it). */
const userChannel = (): Promise<Channel> => openChannel(user);

describe('exchange.declare', () => {
  it('needs configure on the exchange', async () => {
    const ch = await userChannel();
    await expectServerClose(ch, 403, refused('exchange', obj('w', 'xd')), () => ch.assertExchange(obj('w', 'xd'), 'direct'));

    const ok = await userChannel();
    const name = cleanup.exchange(obj('c', 'xd'));
    await ok.assertExchange(name, 'fanout', { durable: false });
    await ok.deleteExchange(name);
    await ok.close();
  });

  it('with alternate-exchange: read on the exchange is checked first', async () => {
    const ch = await userChannel();
    const name = obj('c', 'xae');
    await expectServerClose(ch, 403, refused('exchange', name), () =>
      ch.assertExchange(name, 'direct', { alternateExchange: obj('c', 'ae') }),
    );
  });

  it('with alternate-exchange: then write on the alternate exchange', async () => {
    const ch = await userChannel();
    await expectServerClose(ch, 403, refused('exchange', obj('c', 'ae')), () =>
      ch.assertExchange(obj('cr', 'xae'), 'direct', { alternateExchange: obj('c', 'ae') }),
    );

    const ok = await userChannel();
    const name = cleanup.exchange(obj('cr', 'xae'));
    await ok.assertExchange(name, 'direct', { durable: false, alternateExchange: obj('w', 'ae') });
    await ok.deleteExchange(name);
    await ok.close();
  });

  it('the default exchange is refused before the configure check', async () => {
    const ch = await userChannel();
    await expectServerClose(ch, 403, 'ACCESS_REFUSED - operation not permitted on the default exchange', () => ch.assertExchange('', 'direct'));
  });

  it('passive needs no permission at all', async () => {
    const conn = await connect(tb.urlWith({ user: EMPTY_USER, pass: PASS }));
    const ch = await openChannel(conn);
    await ch.checkExchange(X.c);
    await ch.checkExchange('amq.direct');
    await conn.close();
  });
});

describe('exchange.delete', () => {
  it('needs configure on the exchange', async () => {
    const ch = await userChannel();
    await expectServerClose(ch, 403, refused('exchange', X.w), () => ch.deleteExchange(X.w));
  });

  it('the default exchange and any amq.* name are refused before the configure check', async () => {
    const ch = await userChannel();
    await expectServerClose(ch, 403, 'ACCESS_REFUSED - operation not permitted on the default exchange', () => ch.deleteExchange(''));
    const ch2 = await userChannel();
    await expectServerClose(ch2, 403, "ACCESS_REFUSED - deletion of system exchange 'amq.no-such' in vhost '/' not allowed", () =>
      ch2.deleteExchange('amq.no-such'),
    );
  });
});

describe('exchange.bind / exchange.unbind', () => {
  it('bind needs write on the destination (checked first)', async () => {
    const ch = await userChannel();
    await expectServerClose(ch, 403, refused('exchange', X.c), () => ch.bindExchange(X.c, X.c2, 'k'));
  });

  it('bind needs read on the source', async () => {
    const ch = await userChannel();
    await expectServerClose(ch, 403, refused('exchange', X.w), () => ch.bindExchange(X.w, X.w, 'k'));

    const ok = await userChannel();
    await ok.bindExchange(X.w, X.wr, 'k');
    await ok.unbindExchange(X.w, X.wr, 'k');
    await ok.close();
  });

  it('unbind needs write on the destination, then read on the source', async () => {
    const ch = await userChannel();
    await expectServerClose(ch, 403, refused('exchange', X.c), () => ch.unbindExchange(X.c, X.c2, 'k'));
    const ch2 = await userChannel();
    await expectServerClose(ch2, 403, refused('exchange', X.w), () => ch2.unbindExchange(X.w, X.w, 'k'));
  });
});

describe('queue.declare', () => {
  it('needs configure on the queue', async () => {
    const ch = await userChannel();
    await expectServerClose(ch, 403, refused('queue', obj('w', 'qd')), () => ch.assertQueue(obj('w', 'qd')));

    const ok = await userChannel();
    await ok.assertQueue(obj('c', 'qd'), { exclusive: true });
    await ok.close();
  });

  it('a server-named queue is checked under its generated name', async () => {
    const ch = await userChannel();
    ch.assertQueue('', { exclusive: true }).catch(() => {});
    const err = await withTimeout(closed(ch), 5000, 'channel.close');
    expect(err?.code).toBe(403);
    expect(replyText(err!)).toMatch(/^ACCESS_REFUSED - access to queue 'amq\.gen-[A-Za-z0-9_-]{22}' in vhost '\/' refused for user 'sec-perm'$/);
  });

  it('with x-dead-letter-exchange: read on the queue is checked first', async () => {
    const ch = await userChannel();
    const name = obj('c', 'qdlx');
    await expectServerClose(ch, 403, refused('queue', name), () =>
      ch.assertQueue(name, { exclusive: true, deadLetterExchange: obj('c', 'dlx') }),
    );
  });

  it('with x-dead-letter-exchange: then write on the dead-letter exchange', async () => {
    const ch = await userChannel();
    await expectServerClose(ch, 403, refused('exchange', obj('c', 'dlx')), () =>
      ch.assertQueue(obj('cr', 'qdlx'), { exclusive: true, deadLetterExchange: obj('c', 'dlx') }),
    );

    const ok = await userChannel();
    await ok.assertQueue(obj('cr', 'qdlx'), { exclusive: true, deadLetterExchange: obj('w', 'dlx') });
    await ok.close();
  });

  it('passive needs no permission at all', async () => {
    const conn = await connect(tb.urlWith({ user: EMPTY_USER, pass: PASS }));
    const ch = await openChannel(conn);
    expect(await ch.checkQueue(Q.c)).toMatchObject({ queue: Q.c, messageCount: 0 });
    await conn.close();
  });

  it('empty permission strings match nothing (RabbitMQ reads "" as ^$)', async () => {
    const conn = await connect(tb.urlWith({ user: EMPTY_USER, pass: PASS }));
    const ch = await openChannel(conn);
    const name = obj('cwr', 'qempty');
    await expectServerClose(ch, 403, refused('queue', name, EMPTY_USER), () => ch.assertQueue(name, { exclusive: true }));
    const ch2 = await openChannel(conn);
    await expectServerClose(ch2, 403, refused('exchange', 'amq.default', EMPTY_USER), () => ch2.sendToQueue(Q.c, Buffer.from('x')));
    await conn.close();
  });
});

describe('queue.delete', () => {
  it('needs configure on the queue', async () => {
    const ch = await userChannel();
    await expectServerClose(ch, 403, refused('queue', Q.w), () => ch.deleteQueue(Q.w));
  });
});

describe('queue.purge', () => {
  it('needs read on the queue', async () => {
    const ch = await userChannel();
    await expectServerClose(ch, 403, refused('queue', Q.c), () => ch.purgeQueue(Q.c));

    const ok = await userChannel();
    await ok.purgeQueue(Q.r);
    await ok.close();
  });
});

describe('queue.bind / queue.unbind', () => {
  it('bind needs write on the queue (checked first)', async () => {
    const ch = await userChannel();
    await expectServerClose(ch, 403, refused('queue', Q.c), () => ch.bindQueue(Q.c, X.c, 'k'));
  });

  it('bind needs read on the exchange', async () => {
    const ch = await userChannel();
    await expectServerClose(ch, 403, refused('exchange', X.w), () => ch.bindQueue(Q.w, X.w, 'k'));

    const ok = await userChannel();
    await ok.bindQueue(Q.w, X.r, 'k');
    await ok.unbindQueue(Q.w, X.r, 'k');
    await ok.close();
  });

  it('unbind needs write on the queue, then read on the exchange', async () => {
    const ch = await userChannel();
    await expectServerClose(ch, 403, refused('queue', Q.c), () => ch.unbindQueue(Q.c, X.c, 'k'));
    const ch2 = await userChannel();
    await expectServerClose(ch2, 403, refused('exchange', X.w), () => ch2.unbindQueue(Q.w, X.w, 'k'));
  });

  it('binding to the default exchange is refused whatever the permissions', async () => {
    const ch = await userChannel();
    await expectServerClose(ch, 403, 'ACCESS_REFUSED - operation not permitted on the default exchange', () => ch.bindQueue(Q.w, '', 'k'));
  });
});

describe('basic.publish', () => {
  it('needs write on the exchange', async () => {
    const ch = await userChannel();
    await expectServerClose(ch, 403, refused('exchange', X.r), () => ch.publish(X.r, 'k', Buffer.from('x')));

    const ok = await userChannel();
    ok.publish(X.w, 'k', Buffer.from('x'));
    await ok.checkExchange(X.w); // a round trip: the publish was taken
    await ok.close();
  });

  it('to the default exchange checks write on amq.default', async () => {
    const ch = await userChannel();
    await expectServerClose(ch, 403, refused('exchange', 'amq.default'), () => ch.sendToQueue(Q.wr, Buffer.from('x')));

    const conn = await connect(tb.urlWith({ user: DEFAULT_X_USER, pass: PASS }));
    const ok = await openChannel(conn);
    ok.sendToQueue(Q.wr, Buffer.from('via amq.default'));
    const got = await getOne(adminCh, Q.wr, { noAck: true });
    expect(got.content.toString()).toBe('via amq.default');
    await conn.close();
  });
});

describe('basic.get / basic.consume', () => {
  it('basic.get needs read on the queue', async () => {
    const ch = await userChannel();
    await expectServerClose(ch, 403, refused('queue', Q.c), () => ch.get(Q.c));

    const ok = await userChannel();
    expect(await ok.get(Q.r)).toBe(false);
    await ok.close();
  });

  it('basic.consume needs read on the queue', async () => {
    const ch = await userChannel();
    await expectServerClose(ch, 403, refused('queue', Q.c), () => ch.consume(Q.c, () => {}));

    const ok = await userChannel();
    const { consumerTag } = await ok.consume(Q.r, () => {});
    await ok.cancel(consumerTag);
    await ok.close();
  });
});

describe('topic permissions', () => {
  it('publishing to a topic exchange checks write on the routing key ({username} expanded)', async () => {
    const ch = await userChannel();
    await expectServerClose(ch, 403, topicRefused('other.w.x', 'amq.topic'), () => ch.publish('amq.topic', 'other.w.x', Buffer.from('x')));

    const q = await adminCh.assertQueue('', { exclusive: true });
    await adminCh.bindQueue(q.queue, 'amq.topic', `${USER}.w.#`);
    const ok = await userChannel();
    ok.publish('amq.topic', `${USER}.w.allowed`, Buffer.from('topic ok'));
    const got = await getOne(adminCh, q.queue, { noAck: true });
    expect(got.content.toString()).toBe('topic ok');
    await ok.close();
    await adminCh.deleteQueue(q.queue);
  });

  it('binding to a topic exchange checks read on the binding key', async () => {
    const ch = await userChannel();
    await expectServerClose(ch, 403, topicRefused('x.y', 'amq.topic'), () => ch.bindQueue(Q.w, 'amq.topic', 'x.y'));
    const ch2 = await userChannel();
    await expectServerClose(ch2, 403, topicRefused('x.y', 'amq.topic'), () => ch2.unbindQueue(Q.w, 'amq.topic', 'x.y'));
    const ch3 = await userChannel();
    await expectServerClose(ch3, 403, topicRefused('x.y', 'amq.topic'), () => ch3.bindExchange(X.w, 'amq.topic', 'x.y'));

    const ok = await userChannel();
    await ok.bindQueue(Q.w, 'amq.topic', `${USER}.r.#`);
    await ok.unbindQueue(Q.w, 'amq.topic', `${USER}.r.#`);
    await ok.close();
  });

  it('are not checked for exchanges of other types', async () => {
    const ok = await userChannel();
    ok.publish(X.wrDirect, 'any-key', Buffer.from('x'));
    await ok.bindQueue(Q.w, X.wrDirect, 'any-key');
    await ok.unbindQueue(Q.w, X.wrDirect, 'any-key');
    await ok.close();
  });
});

describe('vhost access', () => {
  it('a user without permissions on the vhost is refused at connection.open with 530', async () => {
    const c = await RawClient.connect(tb.host, tb.port);
    try {
      const { tune } = await c.negotiate({ user: NOPERM_USER, pass: PASS });
      c.sendTuneOk({ channelMax: tune.channelMax, frameMax: tune.frameMax, heartbeat: 0 });
      c.sendOpen('/');
      const close = await c.expectConnectionClose(530);
      expect(close).toEqual({
        replyCode: 530,
        replyText: `NOT_ALLOWED - access to vhost '/' refused for user '${NOPERM_USER}'`,
        classId: P.CLASS_CONNECTION,
        methodId: 40,
      });
      await c.waitClosed();
    } finally {
      c.destroy();
    }
  });
});

describe('password hashes', () => {
  it("a user made from RabbitMQ's salted SHA-256 hash logs in with its password", async () => {
    const conn = await connect(tb.urlWith({ user: HASH_USER, pass: HASH_PASSWORD }));
    const ch = await openChannel(conn);
    await ch.checkQueue(Q.c);
    await conn.close();
  });

  it('and not with another password', async () => {
    await expect(amqplib.connect(tb.urlWith({ user: HASH_USER, pass: `${HASH_PASSWORD}x` }))).rejects.toThrow(
      /ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN/,
    );
  });

  internalIt('users added through the broker get the same scheme: base64(salt[4] ++ sha256(salt ++ password))', async () => {
    const u = tb.warren!.broker.users.get(USER)!;
    expect(u.hashingAlgorithm).toBe('rabbit_password_hashing_sha256');
    expect(Buffer.from(u.passwordHash, 'base64')).toHaveLength(36);
  });
});

// ---------------------------------------------------------------------------------------
// guest may only log in over loopback (RabbitMQ's loopback_users default)

/** An IPv4 address of this machine that is not loopback, if it has one. */
function nonLoopbackAddress(): string | undefined {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return undefined;
}

const outside = nonLoopbackAddress();
/** Any user but guest may come from anywhere. */
const OUT_USER = 'sec-perm-out';

describe.skipIf(outside === undefined)(`loopback users (connecting via ${outside ?? 'no non-loopback address'})`, () => {
  // in-process: listen on every address, so the broker can be reached from outside loopback
  const lb = useBroker({ host: '::', loopbackUsers: ['guest', 'sec-loop'] });
  const lbSetup = new AccessSetup(lb);
  beforeAll(() => {
    lbSetup.addUser(OUT_USER, PASS);
    lbSetup.setPermissions('/', OUT_USER, ALL);
    if (!external) {
      lbSetup.addUser('sec-loop', PASS);
      lbSetup.setPermissions('/', 'sec-loop', ALL);
    }
  }, 60_000);
  afterAll(() => lbSetup.cleanup(), 60_000);

  const viaOutside = (user: string, pass: string): string => {
    const u = new URL(lb.urlWith({ user, pass }));
    u.hostname = outside!;
    return u.toString();
  };

  it('guest via a non-loopback address is refused with the login-refused text', async () => {
    await expect(amqplib.connect(viaOutside('guest', 'guest'))).rejects.toThrow(
      /403 \(ACCESS-REFUSED\) with message "ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN. For details see the broker logfile."/,
    );
  });

  it('guest via a non-loopback address without authentication_failure_close: dropped without a close', async () => {
    const c = await RawClient.connect(outside!, lb.port);
    try {
      await c.login({ capabilities: {} });
      expect(await c.nextEvent(10_000)).toBe('closed');
    } finally {
      c.destroy();
    }
  });

  it('guest via loopback and other users via any address are let in', async () => {
    const loop = await connect(lb.url);
    await loop.close();
    const other = await connect(viaOutside(OUT_USER, PASS));
    await other.close();
  });

  internalIt('loopbackUsers configures which users are loopback-only', async () => {
    await expect(amqplib.connect(viaOutside('sec-loop', PASS))).rejects.toThrow(/ACCESS_REFUSED - Login was refused/);
    const loop = await connect(lb.urlWith({ user: 'sec-loop', pass: PASS }));
    await loop.close();
  });
});
