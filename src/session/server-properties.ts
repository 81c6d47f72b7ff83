/**
 * connection.start server-properties, in RabbitMQ 3.10's wire order and types
 * (../shared/reference/server-properties.json), plus who we really are.
 *
 * rabbitmq-compat: product/version say "RabbitMQ 3.10.8" by default because client
 * libraries switch behaviour on them (kombu's QoS semantics, amqp091-go, OpenTelemetry), the
 * way Redis-compatible servers report redis_version. `information` and `warren_version` say
 * it is warren.
 */
import { type FieldTable } from '../protocol/field-table.js';
import { WARREN_VERSION } from '../config.js';

export interface ServerIdentity {
  serverProduct: string;
  serverVersion: string;
  clusterName: string;
}

const CAPABILITIES = [
  'publisher_confirms',
  'exchange_exchange_bindings',
  'basic.nack',
  'consumer_cancel_notify',
  'connection.blocked',
  'consumer_priorities',
  'authentication_failure_close',
  'per_consumer_qos',
  'direct_reply_to',
];

export function serverProperties(id: ServerIdentity): FieldTable {
  const caps: FieldTable = new Map();
  for (const c of CAPABILITIES) caps.set(c, { type: 't', value: true });
  const t: FieldTable = new Map();
  t.set('capabilities', { type: 'F', value: caps });
  t.set('cluster_name', { type: 'S', value: id.clusterName });
  t.set('copyright', { type: 'S', value: 'Copyright (c) the warren authors' });
  t.set('information', {
    type: 'S',
    value: `warren ${WARREN_VERSION}, an AMQP 0-9-1 broker compatible with RabbitMQ ${id.serverVersion}. Licensed under MIT.`,
  });
  t.set('platform', { type: 'S', value: `Node.js ${process.version}` });
  t.set('product', { type: 'S', value: id.serverProduct });
  t.set('version', { type: 'S', value: id.serverVersion });
  t.set('warren_version', { type: 'S', value: WARREN_VERSION });
  return t;
}

/** The capabilities a client announced in client-properties. */
export interface ClientCapabilities {
  authenticationFailureClose: boolean;
  consumerCancelNotify: boolean;
  connectionBlocked: boolean;
  publisherConfirms: boolean;
}

export function clientCapabilities(clientProperties: FieldTable): ClientCapabilities {
  const caps = clientProperties.get('capabilities');
  const t = caps?.type === 'F' ? caps.value : undefined;
  const on = (name: string): boolean => {
    const f = t?.get(name);
    return f?.type === 't' && f.value;
  };
  return {
    authenticationFailureClose: on('authentication_failure_close'),
    consumerCancelNotify: on('consumer_cancel_notify'),
    connectionBlocked: on('connection.blocked'),
    publisherConfirms: on('publisher_confirms'),
  };
}
