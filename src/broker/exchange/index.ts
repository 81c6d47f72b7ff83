/**
 * The exchange types warren knows, by their AMQP names. Plugin types (x-consistent-hash,
 * x-delayed-message…) are not among them; the caller refuses exchange.declare of any other
 * type (rabbitmq-compat, rabbit_exchange:check_type in 3.10: connection error 503
 * "COMMAND_INVALID - unknown exchange type 'foo'").
 */
import { DirectExchange } from './direct.js';
import type { Destination, ExchangeType } from './exchange-type.js';
import { FanoutExchange } from './fanout.js';
import { HeadersExchange } from './headers.js';
import { TopicExchange } from './topic.js';

export const EXCHANGE_TYPES = ['direct', 'fanout', 'topic', 'headers'] as const;

export type ExchangeTypeName = (typeof EXCHANGE_TYPES)[number];

/** A fresh, empty routing table for an exchange of `type`; undefined for an unknown type. */
export function createExchangeType<D extends Destination = Destination>(type: string): ExchangeType<D> | undefined {
  switch (type) {
    case 'direct': return new DirectExchange<D>();
    case 'fanout': return new FanoutExchange<D>();
    case 'topic': return new TopicExchange<D>();
    case 'headers': return new HeadersExchange<D>();
    default: return undefined;
  }
}
