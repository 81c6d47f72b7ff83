/**
 * Queue features, time: per-queue message TTL (x-message-ttl), per-message expiration (the
 * lower of the two wins), expiry at the head with and without consumers, TTL 0, and queue
 * expiry (x-expires). Behaviour as RabbitMQ 3.10.8's (../shared/reference/headers.md 1b–1c2).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Collector } from '../../helpers/amqp.js';
import { RawSession, checkTimes, nowSec, shape } from './raw-get.js';
import { brokerTimePasses, countReaches, messageCount, queueExists, queueGone, useFeatures } from './common.js';

const f = useFeatures();
let raw: RawSession;
beforeAll(async () => {
  raw = await RawSession.open(f.tb);
});
afterAll(async () => {
  await raw.close();
});

describe('message TTL', () => {
  it('expired messages are never delivered: they leave the head while the consumer has no credit', async () => {
    const ch = await f.confirmChannel();
    const q = await f.queue(ch, 'ttl', { 'x-message-ttl': 150 });
    const consumer = await f.channel();
    await consumer.prefetch(1);
    const got = new Collector();
    await consumer.consume(q, got.onMessage);
    ch.sendToQueue(q, Buffer.from('first'));
    await got.count(1);
    // the consumer holds 'first' unacked: 'second' and 'third' wait, then expire at the head
    ch.sendToQueue(q, Buffer.from('second'));
    ch.sendToQueue(q, Buffer.from('third'));
    await ch.waitForConfirms();
    await countReaches(ch, q, 0);
    consumer.ack(got.messages[0]!);
    ch.sendToQueue(q, Buffer.from('marker'));
    await got.count(2);
    expect(got.bodies()).toEqual(['first', 'marker']);
    await consumer.close();
    await ch.close();
  });

  it('without a consumer an expired head is dead-lettered (x-message-ttl, headers.md 1c)', async () => {
    const ch = await f.confirmChannel();
    const dead = await f.queue(ch, 'dead');
    const q = await f.queue(ch, 'src-c', { 'x-message-ttl': 100, 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': dead });
    const from = nowSec();
    ch.sendToQueue(q, Buffer.from('c'), { messageId: 'msg-c' });
    await ch.waitForConfirms();
    const d = await raw.getEventually(dead);
    expect(d.getOk).toMatchObject({ redelivered: false, exchange: '', routingKey: dead, messageCount: 0 });
    expect(d.flags.toString(16)).toBe('2080');
    expect(checkTimes(shape(d.props.headers), from, nowSec())).toEqual([
      ['x-death', [[['count', 'l 1'], ['reason', 'S expired'], ['queue', `S ${q}`], ['time', 'T <time>'], ['exchange', 'S '], ['routing-keys', [`S ${q}`]]]]],
      ['x-first-death-exchange', 'S '],
      ['x-first-death-queue', `S ${q}`],
      ['x-first-death-reason', 'S expired'],
    ]);
    expect(await messageCount(ch, q)).toBe(0);
    await ch.close();
  });

  it('without a DLX an expired head is discarded', async () => {
    const ch = await f.confirmChannel();
    const q = await f.queue(ch, 'discard', { 'x-message-ttl': 50 });
    ch.sendToQueue(q, Buffer.from('gone'));
    ch.sendToQueue(q, Buffer.from('gone too'), { expiration: '20' });
    await ch.waitForConfirms();
    await countReaches(ch, q, 0);
    expect(await ch.get(q)).toBe(false);
    await ch.close();
  });

  it('queue TTL and per-message expiration together: the lower one wins (headers.md 1c2)', async () => {
    const ch = await f.confirmChannel();
    const dead = await f.queue(ch, 'dead');
    const dl = { 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': dead };
    const longQueue = await f.queue(ch, 'long-q', { 'x-message-ttl': 60000, ...dl });
    const shortQueue = await f.queue(ch, 'short-q', { 'x-message-ttl': 50, ...dl });
    ch.sendToQueue(longQueue, Buffer.from('message ttl wins'), { expiration: '50' });
    await ch.waitForConfirms();
    const a = await raw.getEventually(dead);
    expect(a.body.toString()).toBe('message ttl wins');
    expect(a.flags.toString(16)).toBe('2000');
    // the expiration property moved into the x-death entry
    expect(shape(a.props.headers!.get('x-death'))[0]).toContainEqual(['original-expiration', 'S 50']);
    ch.sendToQueue(shortQueue, Buffer.from('queue ttl wins'), { expiration: '60000' });
    await ch.waitForConfirms();
    const b = await raw.getEventually(dead);
    expect(b.body.toString()).toBe('queue ttl wins');
    expect(b.props.expiration).toBeUndefined();
    expect(shape(b.props.headers!.get('x-death'))[0]).toContainEqual(['original-expiration', 'S 60000']);
    expect(await raw.get(longQueue)).toBeNull();
    await ch.close();
  });

  it('only the head expires: a short-lived message behind a long-lived one waits for it', async () => {
    const ch = await f.confirmChannel();
    const dead = await f.queue(ch, 'dead');
    const q = await f.queue(ch, 'head', { 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': dead });
    ch.sendToQueue(q, Buffer.from('long'), { expiration: '60000' });
    ch.sendToQueue(q, Buffer.from('short'), { expiration: '20' });
    await ch.waitForConfirms();
    await brokerTimePasses(ch, 60);
    expect(await messageCount(ch, q)).toBe(2);
    const head = await ch.get(q, { noAck: true });
    expect(head !== false && head.content.toString()).toBe('long');
    // now 'short' is the head and long expired: it goes before any basic.get can see it
    expect(await ch.get(q)).toBe(false);
    const d = await raw.getEventually(dead);
    expect(d.body.toString()).toBe('short');
    expect(shape(d.props.headers!.get('x-death'))[0]).toContainEqual(['reason', 'S expired']);
    await ch.close();
  });

  it('a message with a TTL behind one without expires as soon as it reaches the head, with no consumer', async () => {
    const ch = await f.confirmChannel();
    const dead = await f.queue(ch, 'dead');
    const q = await f.queue(ch, 'behind', { 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': dead });
    ch.sendToQueue(q, Buffer.from('forever'));
    ch.sendToQueue(q, Buffer.from('short'), { expiration: '100' });
    await ch.waitForConfirms();
    const head = await ch.get(q, { noAck: true });
    expect(head !== false && head.content.toString()).toBe('forever');
    // nothing else touches the queue: its TTL timer alone must now find 'short'
    const d = await raw.getEventually(dead);
    expect(d.body.toString()).toBe('short');
    await ch.close();
  });

  it('TTL 0: delivered at once to a consumer with credit, otherwise expired on arrival', async () => {
    const ch = await f.confirmChannel();
    const dead = await f.queue(ch, 'dead');
    const q = await f.queue(ch, 'zero', { 'x-message-ttl': 0, 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': dead });
    const consumer = await f.channel();
    await consumer.prefetch(1);
    const got = new Collector();
    const { consumerTag } = await consumer.consume(q, got.onMessage);
    ch.sendToQueue(q, Buffer.from('now'));
    await got.count(1);
    // the consumer's one credit is used: the next message cannot be delivered, so it expires
    ch.sendToQueue(q, Buffer.from('no credit'));
    await ch.waitForConfirms();
    const a = await raw.getEventually(dead);
    expect(a.body.toString()).toBe('no credit');
    await consumer.cancel(consumerTag);
    ch.sendToQueue(q, Buffer.from('no consumer'), { messageId: 'm0' });
    await ch.waitForConfirms();
    const b = await raw.getEventually(dead);
    expect(b.body.toString()).toBe('no consumer');
    expect(shape(b.props.headers!.get('x-death'))[0]).toContainEqual(['reason', 'S expired']);
    expect(got.bodies()).toEqual(['now']);
    expect(await raw.get(q)).toBeNull();
    await consumer.close();
    await ch.close();
  });

  it('per-message expiration "0" behaves like TTL 0', async () => {
    const ch = await f.confirmChannel();
    const q = await f.queue(ch, 'zero-msg');
    const consumer = await f.channel();
    const got = new Collector();
    const { consumerTag } = await consumer.consume(q, got.onMessage, { noAck: true });
    ch.sendToQueue(q, Buffer.from('delivered'), { expiration: '0' });
    await got.count(1);
    expect(got.messages[0]!.properties.expiration).toBe('0');
    await consumer.cancel(consumerTag);
    ch.sendToQueue(q, Buffer.from('expired'), { expiration: '0' });
    ch.sendToQueue(q, Buffer.from('kept'));
    await ch.waitForConfirms();
    const m = await raw.getEventually(q);
    expect(m.body.toString()).toBe('kept');
    expect(await raw.get(q)).toBeNull();
    await consumer.close();
    await ch.close();
  });

  it('a requeued message keeps its original expiry', async () => {
    const ch = await f.confirmChannel();
    const dead = await f.queue(ch, 'dead');
    const q = await f.queue(ch, 'requeue', { 'x-message-ttl': 200, 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': dead });
    ch.sendToQueue(q, Buffer.from('r'));
    await ch.waitForConfirms();
    const m = await raw.getEventually(q);
    await brokerTimePasses(ch, 250);
    raw.nack(m.getOk.deliveryTag, true);
    // back at the head, already past its expiry: dead-lettered, not delivered again
    const d = await raw.getEventually(dead);
    expect(d.body.toString()).toBe('r');
    expect(shape(d.props.headers!.get('x-death'))[0]).toContainEqual(['reason', 'S expired']);
    expect(await raw.get(q)).toBeNull();
    await ch.close();
  });
});

describe('x-expires', () => {
  it('deletes a queue that stays unused for the period', async () => {
    const ch = await f.confirmChannel();
    const q = await f.queue(ch, 'expires', { 'x-expires': 400 });
    ch.sendToQueue(q, Buffer.from('publishing is not use'));
    await ch.waitForConfirms();
    expect(await queueExists(ch, q)).toBe(true);
    await queueGone(ch, q);
    await ch.close();
  });

  it('does not delete a queue while it has a consumer; the countdown starts when it goes', async () => {
    const ch = await f.confirmChannel();
    const q = await f.queue(ch, 'expires-consumed', { 'x-expires': 150 });
    const consumer = await f.channel();
    const { consumerTag } = await consumer.consume(q, () => {}, { noAck: true });
    await brokerTimePasses(ch, 400);
    expect(await queueExists(ch, q)).toBe(true);
    await consumer.cancel(consumerTag);
    await queueGone(ch, q);
    await consumer.close();
    await ch.close();
  });

  it('basic.get, a redeclare and a passive declare count as use and restart the countdown', async () => {
    const ch = await f.confirmChannel();
    const args = { 'x-expires': 1000 };
    const q = await f.queue(ch, 'expires-used', args);
    // every 600 ms (less than 1000) one kind of use; 2.4 s later the queue is still there
    await brokerTimePasses(ch, 600);
    expect(await ch.get(q)).toBe(false);
    await brokerTimePasses(ch, 600);
    await ch.assertQueue(q, { durable: false, arguments: args });
    await brokerTimePasses(ch, 600);
    await ch.checkQueue(q);
    await brokerTimePasses(ch, 600);
    expect(await queueExists(ch, q)).toBe(true);
    await queueGone(ch, q);
    await ch.close();
  });
});
