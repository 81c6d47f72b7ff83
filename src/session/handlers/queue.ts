/** queue.declare / bind / unbind / purge / delete → the vhost. */
import { notFound } from '../../broker/errors.js';
import * as P from '../../protocol/generated.js';
import type { Channel } from '../channel.js';
import { unexpected } from './exchange.js';

/** "" means the channel's last declared queue (spec: queue-name domain). */
export function queueName(ch: Channel, name: string): string {
  if (name !== '') return name;
  if (ch.lastQueue === null) throw notFound('no previously declared queue');
  return ch.lastQueue;
}

/**
 * spec: queue.bind routing-key — with the queue name and the routing key both empty, the
 * routing key is the (last declared) queue's name too.
 */
function bindingKey(queueField: string, routingKey: string, queue: string): string {
  return queueField === '' && routingKey === '' ? queue : routingKey;
}

export function handleQueue(ch: Channel, m: P.Method): void {
  const conn = ch.connection;
  const vhost = ch.vhost;
  switch (m.id) {
    case P.QUEUE_DECLARE: {
      const a = m.args;
      if (a.passive && a.queue === 'amq.rabbitmq.reply-to') {
        // rabbitmq-compat: the direct reply-to pseudo-queue always "exists"
        if (!a.noWait) conn.send(ch.id, P.encodeQueueDeclareOk, { queue: a.queue, messageCount: 0, consumerCount: 1 });
        return;
      }
      // rabbitmq-compat: no "" shortcut here; a passive declare of "" looks up '' (404)
      const q = vhost.declareQueue(
        a.queue,
        { passive: a.passive, durable: a.durable, exclusive: a.exclusive, autoDelete: a.autoDelete, arguments: a.arguments },
        conn,
        (name) => {
          // rabbitmq-compat (rabbit_channel queue.declare): configure; for a new queue with
          // a dead-letter exchange, read on the queue, then write on the DLX
          conn.access.check('configure', 'queue', name);
          const dlx = a.arguments.get('x-dead-letter-exchange');
          if (dlx?.type === 'S' && !vhost.queues.has(name)) {
            conn.access.check('read', 'queue', name);
            conn.access.check('write', 'exchange', dlx.value);
          }
        },
      );
      ch.lastQueue = q.name;
      if (!a.noWait) {
        conn.send(ch.id, P.encodeQueueDeclareOk, { queue: q.name, messageCount: q.messageCount, consumerCount: q.consumerCount });
      }
      return;
    }
    case P.QUEUE_BIND: {
      const a = m.args;
      // rabbitmq-compat: shortcuts first (expand_shortcuts), then the exchange is looked up
      // before the queue (missing both → exchange 404)
      const name = queueName(ch, a.queue);
      const key = bindingKey(a.queue, a.routingKey, name);
      conn.access.checkBinding('queue', name, a.exchange, key, vhost.exchanges.get(a.exchange)?.type);
      vhost.exchange(a.exchange);
      vhost.bindQueue(name, a.exchange, key, a.arguments, conn);
      if (!a.noWait) conn.send(ch.id, P.encodeQueueBindOk, {});
      return;
    }
    case P.QUEUE_UNBIND: {
      const a = m.args;
      const name = queueName(ch, a.queue);
      const key = bindingKey(a.queue, a.routingKey, name);
      conn.access.checkBinding('queue', name, a.exchange, key, vhost.exchanges.get(a.exchange)?.type);
      vhost.unbindQueue(name, a.exchange, key, a.arguments, conn);
      conn.send(ch.id, P.encodeQueueUnbindOk, {});
      return;
    }
    case P.QUEUE_PURGE: {
      const a = m.args;
      const name = queueName(ch, a.queue);
      conn.access.check('read', 'queue', name);
      const n = vhost.purgeQueue(name, conn);
      if (!a.noWait) conn.send(ch.id, P.encodeQueuePurgeOk, { messageCount: n });
      return;
    }
    case P.QUEUE_DELETE: {
      const a = m.args;
      const name = queueName(ch, a.queue);
      conn.access.check('configure', 'queue', name);
      const n = vhost.deleteQueue(name, a.ifUnused, a.ifEmpty, conn);
      if (!a.noWait) conn.send(ch.id, P.encodeQueueDeleteOk, { messageCount: n });
      return;
    }
  }
  throw unexpected(m);
}
