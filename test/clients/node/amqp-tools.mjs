/**
 * The drop-in checklist (../README.md) with rabbitmq-c's command-line tools (Debian
 * amqp-tools: amqp-declare-queue, amqp-publish, amqp-consume, amqp-get, amqp-delete-queue),
 * each run as a process with a kill timeout. The tools are thin: no exchange.declare, no queue
 * arguments, no confirms, no mandatory flag, no nack/reject, and amqp-consume hands its command
 * only the body — those checks say `skip`. What they do have must work: vhosts, heartbeats,
 * topic bindings, prefetch and acks, reply_to, large bodies.
 * Usage: node amqp-tools.mjs <amqp-url> [<amqp-url-of-vhost-test>]
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HEARTBEAT_S, IDLE_MS, MIB, Skip, eventually, expect, names, parseArgs, runChecklist, sleep } from './checklist.mjs';

const { url, vhostUrl } = parseArgs();
const n = names('amqp-tools');
const tmp = mkdtempSync(join(tmpdir(), 'dropin-amqp-tools-'));
const TOOL_MS = 10_000;

/** --server/--port/--vhost/--username/--password from a URL: explicit, so "/" is never mistaken for "". */
function connOpts(u) {
  const x = new URL(u);
  const vhost = x.pathname.length > 1 ? decodeURIComponent(x.pathname.slice(1)) : '/';
  return [
    '--server', x.hostname.replace(/^\[|\]$/g, ''), '--port', x.port || '5672', '--vhost', vhost,
    '--username', decodeURIComponent(x.username) || 'guest', '--password', decodeURIComponent(x.password) || 'guest',
  ];
}
const OPTS = connOpts(url);
/** The connection options as one shell-quoted string, for commands run by amqp-consume. */
const SH_OPTS = OPTS.map((o) => `'${o.replace(/'/g, `'\\''`)}'`).join(' ');

/** Processes still running (consumers): killed before the script exits. */
const running = new Set();
process.on('exit', () => {
  for (const c of running) c.kill('SIGKILL');
  rmSync(tmp, { recursive: true, force: true });
});

/** Starts a tool; `done` resolves with its exit code and output (it is killed after timeoutMs). */
function start(tool, args, { input, timeoutMs = TOOL_MS } = {}) {
  const child = spawn(tool, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  running.add(child);
  const out = [];
  let err = '';
  child.stdout.on('data', (d) => out.push(d));
  child.stderr.setEncoding('utf8').on('data', (d) => (err += d));
  child.stdin.on('error', () => {});
  child.stdin.end(input);
  const done = new Promise((resolve) => {
    const timer = setTimeout(() => {
      err += `[killed after ${timeoutMs} ms]`;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (e) => {
      err += String(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      running.delete(child);
      resolve({ code, signal, stdout: Buffer.concat(out), stderr: err.trim() });
    });
  });
  return { child, done };
}

/** Runs a tool to completion and expects exit 0 (or `allow`). */
async function tool(name, args, opts = {}) {
  const r = await start(name, args, opts).done;
  expect(r.code === 0 || (opts.allow ?? []).includes(r.code), `${name} ${args.filter((a) => !OPTS.includes(a)).join(' ')} exited ${r.code ?? r.signal}: ${r.stderr}`);
  return r;
}

const declare = (queue, opts = OPTS) => tool('amqp-declare-queue', [...opts, '-q', queue]);
const publish = (routingKey, body, extra = []) => tool('amqp-publish', [...OPTS, '-r', routingKey, ...extra], { input: body });
/** amqp-get: the body, or null when the queue is empty (exit 2). */
async function get(queue) {
  const r = await tool('amqp-get', [...OPTS, '-q', queue], { allow: [2] });
  return r.code === 2 ? null : r.stdout;
}
/** Lines a recording consumer wrote (one per message). */
const lines = (file) => (existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter((l) => l !== '') : []);
/** A shell command that appends the body and a newline to `file`. */
const record = (file) => `cat >> '${file}'; echo >> '${file}'`;

const queues = [];
const vhostQueues = [];

await runChecklist([
  ['connect', async () => {
    queues.push(n.work);
    const r = await declare(n.work);
    expect(r.stdout.toString().trim() === n.work, `amqp-declare-queue printed ${r.stdout}`);
    return 'amqp-declare-queue';
  }],

  ['connect-vhost', async () => {
    if (!vhostUrl) throw new Skip('the broker has no vhost "test" (see the test setup)');
    const opts = connOpts(vhostUrl);
    const q = `${n.prefix}.vhost-q`;
    vhostQueues.push(q);
    const r = await declare(q, opts);
    expect(r.stdout.toString().trim() === q, `amqp-declare-queue printed ${r.stdout}`);
    await tool('amqp-delete-queue', [...opts, '-q', q]);
    vhostQueues.pop();
  }],

  ['heartbeat', async () => {
    const q = `${n.prefix}.hb`;
    queues.push(q);
    await declare(q);
    const out = join(tmp, 'hb');
    const consumer = start('amqp-consume', [...OPTS, `--heartbeat=${HEARTBEAT_S}`, '-q', q, '-c', '1', '--', 'sh', '-c', `cat > '${out}'`], {
      timeoutMs: IDLE_MS + TOOL_MS,
    });
    await sleep(IDLE_MS);
    expect(consumer.child.exitCode === null, 'amqp-consume exited while idle');
    await publish(q, 'after the idle time');
    const r = await consumer.done;
    expect(r.code === 0, `amqp-consume exited ${r.code ?? r.signal}: ${r.stderr}`);
    expect(readFileSync(out, 'utf8') === 'after the idle time', `consumer got ${readFileSync(out, 'utf8')}`);
    return `amqp-consume --heartbeat=${HEARTBEAT_S} idle ${IDLE_MS} ms, then received`;
  }],

  ['declare', async () => {
    throw new Skip('client lacks exchange.declare and queue arguments (amqp-declare-queue has only --queue and --durable)');
  }],

  ['bind-topic', async () => {
    // amqp-consume declares the queue (auto-delete) and binds it to an existing exchange with
    // comma-separated keys; the tools cannot declare exchanges, so this uses amq.topic
    const q = n.topicQ;
    const out = join(tmp, 'topic');
    const p = n.prefix;
    const consumer = start('amqp-consume', [...OPTS, '-q', q, '-e', 'amq.topic', '-r', `${p}.*.orange.*,${p}.lazy.#`, '--', 'sh', '-c', record(out)], {
      timeoutMs: 14_000,
    });
    // bound once a probe gets through
    await eventually(async () => {
      await tool('amqp-publish', [...OPTS, '-e', 'amq.topic', '-r', `${p}.probe.orange.probe`, '-b', 'probe']);
      return lines(out).includes('probe');
    }, 'amqp-consume to bind its queue');
    const keys = ['quick.orange.rabbit', 'lazy.brown.fox', 'quick.brown.fox', 'lazy', 'orange', 'end.orange.end'];
    for (const key of keys) await tool('amqp-publish', [...OPTS, '-e', 'amq.topic', '-r', `${p}.${key}`, '-b', key]);
    await eventually(() => lines(out).includes('end.orange.end'), 'the end marker');
    consumer.child.kill('SIGTERM');
    await consumer.done;
    const got = lines(out).filter((l) => l !== 'probe');
    const want = ['quick.orange.rabbit', 'lazy.brown.fox', 'lazy', 'end.orange.end'];
    expect(JSON.stringify(got) === JSON.stringify(want), `the queue got ${got}`);
    return 'amq.topic (the tools cannot declare exchanges, so no alternate exchange)';
  }],

  ['publish-confirm', async () => {
    throw new Skip('client lacks publisher confirms (amqp-publish never sends confirm.select)');
  }],

  ['consume-ack-prefetch', async () => {
    const q = `${n.prefix}.prefetch`;
    queues.push(q);
    await declare(q);
    for (const body of ['m1', 'm2', 'm3']) await publish(q, body);
    const out = join(tmp, 'prefetch');
    const go = join(tmp, 'go');
    // each message's command waits for the go file: the consumer holds m1 unacked meanwhile
    const consumer = start('amqp-consume', [...OPTS, '-q', q, '-p', '1', '-c', '2', '--', 'sh', '-c',
      `${record(out)}; until [ -e '${go}' ]; do sleep 0.02; done`], { timeoutMs: 14_000 });
    await eventually(() => lines(out).length === 1, 'the first delivery');
    const m2 = await get(q); // with prefetch 1, m2 is still in the queue
    expect(m2?.toString() === 'm2', `amqp-get got ${m2} while the consumer held m1 (prefetch 1)`);
    writeFileSync(go, '');
    const r = await consumer.done;
    expect(r.code === 0, `amqp-consume exited ${r.code ?? r.signal}: ${r.stderr}`);
    expect(JSON.stringify(lines(out)) === '["m1","m3"]', `the consumer got ${lines(out)}`);
    // acked: nothing comes back after the consumer's connection closed
    const left = await get(q);
    expect(left === null, `${left} came back after amqp-consume acked and closed`);
    return 'amqp-consume -p 1 acks after its command';
  }],

  ['nack-requeue', async () => {
    throw new Skip('client lacks basic.nack and basic.reject (amqp-consume only leaves a failed command\'s message unacked), and no tool shows the redelivered flag');
  }],

  ['reject-dlx', async () => {
    throw new Skip('client lacks basic.reject and queue arguments (x-dead-letter-exchange)');
  }],

  ['mandatory-return', async () => {
    throw new Skip('client lacks the mandatory flag (amqp-publish)');
  }],

  ['rpc', async () => {
    queues.push(n.rpc);
    await declare(n.rpc);
    const replyQ = (await declare('')).stdout.toString().trim();
    queues.push(replyQ);
    expect(replyQ.startsWith('amq.gen-'), `server-named reply queue ${replyQ}`);
    // amqp-consume passes its command only the body, not reply_to: the server is told the
    // reply queue out of band, and direct reply-to (which needs one channel) is out of reach
    const server = start('amqp-consume', [...OPTS, '-q', n.rpc, '-c', '1', '--', 'sh', '-c',
      `body=$(cat); exec amqp-publish ${SH_OPTS} -r '${replyQ}' -b "pong $body"`], { timeoutMs: 14_000 });
    await publish(n.rpc, 'ping', ['-t', replyQ]);
    const reply = await eventually(() => get(replyQ), 'the reply');
    expect(reply.toString() === 'pong ping', `reply ${reply}`);
    const r = await server.done;
    expect(r.code === 0, `the server's amqp-consume exited ${r.code ?? r.signal}: ${r.stderr}`);
    return 'amqp-publish --reply-to a server-named queue; no direct reply-to (separate processes)';
  }],

  ['large-message', async () => {
    const body = randomBytes(MIB);
    await publish(n.work, body);
    const got = await eventually(() => get(n.work), 'the message');
    expect(got.length === MIB, `got ${got.length} bytes`);
    expect(got.equals(body), 'the body differs');
    return 'amqp-publish from stdin, amqp-get to stdout';
  }],

  ['close', async () => {
    for (const q of queues) await tool('amqp-delete-queue', [...OPTS, '-q', q]);
    expect(running.size === 0, `${running.size} tools still running`);
    return 'every tool closed its connection and exited 0';
  }],
]);
