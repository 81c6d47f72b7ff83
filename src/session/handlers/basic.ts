/**
 * The basic class: publish (with mandatory returns and confirms), consume/cancel, qos, get,
 * ack/nack/reject, recover. Behaviour and texts follow RabbitMQ 3.10
 * (../shared/reference/errors.md rows 94–140).
 */
import { AmqpError, REPLY, accessRefused, notImplemented, preconditionFailed } from '../../broker/errors.js';
import { Message, PROPERTY_FLAG, hasProperty } from '../../broker/message.js';
import type { Queue } from '../../broker/queue.js';
import { intValue } from '../../protocol/field-table.js';
import * as P from '../../protocol/generated.js';
import { generatedName } from '../../util/ids.js';
import { randomBytes } from 'node:crypto';
import type { Channel } from '../channel.js';
import { ChannelConsumer } from '../consumer.js';
import { unexpected } from './exchange.js';
import { queueName } from './queue.js';

export function handleBasic(ch: Channel, m: P.Method): void {
  switch (m.id) {
    case P.BASIC_PUBLISH: {
      const a = m.args;
      if (a.immediate) throw notImplemented('immediate=true');
      const p = ch.publish;
      p.routeRaw = null; // set by the in-place parser only; these fields came from the decoder
      p.exchange = a.exchange;
      p.routingKey = a.routingKey;
      p.mandatory = a.mandatory;
      return;
    }
    case P.BASIC_ACK:
      return ch.ack(m.args.deliveryTag, m.args.multiple);
    case P.BASIC_NACK:
      return reject(ch, ch.takeUnacked(m.args.deliveryTag, m.args.multiple), m.args.requeue);
    case P.BASIC_REJECT:
      return reject(ch, ch.takeUnacked(m.args.deliveryTag, false), m.args.requeue);
    case P.BASIC_CONSUME:
      return consume(ch, m.args);
    case P.BASIC_CANCEL: {
      const a = m.args;
      const c = ch.consumers.get(a.consumerTag);
      if (ch.replyTo !== null && ch.replyTo.tag === a.consumerTag) {
        ch.connection.broker.replyTargets.delete(ch.replyTo.name);
        ch.replyTo = null;
      }
      if (c !== undefined) {
        ch.consumers.delete(a.consumerTag);
        c.queue.removeConsumer(c);
      }
      // rabbitmq-compat: cancelling an unknown tag is answered with cancel-ok
      if (!a.noWait) ch.connection.send(ch.id, P.encodeBasicCancelOk, { consumerTag: a.consumerTag });
      return;
    }
    case P.BASIC_QOS: {
      const a = m.args;
      if (a.prefetchSize !== 0) throw notImplemented(`prefetch_size!=0 (${a.prefetchSize})`);
      // rabbitmq-compat: global=false limits each consumer created afterwards, global=true the
      // channel; and global=false also lifts the channel's limit (rabbit_limiter:unlimit_prefetch)
      if (a.global) ch.globalPrefetch = a.prefetchCount;
      else {
        ch.prefetchCount = a.prefetchCount;
        ch.globalPrefetch = 0;
      }
      ch.connection.send(ch.id, P.encodeBasicQosOk, {});
      ch.resumeDeliveries();
      return;
    }
    case P.BASIC_GET:
      return get(ch, m.args);
    case P.BASIC_RECOVER:
      if (!m.args.requeue) throw notImplemented('requeue=false');
      ch.requeueAll();
      ch.connection.send(ch.id, P.encodeBasicRecoverOk, {});
      return;
    case P.BASIC_RECOVER_ASYNC:
      if (!m.args.requeue) throw notImplemented('requeue=false');
      ch.requeueAll();
      return;
  }
  throw unexpected(m);
}

function reject(ch: Channel, items: import('../channel.js').Unacked[], requeue: boolean): void {
  if (ch.txMode) {
    ch.txActions.push({ kind: 'reject', items, requeue });
    return;
  }
  const queues: Queue[] = [];
  // in reverse so requeued messages land at the head in their original order cheaply
  for (let i = items.length - 1; i >= 0; i--) {
    const x = items[i]!;
    ch.settleReject(x, requeue);
    if (!queues.includes(x.queue)) queues.push(x.queue);
  }
  ch.resumeDeliveries(queues);
}

const REPLY_TO = 'amq.rabbitmq.reply-to';
const REPLY_TO_PREFIX = 'amq.rabbitmq.reply-to.';

function consume(ch: Channel, a: P.BasicConsume): void {
  const conn = ch.connection;
  if (a.queue === REPLY_TO) return consumeReplyTo(ch, a);
  const name = queueName(ch, a.queue);
  conn.access.check('read', 'queue', name);
  const q = ch.vhost.queue(name, conn);
  const tag = a.consumerTag === '' ? generatedName('amq.ctag-') : a.consumerTag;
  if (ch.consumers.has(tag)) throw new AmqpError(REPLY.NOT_ALLOWED, `attempt to reuse consumer tag '${tag}'`);
  const inUse = (): AmqpError => accessRefused(`queue '${q.name}' in vhost '${ch.vhost.name}' in exclusive use`);
  if (q.hasExclusiveConsumer || (a.exclusive && q.consumerCount > 0)) throw inUse();
  let priority = 0;
  const prio = a.arguments.get('x-priority');
  if (prio !== undefined) {
    const v = intValue(prio);
    if (v === undefined) {
      throw preconditionFailed(`invalid arg 'x-priority' for queue '${q.name}' in vhost '${ch.vhost.name}': "expected integer, got ${typeName(prio.type)}"`);
    }
    priority = v;
  }
  const c = new ChannelConsumer(ch, q, tag, a.noAck, a.exclusive, priority);
  ch.consumers.set(tag, c);
  q.addConsumer(c);
  if (!a.noWait) conn.send(ch.id, P.encodeBasicConsumeOk, { consumerTag: tag });
  q.drain();
}

/** Direct reply-to (rabbitmq-compat): a pseudo-queue answered straight to this channel. */
function consumeReplyTo(ch: Channel, a: P.BasicConsume): void {
  if (!a.noAck) throw preconditionFailed('reply consumer cannot acknowledge');
  if (ch.replyTo !== null) throw preconditionFailed('reply consumer already set');
  const tag = a.consumerTag === '' ? generatedName('amq.ctag-') : a.consumerTag;
  const name = REPLY_TO_PREFIX + randomBytes(24).toString('base64url') + '.' + ch.id.toString(36);
  ch.replyTo = { name, tag };
  ch.connection.broker.replyTargets.set(name, ch);
  if (!a.noWait) ch.connection.send(ch.id, P.encodeBasicConsumeOk, { consumerTag: tag });
}

function typeName(t: string): string {
  return t === 'S' ? 'longstr' : t;
}

function get(ch: Channel, a: P.BasicGet): void {
  const conn = ch.connection;
  const name = queueName(ch, a.queue);
  conn.access.check('read', 'queue', name);
  const q = ch.vhost.queue(name, conn);
  const entry = q.get(a.noAck);
  if (entry === undefined) {
    conn.send(ch.id, P.encodeBasicGetEmpty, { reserved1: '' });
    return;
  }
  const tag = ch.nextDeliveryTag();
  if (!a.noAck) ch.track(tag, q, entry, null);
  conn.send(ch.id, P.encodeBasicGetOk, {
    deliveryTag: tag,
    redelivered: entry.redelivered,
    exchange: entry.msg.exchange,
    routingKey: entry.msg.routingKey,
    messageCount: q.messageCount,
  });
  conn.sendContent(ch.id, q.deliveryProps(entry), entry.msg);
}

// ---------------------------------------------------------------------------------------
// publishing

const CHECKED_PROPS = PROPERTY_FLAG.expiration | PROPERTY_FLAG.userId | PROPERTY_FLAG.replyTo;

/**
 * A complete message (method + header + body) arrived on the channel. The body is
 * src[start, end), lent by the assembler until this returns (Message.published keeps it).
 */
export function publishContent(ch: Channel, propsRaw: Buffer, src: Buffer, start: number, end: number): void {
  const p = ch.publish;
  const msg = Message.published(p.exchange, p.routingKey, propsRaw, src, start, end);
  msg.routeRaw = p.routeRaw;
  // rabbitmq-compat (rabbit_channel basic.publish): permission, exchange, internal, topic, properties
  const access = ch.connection.access;
  access.checkPublish(p.exchange);
  const x = ch.vhost.exchange(p.exchange);
  if (x.internal) throw accessRefused(`cannot publish to internal exchange '${x.name}' in vhost '${ch.vhost.name}'`);
  if (x.type === 'topic') access.checkTopic('write', x.name, p.routingKey);
  if (hasProperty(msg, CHECKED_PROPS)) checkProperties(ch, msg);
  if (ch.txMode) {
    ch.txPublishes.push({ exchange: p.exchange, mandatory: p.mandatory, msg });
    return;
  }
  const seq = ch.confirmMode ? ch.nextPublishSeq() : 0;
  routeAndEnqueue(ch, msg, p.mandatory, seq);
}

/** Routes, enqueues, returns unroutable mandatory messages, confirms. */
export function routeAndEnqueue(ch: Channel, msg: Message, mandatory: boolean, seq: number): void {
  const x = ch.vhost.exchanges.get(msg.exchange);
  const out = ch.routed;
  // a reply to a direct reply-to requester is handed over by the default exchange's routing
  // and still counts as unroutable (rabbitmq-compat: mandatory gets basic.return)
  if (x !== undefined) ch.vhost.route(x, msg, out);
  if (out.length === 0) {
    if (mandatory) {
      ch.connection.send(ch.id, P.encodeBasicReturn, {
        replyCode: REPLY.NO_ROUTE,
        replyText: 'NO_ROUTE',
        exchange: msg.exchange,
        routingKey: msg.routingKey,
      });
      ch.connection.sendContent(ch.id, msg.propsRaw, msg);
    }
    if (seq !== 0) ch.confirm(seq);
    return;
  }
  const accepted = ch.vhost.deliverTo(msg, out);
  out.length = 0;
  if (seq !== 0) {
    if (!accepted) ch.reject(seq);
    else if (msg.storeId !== 0) ch.confirmAfterSync(seq);
    else ch.confirm(seq);
  }
}

function checkProperties(ch: Channel, msg: Message): void {
  const props = msg.properties;
  if (props.expiration !== undefined) {
    const e = props.expiration;
    // rabbitmq-compat: rabbit_basic:parse_expiration texts
    const m = /^(-?\d+)(.*)$/.exec(e);
    if (m === null) throw preconditionFailed(`invalid expiration '${e}': no_integer`);
    if (m[2] !== '') throw preconditionFailed(`invalid expiration '${e}': {leftover_string,"${m[2]}"}`);
    const v = Number(m[1]);
    if (v < 0) throw preconditionFailed(`invalid expiration '${e}': {value_negative,${v}}`);
  }
  if (props.replyTo === REPLY_TO) {
    if (ch.replyTo === null) throw preconditionFailed('fast reply consumer does not exist');
    msg.setProperties({ ...props, replyTo: ch.replyTo.name });
  }
  if (props.userId !== undefined && props.userId !== ch.connection.user) {
    throw preconditionFailed(`user_id property set to '${props.userId}' but authenticated user was '${ch.connection.user}'`);
  }
}
