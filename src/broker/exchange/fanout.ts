/**
 * The fanout exchange: every binding matches, whatever the routing key.
 *
 * rabbitmq-compat: the binding key is still part of a binding's identity, so binding one
 * queue twice with different keys makes two bindings and the queue is routed to twice (the
 * caller deduplicates destinations, so the queue still gets one copy).
 *
 * Bindings live in one flat array, which is exactly what route() walks.
 */
import type { FieldTable } from '../../protocol/field-table.js';
import type { Binding, Destination, ExchangeType, Routable } from './exchange-type.js';
import { tableEqual } from './table-equal.js';

export class FanoutExchange<D extends Destination> implements ExchangeType<D> {
  readonly type = 'fanout';
  #all: Binding<D>[] = [];

  get bindingCount(): number {
    return this.#all.length;
  }

  bind(binding: Binding<D>): boolean {
    if (this.#find(binding.destination, binding.routingKey, binding.args) >= 0) return false;
    this.#all.push(binding);
    return true;
  }

  unbind(destination: D, routingKey: string, args: FieldTable): boolean {
    const i = this.#find(destination, routingKey, args);
    if (i < 0) return false;
    this.#all.splice(i, 1);
    return true;
  }

  unbindAll(destination: D): number {
    const before = this.#all.length;
    // One compacting pass, in place: the array is what route() reads.
    let w = 0;
    for (let r = 0; r < before; r++) {
      const b = this.#all[r]!;
      if (b.destination !== destination) this.#all[w++] = b;
    }
    this.#all.length = w;
    return before - w;
  }

  // Hot path: pushes only.
  route(_routingKey: string, _message: Routable, out: D[]): void {
    const all = this.#all;
    for (let i = 0; i < all.length; i++) out.push(all[i]!.destination);
  }

  *bindings(): IterableIterator<Binding<D>> {
    yield* this.#all;
  }

  #find(destination: D, routingKey: string, args: FieldTable): number {
    const all = this.#all;
    for (let i = 0; i < all.length; i++) {
      const b = all[i]!;
      if (b.destination === destination && b.routingKey === routingKey && tableEqual(b.args, args)) return i;
    }
    return -1;
  }
}
