/**
 * Queue features, consumer timeout (RabbitMQ's consumer_timeout, here config.consumerTimeoutMs):
 * a channel whose oldest unacknowledged delivery is older than the limit is closed with 406
 * and RabbitMQ 3.10's text, and its deliveries go back to the queue. Internal: the reference
 * RabbitMQ runs with its 30-minute default, so only an in-process warren can be given 300 ms.
 */
import { describe, expect } from 'vitest';
import type { Channel } from 'amqplib';
import { Collector, closed, expectServerClose } from '../../helpers/amqp.js';
import { internalIt } from '../../helpers/broker.js';
import { brokerTimePasses, useFeatures } from './common.js';

const f = useFeatures({ consumerTimeoutMs: 300 });

const timedOut = (ch: Channel): string =>
  `PRECONDITION_FAILED - delivery acknowledgement on channel ${(ch as unknown as { ch: number }).ch} timed out. ` +
  'Timeout value used: 300 ms. This timeout value can be configured, see consumers doc guide to learn more';

describe('consumer timeout', () => {
  internalIt('closes the channel of an unacknowledged delivery with 406 and requeues it', async () => {
    const pub = await f.confirmChannel();
    const q = await f.queue(pub, 'timeout');
    const ch = await f.channel();
    const got = new Collector();
    await ch.consume(q, got.onMessage);
    pub.sendToQueue(q, Buffer.from('slow'));
    await got.count(1);
    const at = Date.now();
    await expectServerClose(ch, 406, timedOut(ch));
    expect(Date.now() - at).toBeGreaterThanOrEqual(250);
    const again = await pub.get(q, { noAck: true });
    expect(again !== false && [again.content.toString(), again.fields.redelivered]).toEqual(['slow', true]);
    await pub.close();
  });

  internalIt('counts basic.get deliveries too', async () => {
    const pub = await f.confirmChannel();
    const q = await f.queue(pub, 'timeout-get');
    pub.sendToQueue(q, Buffer.from('fetched'));
    await pub.waitForConfirms();
    const ch = await f.channel();
    const m = await ch.get(q);
    expect(m !== false && m.content.toString()).toBe('fetched');
    await expectServerClose(ch, 406, timedOut(ch));
    const again = await pub.get(q, { noAck: true });
    expect(again !== false && again.fields.redelivered).toBe(true);
    await pub.close();
  });

  internalIt('leaves alone a channel that acknowledges in time, and no-ack consumers', async () => {
    const pub = await f.confirmChannel();
    const q = await f.queue(pub, 'timeout-ok');
    const noAckQ = await f.queue(pub, 'timeout-noack');
    const ch = await f.channel();
    const got = new Collector();
    await ch.consume(q, (m) => {
      got.onMessage(m);
      if (m !== null) ch.ack(m);
    });
    const fire = new Collector();
    await ch.consume(noAckQ, fire.onMessage, { noAck: true });
    for (let i = 0; i < 4; i++) {
      pub.sendToQueue(q, Buffer.from(`m${i}`));
      pub.sendToQueue(noAckQ, Buffer.from(`n${i}`));
      await brokerTimePasses(pub, 150);
    }
    await got.count(4);
    await fire.count(4);
    // 600 ms later the channel still works
    expect((await ch.checkQueue(q)).consumerCount).toBe(1);
    await ch.close();
    expect(await closed(ch)).toBeUndefined();
    await pub.close();
  });
});
