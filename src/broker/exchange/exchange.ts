/**
 * An exchange: its declared properties plus the routing table of its type.
 */
import type { FieldTable } from '../../protocol/field-table.js';
import type { Queue } from '../queue.js';
import type { Destination, ExchangeType } from './exchange-type.js';

export type Bindable = Queue | Exchange;

export interface ExchangeOptions {
  durable: boolean;
  autoDelete: boolean;
  internal: boolean;
  arguments: FieldTable;
}

export class Exchange implements Destination {
  readonly kind = 'exchange' as const;
  readonly name: string;
  readonly type: string;
  readonly durable: boolean;
  readonly autoDelete: boolean;
  readonly internal: boolean;
  readonly arguments: FieldTable;
  readonly router: ExchangeType<Bindable>;
  /** Bindings in which this exchange is the destination (e2e), for cleanup on delete. */
  readonly boundFrom = new Set<Exchange>();
  /** Marks the exchange during one routing pass (cycle detection without a Set). */
  routeMark = 0;
  /** amq.* exchanges cannot be deleted. */
  readonly system: boolean;
  publishIn = 0;
  publishOut = 0;
  /** The alternate-exchange argument (or policy key), if any. */
  alternateExchange: string | undefined;

  constructor(name: string, type: string, router: ExchangeType<Bindable>, o: ExchangeOptions, system = false) {
    this.name = name;
    this.type = type;
    this.router = router;
    this.durable = o.durable;
    this.autoDelete = o.autoDelete;
    this.internal = o.internal;
    this.arguments = o.arguments;
    this.system = system;
    const ae = o.arguments.get('alternate-exchange');
    this.alternateExchange = ae?.type === 'S' ? ae.value : undefined;
  }
}
