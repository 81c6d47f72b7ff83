/** exchange.declare / delete / bind / unbind → the vhost. */
import { AmqpError, REPLY } from '../../broker/errors.js';
import * as P from '../../protocol/generated.js';
import type { Channel } from '../channel.js';

export function handleExchange(ch: Channel, m: P.Method): void {
  const conn = ch.connection;
  switch (m.id) {
    case P.EXCHANGE_DECLARE: {
      const a = m.args;
      if (!a.passive) {
        const access = conn.access;
        access.check('configure', 'exchange', a.exchange);
        const ae = a.arguments.get('alternate-exchange');
        if (ae?.type === 'S') {
          access.check('write', 'exchange', ae.value);
          access.check('read', 'exchange', a.exchange);
        }
      }
      ch.vhost.declareExchange(a.exchange, a.type, {
        passive: a.passive,
        durable: a.durable,
        autoDelete: a.autoDelete,
        internal: a.internal,
        arguments: a.arguments,
      });
      if (!a.noWait) conn.send(ch.id, P.encodeExchangeDeclareOk, {});
      return;
    }
    case P.EXCHANGE_DELETE: {
      const a = m.args;
      if (a.exchange !== '') conn.access.check('configure', 'exchange', a.exchange);
      ch.vhost.deleteExchange(a.exchange, a.ifUnused);
      if (!a.noWait) conn.send(ch.id, P.encodeExchangeDeleteOk, {});
      return;
    }
    case P.EXCHANGE_BIND: {
      const a = m.args;
      conn.access.check('write', 'exchange', a.destination);
      conn.access.check('read', 'exchange', a.source);
      ch.vhost.bindExchange(a.destination, a.source, a.routingKey, a.arguments);
      if (!a.noWait) conn.send(ch.id, P.encodeExchangeBindOk, {});
      return;
    }
    case P.EXCHANGE_UNBIND: {
      const a = m.args;
      conn.access.check('write', 'exchange', a.destination);
      conn.access.check('read', 'exchange', a.source);
      ch.vhost.unbindExchange(a.destination, a.source, a.routingKey, a.arguments);
      if (!a.noWait) conn.send(ch.id, P.encodeExchangeUnbindOk, {});
      return;
    }
  }
  throw unexpected(m);
}

/** A server-to-client method sent by the client (rabbitmq-compat: 503 "unimplemented method"). */
export function unexpected(_m: P.Method): AmqpError {
  return new AmqpError(REPLY.COMMAND_INVALID, 'unimplemented method');
}
