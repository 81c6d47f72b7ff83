/**
 * Resource alarms (RabbitMQ's memory high watermark and disk free limit). While any alarm is
 * set, connections that publish are blocked: they get connection.blocked (if they announced
 * the capability) and are not read until every alarm clears; consumers keep draining.
 * The numbers are measured by the composition root; this only keeps state and tells.
 */
export type AlarmKind = 'memory' | 'disk';

export interface AlarmListener {
  onAlarmChange(active: boolean, reason: string): void;
}

export class Alarms {
  readonly #set = new Set<AlarmKind>();
  readonly #listeners = new Set<AlarmListener>();
  /** true while any alarm is set: checked on every publish, so a plain field. */
  active = false;

  get reasons(): AlarmKind[] {
    return [...this.#set];
  }

  /** RabbitMQ's blocked reason text: "low on memory" / "low on disk" / both. */
  get reason(): string {
    return [...this.#set].map((k) => (k === 'memory' ? 'low on memory' : 'low on disk')).join(' & ');
  }

  set(kind: AlarmKind, on: boolean): void {
    const had = this.#set.has(kind);
    if (on === had) return;
    if (on) this.#set.add(kind);
    else this.#set.delete(kind);
    const active = this.#set.size > 0;
    const changed = active !== this.active;
    this.active = active;
    if (changed || active) for (const l of [...this.#listeners]) l.onAlarmChange(active, this.reason);
  }

  subscribe(l: AlarmListener): void {
    this.#listeners.add(l);
  }

  unsubscribe(l: AlarmListener): void {
    this.#listeners.delete(l);
  }
}
