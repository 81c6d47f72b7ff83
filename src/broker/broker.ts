/**
 * The broker core: vhosts, users and the registry of live connections. Knows no sockets and
 * no frames; the session layer drives it.
 */
import type { Message } from './message.js';
import { Alarms } from './alarms.js';
import { Flow } from './flow.js';
import { Policies } from './policies.js';
import { Registry } from './registry.js';
import type { MessageStore } from '../store/store.js';
import { Users } from './users.js';
import { VHost } from './vhost.js';

/** A channel consuming from amq.rabbitmq.reply-to. */
export interface ReplyTarget {
  deliverReply(msg: Message): boolean;
}

export interface BrokerOptions {
  /** Create the default user and vhost (first start: no saved definitions). */
  createDefaults?: boolean;
  /** Message store for a vhost (durable brokers); null/absent = in memory. */
  storeFactory?: (vhost: string) => MessageStore;
  defaultUser: string;
  defaultPass: string;
  defaultVhost: string;
  maxMessageSize: number;
  /** Ready bytes above which a durable queue keeps persistent bodies on disk only. */
  pageOutBytes?: number;
}

export class Broker {
  readonly users = new Users();
  readonly vhosts = new Map<string, VHost>();
  readonly registry = new Registry();
  readonly policies = new Policies();
  readonly alarms = new Alarms();
  readonly flow = new Flow();
  /** Direct reply-to: amq.rabbitmq.reply-to.<token> → the requesting channel. */
  readonly replyTargets = new Map<string, ReplyTarget>();
  readonly options: BrokerOptions;

  constructor(options: BrokerOptions) {
    this.options = options;
    this.users.onChange = () => this.definitionsChanged();
    this.policies.onChange = (vhost) => {
      this.vhosts.get(vhost)?.applyPolicies();
      this.definitionsChanged();
    };
    if (options.createDefaults === false) return;
    this.addVhost(options.defaultVhost);
    if (options.defaultUser !== '') {
      this.users.add(options.defaultUser, options.defaultPass, ['administrator']);
      this.users.setPermission(options.defaultVhost, options.defaultUser, { configure: '.*', write: '.*', read: '.*' });
    }
  }

  /** Set by main: called when durable definitions changed (the store saves them). */
  onDefinitionsChanged: (() => void) | undefined;
  #definitionsDirty = false;

  /** Coalesces definition changes of one turn into one save. */
  definitionsChanged(): void {
    if (this.onDefinitionsChanged === undefined || this.#definitionsDirty) return;
    this.#definitionsDirty = true;
    setImmediate(() => this.flushDefinitions());
  }

  /**
   * Saves pending definition changes now. Connections call it before they write, so a
   * declare-ok never reaches a client before the durable queue it confirms is on disk.
   */
  flushDefinitions(): void {
    if (!this.#definitionsDirty) return;
    this.#definitionsDirty = false;
    this.onDefinitionsChanged?.();
  }

  addVhost(name: string): VHost {
    let v = this.vhosts.get(name);
    if (v === undefined) {
      v = new VHost(name, this);
      if (this.options.storeFactory !== undefined) v.store = this.options.storeFactory(name);
      this.vhosts.set(name, v);
      this.definitionsChanged();
    }
    return v;
  }

  vhost(name: string): VHost | undefined {
    return this.vhosts.get(name);
  }
}
