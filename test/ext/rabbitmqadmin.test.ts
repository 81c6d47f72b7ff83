/**
 * RabbitMQ's own command-line client for the management API, rabbitmqadmin (shipped by
 * Debian's rabbitmq-server package as /usr/bin/rabbitmqadmin), against warren's API:
 * declare, list, publish, get, bind, purge, export/import, close a connection, delete.
 *
 * It runs as a child process with spawn: the in-process broker shares this event loop and
 * must keep answering while the script runs.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import amqplib from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startManaged, type Managed } from '../helpers/management.js';
import { eventually } from '../helpers/wait.js';

const NOT_INSTALLED =
  "rabbitmqadmin not found: it comes with Debian's rabbitmq-server package (apt-get install rabbitmq-server, which installs /usr/bin/rabbitmqadmin); or set RABBITMQADMIN to its path";

/** $RABBITMQADMIN, Debian's /usr/bin/rabbitmqadmin, or the copy inside the management plugin. */
function findRabbitmqadmin(): string {
  const candidates = [process.env['RABBITMQADMIN'], '/usr/bin/rabbitmqadmin'];
  const lib = '/usr/lib/rabbitmq/lib';
  if (existsSync(lib)) {
    for (const server of readdirSync(lib)) {
      const plugins = join(lib, server, 'plugins');
      if (!existsSync(plugins)) continue;
      for (const p of readdirSync(plugins)) if (p.startsWith('rabbitmq_management-')) candidates.push(join(plugins, p, 'priv/www/cli/rabbitmqadmin'));
    }
  }
  const found = candidates.find((c): c is string => c !== undefined && c !== '' && existsSync(c));
  if (found === undefined) throw new Error(NOT_INSTALLED);
  return found;
}

let m: Managed;
let admin: string;
let port: string;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function rabbitmqadmin(...args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn('/usr/bin/python3', [admin, '-H', '127.0.0.1', '-P', port, '-u', 'guest', '-p', 'guest', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Runs and expects success; the failure message shows what rabbitmqadmin said. */
async function ok(...args: string[]): Promise<string> {
  const r = await rabbitmqadmin(...args);
  expect(r.code, `rabbitmqadmin ${args.join(' ')}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`).toBe(0);
  return r.stdout;
}

beforeAll(async () => {
  admin = findRabbitmqadmin();
  m = await startManaged();
  port = new URL(m.base).port;
});

afterAll(async () => {
  await m?.warren.close();
});

describe('rabbitmqadmin against warren', () => {
  it('declares, lists, publishes and gets', async () => {
    expect(await ok('declare', 'queue', 'name=admin-q', 'durable=false')).toContain('queue declared');
    const list = await ok('list', 'queues');
    expect(list).toMatch(/\|\s*admin-q\s*\|\s*0\s*\|/);
    expect(await ok('publish', 'routing_key=admin-q', 'payload=hello from rabbitmqadmin')).toContain('Message published');
    expect(await ok('list', 'queues', 'name', 'messages')).toMatch(/\|\s*admin-q\s*\|\s*1\s*\|/);
    const got = await ok('get', 'queue=admin-q');
    expect(got).toContain('hello from rabbitmqadmin');
    expect(got).toMatch(/\|\s*admin-q\s*\|/); // routing key column
    // the default ackmode requeues: the message is still there
    const json = JSON.parse(await ok('-f', 'raw_json', 'list', 'queues')) as { name: string; messages: number }[];
    expect(json.find((q) => q.name === 'admin-q')?.messages).toBe(1);
  });

  it('binds, lists bindings and exchanges, purges and deletes', async () => {
    await ok('declare', 'exchange', 'name=admin-x', 'type=fanout', 'durable=false');
    await ok('declare', 'binding', 'source=admin-x', 'destination=admin-q', 'routing_key=any');
    expect(await ok('list', 'bindings')).toMatch(/admin-x\s*\|\s*admin-q\s*\|\s*any/);
    expect(await ok('list', 'exchanges')).toMatch(/admin-x\s*\|\s*fanout/);
    expect(await ok('publish', 'exchange=admin-x', 'routing_key=whatever', 'payload=via fanout')).toContain('Message published');
    expect(await ok('list', 'queues', 'name', 'messages')).toMatch(/\|\s*admin-q\s*\|\s*2\s*\|/);
    await ok('purge', 'queue', 'name=admin-q');
    expect(await ok('list', 'queues', 'name', 'messages')).toMatch(/\|\s*admin-q\s*\|\s*0\s*\|/);
    await ok('delete', 'binding', 'source=admin-x', 'destination_type=queue', 'destination=admin-q', 'properties_key=any');
    expect(await ok('list', 'bindings')).not.toContain('admin-x');
    await ok('delete', 'exchange', 'name=admin-x');
    await ok('delete', 'queue', 'name=admin-q');
    expect(await ok('list', 'queues')).not.toContain('admin-q');
  });

  it('shows the overview, manages vhosts, users and permissions', async () => {
    expect(await ok('show', 'overview')).toMatch(/3\.10\.8/);
    await ok('declare', 'vhost', 'name=admin-vhost');
    await ok('declare', 'user', 'name=admin-user', 'password=secret', 'tags=management');
    await ok('declare', 'permission', 'vhost=admin-vhost', 'user=admin-user', 'configure=.*', 'write=.*', 'read=.*');
    expect(await ok('list', 'permissions')).toMatch(/admin-vhost\s*\|[^\n]*admin-user/);
    await ok('--vhost=admin-vhost', 'declare', 'queue', 'name=in-vhost', 'durable=true');
    expect(await ok('--vhost=admin-vhost', 'list', 'queues')).toContain('in-vhost');
    await ok('declare', 'policy', 'name=admin-pol', 'pattern=^in-', 'definition={"max-length": 10}', 'apply-to=queues', '--vhost=admin-vhost');
    expect(await ok('--vhost=admin-vhost', 'list', 'policies')).toContain('admin-pol');
  });

  it('exports and imports definitions', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rabbitmqadmin-'));
    try {
      const file = join(dir, 'defs.json');
      await ok('export', file);
      const defs = JSON.parse(readFileSync(file, 'utf8')) as { queues: { name: string }[]; users: { name: string }[] };
      expect(defs.queues.map((q) => q.name)).toContain('in-vhost');
      expect(defs.users.map((u) => u.name)).toContain('admin-user');
      await ok('delete', 'vhost', 'name=admin-vhost');
      expect(await ok('list', 'vhosts')).not.toContain('admin-vhost');
      await ok('import', file);
      expect(await ok('--vhost=admin-vhost', 'list', 'queues')).toContain('in-vhost');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('lists and closes connections', async () => {
    const c = await amqplib.connect(m.warren.url, { clientProperties: { connection_name: 'closed-by-rabbitmqadmin' } });
    const closed = new Promise<Error>((r) => c.on('close', r));
    c.on('error', () => {});
    const list = await eventually(async () => {
      const out = await ok('-f', 'raw_json', 'list', 'connections');
      const conns = JSON.parse(out) as { name: string; user_provided_name?: string }[];
      return conns.find((x) => x.user_provided_name === 'closed-by-rabbitmqadmin');
    });
    await ok('close', 'connection', `name=${list!.name}`);
    expect(String(await closed)).toContain('CONNECTION_FORCED');
  });

  it('reports errors as RabbitMQ does', async () => {
    const r = await rabbitmqadmin('declare', 'queue', 'name=admin-bad', 'arguments={"x-max-priority": 300}');
    expect(r.code).not.toBe(0);
    expect(r.stdout + r.stderr).toContain("invalid arg 'x-max-priority' for queue 'admin-bad' in vhost '/': {max_value_exceeded,300}");
    const missing = await rabbitmqadmin('get', 'queue=no-such-queue');
    expect(missing.stdout + missing.stderr).toContain('Not found: /api/queues/%2F/no-such-queue/get');
  });
});
