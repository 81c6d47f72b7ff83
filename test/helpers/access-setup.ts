/**
 * Users, permissions, vhosts and limits for security tests, made the same way on both
 * brokers a wire test can run against:
 *  - the in-process warren: straight through `tb.warren.broker` (users, vhosts, limits);
 *  - an external RabbitMQ (WARREN_TEST_URL): with `rabbitmqctl` against its default node
 *    (RABBITMQCTL_NODE to pick another), so the same test proves RabbitMQ behaves the same.
 *
 * Everything made on an external broker is remembered and removed by `cleanup()` (call it in
 * an afterAll registered after useBroker()); names should start with `sec-` so a leftover is
 * easy to spot. rabbitmqctl takes about half a second per call: make what a file needs once,
 * in beforeAll, with a generous hook timeout.
 */
import { execFileSync } from 'node:child_process';
import type { HashingAlgorithm } from '../../src/broker/users.js';
import { external, type TestBroker } from './broker.js';
import { eventually } from './wait.js';

export interface Perms {
  configure: string;
  write: string;
  read: string;
}

export const ALL: Perms = { configure: '.*', write: '.*', read: '.*' };

export interface Limits {
  maxConnections?: number;
  maxQueues?: number;
  maxChannels?: number;
}

function run(input: string | undefined, args: string[]): string {
  const node = process.env['RABBITMQCTL_NODE'];
  const argv = node !== undefined && node !== '' ? ['-n', node, ...args] : args;
  return execFileSync('rabbitmqctl', argv, { encoding: 'utf8', input, stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'], timeout: 30_000 });
}

export function rabbitmqctl(...args: string[]): string {
  return run(undefined, args);
}

/** rabbitmqctl with `input` on its standard input. */
rabbitmqctl.withInput = (input: string, ...args: string[]): string => run(input, args);

export class AccessSetup {
  readonly #tb: TestBroker;
  readonly #users = new Set<string>();
  readonly #vhosts = new Set<string>();

  constructor(tb: TestBroker) {
    this.#tb = tb;
  }

  get #broker() {
    const w = this.#tb.warren;
    if (w === undefined) throw new Error('no in-process broker');
    return w.broker;
  }

  /** A user with a password ('' = no password: only EXTERNAL can log in) and no permissions. */
  addUser(name: string, password: string, tags: string[] = []): void {
    if (external) {
      this.#users.add(name);
      this.#forget('delete_user', name); // a leftover of an interrupted run
      rabbitmqctl('add_user', name, password);
      if (password === '') rabbitmqctl('clear_password', name);
      if (tags.length > 0) rabbitmqctl('set_user_tags', name, ...tags);
    } else {
      const u = this.#broker.users.add(name, password, tags);
      if (password === '') this.#broker.users.put({ ...u, passwordHash: '' });
    }
  }

  /** A user whose password hash comes from RabbitMQ (definitions export, 3.6+ scheme). */
  async addUserWithHash(name: string, passwordHash: string, hashingAlgorithm: HashingAlgorithm = 'rabbit_password_hashing_sha256'): Promise<void> {
    if (external) {
      this.#users.add(name);
      this.#forget('delete_user', name);
      const defs = { users: [{ name, password_hash: passwordHash, hashing_algorithm: hashingAlgorithm, tags: [], limits: {} }] };
      // from standard input: the node (another OS user) may not be able to read our temp files
      rabbitmqctl.withInput(JSON.stringify(defs), 'import_definitions');
      // the import is asynchronous: wait until the user is there
      await eventually(
        () => rabbitmqctl('list_users', '--silent').split('\n').some((l) => l.split('\t')[0] === name),
        20_000,
        `user ${name} from rabbitmqctl import_definitions`,
      );
    } else {
      this.#broker.users.put({ name, passwordHash, hashingAlgorithm, tags: [] });
    }
  }

  setPermissions(vhost: string, user: string, p: Perms): void {
    if (external) rabbitmqctl('set_permissions', '-p', vhost, user, p.configure, p.write, p.read);
    else this.#broker.users.setPermission(vhost, user, p);
  }

  setTopicPermissions(vhost: string, user: string, exchange: string, write: string, read: string): void {
    if (external) rabbitmqctl('set_topic_permissions', '-p', vhost, user, exchange, write, read);
    else this.#broker.users.setTopicPermission(vhost, user, { exchange, write, read });
  }

  addVhost(name: string): void {
    if (external) {
      this.#vhosts.add(name);
      this.#forget('delete_vhost', name);
      rabbitmqctl('add_vhost', name);
    } else {
      this.#broker.addVhost(name);
    }
  }

  setVhostLimits(vhost: string, l: Limits): void {
    if (external) {
      const json: Record<string, number> = {};
      if (l.maxConnections !== undefined) json['max-connections'] = l.maxConnections;
      if (l.maxQueues !== undefined) json['max-queues'] = l.maxQueues;
      rabbitmqctl('set_vhost_limits', '-p', vhost, JSON.stringify(json));
    } else {
      const v = this.#broker.vhost(vhost);
      if (v === undefined) throw new Error(`no vhost ${vhost}`);
      v.limits = { maxConnections: l.maxConnections, maxQueues: l.maxQueues };
    }
  }

  setUserLimits(user: string, l: Limits): void {
    if (external) {
      const json: Record<string, number> = {};
      if (l.maxConnections !== undefined) json['max-connections'] = l.maxConnections;
      if (l.maxChannels !== undefined) json['max-channels'] = l.maxChannels;
      rabbitmqctl('set_user_limits', user, JSON.stringify(json));
    } else {
      const u = this.#broker.users.get(user);
      if (u === undefined) throw new Error(`no user ${user}`);
      this.#broker.users.put({ ...u, limits: { maxConnections: l.maxConnections, maxChannels: l.maxChannels } });
    }
  }

  #forget(command: 'delete_user' | 'delete_vhost', name: string): void {
    try {
      rabbitmqctl(command, name);
    } catch {
      // not there
    }
  }

  /** Removes what was made on an external broker (the in-process one is thrown away). */
  cleanup(): void {
    if (!external) return;
    for (const u of this.#users) this.#forget('delete_user', u);
    for (const v of this.#vhosts) this.#forget('delete_vhost', v);
    this.#users.clear();
    this.#vhosts.clear();
  }
}
