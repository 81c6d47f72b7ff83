/**
 * Limits: per-vhost max-connections and max-queues, per-user max-connections and
 * max-channels (RabbitMQ's vhost and user limits, same texts), max message size, the
 * negotiated channel_max, warren's maxConnections (socket closed at accept) and the
 * handshake timeout.
 *
 * Vhost and user limits are set on the in-process broker, or with rabbitmqctl when
 * WARREN_TEST_URL points at RabbitMQ, so those tests run against both. Options of the broker
 * itself (maxConnections, handshakeTimeoutMs, maxMessageSize) need a broker started with
 * them: in-process only.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as P from '../../src/protocol/generated.js';
import { AccessSetup, ALL } from '../helpers/access-setup.js';
import { internalIt, useBroker } from '../helpers/broker.js';
import { connect, expectServerClose, openChannel } from '../helpers/amqp.js';
import { RawClient } from '../helpers/raw-client.js';
import { eventually } from '../helpers/wait.js';

const PASS = 'sec-lim-pw';
/** max-connections 0 */
const VHOST0 = 'sec-lim0';
/** max-connections 1, max-queues 1 */
const VHOST = 'sec-lim';
/** user max-connections 0 */
const USER_NOCONN = 'sec-limu';
/** user max-channels 1 */
const USER_ONECH = 'sec-limc';

/** Handshake up to connection.open; returns the server's answer to it. */
async function openVhost(host: string, port: number, o: { user?: string; pass?: string; vhost: string }): Promise<{ c: RawClient; reply: P.Method }> {
  const c = await RawClient.connect(host, port);
  const { tune } = await c.negotiate({ user: o.user, pass: o.pass });
  c.sendTuneOk({ channelMax: tune.channelMax, frameMax: tune.frameMax, heartbeat: 0 });
  c.sendOpen(o.vhost);
  return { c, reply: await c.nextMethod(5000) };
}

function expectClose(reply: P.Method, code: number, text: string, classId: number, methodId: number): void {
  expect(reply.name).toBe('connection.close');
  expect(reply.args).toEqual({ replyCode: code, replyText: text, classId, methodId });
}

describe('vhost and user limits', () => {
  const tb = useBroker();
  const setup = new AccessSetup(tb);
  beforeAll(() => {
    setup.addVhost(VHOST0);
    setup.setPermissions(VHOST0, 'guest', ALL);
    setup.setVhostLimits(VHOST0, { maxConnections: 0 });
    setup.addVhost(VHOST);
    setup.setPermissions(VHOST, 'guest', ALL);
    setup.setVhostLimits(VHOST, { maxConnections: 1, maxQueues: 1 });
    for (const u of [USER_NOCONN, USER_ONECH]) {
      setup.addUser(u, PASS);
      setup.setPermissions('/', u, ALL);
    }
    setup.setUserLimits(USER_NOCONN, { maxConnections: 0 });
    setup.setUserLimits(USER_ONECH, { maxChannels: 1 });
  }, 120_000);
  afterAll(() => setup.cleanup(), 60_000);

  it('vhost max-connections 0: connection.open is refused with 530', async () => {
    const { c, reply } = await openVhost(tb.host, tb.port, { vhost: VHOST0 });
    try {
      expectClose(reply, 530, `NOT_ALLOWED - access to vhost '${VHOST0}' refused for user 'guest': connection limit (0) is reached`, 10, 40);
    } finally {
      c.destroy();
    }
  });

  it('vhost max-connections 1: the second connection is refused, and let in once the first has gone', async () => {
    const first = await connect(tb.urlWith({ vhost: VHOST }));
    const { c, reply } = await openVhost(tb.host, tb.port, { vhost: VHOST });
    c.destroy();
    expectClose(reply, 530, `NOT_ALLOWED - access to vhost '${VHOST}' refused for user 'guest': connection limit (1) is reached`, 10, 40);
    await first.close();
    // the broker counts connections as they go (RabbitMQ's tracking is asynchronous)
    const again = await eventually(
      async () => {
        const r = await openVhost(tb.host, tb.port, { vhost: VHOST });
        r.c.destroy();
        return r.reply.name === 'connection.open-ok';
      },
      10_000,
      'a new connection to the vhost after the first closed',
    );
    expect(again).toBe(true);
  });

  it('vhost max-queues 1: a second queue is refused with 406', async () => {
    const conn = await connect(tb.urlWith({ vhost: VHOST }));
    try {
      const ch = await openChannel(conn);
      await ch.assertQueue('lq1', { exclusive: true });
      await ch.assertQueue('lq1', { exclusive: true }); // a redeclare is not a new queue
      await expectServerClose(ch, 406, `PRECONDITION_FAILED - cannot declare queue 'lq2': queue limit in vhost '${VHOST}' (1) is reached`, () =>
        ch.assertQueue('lq2', { exclusive: true }),
      );
    } finally {
      await conn.close();
    }
  });

  it('user max-connections 0: connection.open is refused with 530', async () => {
    const { c, reply } = await openVhost(tb.host, tb.port, { user: USER_NOCONN, pass: PASS, vhost: '/' });
    try {
      expectClose(reply, 530, `NOT_ALLOWED - connection refused for user '${USER_NOCONN}': user connection limit (0) is reached`, 10, 40);
    } finally {
      c.destroy();
    }
  });

  it('user max-channels 1: a second channel closes the connection with 530', async () => {
    const c = await RawClient.connect(tb.host, tb.port);
    try {
      await c.handshake({ user: USER_ONECH, pass: PASS });
      await c.openChannel(1);
      c.sendMethod(2, P.encodeChannelOpen, { reserved1: '' });
      const close = await c.expectConnectionClose(530);
      expect(close).toEqual({
        replyCode: 530,
        replyText: `NOT_ALLOWED - number of channels opened for user '${USER_ONECH}' has reached the maximum allowed user limit of (1)`,
        classId: 0,
        methodId: 0,
      });
      await c.waitClosed();
    } finally {
      c.destroy();
    }
  });
});

describe('channel_max', () => {
  const tb = useBroker();

  it('opening more channels than the negotiated channel_max closes the connection with 530', async () => {
    const c = await RawClient.connect(tb.host, tb.port);
    try {
      await c.handshake({ channelMax: 2 });
      await c.openChannel(1);
      await c.openChannel(2);
      c.sendMethod(3, P.encodeChannelOpen, { reserved1: '' });
      const close = await c.expectConnectionClose(530);
      expect(close).toEqual({
        replyCode: 530,
        replyText: 'NOT_ALLOWED - number of channels opened (2) has reached the negotiated channel_max (2)',
        classId: 0,
        methodId: 0,
      });
      await c.waitClosed();
    } finally {
      c.destroy();
    }
  });

  it('a closed channel frees its slot', async () => {
    const c = await RawClient.connect(tb.host, tb.port);
    try {
      await c.handshake({ channelMax: 1 });
      await c.openChannel(1);
      c.sendMethod(1, P.encodeChannelClose, { replyCode: 200, replyText: 'bye', classId: 0, methodId: 0 });
      await c.expectMethod(1, 'channel.close-ok');
      await c.openChannel(1);
      await c.close();
    } finally {
      c.destroy();
    }
  });
});

describe('max message size', () => {
  const MAX = 64 * 1024;
  const tb = useBroker({ maxMessageSize: MAX });

  internalIt('a message over the limit closes the channel with 406; one at the limit goes through', async () => {
    const conn = await connect(tb.url);
    try {
      const ch = await openChannel(conn);
      const { queue } = await ch.assertQueue('', { exclusive: true });
      ch.sendToQueue(queue, Buffer.alloc(MAX, 1));
      expect((await ch.checkQueue(queue)).messageCount).toBe(1);
      await expectServerClose(ch, 406, `PRECONDITION_FAILED - message size ${MAX + 1} is larger than configured max size ${MAX}`, () =>
        ch.sendToQueue(queue, Buffer.alloc(MAX + 1, 1)),
      );
      // only the channel: the connection goes on
      const ch2 = await openChannel(conn);
      expect((await ch2.checkQueue(queue)).messageCount).toBe(1);
    } finally {
      await conn.close();
    }
  });
});

describe('maxConnections', () => {
  const tb = useBroker({ maxConnections: 2 });

  internalIt('a connection over the limit is closed at accept, before any byte; a slot frees when one closes', async () => {
    const a = await RawClient.connect(tb.host, tb.port);
    const b = await RawClient.connect(tb.host, tb.port);
    try {
      await a.handshake();
      await b.handshake();
      const over = await RawClient.connect(tb.host, tb.port);
      over.sendHeader();
      expect(await over.nextEvent(5000)).toBe('closed');
      over.destroy();
      await a.close();
      const registry = tb.warren!.broker.registry;
      await eventually(() => registry.connections.size === 1, 5000, 'the broker to forget the closed connection');
      const c = await RawClient.connect(tb.host, tb.port);
      await c.handshake();
      await c.close();
    } finally {
      a.destroy();
      b.destroy();
    }
  });
});

describe('handshake timeout', () => {
  const tb = useBroker({ handshakeTimeoutMs: 300 });

  internalIt('a client that sends only the protocol header is dropped', async () => {
    const c = await RawClient.connect(tb.host, tb.port);
    try {
      c.sendHeader();
      await c.expectMethod(0, 'connection.start');
      // nothing more: no close method, TCP closed (generous bound: the timeout is 300 ms)
      expect(await c.nextEvent(5000)).toBe('closed');
    } finally {
      c.destroy();
    }
  });

  internalIt('a client that sends nothing at all is dropped', async () => {
    const c = await RawClient.connect(tb.host, tb.port);
    try {
      expect(await c.nextEvent(5000)).toBe('closed');
    } finally {
      c.destroy();
    }
  });

  internalIt('a client that stops after tune-ok is dropped; one that finishes in time is not', async () => {
    const slow = await RawClient.connect(tb.host, tb.port);
    const ok = await RawClient.connect(tb.host, tb.port);
    try {
      const { tune } = await slow.negotiate();
      slow.sendTuneOk({ channelMax: tune.channelMax, frameMax: tune.frameMax, heartbeat: 0 });
      await ok.handshake();
      expect(await slow.nextEvent(5000)).toBe('closed');
      // the finished handshake is not subject to the timeout: still served after it
      await ok.openChannel(1);
      await ok.close();
    } finally {
      slow.destroy();
      ok.destroy();
    }
  });
});
