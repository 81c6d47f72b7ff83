/**
 * Policies (RabbitMQ's `rabbitmqctl set_policy` / PUT /api/policies/{vhost}/{name}): a regex
 * over queue or exchange names and a definition of keys such as message-ttl, max-length,
 * dead-letter-exchange, applied at run time without redeclaring. Per object the matching
 * policy with the highest priority wins (ties: the longer… RabbitMQ picks by priority only;
 * we then take the first in name order for determinism).
 */
export type PolicyTarget = 'queues' | 'exchanges' | 'all' | 'classic_queues' | 'quorum_queues';

export interface Policy {
  vhost: string;
  name: string;
  pattern: string;
  applyTo: PolicyTarget;
  priority: number;
  /** e.g. { 'message-ttl': 60000, 'dead-letter-exchange': 'dlx' } */
  definition: Record<string, unknown>;
}

interface CompiledPolicy extends Policy {
  regex: RegExp;
}

export class Policies {
  readonly #byVhost = new Map<string, Map<string, CompiledPolicy>>();
  /** Called with the vhost name after any change, so its queues re-evaluate. */
  onChange: (vhost: string) => void = () => {};

  put(p: Policy): void {
    let regex: RegExp;
    try {
      regex = new RegExp(p.pattern);
    } catch (err) {
      throw new Error(`invalid pattern '${p.pattern}': ${(err as Error).message}`);
    }
    let m = this.#byVhost.get(p.vhost);
    if (m === undefined) this.#byVhost.set(p.vhost, (m = new Map()));
    m.set(p.name, { ...p, regex });
    this.onChange(p.vhost);
  }

  delete(vhost: string, name: string): boolean {
    const ok = this.#byVhost.get(vhost)?.delete(name) ?? false;
    if (ok) this.onChange(vhost);
    return ok;
  }

  get(vhost: string, name: string): Policy | undefined {
    const p = this.#byVhost.get(vhost)?.get(name);
    return p === undefined ? undefined : strip(p);
  }

  list(vhost?: string): Policy[] {
    const out: Policy[] = [];
    for (const [v, m] of this.#byVhost) if (vhost === undefined || v === vhost) for (const p of m.values()) out.push(strip(p));
    return out;
  }

  dropVhost(vhost: string): void {
    this.#byVhost.delete(vhost);
  }

  /** The policy that applies to a queue (kind 'queue') or exchange of that name, if any. */
  match(vhost: string, kind: 'queue' | 'exchange', name: string, queueType = 'classic'): Policy | undefined {
    const m = this.#byVhost.get(vhost);
    if (m === undefined) return undefined;
    let best: CompiledPolicy | undefined;
    for (const p of m.values()) {
      if (!applies(p.applyTo, kind, queueType) || !p.regex.test(name)) continue;
      if (best === undefined || p.priority > best.priority || (p.priority === best.priority && p.name < best.name)) best = p;
    }
    return best === undefined ? undefined : strip(best);
  }
}

function applies(t: PolicyTarget, kind: 'queue' | 'exchange', queueType: string): boolean {
  if (t === 'all') return true;
  if (kind === 'exchange') return t === 'exchanges';
  if (t === 'queues') return true;
  return (t === 'classic_queues' && queueType === 'classic') || (t === 'quorum_queues' && queueType === 'quorum');
}

function strip(p: CompiledPolicy): Policy {
  return { vhost: p.vhost, name: p.name, pattern: p.pattern, applyTo: p.applyTo, priority: p.priority, definition: p.definition };
}
