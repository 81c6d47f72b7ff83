/** exchange.declare / delete / bind / unbind → the vhost. */
import { AmqpError, REPLY, accessRefused } from '../../broker/errors.js';
import { createExchangeType } from '../../broker/exchange/index.js';
import * as P from '../../protocol/generated.js';
import type { Channel } from '../channel.js';

export function handleExchange(ch: Channel, m: P.Method): void {
  const conn = ch.connection;
  switch (m.id) {
    case P.EXCHANGE_DECLARE: {
      const a = m.args;
      // rabbitmq-compat (rabbit_channel exchange.declare): the type, then the default
      // exchange (both left to the vhost), then configure; for a new exchange the reserved
      // amq. prefix (vhost), then an alternate exchange: read on this one, write on the AE
      if (!a.passive && a.exchange !== '' && createExchangeType(a.type) !== undefined) {
        const access = conn.access;
        access.check('configure', 'exchange', a.exchange);
        const ae = a.arguments.get('alternate-exchange');
        if (ae?.type === 'S' && !ch.vhost.exchanges.has(a.exchange) && !a.exchange.startsWith('amq.')) {
          access.check('read', 'exchange', a.exchange);
          access.check('write', 'exchange', ae.value);
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
      // rabbitmq-compat (rabbit_channel exchange.delete): the default exchange, then any amq.*
      // name (existing or not), then configure
      if (a.exchange.startsWith('amq.')) {
        throw accessRefused(`deletion of system exchange '${a.exchange}' in vhost '${ch.vhost.name}' not allowed`);
      }
      if (a.exchange !== '') conn.access.check('configure', 'exchange', a.exchange);
      ch.vhost.deleteExchange(a.exchange, a.ifUnused);
      if (!a.noWait) conn.send(ch.id, P.encodeExchangeDeleteOk, {});
      return;
    }
    case P.EXCHANGE_BIND: {
      const a = m.args;
      conn.access.checkBinding('exchange', a.destination, a.source, a.routingKey, ch.vhost.exchanges.get(a.source)?.type);
      ch.vhost.bindExchange(a.destination, a.source, a.routingKey, a.arguments);
      if (!a.noWait) conn.send(ch.id, P.encodeExchangeBindOk, {});
      return;
    }
    case P.EXCHANGE_UNBIND: {
      const a = m.args;
      conn.access.checkBinding('exchange', a.destination, a.source, a.routingKey, ch.vhost.exchanges.get(a.source)?.type);
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
