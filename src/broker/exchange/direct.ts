/**
 * The direct exchange: a message goes to every binding whose key equals its routing key,
 * byte for byte (no case folding, no wildcards).
 *
 * Two indexes over the same Binding objects: by key (routing) and by destination (so that
 * deleting a queue bound to, say, the default exchange costs its own bindings, not all of
 * them). Invariant: a binding is in both or in neither.
 */
import type { FieldTable } from '../../protocol/field-table.js';
import type { Binding, Destination, ExchangeType, Routable } from './exchange-type.js';
import { indexOfBinding } from './table-equal.js';

export class DirectExchange<D extends Destination> implements ExchangeType<D> {
  readonly type = 'direct';
  readonly #byKey = new Map<string, Binding<D>[]>();
  readonly #byDest = new Map<D, Binding<D>[]>();
  #count = 0;

  get bindingCount(): number {
    return this.#count;
  }

  bind(binding: Binding<D>): boolean {
    let list = this.#byKey.get(binding.routingKey);
    if (list === undefined) {
      list = [];
      this.#byKey.set(binding.routingKey, list);
    } else if (indexOfBinding(list, binding.destination, binding.args) >= 0) {
      return false;
    }
    list.push(binding);
    const mine = this.#byDest.get(binding.destination);
    if (mine === undefined) this.#byDest.set(binding.destination, [binding]);
    else mine.push(binding);
    this.#count++;
    return true;
  }

  unbind(destination: D, routingKey: string, args: FieldTable): boolean {
    const list = this.#byKey.get(routingKey);
    if (list === undefined) return false;
    const i = indexOfBinding(list, destination, args);
    if (i < 0) return false;
    const binding = list[i]!;
    this.#dropFromKey(list, i, routingKey);
    const mine = this.#byDest.get(destination)!;
    mine.splice(mine.indexOf(binding), 1);
    if (mine.length === 0) this.#byDest.delete(destination);
    this.#count--;
    return true;
  }

  unbindAll(destination: D): number {
    const mine = this.#byDest.get(destination);
    if (mine === undefined) return 0;
    this.#byDest.delete(destination);
    for (const binding of mine) {
      const list = this.#byKey.get(binding.routingKey)!;
      this.#dropFromKey(list, list.indexOf(binding), binding.routingKey);
    }
    this.#count -= mine.length;
    return mine.length;
  }

  // Hot path: one Map lookup, then pushes; no closure, no temporary array.
  route(routingKey: string, _message: Routable, out: D[]): void {
    const list = this.#byKey.get(routingKey);
    if (list === undefined) return;
    for (let i = 0; i < list.length; i++) out.push(list[i]!.destination);
  }

  *bindings(): IterableIterator<Binding<D>> {
    for (const list of this.#byKey.values()) yield* list;
  }

  #dropFromKey(list: Binding<D>[], i: number, routingKey: string): void {
    list.splice(i, 1);
    if (list.length === 0) this.#byKey.delete(routingKey);
  }
}
