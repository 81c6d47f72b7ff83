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

export function handleQueue(ch: Channel, m: P.Method): void {
  const conn = ch.connection;
  const vhost = ch.vhost;
  switch (m.id) {
    case P.QUEUE_DECLARE: {
      const a = m.args;
      let name = a.queue;
      if (a.passive && name === '' && ch.lastQueue !== null) name = ch.lastQueue;
      const q = vhost.declareQueue(
        name,
        { passive: a.passive, durable: a.durable, exclusive: a.exclusive, autoDelete: a.autoDelete, arguments: a.arguments },
        conn,
      );
      ch.lastQueue = q.name;
      if (!a.noWait) {
        conn.send(ch.id, P.encodeQueueDeclareOk, { queue: q.name, messageCount: q.messageCount, consumerCount: q.consumerCount });
      }
      return;
    }
    case P.QUEUE_BIND: {
      const a = m.args;
      const name = a.queue === '' ? a.queue : a.queue;
      // rabbitmq-compat: the exchange is looked up before the queue (missing both → exchange 404)
      if (a.exchange !== '') vhost.exchange(a.exchange);
      vhost.bindQueue(queueName(ch, name), a.exchange, a.routingKey, a.arguments, conn);
      if (!a.noWait) conn.send(ch.id, P.encodeQueueBindOk, {});
      return;
    }
    case P.QUEUE_UNBIND: {
      const a = m.args;
      vhost.unbindQueue(queueName(ch, a.queue), a.exchange, a.routingKey, a.arguments, conn);
      conn.send(ch.id, P.encodeQueueUnbindOk, {});
      return;
    }
    case P.QUEUE_PURGE: {
      const a = m.args;
      const n = vhost.purgeQueue(queueName(ch, a.queue), conn);
      if (!a.noWait) conn.send(ch.id, P.encodeQueuePurgeOk, { messageCount: n });
      return;
    }
    case P.QUEUE_DELETE: {
      const a = m.args;
      const n = vhost.deleteQueue(queueName(ch, a.queue), a.ifUnused, a.ifEmpty, conn);
      if (!a.noWait) conn.send(ch.id, P.encodeQueueDeleteOk, { messageCount: n });
      return;
    }
  }
  throw unexpected(m);
}
