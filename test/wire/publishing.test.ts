/**
 * Messaging acceptance, publishing: mandatory returns, immediate, bodies larger than a frame
 * in both directions, the message size limit, property checks (expiration, user_id) and
 * properties delivered verbatim. Texts are RabbitMQ 3.10.8's (../shared/reference/errors.md
 * rows 94–106, headers.md section 2).
 */
import { describe, expect, it } from 'vitest';
import type { Channel, ChannelModel, Message } from 'amqplib';
import { internalIt, useBroker, type TestBroker } from '../helpers/broker.js';
import {
  Collector,
  connect,
  expectServerClose,
  expectUsable,
  getOne,
  openChannel,
  publishRaw,
  uniq,
  useCleanup,
  useSharedConnection,
} from '../helpers/amqp.js';
import { withTimeout } from '../helpers/wait.js';

const tb = useBroker();
const tidy = useCleanup(tb);

let conn: ChannelModel;
useSharedConnection(tb, (c) => (conn = c));

async function queue(ch: Channel, prefix = 'pub'): Promise<string> {
  const q = tidy.queue(uniq(prefix));
  await ch.assertQueue(q, { durable: false });
  return q;
}

function nextReturn(ch: Channel): Promise<Message> {
  return withTimeout(new Promise<Message>((resolve) => ch.once('return', resolve)), 5000, 'basic.return');
}

/** URL of `b` with amqplib's frameMax query parameter. */
function withFrameMax(b: TestBroker, frameMax: number): string {
  return b.urlWith({ query: `?frameMax=${frameMax}` });
}

describe('mandatory', () => {
  it('an unroutable mandatory message comes back as basic.return 312 NO_ROUTE, properties and body intact (headers.md 2)', async () => {
    const ch = await openChannel(conn);
    const returned = nextReturn(ch);
    const props = {
      contentType: 'application/json',
      correlationId: 'corr-1',
      replyTo: 'somewhere',
      messageId: 'msg-r',
      headers: { h: 'v' },
      mandatory: true,
    };
    const rk = uniq('unroutable');
    ch.publish('amq.direct', rk, Buffer.from('{"r":1}'), props);
    const m = await returned;
    expect(m.fields).toMatchObject({ replyCode: 312, replyText: 'NO_ROUTE', exchange: 'amq.direct', routingKey: rk });
    expect(m.properties).toMatchObject({
      contentType: 'application/json',
      correlationId: 'corr-1',
      replyTo: 'somewhere',
      messageId: 'msg-r',
      headers: { h: 'v' },
    });
    expect(m.content.toString()).toBe('{"r":1}');
    await ch.close();
  });

  it('via the default exchange to a missing queue (errors.md 97); routed or not-mandatory messages do not come back', async () => {
    const ch = await openChannel(conn);
    const q = await queue(ch);
    const returns: Message[] = [];
    ch.on('return', (m: Message) => returns.push(m));
    const missing = uniq('no-queue');
    ch.publish('', q, Buffer.from('routed'), { mandatory: true });
    ch.publish('', missing, Buffer.from('dropped'), { mandatory: false });
    ch.publish('', missing, Buffer.from('x'), { mandatory: true });
    await getOne(ch, q, { noAck: true });
    await withTimeout(
      (async () => {
        while (returns.length === 0) await new Promise((r) => ch.once('return', r));
      })(),
      5000,
      'basic.return',
    );
    await ch.checkQueue(q); // a round trip after the return: nothing else comes back
    expect(returns.map((m) => [m.fields.exchange, m.fields.routingKey, m.content.toString()])).toEqual([['', missing, 'x']]);
    await ch.close();
  });
});

describe('immediate', () => {
  it('is not implemented: 540 closes the connection (errors.md 101)', async () => {
    const c = await connect(tb.url);
    const ch = await openChannel(c);
    await expectServerClose(c, 540, 'NOT_IMPLEMENTED - immediate=true', () =>
      publishRaw(ch, { exchange: 'amq.direct', routingKey: 'k', immediate: true }, Buffer.from('x')),
    );
    await expectUsable(conn);
  });
});

describe('bodies larger than a frame', () => {
  function pattern(n: number, seed: number): Buffer {
    const b = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff;
    return b;
  }

  it('1 MiB with the default frame_max, published and consumed', async () => {
    const ch = await openChannel(conn);
    const q = await queue(ch, 'big');
    const body = pattern(1024 * 1024, 7);
    const c = new Collector();
    await ch.consume(q, c.onMessage, { noAck: true });
    ch.sendToQueue(q, body);
    await c.count(1);
    expect(c.messages[0]!.content.equals(body)).toBe(true);
    await ch.close();
  });

  it('300 KiB and sizes around the frame boundary with frame_max 4096, both directions', async () => {
    const small = await connect(withFrameMax(tb, 4096));
    const ch = await openChannel(small);
    const q = await queue(ch, 'frames');
    // 4088 = 4096 - 8 bytes of frame overhead: the largest body frame payload
    const sizes = [0, 1, 4087, 4088, 4089, 2 * 4088, 2 * 4088 + 1, 300 * 1024];
    const bodies = sizes.map((n, i) => pattern(n, i));
    for (const b of bodies) ch.sendToQueue(q, b);
    for (let i = 0; i < bodies.length; i++) {
      const m = await getOne(ch, q, { noAck: true });
      expect(m.content.length, `body ${i}`).toBe(sizes[i]);
      expect(m.content.equals(bodies[i]!), `body ${i} intact`).toBe(true);
    }
    // and to a consumer on a connection with the default frame_max
    const big = await openChannel(conn);
    const c = new Collector();
    await big.consume(q, c.onMessage, { noAck: true });
    ch.sendToQueue(q, bodies[7]!);
    await c.count(1);
    expect(c.messages[0]!.content.equals(bodies[7]!)).toBe(true);
    await big.close();
    await small.close();
  });
});

describe('the message size limit', () => {
  const limited = useBroker({ maxMessageSize: 1024 });

  internalIt('a body over max_message_size is 406 on the channel; the rest of its frames are ignored', async () => {
    const c = await connect(withFrameMax(limited, 4096));
    const ch = await openChannel(c);
    const q = (await ch.assertQueue('', { exclusive: true })).queue;
    ch.sendToQueue(q, Buffer.alloc(1024, 1)); // at the limit: fine
    expect((await getOne(ch, q, { noAck: true })).content.length).toBe(1024);
    await expectServerClose(ch, 406, 'PRECONDITION_FAILED - message size 100000 is larger than configured max size 1024', () =>
      ch.sendToQueue(q, Buffer.alloc(100_000, 2)), // 25 body frames follow the refused header
    );
    await expectUsable(c);
    await c.close();
  });
});

describe('properties', () => {
  it('are delivered exactly as published', async () => {
    const ch = await openChannel(conn);
    const q = await queue(ch, 'props');
    const props = {
      contentType: 'text/plain',
      contentEncoding: 'gzip',
      headers: { s: 'str', n: 42, big: 2 ** 40, f: 1.5, t: true, arr: ['a', 1], nested: { k: 'v' }, nul: null },
      deliveryMode: 2,
      priority: 3,
      correlationId: 'c-1',
      replyTo: 'r-1',
      expiration: '60000',
      messageId: 'm-1',
      timestamp: 1700000000,
      type: 'kind',
      userId: 'guest',
      appId: 'warren-tests',
    };
    ch.sendToQueue(q, Buffer.from('p'), props);
    const m = await getOne(ch, q, { noAck: true });
    const { mandatory: _m, ...expected } = { ...props, mandatory: false };
    expect(m.properties).toMatchObject(expected);
    await ch.close();
  });
});

describe('refused properties close the channel with 406', () => {
  const cases: [row: number, what: string, props: Record<string, unknown>, text: string][] = [
    [102, 'expiration "abc"', { expiration: 'abc' }, "PRECONDITION_FAILED - invalid expiration 'abc': no_integer"],
    [103, 'expiration "-1"', { expiration: '-1' }, "PRECONDITION_FAILED - invalid expiration '-1': {value_negative,-1}"],
    [104, 'expiration "1.5"', { expiration: '1.5' }, `PRECONDITION_FAILED - invalid expiration '1.5': {leftover_string,".5"}`],
    [105, 'user_id of another user', { userId: 'ref-someone-else' }, "PRECONDITION_FAILED - user_id property set to 'ref-someone-else' but authenticated user was 'guest'"],
  ];
  for (const [row, what, props, text] of cases) {
    it(`${what} (errors.md ${row})`, async () => {
      const ch = await openChannel(conn);
      const q = await queue(ch, 'refused');
      await expectServerClose(ch, 406, text, () => ch.sendToQueue(q, Buffer.from('x'), props));
      const ch2 = await openChannel(conn);
      expect(await ch2.get(q), 'nothing was enqueued').toBe(false);
      await ch2.close();
    });
  }

  it('the exchange is checked before the properties', async () => {
    const ch = await openChannel(conn);
    const missing = uniq('missing');
    await expectServerClose(ch, 404, `NOT_FOUND - no exchange '${missing}' in vhost '/'`, () =>
      ch.publish(missing, 'k', Buffer.from('x'), { expiration: 'abc' }),
    );
  });

  it('"amq.default" is not the default exchange: 404 (errors.md 106)', async () => {
    const ch = await openChannel(conn);
    await expectServerClose(ch, 404, "NOT_FOUND - no exchange 'amq.default' in vhost '/'", () =>
      ch.publish('amq.default', 'k', Buffer.from('x')),
    );
    await expectUsable(conn);
  });
});
