/**
 * One virtual host: its exchanges, queues and bindings, and routing between them. Every
 * misuse is refused with RabbitMQ 3.10's reply code and text
 * (../shared/reference/errors.md).
 */
import type { FieldTable } from '../protocol/field-table.js';
import { generatedName } from '../util/ids.js';
import type { Broker } from './broker.js';
import { AmqpError, REPLY, accessRefused, notFound, preconditionFailed, resourceLocked } from './errors.js';
import { Exchange, type Bindable } from './exchange/exchange.js';
import { createExchangeType } from './exchange/index.js';
import type { Message } from './message.js';
import type { MessageStore } from '../store/store.js';
import { Queue } from './queue.js';
import { assertEquivalentArgs, validateQueueArgs } from './queue-args.js';
import { senderSelectedKeys } from './sender-routes.js';

const NO_ARGS: FieldTable = new Map();
const REPLY_TO_PREFIX = 'amq.rabbitmq.reply-to.';

/** Predeclared in every vhost, as in RabbitMQ. */
const SYSTEM_EXCHANGES: [string, string, boolean][] = [
  ['amq.direct', 'direct', false],
  ['amq.fanout', 'fanout', false],
  ['amq.topic', 'topic', false],
  ['amq.headers', 'headers', false],
  ['amq.match', 'headers', false],
  ['amq.rabbitmq.trace', 'topic', true],
];

export interface ExchangeDeclare {
  passive: boolean;
  durable: boolean;
  autoDelete: boolean;
  internal: boolean;
  arguments: FieldTable;
}

export interface QueueDeclare {
  passive: boolean;
  durable: boolean;
  exclusive: boolean;
  autoDelete: boolean;
  arguments: FieldTable;
}

export class VHost {
  readonly name: string;
  readonly broker: Broker;
  readonly exchanges = new Map<string, Exchange>();
  readonly queues = new Map<string, Queue>();
  readonly #defaultExchange: Exchange;
  #routeEpoch = 0;
  readonly #scratch: Bindable[] = [];
  /** RabbitMQ's vhost limits (max-connections, max-queues); absent = none. */
  limits: { maxConnections?: number; maxQueues?: number } = {};
  /** Persistent messages on durable queues go here; null for an in-memory broker. */
  store: MessageStore | null = null;

  constructor(name: string, broker: Broker) {
    this.name = name;
    this.broker = broker;
    this.#defaultExchange = new Exchange('', 'direct', createExchangeType<Bindable>('direct')!, {
      durable: true,
      autoDelete: false,
      internal: false,
      arguments: NO_ARGS,
    }, true);
    this.exchanges.set('', this.#defaultExchange);
    for (const [n, type, internal] of SYSTEM_EXCHANGES) {
      const router = createExchangeType<Bindable>(type)!;
      this.exchanges.set(n, new Exchange(n, type, router, { durable: true, autoDelete: false, internal, arguments: NO_ARGS }, true));
    }
  }

  // -------------------------------------------------------------------------------------
  // exchanges

  exchange(name: string): Exchange {
    const x = this.exchanges.get(name);
    if (x === undefined) throw notFound(`no exchange '${name}' in vhost '${this.name}'`);
    return x;
  }

  declareExchange(name: string, type: string, d: ExchangeDeclare): Exchange {
    const defaultRefused = (): AmqpError => accessRefused('operation not permitted on the default exchange');
    const existing = this.exchanges.get(name);
    if (d.passive) {
      if (name === '') throw defaultRefused();
      if (existing === undefined) throw notFound(`no exchange '${name}' in vhost '${this.name}'`);
      return existing;
    }
    // rabbitmq-compat (rabbit_channel): the type is checked first, even for the default exchange
    if (type === '') throw new AmqpError(REPLY.COMMAND_INVALID, "invalid exchange type ''");
    const router = createExchangeType<Bindable>(type);
    if (router === undefined) throw new AmqpError(REPLY.COMMAND_INVALID, `unknown exchange type '${type}'`);
    if (name === '') throw defaultRefused();
    if (existing !== undefined) {
      const head = `inequivalent arg '%s' for exchange '${name}' in vhost '${this.name}': `;
      const cmp = (arg: string, received: string | boolean, current: string | boolean): void => {
        if (received !== current) {
          throw preconditionFailed(`${head.replace('%s', arg)}received '${received}' but current is '${current}'`);
        }
      };
      cmp('type', type, existing.type);
      cmp('durable', d.durable, existing.durable);
      cmp('auto_delete', d.autoDelete, existing.autoDelete);
      cmp('internal', d.internal, existing.internal);
      assertEquivalentExchangeArgs(head, existing.arguments, d.arguments);
      return existing;
    }
    if (name.startsWith('amq.')) throw accessRefused(`exchange name '${name}' contains reserved prefix 'amq.*'`);
    const x = new Exchange(name, type, router, d);
    this.exchanges.set(name, x);
    if (x.durable) this.broker.definitionsChanged();
    return x;
  }

  deleteExchange(name: string, ifUnused: boolean): void {
    if (name === '') throw accessRefused('operation not permitted on the default exchange');
    const x = this.exchanges.get(name);
    if (x === undefined) return; // rabbitmq-compat: deleting a missing exchange is fine
    if (x.system) throw accessRefused(`deletion of system exchange '${name}' in vhost '${this.name}' not allowed`);
    if (ifUnused && x.router.bindingCount > 0) throw preconditionFailed(`exchange '${name}' in vhost '${this.name}' in use`);
    this.#removeExchange(x);
  }

  #removeExchange(x: Exchange): void {
    this.exchanges.delete(x.name);
    if (x.durable) this.broker.definitionsChanged();
    for (const b of [...x.router.bindings()]) {
      if (b.destination.kind === 'exchange') b.destination.boundFrom.delete(x);
    }
    for (const source of x.boundFrom) {
      source.router.unbindAll(x);
      this.#maybeAutoDeleteExchange(source);
    }
    x.boundFrom.clear();
  }

  #maybeAutoDeleteExchange(x: Exchange): void {
    if (x.autoDelete && x.router.bindingCount === 0 && this.exchanges.get(x.name) === x) this.#removeExchange(x);
  }

  bindExchange(destination: string, source: string, routingKey: string, args: FieldTable): void {
    if (source === '' || destination === '') throw accessRefused('operation not permitted on the default exchange');
    const src = this.exchange(source);
    const dst = this.exchange(destination);
    if (src.router.bind({ destination: dst, routingKey, args }) && src.durable && dst.durable) this.broker.definitionsChanged();
    dst.boundFrom.add(src);
  }

  unbindExchange(destination: string, source: string, routingKey: string, args: FieldTable): void {
    if (source === '' || destination === '') throw accessRefused('operation not permitted on the default exchange');
    const src = this.exchanges.get(source);
    const dst = this.exchanges.get(destination);
    if (src === undefined || dst === undefined) return;
    if (src.router.unbind(dst, routingKey, args)) {
      if (src.durable && dst.durable) this.broker.definitionsChanged();
      let still = false;
      for (const b of src.router.bindings()) if (b.destination === dst) still = true;
      if (!still) dst.boundFrom.delete(src);
      this.#maybeAutoDeleteExchange(src);
    }
  }

  // -------------------------------------------------------------------------------------
  // queues

  /** The queue, checking it exists (404) and is not exclusive to another connection (405). */
  queue(name: string, owner: object | null): Queue {
    const q = this.queues.get(name);
    if (q === undefined) throw notFound(`no queue '${name}' in vhost '${this.name}'`);
    this.checkExclusive(q, owner);
    return q;
  }

  checkExclusive(q: Queue, owner: object | null): void {
    if (q.exclusive && q.owner !== owner) throw this.#locked(q.name);
  }

  #locked(name: string): AmqpError {
    return resourceLocked(
      `cannot obtain exclusive access to locked queue '${name}' in vhost '${this.name}'. It could be originally declared on another connection or the exclusive property value does not match that of the original declaration.`,
    );
  }

  /** `authorize` (permission checks) runs on the final name before anything changes. */
  declareQueue(name: string, d: QueueDeclare, owner: object, authorize?: (name: string) => void): Queue {
    if (d.passive) {
      const q = this.queue(name, owner);
      q.touch(); // rabbitmq-compat: a passive declare is a use (x-expires restarts)
      return q;
    }
    if (name === '') name = generatedName('amq.gen-');
    else if (name.startsWith('amq.')) throw accessRefused(`queue name '${name}' contains reserved prefix 'amq.*'`);
    authorize?.(name);
    const ident = { name, vhost: this.name, durable: d.durable, exclusive: d.exclusive, autoDelete: d.autoDelete };
    // rabbitmq-compat: an exclusive queue is never durable (it dies with its connection), so
    // its durable flag is false whatever the declare said, and redeclares compare with that
    const durable = d.durable && !d.exclusive;
    const existing = this.queues.get(name);
    if (existing !== undefined) {
      if (existing.exclusive !== d.exclusive || (existing.exclusive && existing.owner !== owner)) throw this.#locked(name);
      const head = `inequivalent arg '%s' for queue '${name}' in vhost '${this.name}': `;
      if (existing.durable !== durable) {
        throw preconditionFailed(`${head.replace('%s', 'durable')}received '${durable}' but current is '${existing.durable}'`);
      }
      if (existing.autoDelete !== d.autoDelete) {
        throw preconditionFailed(`${head.replace('%s', 'auto_delete')}received '${d.autoDelete}' but current is '${existing.autoDelete}'`);
      }
      assertEquivalentArgs(ident, existing.arguments, d.arguments);
      existing.touch();
      return existing;
    }
    validateQueueArgs(ident, d.arguments);
    const maxQueues = this.limits.maxQueues;
    if (maxQueues !== undefined && maxQueues >= 0 && this.queues.size >= maxQueues) {
      throw preconditionFailed(`cannot declare queue '${name}': queue limit in vhost '${this.name}' (${maxQueues}) is reached`);
    }
    const q = new Queue(this, name, {
      durable,
      exclusive: d.exclusive,
      autoDelete: d.autoDelete,
      arguments: d.arguments,
      owner: d.exclusive ? owner : null,
    });
    this.queues.set(name, q);
    const policy = this.broker.policies.match(this.name, 'queue', name, q.queueType);
    if (policy !== undefined) q.setPolicy(policy);
    if (q.durable) this.broker.definitionsChanged();
    return q;
  }

  /** queue.delete; returns the number of ready messages deleted. */
  deleteQueue(name: string, ifUnused: boolean, ifEmpty: boolean, owner: object): number {
    const q = this.queues.get(name);
    if (q === undefined) return 0; // rabbitmq-compat: delete-ok with 0
    this.checkExclusive(q, owner);
    if (ifUnused && q.consumerCount > 0) throw preconditionFailed(`queue '${name}' in vhost '${this.name}' in use`);
    if (ifEmpty && q.messageCount > 0) throw preconditionFailed(`queue '${name}' in vhost '${this.name}' not empty`);
    return this.deleteQueueNow(q, 'queue.delete');
  }

  /** Removes a queue and its bindings, cancels its consumers; returns its ready count. */
  deleteQueueNow(q: Queue, _reason: string): number {
    if (q.deleted) return 0;
    this.queues.delete(q.name);
    if (q.durable) this.broker.definitionsChanged();
    for (const x of this.exchanges.values()) {
      if (x.router.unbindAll(q) > 0) this.#maybeAutoDeleteExchange(x);
    }
    return q.markDeleted();
  }

  purgeQueue(name: string, owner: object): number {
    return this.queue(name, owner).purge();
  }

  bindQueue(queue: string, exchange: string, routingKey: string, args: FieldTable, owner: object): void {
    if (exchange === '') throw accessRefused('operation not permitted on the default exchange');
    const x = this.exchange(exchange);
    const q = this.queue(queue, owner);
    if (x.router.bind({ destination: q, routingKey, args }) && x.durable && q.durable) this.broker.definitionsChanged();
  }

  unbindQueue(queue: string, exchange: string, routingKey: string, args: FieldTable, owner: object): void {
    if (exchange === '') throw accessRefused('operation not permitted on the default exchange');
    const q = this.queues.get(queue);
    const x = this.exchanges.get(exchange);
    if (q === undefined || x === undefined) return; // rabbitmq-compat: unbind is idempotent
    this.checkExclusive(q, owner);
    if (x.router.unbind(q, routingKey, args)) {
      if (x.durable && q.durable) this.broker.definitionsChanged();
      this.#maybeAutoDeleteExchange(x);
    }
  }

  /** Connection closed: its exclusive queues go. */
  deleteExclusiveQueues(owner: object): void {
    for (const q of [...this.queues.values()]) if (q.exclusive && q.owner === owner) this.deleteQueueNow(q, 'owner closed');
  }

  /** Policies changed: every queue re-evaluates which one applies to it. */
  applyPolicies(): void {
    const policies = this.broker.policies;
    for (const q of this.queues.values()) q.setPolicy(policies.match(this.name, 'queue', q.name, q.queueType));
  }

  // -------------------------------------------------------------------------------------
  // routing

  /**
   * Appends every queue the message routes to (deduplicated, following exchange-to-exchange
   * bindings breadth-first, each exchange visited once) to `out`. The routing keys are the
   * message's plus its CC/BCC header keys (sender-routes.ts) and `extraKeys` (dead-lettering:
   * the BCC keys of the original publish).
   */
  route(x: Exchange, msg: Message, out: Queue[], extraKeys?: readonly string[]): void {
    const epoch = ++this.#routeEpoch;
    x.publishIn++;
    let cc = senderSelectedKeys(msg);
    if (extraKeys !== undefined) cc = cc === undefined ? [...extraKeys] : cc.concat(extraKeys);
    if (x === this.#defaultExchange) {
      this.#routeDefault(msg.routingKey, msg, out, epoch);
      if (cc !== undefined) for (const k of cc) this.#routeDefault(k, msg, out, epoch);
      return;
    }
    x.routeMark = epoch;
    const tmp = this.#scratch;
    this.#routeVia(x, msg, cc, tmp);
    for (let i = 0; i < tmp.length; i++) {
      const d = tmp[i]!;
      if (d.routeMark === epoch) continue;
      d.routeMark = epoch;
      if (d.kind === 'queue') out.push(d);
      else this.#routeVia(d, msg, cc, tmp);
    }
    tmp.length = 0;
    if (out.length > 0) x.publishOut++;
  }

  /**
   * The default exchange: the queue named by the key. rabbitmq-compat (rabbit_exchange:route):
   * a direct reply-to name is delivered to its requester's channel, yet routes to no queue,
   * so a mandatory reply also comes back as basic.return.
   */
  #routeDefault(key: string, msg: Message, out: Queue[], epoch: number): void {
    const q = this.queues.get(key);
    if (q !== undefined) {
      if (q.routeMark !== epoch) {
        q.routeMark = epoch;
        out.push(q);
      }
    } else if (key.startsWith(REPLY_TO_PREFIX)) this.broker.replyTargets.get(key)?.deliverReply(msg);
  }

  /**
   * One exchange's destinations for every routing key. rabbitmq-compat (rabbit_exchange:
   * route1): an exchange that matches nothing hands the message to its alternate exchange,
   * wherever it is in an exchange-to-exchange walk.
   */
  #routeVia(x: Exchange, msg: Message, cc: string[] | undefined, tmp: Bindable[]): void {
    const before = tmp.length;
    x.router.route(msg.routingKey, msg, tmp);
    if (cc !== undefined) for (const k of cc) x.router.route(k, msg, tmp);
    if (tmp.length === before && x.alternateExchange !== undefined) {
      const ae = this.exchanges.get(x.alternateExchange);
      if (ae !== undefined) tmp.push(ae);
    }
  }

  /**
   * Enqueues a routed message on `queues` (deduplicated by route()). A persistent message
   * bound for durable queues is written to the store once, before it is enqueued. Returns
   * false when some queue refused it (reject-publish overflow).
   */
  deliverTo(msg: Message, queues: readonly Queue[]): boolean {
    const store = this.store;
    if (store !== null && msg.persistent) {
      let names: string[] | undefined;
      for (let i = 0; i < queues.length; i++) {
        const q = queues[i]!;
        if (q.durable && !q.refuses(msg.bodySize)) (names ??= []).push(q.name);
      }
      if (names !== undefined) {
        msg.storeId = store.append(msg.exchange, msg.routingKey, msg.propsRaw, msg.body, names);
        // only a message held by durable queues alone may leave memory: a transient holder
        // would have nothing to read it back from once the durable ones ack it
        msg.pageable = names.length === queues.length;
      }
    }
    let accepted = true;
    for (let i = 0; i < queues.length; i++) {
      const q = queues[i]!;
      if (!q.enqueue(msg)) {
        accepted = false;
        if (msg.storeId !== 0 && q.durable) store?.ack(msg.storeId, q.name);
      }
    }
    return accepted;
  }

  /** Broker stopping: timers off. */
  stop(): void {
    for (const q of this.queues.values()) q.stop();
  }
}

function assertEquivalentExchangeArgs(head: string, current: FieldTable, received: FieldTable): void {
  // rabbitmq-compat: only alternate-exchange is compared for exchanges
  const key = 'alternate-exchange';
  const cur = current.get(key);
  const rec = received.get(key);
  const h = head.replace('%s', key);
  if (cur === undefined && rec === undefined) return;
  if (rec === undefined) throw preconditionFailed(`${h}received none but current is the value '${String(cur!.value)}' of type 'longstr'`);
  if (cur === undefined) throw preconditionFailed(`${h}received the value '${String(rec.value)}' of type 'longstr' but current is none`);
  if (cur.type !== rec.type || cur.value !== rec.value) {
    throw preconditionFailed(`${h}received '${String(rec.value)}' but current is '${String(cur.value)}'`);
  }
}
