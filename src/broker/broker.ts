/**
 * The broker core: vhosts, users and the registry of live connections. Knows no sockets and
 * no frames; the session layer drives it.
 */
import { Policies } from './policies.js';
import { Registry } from './registry.js';
import { Users } from './users.js';
import { VHost } from './vhost.js';

export interface BrokerOptions {
  defaultUser: string;
  defaultPass: string;
  defaultVhost: string;
  maxMessageSize: number;
}

export class Broker {
  readonly users = new Users();
  readonly vhosts = new Map<string, VHost>();
  readonly registry = new Registry();
  readonly policies = new Policies();
  readonly options: BrokerOptions;

  constructor(options: BrokerOptions) {
    this.options = options;
    this.policies.onChange = (vhost) => this.vhosts.get(vhost)?.applyPolicies();
    this.addVhost(options.defaultVhost);
    if (options.defaultUser !== '') {
      this.users.add(options.defaultUser, options.defaultPass, ['administrator']);
      this.users.setPermission(options.defaultVhost, options.defaultUser, { configure: '.*', write: '.*', read: '.*' });
    }
  }

  addVhost(name: string): VHost {
    let v = this.vhosts.get(name);
    if (v === undefined) {
      v = new VHost(name, this);
      this.vhosts.set(name, v);
    }
    return v;
  }

  vhost(name: string): VHost | undefined {
    return this.vhosts.get(name);
  }
}
