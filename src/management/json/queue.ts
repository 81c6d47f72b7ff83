/**
 * A queue as GET /api/queues shows it (management-samples/queue.json, queues.json,
 * queue-quorum.json). Classic and quorum queues have different field sets in RabbitMQ; the
 * shape follows `x-queue-type`.
 *
 * message_stats: warren's queues count deliveries without telling basic.deliver from
 * basic.get or manual from automatic acknowledgement, so `deliver` and `deliver_get` both
 * carry that count and the get / no-ack split shows 0.
 */
import type { Queue } from '../../broker/queue.js';
import type { ManagementContext } from '../context.js';
import { consumerJson, GARBAGE_COLLECTION, type ConsumerPlace } from './connection.js';
import { details, isoTimestamp, tableJson } from './format.js';

export interface QueueJsonOptions {
  /** Unacked body bytes per queue (from the channels). */
  unackedBytes: Map<Queue, number>;
  /** Consumers of this queue with their channels, for consumer_details (single GET). */
  consumers?: ConsumerPlace[];
}

/** Rough bytes a queue holds: bodies plus a per-message overhead (RabbitMQ's "memory"). */
export function queueMemory(q: Queue, unackedBytes: number): number {
  return 15_200 + q.readyBytes + unackedBytes + (q.messageCount + q.unackedCount) * 120;
}

export function queueJson(ctx: ManagementContext, q: Queue, o: QueueJsonOptions): Record<string, unknown> {
  const vhost = q.vhost.name;
  const policy = q.policy ?? ctx.broker.policies.match(vhost, 'queue', q.name, q.queueType);
  const ready = q.messageCount;
  const unacked = q.unackedCount;
  const unackedBytes = o.unackedBytes.get(q) ?? 0;
  const rates = ctx.stats.queueRates(q);
  const quorum = q.queueType === 'quorum';
  const out: Record<string, unknown> = {};
  if (o.consumers !== undefined) {
    out['consumer_details'] = o.consumers.map((p) => consumerJson(ctx, p.connection, p.channel, p.consumer));
  }
  out['arguments'] = tableJson(q.arguments);
  out['auto_delete'] = q.autoDelete;
  if (!quorum) {
    out['backing_queue_status'] = {
      avg_ack_egress_rate: rates.ack,
      avg_ack_ingress_rate: rates.deliverGet,
      avg_egress_rate: rates.deliverGet,
      avg_ingress_rate: rates.publish,
      delta: ['delta', 'undefined', 0, 0, 'undefined'],
      len: ready,
      mode: 'default',
      next_deliver_seq_id: q.deliverCount,
      next_seq_id: q.publishCount,
      q1: 0,
      q2: 0,
      q3: 0,
      q4: ready,
      target_ram_count: 'infinity',
      version: 1,
    };
  }
  const consumers = q.consumerCount;
  out['consumer_capacity'] = consumers > 0 ? 1 : 0;
  out['consumer_utilisation'] = consumers > 0 ? 1 : 0;
  out['consumers'] = consumers;
  if (o.consumers !== undefined) out['deliveries'] = [];
  out['durable'] = q.durable;
  out['effective_policy_definition'] = policy?.definition ?? {};
  out['exclusive'] = q.exclusive;
  if (!quorum) out['exclusive_consumer_tag'] = q.hasExclusiveConsumer ? q.consumers[0]!.tag : null;
  out['garbage_collection'] = GARBAGE_COLLECTION;
  if (!quorum) out['head_message_timestamp'] = null;
  if (!quorum) {
    // rabbitmq-compat: idle_since appears while nothing happened since the previous sample
    const changed = ctx.stats.queueChangedAt(q);
    if (changed !== undefined && rates.publish === 0 && rates.deliverGet === 0 && rates.ack === 0) out['idle_since'] = isoTimestamp(changed);
  }
  if (o.consumers !== undefined) out['incoming'] = [];
  if (quorum) {
    out['leader'] = ctx.node;
    out['members'] = [ctx.node];
  }
  out['memory'] = queueMemory(q, unackedBytes);
  out['message_bytes'] = q.readyBytes + unackedBytes;
  if (quorum) out['message_bytes_dlx'] = 0;
  else out['message_bytes_paged_out'] = 0;
  out['message_bytes_persistent'] = 0;
  out['message_bytes_ram'] = q.readyBytes + unackedBytes;
  out['message_bytes_ready'] = q.readyBytes;
  out['message_bytes_unacknowledged'] = unackedBytes;
  if (!quorum && (q.publishCount > 0 || q.deliverCount > 0 || q.ackCount > 0)) {
    out['message_stats'] = {
      ack: q.ackCount,
      ack_details: details(rates.ack),
      deliver: q.deliverCount,
      deliver_details: details(rates.deliverGet),
      deliver_get: q.deliverCount,
      deliver_get_details: details(rates.deliverGet),
      deliver_no_ack: 0,
      deliver_no_ack_details: details(0),
      get: 0,
      get_details: details(0),
      get_empty: 0,
      get_empty_details: details(0),
      get_no_ack: 0,
      get_no_ack_details: details(0),
      publish: q.publishCount,
      publish_details: details(rates.publish),
      redeliver: q.redeliverCount,
      redeliver_details: details(rates.redeliver),
    };
  }
  out['messages'] = ready + unacked;
  out['messages_details'] = details(rates.messages);
  if (quorum) out['messages_dlx'] = 0;
  else out['messages_paged_out'] = 0;
  out['messages_persistent'] = 0;
  out['messages_ram'] = ready + unacked;
  out['messages_ready'] = ready;
  out['messages_ready_details'] = details(rates.ready);
  if (!quorum) out['messages_ready_ram'] = ready;
  out['messages_unacknowledged'] = unacked;
  out['messages_unacknowledged_details'] = details(rates.unacked);
  if (!quorum) out['messages_unacknowledged_ram'] = unacked;
  out['name'] = q.name;
  out['node'] = ctx.node;
  if (quorum) {
    out['online'] = [ctx.node];
    out['open_files'] = { [ctx.node]: 0 };
  }
  out['operator_policy'] = null;
  out['policy'] = policy?.name ?? null;
  if (!quorum) out['recoverable_slaves'] = null;
  out['reductions'] = 0;
  out['reductions_details'] = details(0);
  if (quorum) out['single_active_consumer_ctag'] = null;
  else out['single_active_consumer_tag'] = null;
  out['state'] = 'running';
  out['type'] = q.queueType;
  out['vhost'] = vhost;
  return out;
}
