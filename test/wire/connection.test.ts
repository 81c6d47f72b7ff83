/**
 * Foundation acceptance: connections and the handshake, as a client library (amqplib) and a
 * raw client see them. Expected values come from RabbitMQ 3.10.8
 * (../shared/reference/server-properties.json, errors.md rows 184–191).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import amqplib from 'amqplib';
import * as P from '../../src/protocol/generated.js';
import type { Field } from '../../src/protocol/field-table.js';
import { external, internalIt, useBroker } from '../helpers/broker.js';
import { RawClient, methodPayload } from '../helpers/raw-client.js';
import { eventually } from '../helpers/wait.js';

interface Recorded {
  connection_start: { server_properties: Record<string, { type: string; value: unknown }> };
  server_properties_plain: { capabilities: Record<string, boolean> };
  connection_tune: { channel_max: number; frame_max: number; heartbeat: number; method_payload_hex: string };
  connection_open_ok: { method_payload_hex: string };
  channel_open_ok: { method_payload_hex: string };
  channel_close_ok_after_client_close: { method_payload_hex: string };
  connection_close_ok_after_client_close: { method_payload_hex: string };
}
const reference = JSON.parse(
  readFileSync(fileURLToPath(new URL('../../../shared/reference/server-properties.json', import.meta.url)), 'utf8'),
) as Recorded;

const tb = useBroker();

describe('connection with amqplib', () => {
  it('opens 100 channels, closes them and then the connection cleanly', async () => {
    const conn = await amqplib.connect(tb.url);
    const errors: unknown[] = [];
    conn.on('error', (e) => errors.push(e));
    const channels = await Promise.all(Array.from({ length: 100 }, () => conn.createChannel()));
    expect(new Set(channels.map((c) => (c as unknown as { ch: number }).ch)).size).toBe(100);
    if (!external) {
      const server = [...tb.warren!.broker.registry.connections].find((c) => c.channelCount === 100);
      expect(server, 'the server side of the connection holds 100 channels').toBeDefined();
    }
    await Promise.all(channels.map((c) => c.close()));
    const closed = new Promise<void>((resolve) => conn.once('close', () => resolve()));
    await conn.close();
    await closed;
    expect(errors).toEqual([]);
  });

  it('refuses a wrong password with 403 ACCESS_REFUSED', async () => {
    // amqplib announces authentication_failure_close, so the server says why (errors.md 184)
    await expect(amqplib.connect(tb.urlWith({ pass: 'not-the-password' }))).rejects.toThrow(
      /403.*ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN/s,
    );
  });

  it('refuses an unknown vhost with a connection.close (530 NOT_ALLOWED)', async () => {
    // amqplib reports only that a close came instead of open-ok; the raw test below checks
    // the close's code and text
    await expect(amqplib.connect(tb.urlWith({ vhost: 'no-such-vhost' }))).rejects.toThrow(
      /Expected ConnectionOpenOk; got <ConnectionClose channel:0>/,
    );
  });

  it('sees the server-properties a RabbitMQ client expects', async () => {
    const conn = await amqplib.connect(tb.url);
    try {
      const props = (conn as unknown as { connection: { serverProperties: Record<string, unknown> } }).connection.serverProperties;
      expect(props).toMatchObject({ capabilities: reference.server_properties_plain.capabilities });
      for (const k of ['product', 'version', 'platform', 'cluster_name', 'information']) {
        expect(typeof props[k], `server property ${k}`).toBe('string');
      }
    } finally {
      await conn.close();
    }
  });
});

describe('handshake, raw', () => {
  it('sends connection.start 0-9 with server-properties, mechanisms and locales like RabbitMQ', async () => {
    const c = await RawClient.connect(tb.host, tb.port);
    try {
      c.sendHeader();
      const start = await c.expectMethod(0, 'connection.start');
      expect([start.versionMajor, start.versionMinor]).toEqual([0, 9]);
      // the order differs between RabbitMQ nodes; the set does not
      expect(start.mechanisms.toString().split(' ').sort()).toEqual(['AMQPLAIN', 'PLAIN']);
      expect(start.locales.toString()).toBe('en_US');

      const sp = start.serverProperties;
      const recorded = reference.connection_start.server_properties;
      for (const k of ['product', 'version', 'platform', 'cluster_name', 'information', 'copyright']) {
        expect(sp.get(k)?.type, `server property ${k} is a longstr`).toBe(recorded[k]!.type);
      }
      const caps = sp.get('capabilities');
      expect(caps?.type).toBe('F');
      const capTable = (caps as Extract<Field, { type: 'F' }>).value;
      const recordedCaps = recorded['capabilities']!.value as Record<string, { type: string; value: boolean }>;
      // same capabilities, same types, same wire order
      expect([...capTable.keys()]).toEqual(Object.keys(recordedCaps));
      for (const [name, f] of capTable) expect(f, name).toEqual({ type: 't', value: true });
      // the keys RabbitMQ sends come in its order (warren may add its own in between)
      const order = [...sp.keys()].filter((k) => k in recorded);
      expect(order).toEqual(Object.keys(recorded));
      if (!external) {
        expect(sp.get('product')).toEqual({ type: 'S', value: 'RabbitMQ' });
        expect(sp.get('version')).toEqual({ type: 'S', value: '3.10.8' });
        expect(sp.get('warren_version')).toMatchObject({ type: 'S' });
        expect(String(sp.get('information')?.value)).toMatch(/warren/);
      }
    } finally {
      c.destroy();
    }
  });

  it('offers channel_max 2047, frame_max 131072, heartbeat 60 in connection.tune', async () => {
    const c = await RawClient.connect(tb.host, tb.port);
    try {
      const { tune } = await c.negotiate();
      expect(tune).toEqual({ channelMax: 2047, frameMax: 131072, heartbeat: 60 });
      expect(methodPayload(P.encodeConnectionTune, tune).toString('hex')).toBe(reference.connection_tune.method_payload_hex);
    } finally {
      c.destroy();
    }
  });

  it('answers open, channel.open, channel.close and connection.close with RabbitMQ’s bytes', async () => {
    const c = await RawClient.connect(tb.host, tb.port);
    try {
      const n = await c.negotiate();
      c.sendTuneOk({ ...n.tune, heartbeat: 0 });
      c.sendOpen('/');
      const openOk = await c.nextFrame();
      expect([openOk.type, openOk.channel, openOk.payload.toString('hex')]).toEqual([1, 0, reference.connection_open_ok.method_payload_hex]);

      c.sendMethod(1, P.encodeChannelOpen, { reserved1: '' });
      const chOpenOk = await c.nextFrame();
      expect([chOpenOk.type, chOpenOk.channel, chOpenOk.payload.toString('hex')]).toEqual([1, 1, reference.channel_open_ok.method_payload_hex]);

      c.sendMethod(1, P.encodeChannelClose, { replyCode: 200, replyText: 'bye', classId: 0, methodId: 0 });
      const chCloseOk = await c.nextFrame();
      expect([chCloseOk.type, chCloseOk.channel, chCloseOk.payload.toString('hex')]).toEqual([
        1,
        1,
        reference.channel_close_ok_after_client_close.method_payload_hex,
      ]);

      c.sendMethod(0, P.encodeConnectionClose, { replyCode: 200, replyText: 'bye', classId: 0, methodId: 0 });
      const closeOk = await c.nextFrame();
      expect([closeOk.type, closeOk.channel, closeOk.payload.toString('hex')]).toEqual([
        1,
        0,
        reference.connection_close_ok_after_client_close.method_payload_hex,
      ]);
    } finally {
      c.destroy();
    }
  });

  it('logs in with AMQPLAIN', async () => {
    const c = await RawClient.connect(tb.host, tb.port);
    try {
      await c.handshake({ mechanism: 'AMQPLAIN' });
      await c.openChannel(1);
    } finally {
      await c.close();
    }
  });

  it('closes with 403 ACCESS_REFUSED for a wrong password when the client announced authentication_failure_close', async () => {
    const c = await RawClient.connect(tb.host, tb.port);
    try {
      await c.login({ pass: 'wrong' }); // announces authentication_failure_close
      const close = await c.expectConnectionClose(403);
      expect(close).toEqual({
        replyCode: 403,
        replyText: 'ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN. For details see the broker logfile.',
        classId: 0,
        methodId: 0,
      });
    } finally {
      c.destroy();
    }
  });

  it('drops TCP without a close for a wrong password when the client did not announce authentication_failure_close', async () => {
    const c = await RawClient.connect(tb.host, tb.port);
    try {
      await c.login({ pass: 'wrong', capabilities: {} });
      // RabbitMQ waits ~3 s (SILENT_CLOSE_DELAY) before it drops the client
      expect(await c.nextEvent(5000)).toBe('closed');
    } finally {
      c.destroy();
    }
  });

  it('closes with 530 NOT_ALLOWED for connection.open to an unknown vhost', async () => {
    const c = await RawClient.connect(tb.host, tb.port);
    try {
      const n = await c.negotiate();
      c.sendTuneOk({ ...n.tune, heartbeat: 0 });
      c.sendOpen('no-such-vhost');
      const close = await c.expectConnectionClose(530);
      expect(close).toEqual({ replyCode: 530, replyText: 'NOT_ALLOWED - vhost no-such-vhost not found', classId: 10, methodId: 40 });
    } finally {
      c.destroy();
    }
  });

  internalIt('forgets a closed connection (registry)', async () => {
    const c = await RawClient.connect(tb.host, tb.port);
    await c.handshake();
    const registry = tb.warren!.broker.registry;
    const mine = (): boolean => [...registry.connections].some((s) => s.peerPort === c.socket.localPort);
    expect(mine()).toBe(true);
    await c.close();
    await eventually(() => !mine(), 2000, 'the registry to drop the connection');
  });
});
