/**
 * What the management API stores that the broker core does not model: vhost descriptions
 * and tags, runtime and global parameters (vhost limits among them), who declared an
 * exchange. Kept so that GET, definitions export and import round-trip
 * what RabbitMQ would; none of it is enforced by the broker.
 */
import { randomBytes } from 'node:crypto';
import type { Exchange } from '../broker/exchange/exchange.js';

export interface VhostMeta {
  description: string;
  tags: string[];
  defaultQueueType: string;
  tracing: boolean;
}

export interface RuntimeParameter {
  vhost: string;
  component: string;
  name: string;
  value: unknown;
}

export class ManagementMeta {
  readonly #vhosts = new Map<string, VhostMeta>();
  readonly #parameters = new Map<string, RuntimeParameter>();
  readonly globalParameters = new Map<string, unknown>();
  /** Who declared an exchange over HTTP (user_who_performed_action). */
  readonly exchangeCreators = new WeakMap<Exchange, string>();

  constructor(defaultVhost: string) {
    // rabbitmq-compat: the default vhost's description, and the cluster id every node has
    this.#vhosts.set(defaultVhost, { description: 'Default virtual host', tags: [], defaultQueueType: 'undefined', tracing: false });
    this.globalParameters.set('internal_cluster_id', `rabbitmq-cluster-id-${randomBytes(16).toString('base64url')}`);
  }

  vhost(name: string): VhostMeta {
    return this.#vhosts.get(name) ?? { description: '', tags: [], defaultQueueType: 'undefined', tracing: false };
  }

  setVhost(name: string, m: VhostMeta): void {
    this.#vhosts.set(name, m);
  }

  dropVhost(name: string): void {
    this.#vhosts.delete(name);
    for (const [k, p] of this.#parameters) if (p.vhost === name) this.#parameters.delete(k);
  }

  // runtime parameters (vhost-limits, federation-upstream, shovel, …), stored as given

  parameters(): RuntimeParameter[] {
    return [...this.#parameters.values()];
  }

  parameter(vhost: string, component: string, name: string): RuntimeParameter | undefined {
    return this.#parameters.get(key(vhost, component, name));
  }

  setParameter(p: RuntimeParameter): boolean {
    const k = key(p.vhost, p.component, p.name);
    const isNew = !this.#parameters.has(k);
    this.#parameters.set(k, p);
    return isNew;
  }

  deleteParameter(vhost: string, component: string, name: string): boolean {
    return this.#parameters.delete(key(vhost, component, name));
  }
}

function key(vhost: string, component: string, name: string): string {
  return `${vhost}\u0000${component}\u0000${name}`;
}
