/**
 * Binding-argument equality, used for binding identity: a binding is (destination, routing
 * key, arguments), and two argument tables are the same when they hold the same keys (in any
 * order) with the same wire types and the same values.
 *
 * rabbitmq-compat: RabbitMQ sorts a binding's argument table by key before storing or looking
 * it up (rabbit_binding), so top-level key order never distinguishes bindings, while the type
 * tag does (`{signedint, 1}` and `{long, 1}` are different Erlang terms). Nested tables are
 * compared the same way, order-insensitively.
 *
 * This is NOT the headers exchange's matching rule, which compares values loosely (headers.ts).
 */
import type { Field, FieldTable } from '../../protocol/field-table.js';
import type { Binding, Destination } from './exchange-type.js';

export function tableEqual(a: FieldTable, b: FieldTable): boolean {
  if (a === b) return true;
  if (a.size !== b.size) return false;
  for (const [key, fa] of a) {
    const fb = b.get(key);
    if (fb === undefined || !fieldEqual(fa, fb)) return false;
  }
  return true;
}

/** Same wire type and same value; deep for arrays (ordered) and tables (unordered). */
export function fieldEqual(a: Field, b: Field): boolean {
  if (a.type !== b.type) return false;
  switch (a.type) {
    case 't': case 'S': case 'V':
      return a.value === (b as typeof a).value;
    case 'b': case 'B': case 's': case 'u': case 'I': case 'i': case 'f': case 'd':
    case 'l': case 'T':
      return numberEqual(a.value, (b as typeof a).value);
    case 'D': {
      const bv = (b as typeof a).value;
      return a.value.scale === bv.scale && a.value.value === bv.value;
    }
    case 'x':
      return a.value.equals((b as typeof a).value);
    case 'A': {
      const bv = (b as typeof a).value;
      if (a.value.length !== bv.length) return false;
      for (let i = 0; i < bv.length; i++) if (!fieldEqual(a.value[i]!, bv[i]!)) return false;
      return true;
    }
    case 'F':
      return tableEqual(a.value, (b as typeof a).value);
  }
}

/**
 * Numeric equality across number and bigint (an int64 beyond 2^53 decodes to a bigint). NaN
 * equals NaN here so that unbinding with the very arguments used to bind always works.
 */
export function numberEqual(a: number | bigint, b: number | bigint): boolean {
  // Loose equality on purpose: it compares a bigint with a number by value.
  return a == b || (a !== a && b !== b);
}

/** Index in `list` of the binding identified by (destination, args), or -1; the key is implied. */
export function indexOfBinding<D extends Destination>(
  list: readonly Binding<D>[],
  destination: D,
  args: FieldTable,
): number {
  for (let i = 0; i < list.length; i++) {
    const b = list[i]!;
    if (b.destination === destination && tableEqual(b.args, args)) return i;
  }
  return -1;
}
