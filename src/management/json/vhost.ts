/**
 * A vhost as GET /api/vhosts shows it (management-samples/vhost(s).json): metadata kept by
 * the management API, message depth and message_stats summed over its queues.
 */
import type { ManagementContext } from '../context.js';
import type { MessageCounters } from '../stats.js';
import { details } from './format.js';

export function vhostJson(ctx: ManagementContext, name: string): Record<string, unknown> {
  const meta = ctx.meta.vhost(name);
  const depth = ctx.stats.depth(name);
  const counters = ctx.stats.counters(name);
  const rates = ctx.stats.totalRates(name);
  let recv = 0;
  let send = 0;
  for (const c of ctx.broker.registry.connections) {
    if (c.vhost !== name) continue;
    recv += c.bytesReceived;
    send += c.bytesSent;
  }
  return {
    cluster_state: { [ctx.node]: 'running' },
    default_queue_type: meta.defaultQueueType,
    description: meta.description,
    message_stats: messageStats(counters, rates),
    ...messageDepth(depth, rates),
    metadata: { description: meta.description, tags: meta.tags },
    name,
    recv_oct: recv,
    recv_oct_details: details(0),
    send_oct: send,
    send_oct_details: details(0),
    tags: meta.tags,
    tracing: meta.tracing,
  };
}

/** Ready, unacked and total messages with their rates (overview queue_totals, vhosts). */
export function messageDepth(
  depth: { messages: number; ready: number; unacked: number },
  rates: { messages: number; ready: number; unacked: number },
): Record<string, unknown> {
  return {
    messages: depth.messages,
    messages_details: details(rates.messages),
    messages_ready: depth.ready,
    messages_ready_details: details(rates.ready),
    messages_unacknowledged: depth.unacked,
    messages_unacknowledged_details: details(rates.unacked),
  };
}

/** Broker- or vhost-wide message_stats (overview, vhosts). */
export function messageStats(
  c: MessageCounters,
  r: { publish: number; deliverGet: number; ack: number; redeliver: number },
  extra: Record<string, number> = {},
): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  const put = (k: string, v: number, rate: number): void => {
    o[k] = v;
    o[`${k}_details`] = details(rate);
  };
  put('ack', c.ack, r.ack);
  put('confirm', 0, 0);
  put('deliver', c.deliverGet, r.deliverGet);
  put('deliver_get', c.deliverGet, r.deliverGet);
  put('deliver_no_ack', 0, 0);
  for (const [k, v] of Object.entries(extra)) put(k, v, 0);
  put('drop_unroutable', 0, 0);
  put('get', 0, 0);
  put('get_empty', 0, 0);
  put('get_no_ack', 0, 0);
  put('publish', c.publish, r.publish);
  put('redeliver', c.redeliver, r.redeliver);
  put('return_unroutable', 0, 0);
  return o;
}
