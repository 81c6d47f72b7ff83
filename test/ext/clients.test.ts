/**
 * Drop-in proof: the same checklist (test/clients/README.md) run by every client library we
 * claim works unchanged — amqplib (callback and promise APIs), @cloudamqp/amqp-client, pika
 * (Blocking and Select), kombu, a Celery worker, amqp091-go, the RabbitMQ Java client and
 * rabbitmq-c's command-line tools — against warren in-process, or WARREN_TEST_URL (.ci/run
 * points it at RabbitMQ 3.10 as the reference).
 *
 * Each script prints `ok|skip|FAIL <check>` lines; a client passes when it exits 0, prints no
 * FAIL and answers every check exactly once. A missing toolchain fails with the Debian package
 * to install, never skips. Go and Java are compiled once per run into a temp dir (in parallel,
 * from beforeAll). Scripts run with spawn, never spawnSync: the in-process broker shares this
 * event loop.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { brokerName, external, useBroker } from '../helpers/broker.js';

const tb = useBroker();
const clients = fileURLToPath(new URL('../clients/', import.meta.url));

/** test/clients/README.md, in order. */
const CHECKS = [
  'connect', 'connect-vhost', 'heartbeat', 'declare', 'bind-topic', 'publish-confirm', 'consume-ack-prefetch',
  'nack-requeue', 'reject-dlx', 'mandatory-return', 'rpc', 'large-message', 'close',
];
const VHOST = 'test';

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

function run(cmd: string, args: string[], opts: { timeoutMs: number; env?: NodeJS.ProcessEnv; cwd?: string }): Promise<Run> {
  const started = performance.now();
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: opts.env ?? process.env, cwd: opts.cwd });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      stderr += `\n[killed by clients.test.ts after ${opts.timeoutMs} ms]`;
      child.kill('SIGKILL');
    }, opts.timeoutMs);
    const done = (code: number | null, signal: NodeJS.Signals | null) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: performance.now() - started });
    };
    child.on('error', (e) => {
      stderr += String(e);
      done(127, null);
    });
    child.on('close', done);
  });
}

/** `cmd args` exits 0 within 20 s: for probing toolchains. */
async function works(cmd: string, args: string[]): Promise<string | null> {
  const r = await run(cmd, args, { timeoutMs: 20_000 });
  return r.code === 0 ? null : (r.stderr.trim().split('\n').pop() ?? '') || `exit ${r.code}`;
}

/** A failure that says which Debian package brings the missing piece. */
function missing(pkg: string, what: string): Error {
  return new Error(`${what} is missing: install ${pkg} (apt-get install ${pkg}; .ci/run does)`);
}

/**
 * The first Python that imports `module`: $PYTHON, `python3` on PATH, then Debian's
 * /usr/bin/python3 (apt installs python3-pika & co. for it; a pyenv python3 earlier on PATH
 * does not see them).
 */
const pythons = new Map<string, Promise<string>>();
function pythonWith(module: string, pkg: string): Promise<string> {
  let p = pythons.get(module);
  if (p === undefined) {
    p = (async () => {
      const tried: string[] = [];
      for (const py of [process.env['PYTHON'], 'python3', '/usr/bin/python3'].filter((c): c is string => !!c)) {
        const why = await works(py, ['-c', `import ${module}`]);
        if (why === null) return py;
        tried.push(`${py}: ${why}`);
      }
      throw new Error(`${missing(pkg, `python module ${module}`).message}; tried ${tried.join('; ')}`);
    })();
    pythons.set(module, p);
  }
  return p;
}

let buildDir = '';
const GO_SRC = '/usr/share/gocode/src/github.com/rabbitmq/amqp091-go';
const JAVA_JARS = {
  client: '/usr/share/java/amqp-client.jar',
  slf4j: '/usr/share/java/slf4j-api.jar',
  slf4jNop: '/usr/share/java/slf4j-nop.jar',
};

/** Builds test/clients/go in GOPATH mode against Debian's amqp091-go: no network. */
async function buildGo(): Promise<string[]> {
  if ((await works('go', ['version'])) !== null) throw missing('golang-go', 'the go command');
  if (!existsSync(GO_SRC)) throw missing('golang-github-rabbitmq-amqp091-go-dev', GO_SRC);
  const out = join(buildDir, 'checklist-go');
  const env: NodeJS.ProcessEnv = { ...process.env, GO111MODULE: 'off', GOFLAGS: '', GOPATH: `/usr/share/gocode:${join(buildDir, 'gopath')}` };
  if (!process.env['GOCACHE'] && !process.env['HOME']) env['GOCACHE'] = join(buildDir, 'gocache');
  const r = await run('go', ['build', '-o', out, join(clients, 'go', 'checklist.go')], { timeoutMs: 240_000, env });
  if (r.code !== 0) throw new Error(`go build failed (exit ${r.code}):\n${r.stdout}${r.stderr}`);
  return [out];
}

/** Compiles test/clients/java against Debian's RabbitMQ Java client. */
async function buildJava(): Promise<string[]> {
  if ((await works('javac', ['-version'])) !== null) throw missing('default-jdk-headless', 'javac');
  if (!existsSync(JAVA_JARS.client)) throw missing('librabbitmq-client-java', JAVA_JARS.client);
  if (!existsSync(JAVA_JARS.slf4j)) throw missing('libslf4j-java', JAVA_JARS.slf4j);
  const out = join(buildDir, 'java');
  const cp = [JAVA_JARS.client, JAVA_JARS.slf4j].join(':');
  const r = await run('javac', ['-d', out, '-cp', cp, join(clients, 'java', 'Checklist.java')], { timeoutMs: 240_000 });
  if (r.code !== 0) throw new Error(`javac failed (exit ${r.code}):\n${r.stdout}${r.stderr}`);
  const runCp = [out, cp, ...(existsSync(JAVA_JARS.slf4jNop) ? [JAVA_JARS.slf4jNop] : [])].join(':');
  return ['java', '-cp', runCp, 'Checklist'];
}

const builds: { go?: Promise<string[]>; java?: Promise<string[]> } = {};
let vhostUrl: string | undefined;
let vhostNote = '';

/** Vhost `test` with full permissions for the URL's user: in warren directly, in RabbitMQ by rabbitmqctl. */
async function addTestVhost(): Promise<void> {
  const user = decodeURIComponent(new URL(tb.url).username) || 'guest';
  if (tb.warren !== undefined) {
    tb.warren.broker.addVhost(VHOST);
    tb.warren.broker.users.setPermission(VHOST, user, { configure: '.*', write: '.*', read: '.*' });
    vhostUrl = tb.urlWith({ vhost: VHOST });
    return;
  }
  const host = tb.host;
  if (host !== 'localhost' && host !== '127.0.0.1' && host !== '::1') {
    vhostNote = `cannot add vhost ${VHOST} to ${host} from here`;
    return;
  }
  const add = await run('rabbitmqctl', ['add_vhost', VHOST], { timeoutMs: 60_000 });
  if (add.code !== 0 && !/already exists|vhost_already_exists/.test(add.stdout + add.stderr)) {
    vhostNote = `rabbitmqctl add_vhost ${VHOST} failed: ${(add.stdout + add.stderr).trim().split('\n').pop()}`;
    return;
  }
  const perm = await run('rabbitmqctl', ['set_permissions', '-p', VHOST, user, '.*', '.*', '.*'], { timeoutMs: 60_000 });
  if (perm.code !== 0) {
    vhostNote = `rabbitmqctl set_permissions failed: ${(perm.stdout + perm.stderr).trim().split('\n').pop()}`;
    return;
  }
  vhostUrl = tb.urlWith({ vhost: VHOST });
}

beforeAll(async () => {
  buildDir = mkdtempSync(join(tmpdir(), 'warren-clients-'));
  builds.go = buildGo();
  builds.java = buildJava();
  // an unawaited rejection is reported by the `it` that awaits it, not as unhandled
  builds.go.catch(() => {});
  builds.java.catch(() => {});
  await addTestVhost();
}, 300_000);

afterAll(async () => {
  await Promise.allSettled([builds.go, builds.java]);
  rmSync(buildDir, { recursive: true, force: true });
});

/** Runs one client's script and asserts the checklist. */
async function checklist(client: string, command: Promise<string[]>, timeoutMs = 100_000): Promise<void> {
  const [cmd, ...args] = await command;
  const r = await run(cmd!, [...args, tb.url, ...(vhostUrl ? [vhostUrl] : [])], {
    timeoutMs,
    env: { ...process.env, PYTHONUNBUFFERED: '1', PYTHONDONTWRITEBYTECODE: '1' },
    cwd: clients,
  });
  const lines = r.stdout.split('\n').filter((l) => l !== '');
  const why =
    `${client} against ${brokerName()} exited ${r.code ?? r.signal} after ${Math.round(r.ms)} ms` +
    (vhostNote ? ` (${vhostNote})` : '') +
    `\n--- stdout\n${r.stdout}--- stderr\n${r.stderr.slice(-6000)}`;
  const answered = (check: string) => lines.filter((l) => new RegExp(`^(ok|skip|FAIL) ${check}([: ]|$)`).test(l));
  const skips = lines.filter((l) => l.startsWith('skip ')).map((l) => l.slice(5, l.indexOf(':')));
  console.log(`${client} vs ${brokerName()}: ${Math.round(r.ms)} ms, ${lines.filter((l) => l.startsWith('ok ')).length} ok, skip: ${skips.join(', ') || 'none'}`);
  expect(lines.filter((l) => l.startsWith('FAIL')), why).toEqual([]);
  for (const check of CHECKS) expect(answered(check), `${check} answered once\n${why}`).toHaveLength(1);
  expect(r.code, why).toBe(0);
}

const node = (script: string) => Promise.resolve([process.execPath, join(clients, 'node', script)]);
const python = async (module: string, pkg: string, script: string) => [await pythonWith(module, pkg), '-u', join(clients, 'python', script)];

describe(`drop-in clients against ${external ? 'WARREN_TEST_URL' : 'warren'}`, () => {
  it('amqplib 0.10 callback API (Node)', () => checklist('amqplib-callback', node('amqplib-callback.mjs')));
  it('amqplib 0.10 promise API (Node)', () => checklist('amqplib-promise', node('amqplib-promise.mjs')));
  it('@cloudamqp/amqp-client 4 (Node)', () => checklist('amqp-client', node('amqp-client.mjs')));
  it('pika BlockingConnection (Python, python3-pika)', () =>
    checklist('pika-blocking', python('pika', 'python3-pika', 'pika_blocking.py')));
  it('pika SelectConnection (Python, python3-pika)', () =>
    checklist('pika-select', python('pika', 'python3-pika', 'pika_select.py')));
  it('kombu Producer/Consumer (Python, python3-kombu)', () =>
    checklist('kombu', python('kombu', 'python3-kombu', 'kombu_checklist.py')));
  it('Celery worker with retries and rpc:// results (Python, celery)', () =>
    checklist('celery', python('celery', 'celery', 'celery_checklist.py'), 110_000));
  // these two wait for their build too
  it('amqp091-go (Go, golang-github-rabbitmq-amqp091-go-dev)', () => checklist('amqp091-go', builds.go!), 300_000);
  it('RabbitMQ Java client (librabbitmq-client-java)', () => checklist('java', builds.java!), 300_000);
  it('rabbitmq-c command-line tools (amqp-tools)', async () => {
    for (const tool of ['amqp-declare-queue', 'amqp-publish', 'amqp-consume', 'amqp-get', 'amqp-delete-queue']) {
      if ((await works('sh', ['-c', `command -v ${tool}`])) !== null) throw missing('amqp-tools', tool);
    }
    await checklist('amqp-tools', node('amqp-tools.mjs'));
  });
});
