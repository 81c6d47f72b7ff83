/**
 * Connections, channels and consumers as RabbitMQ 3.10 lists them
 * (management-samples/connection(s).json, channel(s).json, consumers.json). Fields warren has
 * no equivalent for (Erlang reductions, garbage collection, TLS) keep RabbitMQ's names with
 * neutral values so clients that read them do not break.
 */
import type { ChannelInfo, ConnectionInfo, ConsumerInfo } from '../../broker/registry.js';
import type { Queue } from '../../broker/queue.js';
import type { ManagementContext } from '../context.js';
import { details } from './format.js';

export const GARBAGE_COLLECTION = { fullsweep_after: 65535, max_heap_size: 0, min_bin_vheap_size: 46422, min_heap_size: 233, minor_gcs: 0 };

/** "127.0.0.1:5672" out of "peer -> local". */
export function localEndpoint(c: ConnectionInfo): { host: string; port: number } {
  const local = c.name.slice(c.name.lastIndexOf(' -> ') + 4);
  const colon = local.lastIndexOf(':');
  return { host: local.slice(0, colon), port: Number(local.slice(colon + 1)) };
}

export function channelName(c: ConnectionInfo, ch: ChannelInfo): string {
  return `${c.name} (${ch.id})`;
}

export function connectionJson(ctx: ManagementContext, c: ConnectionInfo, single = false): Record<string, unknown> {
  const local = localEndpoint(c);
  // rabbitmq-compat: lists show null for the TLS fields of a plain connection, GET of one shows ""
  const none = single ? '' : null;
  const o: Record<string, unknown> = {
    auth_mechanism: 'PLAIN',
    channel_max: c.channelMax,
    channels: c.channelCount,
    client_properties: c.clientProperties,
    connected_at: c.connectedAt,
    frame_max: c.frameMax,
    garbage_collection: GARBAGE_COLLECTION,
    host: local.host,
    name: c.name,
    node: ctx.node,
    peer_cert_issuer: none,
    peer_cert_subject: none,
    peer_cert_validity: none,
    peer_host: c.peerHost,
    peer_port: c.peerPort,
    port: local.port,
    protocol: 'AMQP 0-9-1',
    recv_cnt: 0,
    recv_oct: c.bytesReceived,
    recv_oct_details: details(0),
    reductions: 0,
    reductions_details: details(0),
    send_cnt: 0,
    send_oct: c.bytesSent,
    send_oct_details: details(0),
    send_pend: c.pendingOutput,
    ssl: false,
    ssl_cipher: none,
    ssl_hash: none,
    ssl_key_exchange: none,
    ssl_protocol: none,
    state: c.stateName,
    timeout: c.heartbeat,
    type: 'network',
    user: c.user,
  };
  const provided = c.clientProperties['connection_name'];
  if (typeof provided === 'string') o['user_provided_name'] = provided;
  o['user_who_performed_action'] = c.user;
  o['vhost'] = c.vhost;
  return o;
}

export function channelJson(ctx: ManagementContext, c: ConnectionInfo, ch: ChannelInfo, single = false): Record<string, unknown> {
  const stats: Record<string, unknown> = {};
  if (ch.confirmMode) {
    stats['confirm'] = ch.publishSeqCount;
    stats['confirm_details'] = details(0);
    stats['publish'] = ch.publishSeqCount;
    stats['publish_details'] = details(0);
  }
  if (ch.deliveryTagCount > 0) {
    stats['deliver_get'] = ch.deliveryTagCount;
    stats['deliver_get_details'] = details(0);
  }
  const o: Record<string, unknown> = {
    acks_uncommitted: ch.uncommittedAckCount,
    confirm: ch.confirmMode,
    connection_details: { name: c.name, peer_host: c.peerHost, peer_port: c.peerPort },
    consumer_count: ch.consumerInfos().length,
  };
  if (single) o['consumer_details'] = ch.consumerInfos().map((k) => consumerJson(ctx, c, ch, k));
  if (single) o['deliveries'] = [];
  Object.assign(o, {
    garbage_collection: GARBAGE_COLLECTION,
    global_prefetch_count: ch.globalPrefetch,
    message_stats: stats,
    messages_unacknowledged: ch.unackedCount,
    messages_uncommitted: ch.uncommittedMessageCount,
    messages_unconfirmed: 0,
    name: channelName(c, ch),
    node: ctx.node,
    number: ch.id,
    pending_raft_commands: 0,
    prefetch_count: ch.prefetchCount,
  });
  if (single) o['publishes'] = [];
  Object.assign(o, {
    reductions: 0,
    reductions_details: details(0),
    state: ch.closing ? 'closing' : 'running',
    transactional: ch.txMode,
    user: c.user,
    user_who_performed_action: c.user,
    vhost: c.vhost,
  });
  return o;
}

export function consumerJson(ctx: ManagementContext, c: ConnectionInfo, ch: ChannelInfo, k: ConsumerInfo): Record<string, unknown> {
  return {
    arguments: k.priority !== 0 ? { 'x-priority': k.priority } : {},
    ack_required: !k.noAck,
    active: true,
    activity_status: 'up',
    channel_details: {
      connection_name: c.name,
      name: channelName(c, ch),
      node: ctx.node,
      number: ch.id,
      peer_host: c.peerHost,
      peer_port: c.peerPort,
      user: c.user,
    },
    consumer_tag: k.tag,
    exclusive: k.exclusive,
    prefetch_count: k.prefetch,
    queue: { name: k.queue.name, vhost: k.queue.vhost.name },
  };
}

export interface ConsumerPlace {
  connection: ConnectionInfo;
  channel: ChannelInfo;
  consumer: ConsumerInfo;
}

/** Every consumer with its channel and connection, once per request. */
export function allConsumers(ctx: ManagementContext): ConsumerPlace[] {
  const out: ConsumerPlace[] = [];
  for (const connection of ctx.broker.registry.connections) {
    for (const channel of connection.channelInfos()) {
      for (const consumer of channel.consumerInfos()) out.push({ connection, channel, consumer });
    }
  }
  return out;
}

/** Unacked body bytes per queue, summed over every channel (message_bytes_unacknowledged). */
export function unackedBytesByQueue(ctx: ManagementContext): Map<Queue, number> {
  const m = new Map<Queue, number>();
  for (const c of ctx.broker.registry.connections) for (const ch of c.channelInfos()) ch.addUnackedBytes(m);
  return m;
}
