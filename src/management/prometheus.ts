/**
 * Prometheus text exposition (format 0.0.4) with rabbitmq_prometheus's metric names, TYPE and
 * HELP texts (../shared/reference/prometheus.md). /metrics aggregates every object into one
 * unlabelled sample per family, as RabbitMQ's default endpoint does; /metrics/per-object
 * labels queue families with {vhost,queue} and channel/connection families with {channel}
 * (rabbitmq_prometheus uses that label for connections too).
 *
 * Families RabbitMQ has for the Erlang VM, Raft, Mnesia and the message store have no
 * equivalent in warren and are left out. Message counters come from the queues and exchanges
 * (see stats.ts): rabbitmq_channel_messages_delivered_total counts every delivery and get, as
 * warren's queues do not split them by acknowledgement mode.
 */
import { readdirSync, readFileSync, statfsSync } from 'node:fs';
import { totalmem } from 'node:os';
import type { ChannelInfo, ConnectionInfo } from '../broker/registry.js';
import { WARREN_VERSION } from '../config.js';
import type { ManagementContext } from './context.js';
import { channelName, unackedBytesByQueue } from './json/connection.js';
import { queueMemory } from './json/queue.js';

type Family = [type: 'gauge' | 'counter' | 'untyped', help: string];

const F = {
  process_start_time_seconds: ['gauge', 'Start time of the process since unix epoch in seconds.'],
  rabbitmq_alarms_file_descriptor_limit: ['untyped', 'is 1 if file descriptor limit alarm is in effect'],
  rabbitmq_alarms_free_disk_space_watermark: ['untyped', 'is 1 if free disk space watermark alarm is in effect'],
  rabbitmq_alarms_memory_used_watermark: ['untyped', 'is 1 if VM memory watermark alarm is in effect'],
  rabbitmq_connections_opened_total: ['counter', 'Total number of connections opened'],
  rabbitmq_connections_closed_total: ['counter', 'Total number of connections closed or terminated'],
  rabbitmq_channels_opened_total: ['counter', 'Total number of channels opened'],
  rabbitmq_channels_closed_total: ['counter', 'Total number of channels closed'],
  rabbitmq_queues_declared_total: ['counter', 'Total number of queues declared'],
  rabbitmq_queues_created_total: ['counter', 'Total number of queues created'],
  rabbitmq_queues_deleted_total: ['counter', 'Total number of queues deleted'],
  rabbitmq_process_open_fds: ['gauge', 'Open file descriptors'],
  rabbitmq_process_open_tcp_sockets: ['gauge', 'Open TCP sockets'],
  rabbitmq_process_resident_memory_bytes: ['gauge', 'Memory used in bytes'],
  rabbitmq_disk_space_available_bytes: ['gauge', 'Disk space available in bytes'],
  rabbitmq_process_max_fds: ['gauge', 'Open file descriptors limit'],
  rabbitmq_resident_memory_limit_bytes: ['gauge', 'Memory high watermark in bytes'],
  rabbitmq_disk_space_available_limit_bytes: ['gauge', 'Free disk space low watermark in bytes'],
  rabbitmq_erlang_uptime_seconds: ['gauge', 'Node uptime'],
  rabbitmq_queue_messages_ready: ['gauge', 'Messages ready to be delivered to consumers'],
  rabbitmq_queue_messages_unacked: ['gauge', 'Messages delivered to consumers but not yet acknowledged'],
  rabbitmq_queue_messages: ['gauge', 'Sum of ready and unacknowledged messages - total queue depth'],
  rabbitmq_queue_consumers: ['gauge', 'Consumers on a queue'],
  rabbitmq_queue_consumer_utilisation: ['gauge', 'Same as consumer capacity'],
  rabbitmq_queue_process_memory_bytes: ['gauge', 'Memory in bytes used by the Erlang queue process'],
  rabbitmq_queue_messages_ram: ['gauge', 'Ready and unacknowledged messages stored in memory'],
  rabbitmq_queue_messages_ram_bytes: ['gauge', 'Size of ready and unacknowledged messages stored in memory'],
  rabbitmq_queue_messages_ready_ram: ['gauge', 'Ready messages stored in memory'],
  rabbitmq_queue_messages_unacked_ram: ['gauge', 'Unacknowledged messages stored in memory'],
  rabbitmq_queue_messages_persistent: ['gauge', 'Persistent messages'],
  rabbitmq_queue_messages_bytes: ['gauge', 'Size in bytes of ready and unacknowledged messages'],
  rabbitmq_queue_messages_ready_bytes: ['gauge', 'Size in bytes of ready messages'],
  rabbitmq_queue_messages_unacked_bytes: ['gauge', 'Size in bytes of all unacknowledged messages'],
  rabbitmq_queue_messages_paged_out: ['gauge', 'Messages paged out to disk'],
  rabbitmq_queue_messages_paged_out_bytes: ['gauge', 'Size in bytes of messages paged out to disk'],
  rabbitmq_channel_consumers: ['gauge', 'Consumers on a channel'],
  rabbitmq_channel_messages_unacked: ['gauge', 'Delivered but not yet acknowledged messages'],
  rabbitmq_channel_messages_unconfirmed: ['gauge', 'Published but not yet confirmed messages'],
  rabbitmq_channel_messages_uncommitted: ['gauge', 'Messages received in a transaction but not yet committed'],
  rabbitmq_channel_acks_uncommitted: ['gauge', 'Message acknowledgements in a transaction not yet committed'],
  rabbitmq_consumer_prefetch: ['gauge', 'Limit of unacknowledged messages for each consumer'],
  rabbitmq_channel_prefetch: ['gauge', 'Total limit of unacknowledged messages for all consumers on a channel'],
  rabbitmq_channel_messages_published_total: ['counter', 'Total number of messages published into an exchange on a channel'],
  rabbitmq_channel_messages_delivered_total: ['counter', 'Total number of messages delivered to consumers in automatic acknowledgement mode'],
  rabbitmq_channel_messages_redelivered_total: ['counter', 'Total number of messages redelivered to consumers'],
  rabbitmq_channel_messages_acked_total: ['counter', 'Total number of messages acknowledged by consumers'],
  rabbitmq_connection_incoming_bytes_total: ['counter', 'Total number of bytes received on a connection'],
  rabbitmq_connection_outgoing_bytes_total: ['counter', 'Total number of bytes sent on a connection'],
  rabbitmq_connection_pending_packets: ['gauge', 'Number of packets waiting to be sent on a connection'],
  rabbitmq_connection_channels: ['gauge', 'Channels on a connection'],
  rabbitmq_queue_messages_published_total: ['counter', 'Total number of messages published to queues'],
  rabbitmq_connections: ['gauge', 'Connections currently open'],
  rabbitmq_channels: ['gauge', 'Channels currently open'],
  rabbitmq_consumers: ['gauge', 'Consumers currently connected'],
  rabbitmq_queues: ['gauge', 'Queues available'],
  rabbitmq_build_info: ['untyped', 'RabbitMQ & Erlang/OTP version info'],
  rabbitmq_identity_info: ['untyped', 'RabbitMQ node & cluster identity info'],
  rabbitmq_global_consumers: ['gauge', 'Current number of consumers'],
  rabbitmq_global_messages_acknowledged_total: ['counter', 'Total number of messages acknowledged by consumers'],
  rabbitmq_global_messages_delivered_total: ['counter', 'Total number of messages delivered to consumers'],
  rabbitmq_global_messages_received_total: ['counter', 'Total number of messages received from publishers'],
  rabbitmq_global_messages_redelivered_total: ['counter', 'Total number of messages redelivered to consumers'],
  rabbitmq_global_messages_routed_total: ['counter', 'Total number of messages routed to queues or streams'],
} satisfies Record<string, Family>;

type Name = keyof typeof F;
type Labels = Record<string, string>;
type Sample = [labels: Labels | undefined, value: number];

/** Collects samples per family, then writes them as RabbitMQ does: TYPE, HELP, samples. */
class Exposition {
  readonly #families = new Map<Name, Sample[]>();

  add(name: Name, value: number, labels?: Labels): void {
    let s = this.#families.get(name);
    if (s === undefined) this.#families.set(name, (s = []));
    s.push([labels, value]);
  }

  /** Declares a family that may have no samples (RabbitMQ still prints TYPE and HELP). */
  declare(name: Name): void {
    if (!this.#families.has(name)) this.#families.set(name, []);
  }

  text(): string {
    let out = '';
    for (const [name, samples] of this.#families) {
      const [type, help] = F[name] as Family;
      out += `# TYPE ${name} ${type}\n# HELP ${name} ${help}\n`;
      for (const [labels, value] of samples) out += `${name}${labelText(labels)} ${num(value)}\n`;
    }
    return out;
  }
}

function labelText(labels: Labels | undefined): string {
  if (labels === undefined) return '';
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`);
  return `{${parts.join(',')}}`;
}

function num(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

export function renderMetrics(ctx: ManagementContext, perObject: boolean): string {
  const { broker, stats, config } = ctx;
  const e = new Exposition();
  const now = Date.now();
  const connections = [...broker.registry.connections];
  const channels: { c: ConnectionInfo; ch: ChannelInfo }[] = [];
  for (const c of connections) for (const ch of c.channelInfos()) channels.push({ c, ch });
  const consumerCount = channels.reduce((n, x) => n + x.ch.consumerInfos().length, 0);
  let queueCount = 0;
  for (const v of broker.vhosts.values()) queueCount += v.queues.size;

  e.add('process_start_time_seconds', Math.floor(ctx.startedAt / 1000));
  e.add('rabbitmq_alarms_file_descriptor_limit', 0);
  e.add('rabbitmq_alarms_free_disk_space_watermark', broker.alarms.reasons.includes('disk') ? 1 : 0);
  e.add('rabbitmq_alarms_memory_used_watermark', broker.alarms.reasons.includes('memory') ? 1 : 0);
  e.add('rabbitmq_connections_opened_total', broker.registry.connectionsOpened);
  e.add('rabbitmq_connections_closed_total', broker.registry.connectionsOpened - connections.length);
  e.add('rabbitmq_channels_opened_total', stats.churn.channelCreated);
  e.add('rabbitmq_channels_closed_total', stats.churn.channelClosed);
  e.add('rabbitmq_queues_declared_total', stats.churn.queueCreated);
  e.add('rabbitmq_queues_created_total', stats.churn.queueCreated);
  e.add('rabbitmq_queues_deleted_total', stats.churn.queueDeleted);
  const fds = openFds();
  if (fds !== undefined) e.add('rabbitmq_process_open_fds', fds);
  e.add('rabbitmq_process_open_tcp_sockets', connections.length);
  e.add('rabbitmq_process_resident_memory_bytes', process.memoryUsage.rss());
  const disk = diskFree(config.dataDir ?? '.') ?? diskFree('.');
  if (disk !== undefined) e.add('rabbitmq_disk_space_available_bytes', disk);
  const maxFds = maxOpenFds();
  if (maxFds !== undefined) e.add('rabbitmq_process_max_fds', maxFds);
  // rabbitmq-compat: the default memory high watermark is 40% of RAM, the disk limit 50 MB
  e.add('rabbitmq_resident_memory_limit_bytes', Math.floor(totalmem() * 0.4));
  e.add('rabbitmq_disk_space_available_limit_bytes', 50_000_000);
  e.add('rabbitmq_erlang_uptime_seconds', Math.round((now - ctx.startedAt) / 1000 * 1000) / 1000);

  queueFamilies(ctx, e, perObject);
  channelFamilies(e, channels, perObject);

  const c = stats.counters();
  e.add('rabbitmq_channel_messages_published_total', c.publish);
  e.add('rabbitmq_channel_messages_delivered_total', c.deliverGet);
  e.add('rabbitmq_channel_messages_redelivered_total', c.redeliver);
  e.add('rabbitmq_channel_messages_acked_total', c.ack);

  e.declare('rabbitmq_connection_incoming_bytes_total');
  e.declare('rabbitmq_connection_outgoing_bytes_total');
  e.declare('rabbitmq_connection_pending_packets');
  e.declare('rabbitmq_connection_channels');
  if (perObject) {
    for (const conn of connections) {
      const l = { channel: conn.name };
      e.add('rabbitmq_connection_incoming_bytes_total', conn.bytesReceived, l);
      e.add('rabbitmq_connection_outgoing_bytes_total', conn.bytesSent, l);
      e.add('rabbitmq_connection_pending_packets', conn.pendingOutput > 0 ? 1 : 0, l);
      e.add('rabbitmq_connection_channels', conn.channelCount, l);
    }
  } else {
    e.add('rabbitmq_connection_incoming_bytes_total', connections.reduce((n, x) => n + x.bytesReceived, 0));
    e.add('rabbitmq_connection_outgoing_bytes_total', connections.reduce((n, x) => n + x.bytesSent, 0));
    e.add('rabbitmq_connection_pending_packets', connections.reduce((n, x) => n + (x.pendingOutput > 0 ? 1 : 0), 0));
    e.add('rabbitmq_connection_channels', channels.length);
  }

  e.add('rabbitmq_connections', connections.length);
  e.add('rabbitmq_channels', channels.length);
  e.add('rabbitmq_consumers', consumerCount);
  e.add('rabbitmq_queues', queueCount);
  e.add('rabbitmq_build_info', 1, {
    rabbitmq_version: config.serverVersion,
    prometheus_plugin_version: config.serverVersion,
    prometheus_client_version: `warren-${WARREN_VERSION}`,
    erlang_version: `node-${process.versions.node}`,
  });
  e.add('rabbitmq_identity_info', 1, {
    rabbitmq_node: ctx.node,
    rabbitmq_cluster: config.clusterName,
    rabbitmq_cluster_permanent_id: String(ctx.meta.globalParameters.get('internal_cluster_id') ?? ''),
  });
  const amqp = { protocol: 'amqp091' };
  const classic = { protocol: 'amqp091', queue_type: 'rabbit_classic_queue' };
  e.add('rabbitmq_global_consumers', consumerCount, amqp);
  e.add('rabbitmq_global_messages_acknowledged_total', c.ack, classic);
  e.add('rabbitmq_global_messages_delivered_total', c.deliverGet, classic);
  e.add('rabbitmq_global_messages_received_total', c.publish, amqp);
  e.add('rabbitmq_global_messages_redelivered_total', c.redeliver, classic);
  e.add('rabbitmq_global_messages_routed_total', c.publishOut, amqp);
  return e.text();
}

function queueFamilies(ctx: ManagementContext, e: Exposition, perObject: boolean): void {
  const unackedBytes = unackedBytesByQueue(ctx);
  const sums = new Map<Name, number>();
  const put = (name: Name, value: number, labels: Labels): void => {
    if (perObject) e.add(name, value, labels);
    else sums.set(name, (sums.get(name) ?? 0) + value);
  };
  const names: Name[] = [
    'rabbitmq_queue_messages_ready', 'rabbitmq_queue_messages_unacked', 'rabbitmq_queue_messages', 'rabbitmq_queue_consumers',
    'rabbitmq_queue_consumer_utilisation', 'rabbitmq_queue_process_memory_bytes', 'rabbitmq_queue_messages_ram',
    'rabbitmq_queue_messages_ram_bytes', 'rabbitmq_queue_messages_ready_ram', 'rabbitmq_queue_messages_unacked_ram',
    'rabbitmq_queue_messages_persistent', 'rabbitmq_queue_messages_bytes', 'rabbitmq_queue_messages_ready_bytes',
    'rabbitmq_queue_messages_unacked_bytes', 'rabbitmq_queue_messages_paged_out', 'rabbitmq_queue_messages_paged_out_bytes',
    'rabbitmq_queue_messages_published_total',
  ];
  for (const n of names) e.declare(n);
  for (const [vname, v] of ctx.broker.vhosts) {
    for (const q of v.queues.values()) {
      const l = { vhost: vname, queue: q.name };
      const ready = q.messageCount;
      const unacked = q.unackedCount;
      const ub = unackedBytes.get(q) ?? 0;
      put('rabbitmq_queue_messages_ready', ready, l);
      put('rabbitmq_queue_messages_unacked', unacked, l);
      put('rabbitmq_queue_messages', ready + unacked, l);
      put('rabbitmq_queue_consumers', q.consumerCount, l);
      put('rabbitmq_queue_consumer_utilisation', q.consumerCount > 0 ? 1 : 0, l);
      put('rabbitmq_queue_process_memory_bytes', queueMemory(q, ub), l);
      put('rabbitmq_queue_messages_ram', ready + unacked, l);
      put('rabbitmq_queue_messages_ram_bytes', q.readyBytes + ub, l);
      put('rabbitmq_queue_messages_ready_ram', ready, l);
      put('rabbitmq_queue_messages_unacked_ram', unacked, l);
      put('rabbitmq_queue_messages_persistent', 0, l);
      put('rabbitmq_queue_messages_bytes', q.readyBytes + ub, l);
      put('rabbitmq_queue_messages_ready_bytes', q.readyBytes, l);
      put('rabbitmq_queue_messages_unacked_bytes', ub, l);
      put('rabbitmq_queue_messages_paged_out', 0, l);
      put('rabbitmq_queue_messages_paged_out_bytes', 0, l);
      put('rabbitmq_queue_messages_published_total', q.publishCount, l);
    }
  }
  if (!perObject) for (const n of names) e.add(n, sums.get(n) ?? 0);
}

function channelFamilies(e: Exposition, channels: { c: ConnectionInfo; ch: ChannelInfo }[], perObject: boolean): void {
  const names: Name[] = [
    'rabbitmq_channel_consumers', 'rabbitmq_channel_messages_unacked', 'rabbitmq_channel_messages_unconfirmed',
    'rabbitmq_channel_messages_uncommitted', 'rabbitmq_channel_acks_uncommitted', 'rabbitmq_consumer_prefetch', 'rabbitmq_channel_prefetch',
  ];
  const sums = new Map<Name, number>();
  for (const n of names) e.declare(n);
  for (const { c, ch } of channels) {
    const consumers = ch.consumerInfos();
    const values: [Name, number][] = [
      ['rabbitmq_channel_consumers', consumers.length],
      ['rabbitmq_channel_messages_unacked', ch.unackedCount],
      ['rabbitmq_channel_messages_unconfirmed', 0],
      ['rabbitmq_channel_messages_uncommitted', ch.uncommittedMessageCount],
      ['rabbitmq_channel_acks_uncommitted', ch.uncommittedAckCount],
      ['rabbitmq_consumer_prefetch', consumers.reduce((n, k) => n + k.prefetch, 0)],
      ['rabbitmq_channel_prefetch', ch.globalPrefetch],
    ];
    for (const [n, v] of values) {
      if (perObject) e.add(n, v, { channel: channelName(c, ch) });
      else sums.set(n, (sums.get(n) ?? 0) + v);
    }
  }
  if (!perObject) for (const n of names) e.add(n, sums.get(n) ?? 0);
}

function openFds(): number | undefined {
  try {
    return readdirSync('/proc/self/fd').length;
  } catch {
    return undefined;
  }
}

function maxOpenFds(): number | undefined {
  try {
    const m = /^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    return m === null ? undefined : Number(m[1]);
  } catch {
    return undefined;
  }
}

function diskFree(path: string): number | undefined {
  try {
    const s = statfsSync(path);
    return s.bavail * s.bsize;
  } catch {
    return undefined;
  }
}
