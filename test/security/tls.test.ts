/**
 * amqps: warren's TLS listener with a CA, a server certificate and client certificates made
 * here with the openssl CLI (test/helpers/pki.ts). A client certificate signed by the trusted
 * CA logs in with EXTERNAL as its CN (RabbitMQ's rabbitmq_auth_mechanism_ssl); PLAIN still
 * works over TLS; a client that trusts another CA refuses the server, and a client
 * certificate from an untrusted CA is refused by the server (verify_peer).
 *
 * In-process only: the reference RabbitMQ has no TLS listener to compare with.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import amqplib from 'amqplib';
import { connect as tlsConnect } from 'node:tls';
import { startBroker, type RunningBroker } from '../../src/index.js';
import type { BrokerConfig } from '../../src/config.js';
import { external } from '../helpers/broker.js';
import { makePki, opensslMissing, type Pki } from '../helpers/pki.js';
import { eventually, withTimeout } from '../helpers/wait.js';

const CLIENT_CN = 'sec-tls-client';
const missing = external ? 'TLS tests need the in-process broker' : opensslMissing();

describe.skipIf(missing !== undefined)('amqps', () => {
  let pki: Pki;
  /** verify_peer, certificates optional */
  let broker: RunningBroker;
  /** verify_peer + fail_if_no_peer_cert */
  let strict: RunningBroker;

  beforeAll(async () => {
    pki = makePki(CLIENT_CN);
    const tls: Partial<BrokerConfig> = {
      tlsPort: 0,
      tlsCert: pki.server.cert,
      tlsKey: pki.server.key,
      tlsCa: pki.ca,
      tlsVerifyPeer: true,
    };
    broker = await startBroker({ ...tls, tlsFailIfNoPeerCert: false });
    strict = await startBroker({ ...tls, tlsFailIfNoPeerCert: true });
    // rabbitmq-compat: the EXTERNAL user is made without a password
    const users = broker.broker.users;
    users.put({ ...users.add(CLIENT_CN, ''), passwordHash: '' });
    users.setPermission('/', CLIENT_CN, { configure: '.*', write: '.*', read: '.*' });
  }, 60_000);

  afterAll(async () => {
    await broker?.close();
    await strict?.close();
    pki?.remove();
  });

  const where = (b: RunningBroker) => ({ protocol: 'amqps', hostname: '127.0.0.1', port: b.tlsPort! });

  function clientOptions(o: { ca?: string; cert?: { cert: string; key: string }; external?: boolean }): Record<string, unknown> {
    return {
      ca: [pki.read(o.ca ?? pki.ca)],
      servername: 'localhost',
      ...(o.cert !== undefined ? { cert: pki.read(o.cert.cert), key: pki.read(o.cert.key) } : {}),
      ...(o.external === true ? { credentials: amqplib.credentials.external() } : {}),
    };
  }

  /** Resolves with the connect error (a test of a refusal), fails if it connects. */
  async function refusal(p: Promise<amqplib.ChannelModel>): Promise<Error & { code?: string }> {
    try {
      const c = await withTimeout(p, 10_000, 'the connection attempt to end');
      await c.close();
    } catch (err) {
      return err as Error;
    }
    throw new Error('connected, but should have been refused');
  }

  it('a client certificate logs in with EXTERNAL as its CN, and carries messages', async () => {
    const conn = await amqplib.connect(where(broker), clientOptions({ cert: pki.client, external: true }));
    try {
      const ch = await conn.createChannel();
      const { queue } = await ch.assertQueue('', { exclusive: true });
      ch.sendToQueue(queue, Buffer.from('over tls'));
      const got = await eventually(() => ch.get(queue, { noAck: true }), 5000, 'the message back');
      expect(got && got.content.toString()).toBe('over tls');
      const conns = [...broker.broker.registry.connections];
      expect(conns.map((c) => c.user)).toContain(CLIENT_CN);
    } finally {
      await conn.close();
    }
  });

  it('EXTERNAL is offered only with a verified client certificate', async () => {
    const mechanisms = async (cert?: { cert: string; key: string }): Promise<string> => {
      const s = tlsConnect({ host: '127.0.0.1', port: broker.tlsPort!, servername: 'localhost', ca: [pki.read(pki.ca)], ...(cert ? { cert: pki.read(cert.cert), key: pki.read(cert.key) } : {}) });
      try {
        await withTimeout(new Promise<void>((res, rej) => s.once('secureConnect', res).once('error', rej)), 5000, 'TLS handshake');
        s.write(Buffer.from('AMQP\x00\x00\x09\x01', 'latin1'));
        // connection.start: frame header 7, class/method 4, version 2, server-properties table, mechanisms longstr
        let buf = Buffer.alloc(0);
        await withTimeout(
          new Promise<void>((res) => {
            s.on('data', (d: Buffer) => {
              buf = Buffer.concat([buf, d]);
              if (buf.length >= 7 && buf.length >= buf.readUInt32BE(3) + 8) res();
            });
          }),
          5000,
          'connection.start',
        );
        let at = 7 + 4 + 2;
        at += 4 + buf.readUInt32BE(at); // server-properties
        const len = buf.readUInt32BE(at);
        return buf.toString('latin1', at + 4, at + 4 + len);
      } finally {
        s.destroy();
      }
    };
    expect(await mechanisms(pki.client)).toBe('EXTERNAL AMQPLAIN PLAIN');
    expect(await mechanisms()).toBe('AMQPLAIN PLAIN');
  });

  it('PLAIN works over TLS as well (guest from loopback, no client certificate)', async () => {
    const conn = await amqplib.connect({ ...where(broker), username: 'guest', password: 'guest' }, clientOptions({}));
    const ch = await conn.createChannel();
    await ch.checkExchange('amq.direct');
    await conn.close();
  });

  it('EXTERNAL with a certificate CN that is no user is refused with 403', async () => {
    const users = broker.broker.users;
    const saved = users.get(CLIENT_CN)!;
    const perm = users.permission('/', CLIENT_CN)!;
    users.delete(CLIENT_CN);
    try {
      const err = await refusal(amqplib.connect(where(broker), clientOptions({ cert: pki.client, external: true })));
      expect(err.message).toMatch(/403 \(ACCESS-REFUSED\) with message "ACCESS_REFUSED - Login was refused using authentication mechanism EXTERNAL/);
    } finally {
      users.put(saved);
      users.setPermission('/', CLIENT_CN, perm);
    }
  });

  it('a client that trusts another CA refuses the server certificate (TLS error)', async () => {
    const err = await refusal(amqplib.connect(where(broker), clientOptions({ ca: pki.otherCa, cert: pki.client, external: true })));
    expect(err.code).toMatch(/SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT/);
  });

  it('a client certificate from an untrusted CA is refused by the server (verify_peer)', async () => {
    const before = broker.broker.registry.connections.size;
    const err = await refusal(amqplib.connect(where(broker), clientOptions({ cert: pki.otherClient, external: true })));
    expect(err).toBeInstanceOf(Error);
    expect(broker.broker.registry.connections.size).toBe(before);
  });

  it('fail_if_no_peer_cert: a client without a certificate is refused at the TLS handshake', async () => {
    const err = await refusal(amqplib.connect({ ...where(strict), username: 'guest', password: 'guest' }, clientOptions({})));
    expect(err).toBeInstanceOf(Error);
    // and with one it is let in (PLAIN: the strict broker has no user named after the CN)
    const conn = await amqplib.connect({ ...where(strict), username: 'guest', password: 'guest' }, clientOptions({ cert: pki.client }));
    await conn.close();
  });
});
