/**
 * Creating and deleting vhosts with everything that hangs off them. The broker core adds
 * vhosts but has no "delete": removing one closes its connections, deletes its queues
 * (consumers are cancelled) and drops its permissions, policies and management metadata.
 */
import type { Broker } from '../broker/broker.js';
import type { VHost } from '../broker/vhost.js';
import type { ManagementMeta, VhostMeta } from './meta.js';

export function createVhost(broker: Broker, meta: ManagementMeta, name: string, m?: Partial<VhostMeta>): { vhost: VHost; isNew: boolean } {
  const isNew = !broker.vhosts.has(name);
  const vhost = broker.addVhost(name);
  if (m !== undefined) {
    const cur = meta.vhost(name);
    meta.setVhost(name, {
      description: m.description ?? cur.description,
      tags: m.tags ?? cur.tags,
      defaultQueueType: m.defaultQueueType ?? cur.defaultQueueType,
      tracing: m.tracing ?? cur.tracing,
    });
  }
  return { vhost, isNew };
}

export function deleteVhost(broker: Broker, meta: ManagementMeta, name: string): boolean {
  const vhost = broker.vhosts.get(name);
  if (vhost === undefined) return false;
  for (const c of [...broker.registry.connections]) {
    if (c.vhost === name) c.forceClose(`vhost '${name}' is deleted`);
  }
  for (const q of [...vhost.queues.values()]) vhost.deleteQueueNow(q, 'vhost deleted');
  vhost.stop();
  broker.vhosts.delete(name);
  for (const t of broker.users.allTopicPermissions()) if (t.vhost === name) broker.users.clearTopicPermission(name, t.user);
  broker.users.dropVhost(name);
  broker.policies.dropVhost(name);
  meta.dropVhost(name);
  vhost.store?.close().catch(() => {});
  broker.definitionsChanged();
  return true;
}
