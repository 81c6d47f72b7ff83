/**
 * The routing half of an exchange, one implementation per type (direct, fanout, topic,
 * headers). It knows bindings and keys only: no queues' contents, no IO.
 *
 * A binding is identified, as in RabbitMQ, by (destination, routing key, arguments).
 * `route` appends each matching destination to `out` (possibly more than once when several
 * bindings match; the caller deduplicates).
 */
import type { FieldTable } from '../../protocol/field-table.js';

/** A queue or an exchange that can be bound; compared by identity. */
export interface Destination {
  readonly kind: 'queue' | 'exchange';
  readonly name: string;
}

export interface Binding<D extends Destination = Destination> {
  readonly destination: D;
  readonly routingKey: string;
  readonly args: FieldTable;
}

/** What routing may look at in a message besides its routing key. */
export interface Routable {
  /** The message's headers property (decoded on first use). */
  readonly headers: FieldTable | undefined;
}

export interface ExchangeType<D extends Destination = Destination> {
  readonly type: string;
  /** Adds a binding; false when an identical one exists. Throws AmqpError for bad args. */
  bind(binding: Binding<D>): boolean;
  /** Removes a binding; false when none matched. */
  unbind(destination: D, routingKey: string, args: FieldTable): boolean;
  /** Removes every binding to `destination` (queue or exchange deleted); returns how many. */
  unbindAll(destination: D): number;
  route(routingKey: string, message: Routable, out: D[]): void;
  bindings(): IterableIterator<Binding<D>>;
  readonly bindingCount: number;
}
