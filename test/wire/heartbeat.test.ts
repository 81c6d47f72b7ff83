/**
 * Foundation acceptance: heartbeats (spec 4.2.7). A client that negotiated heartbeat=1 and
 * then says nothing is dropped after about two intervals (RabbitMQ: TCP closed, no close
 * method, ~3 s — errors.md row 197); one that keeps sending heartbeats stays, and hears the
 * server's heartbeats (server-properties.json "heartbeat": first one ~0.5 s in).
 */
import { describe, expect, it } from 'vitest';
import * as P from '../../src/protocol/generated.js';
import { useBroker } from '../helpers/broker.js';
import { RawClient } from '../helpers/raw-client.js';

const tb = useBroker();

describe('heartbeats', () => {
  it('drops a client that negotiated heartbeat=1 s and then went silent, within 1.5–3.5 s', async () => {
    const c = await RawClient.connect(tb.host, tb.port);
    try {
      await c.handshake({ heartbeat: 1 });
      const silentSince = Date.now();
      // from now on the client sends nothing, not even heartbeats; the server's own
      // heartbeats may arrive and are read past, but nothing else may
      for (;;) {
        const e = await c.nextEvent(5000 - (Date.now() - silentSince));
        if (e === 'closed') break;
        if (e === 'timeout') throw new Error('the server kept a silent heartbeat=1 client for 5 s');
        expect(e.type, 'only heartbeats, no close method (rabbitmq-compat: TCP is simply closed)').toBe(P.FRAME_HEARTBEAT);
        expect(e.channel).toBe(0);
        expect(e.payload.length).toBe(0);
      }
      const elapsed = Date.now() - silentSince;
      expect(elapsed).toBeGreaterThanOrEqual(1500);
      expect(elapsed).toBeLessThanOrEqual(3500);
    } finally {
      c.destroy();
    }
  });

  it('keeps a client that sends a heartbeat every 500 ms, and sends it heartbeats', async () => {
    const c = await RawClient.connect(tb.host, tb.port);
    let beat: NodeJS.Timeout | undefined;
    try {
      await c.handshake({ heartbeat: 1 });
      beat = setInterval(() => c.sendHeartbeat(), 500);
      const deadline = Date.now() + 4000;
      let heartbeats = 0;
      for (;;) {
        const left = deadline - Date.now();
        if (left <= 0) break;
        const e = await c.nextEvent(left);
        if (e === 'timeout') break;
        expect(e, 'the server closed TCP on a client that kept sending heartbeats').not.toBe('closed');
        if (e === 'closed') break;
        expect([e.type, e.channel, e.payload.length], 'only heartbeat frames while idle').toEqual([P.FRAME_HEARTBEAT, 0, 0]);
        heartbeats++;
      }
      expect(c.closed).toBe(false);
      // RabbitMQ sends one about every 0.5 s at heartbeat=1
      expect(heartbeats).toBeGreaterThanOrEqual(3);
      // and the connection still works
      await c.openChannel(1);
    } finally {
      clearInterval(beat);
      await c.close();
    }
  });
});
