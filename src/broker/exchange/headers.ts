/**
 * The headers exchange (also amq.match): routes on the message's headers table, ignoring the
 * routing key. A binding's arguments are the pattern; `x-match` says how to combine it:
 *
 *   all (default)  every considered argument matches      any  at least one does
 *   all-with-x / any-with-x   the same, but arguments named "x-…" are considered too
 *
 * `x-match` itself is never considered. An argument of type void matches when the header is
 * present (any value); otherwise the header's value must equal the argument's.
 *
 * rabbitmq-compat (rabbit_exchange_type_headers, 3.10): so `all` with nothing considered
 * matches every message, headers or not, and `any` with nothing considered matches none.
 * Values compare with Erlang's `==` on the decoded values, not on (type, value): an int32 1,
 * an int64 1 and a double 1.0 are equal; a longstr and a byte array with the same bytes are
 * equal; a string never equals a number, nor a boolean a number. Inside arrays and tables the
 * element types are part of the term and must match.
 */
import { RABBIT_TYPE_NAMES, type Field, type FieldTable, type FieldType } from '../../protocol/field-table.js';
import { preconditionFailed } from '../errors.js';
import type { Binding, Destination, ExchangeType, Routable } from './exchange-type.js';
import { numberEqual, tableEqual } from './table-equal.js';

interface Compiled<D extends Destination> {
  readonly binding: Binding<D>;
  readonly any: boolean;
  /** The considered pattern, as parallel arrays (walked on every message). */
  readonly keys: string[];
  readonly values: Field[];
}

/** x-match value → [any, withX]. */
const X_MATCH = new Map<string, readonly [boolean, boolean]>([
  ['all', [false, false]], ['any', [true, false]], ['all-with-x', [false, true]], ['any-with-x', [true, true]],
]);

function compile<D extends Destination>(binding: Binding<D>): Compiled<D> {
  const xMatch = binding.args.get('x-match');
  let any = false;
  let withX = false;
  if (xMatch !== undefined) {
    // rabbitmq-compat: validate_binding's texts, with the value printed as Erlang's ~p does.
    if (xMatch.type !== 'S') {
      throw preconditionFailed(`Invalid x-match field type ${RABBIT_TYPE_NAMES[xMatch.type]} (value ${erlang(xMatch)}); expected longstr`);
    }
    const mode = X_MATCH.get(xMatch.value);
    if (mode === undefined) {
      throw preconditionFailed(`Invalid x-match field value ${erlang(xMatch)}; expected all, any, all-with-x, or any-with-x`);
    }
    [any, withX] = mode;
  }
  const keys: string[] = [];
  const values: Field[] = [];
  for (const [key, value] of binding.args) {
    if (key === 'x-match' || (!withX && key.startsWith('x-'))) continue;
    keys.push(key);
    values.push(value);
  }
  return { binding, any, keys, values };
}

/** Only for bindings that consider at least one argument (route() handles the others). */
function matches(c: Compiled<Destination>, headers: FieldTable | undefined): boolean {
  const { keys, values } = c;
  if (c.any) {
    if (headers === undefined) return false;
    for (let i = 0; i < keys.length; i++) {
      const h = headers.get(keys[i]!);
      if (h !== undefined && (values[i]!.type === 'V' || termEqual(values[i]!, h))) return true;
    }
    return false;
  }
  for (let i = 0; i < keys.length; i++) {
    const h = headers?.get(keys[i]!);
    if (h === undefined || (values[i]!.type !== 'V' && !termEqual(values[i]!, h))) return false;
  }
  return true;
}

const NUMERIC = new Set<FieldType>(['b', 'B', 's', 'u', 'I', 'i', 'l', 'T', 'f', 'd']);

/** Erlang's `==` on two decoded field values (see the header comment). */
function termEqual(a: Field, b: Field): boolean {
  if (NUMERIC.has(a.type) || NUMERIC.has(b.type)) {
    return NUMERIC.has(a.type) && NUMERIC.has(b.type) && numberEqual(a.value as number, b.value as number);
  }
  switch (a.type) {
    case 'S': case 'x':
      return (b.type === 'S' || b.type === 'x') && bytesEqual(a.value, b.value);
    case 't':
      return b.type === 't' && a.value === b.value;
    case 'V':
      return b.type === 'V';
    case 'D':
      return b.type === 'D' && a.value.scale === b.value.scale && a.value.value === b.value.value;
    case 'A':
      if (b.type === 'F') return a.value.length === 0 && b.value.size === 0; // [] == []
      if (b.type !== 'A' || a.value.length !== b.value.length) return false;
      for (let i = 0; i < b.value.length; i++) if (!typedEqual(a.value[i]!, b.value[i]!)) return false;
      return true;
    case 'F': {
      if (b.type === 'A') return a.value.size === 0 && b.value.length === 0;
      if (b.type !== 'F' || a.value.size !== b.value.size) return false;
      // A nested table is an ordered list of {Key, Type, Value} for Erlang: order matters.
      const other = b.value.entries();
      for (const [k, f] of a.value) {
        const [k2, f2] = other.next().value as [string, Field];
        if (k !== k2 || !typedEqual(f, f2)) return false;
      }
      return true;
    }
    default:
      return false;
  }
}

/** `{Type, Value} == {Type2, Value2}`: the type atoms must be identical. */
function typedEqual(a: Field, b: Field): boolean {
  return a.type === b.type && termEqual(a, b);
}

function bytesEqual(a: string | Buffer, b: string | Buffer): boolean {
  if (typeof a === 'string' && typeof b === 'string') return a === b;
  return Buffer.from(a).equals(Buffer.from(b));
}

/** Roughly what Erlang's ~p prints for a decoded field value (error texts only). */
function erlang(f: Field): string {
  switch (f.type) {
    case 'S': case 'x': {
      const bytes = Buffer.from(f.value);
      const printable = bytes.every((c) => (c >= 32 && c < 127) || c >= 160);
      if (!printable) return `<<${bytes.join(',')}>>`;
      return `<<"${(typeof f.value === 'string' ? f.value : bytes.toString('latin1')).replace(/["\\]/g, '\\$&')}">>`;
    }
    case 't': return String(f.value);
    case 'V': return 'undefined';
    case 'f': case 'd': return Number.isInteger(f.value) ? `${f.value}.0` : String(f.value);
    case 'D': return `{${f.value.scale},${f.value.value}}`;
    case 'A': return `[${f.value.map((e) => `{${RABBIT_TYPE_NAMES[e.type]},${erlang(e)}}`).join(',')}]`;
    case 'F': return `[${[...f.value].map(([k, e]) => `{${erlang({ type: 'S', value: k })},${RABBIT_TYPE_NAMES[e.type]},${erlang(e)}}`).join(',')}]`;
    default: return String(f.value);
  }
}

export class HeadersExchange<D extends Destination> implements ExchangeType<D> {
  readonly type = 'headers';
  #all: Compiled<D>[] = [];

  get bindingCount(): number {
    return this.#all.length;
  }

  bind(binding: Binding<D>): boolean {
    const compiled = compile(binding); // validates first, as RabbitMQ does
    if (this.#find(binding.destination, binding.routingKey, binding.args) >= 0) return false;
    this.#all.push(compiled);
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
    this.#all = this.#all.filter((c) => c.binding.destination !== destination);
    return before - this.#all.length;
  }

  route(_routingKey: string, message: Routable, out: D[]): void {
    const all = this.#all;
    if (all.length === 0) return;
    // Reading headers may decode the properties: only do it when a binding looks at them.
    let headers: FieldTable | undefined;
    let read = false;
    for (let i = 0; i < all.length; i++) {
      const c = all[i]!;
      let ok: boolean;
      if (c.keys.length === 0) {
        ok = !c.any;
      } else {
        if (!read) {
          headers = message.headers;
          read = true;
        }
        ok = matches(c, headers);
      }
      if (ok) out.push(c.binding.destination);
    }
  }

  *bindings(): IterableIterator<Binding<D>> {
    for (const c of this.#all) yield c.binding;
  }

  #find(destination: D, routingKey: string, args: FieldTable): number {
    const all = this.#all;
    for (let i = 0; i < all.length; i++) {
      const b = all[i]!.binding;
      if (b.destination === destination && b.routingKey === routingKey && tableEqual(b.args, args)) return i;
    }
    return -1;
  }
}
