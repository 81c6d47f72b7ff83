/**
 * The drop-in checklist's shared parts for the Node scripts (see ../README.md): argument
 * parsing, names, the runner that prints `ok` / `FAIL` / `skip` lines with a deadline per
 * check and a watchdog for the whole script, and the x-death assertion.
 */
import { randomBytes } from 'node:crypto';

export const CHECKS = [
  'connect',
  'connect-vhost',
  'heartbeat',
  'declare',
  'bind-topic',
  'publish-confirm',
  'consume-ack-prefetch',
  'nack-requeue',
  'reject-dlx',
  'mandatory-return',
  'rpc',
  'large-message',
  'close',
];

export const CHECK_MS = 15_000;
export const WATCHDOG_MS = 90_000;
export const HEARTBEAT_S = 1;
export const IDLE_MS = 3_000;
export const CONFIRM_COUNT = 50;
export const PREFETCH = 5;
export const MIB = 1024 * 1024;

/** The topic keys published in bind-topic, and where each must land. */
export const TOPIC_KEYS = ['quick.orange.rabbit', 'lazy.brown.fox', 'quick.brown.fox', 'lazy', 'orange'];
export const TOPIC_MATCHED = ['quick.orange.rabbit', 'lazy.brown.fox', 'lazy'];
export const TOPIC_UNMATCHED = ['quick.brown.fox', 'orange'];

export class CheckFailed extends Error {}

/** A check's way of saying the client lacks a feature. */
export class Skip extends Error {}

/** @param {unknown} cond @param {string} why */
export function expect(cond, why) {
  if (!cond) throw new CheckFailed(why);
}

/** `<script> <url> [<vhost-url>]` */
export function parseArgs() {
  const [url, vhostUrl] = process.argv.slice(2);
  if (!url) {
    console.error('usage: <script> <amqp-url> [<amqp-url-of-vhost-test>]');
    process.exit(2);
  }
  return { url, vhostUrl: vhostUrl || undefined };
}

/** Per-run names: `dropin.<client>.<run>.<what>`. */
export function names(client) {
  const p = `dropin.${client}.${randomBytes(3).toString('hex')}`;
  return {
    prefix: p,
    topic: `${p}.topic`,
    ae: `${p}.ae`,
    dlx: `${p}.dlx`,
    work: `${p}.work`,
    topicQ: `${p}.topic-q`,
    aeQ: `${p}.ae-q`,
    dlq: `${p}.dlq`,
    rpc: `${p}.rpc`,
    nowhere: `${p}.nowhere`,
    queues: ['work', 'topic-q', 'ae-q', 'dlq', 'rpc'].map((q) => `${p}.${q}`),
    exchanges: ['topic', 'ae', 'dlx'].map((x) => `${p}.${x}`),
  };
}

/** Arguments of `<p>.work`. */
export function workArgs(n) {
  return {
    'x-message-ttl': 600_000,
    'x-max-length': 1000,
    'x-dead-letter-exchange': n.dlx,
    'x-dead-letter-routing-key': 'dead',
    'x-expires': 600_000,
  };
}

/** Arguments of every other queue: gone if a run dies half way. */
export const OTHER_ARGS = { 'x-expires': 600_000 };

/** URL with `heartbeat=<s>` added to its query. */
export function withHeartbeat(url, s = HEARTBEAT_S) {
  const u = new URL(url);
  u.searchParams.set('heartbeat', String(s));
  return u.toString();
}

export function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

/** @template T @param {Promise<T>} p @param {number} ms @param {string} what @returns {Promise<T>} */
export function withTimeout(p, ms, what) {
  /** @type {NodeJS.Timeout | undefined} */
  let timer;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new CheckFailed(`timed out after ${ms} ms waiting for ${what}`)), ms);
    }),
  ]);
}

/** Polls `check` (every 10 ms) until it returns a truthy value; fails after `ms`. */
export async function eventually(check, what, ms = 5000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) throw new CheckFailed(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(10);
  }
}

/** A promise with its resolve/reject outside. */
export function deferred() {
  /** @type {(v?: any) => void} */ let resolve = () => {};
  /** @type {(e: any) => void} */ let reject = () => {};
  const promise = new Promise((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const asString = (v) => (Buffer.isBuffer(v) || v instanceof Uint8Array ? Buffer.from(v).toString() : v);

/**
 * The dead-lettering of one rejected message, as RabbitMQ 3.10 writes it:
 * x-death = [{count: 1, reason: 'rejected', queue, time, exchange: '', 'routing-keys': [queue]}].
 * `headers` is a plain object (field values as the client decodes them).
 */
export function expectXDeath(headers, queue) {
  expect(headers && typeof headers === 'object', `no headers on the dead letter: ${JSON.stringify(headers)}`);
  const deaths = headers['x-death'];
  expect(Array.isArray(deaths) && deaths.length === 1, `x-death is ${JSON.stringify(deaths)}`);
  const d = deaths[0];
  const got = {
    count: Number(d.count),
    reason: asString(d.reason),
    queue: asString(d.queue),
    exchange: asString(d.exchange),
    'routing-keys': Array.isArray(d['routing-keys']) ? d['routing-keys'].map(asString) : d['routing-keys'],
  };
  const want = { count: 1, reason: 'rejected', queue, exchange: '', 'routing-keys': [queue] };
  expect(JSON.stringify(got) === JSON.stringify(want), `x-death[0] is ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`);
  expect(d.time !== undefined, `x-death[0] has no time: ${JSON.stringify(d)}`);
  expect(asString(headers['x-first-death-reason']) === 'rejected', `x-first-death-reason is ${headers['x-first-death-reason']}`);
  expect(asString(headers['x-first-death-queue']) === queue, `x-first-death-queue is ${headers['x-first-death-queue']}`);
}

/**
 * Runs the checks in order, printing one line each, and exits: 0 if none failed. A check
 * returns a note (or nothing), throws Skip for a missing feature, or throws anything else to
 * fail. If `connect` fails, the rest are not run (and fail).
 * @param {Array<[string, () => Promise<string | void>]>} checks
 */
export async function runChecklist(checks) {
  const watchdog = setTimeout(() => {
    console.log(`FAIL watchdog: still running after ${WATCHDOG_MS} ms`);
    process.exit(3);
  }, WATCHDOG_MS);
  let ok = 0;
  let skipped = 0;
  let failed = 0;
  let abort;
  for (const [name, fn] of checks) {
    if (abort) {
      console.log(`FAIL ${name}: not run: ${abort}`);
      failed++;
      continue;
    }
    const started = performance.now();
    try {
      const note = await withTimeout(Promise.resolve().then(fn), CHECK_MS, name);
      const ms = Math.round(performance.now() - started);
      console.log(`ok ${name} (${ms} ms${note ? ', ' + note : ''})`);
      ok++;
    } catch (e) {
      if (e instanceof Skip) {
        console.log(`skip ${name}: ${e.message}`);
        skipped++;
        continue;
      }
      failed++;
      const why = e instanceof CheckFailed ? e.message : `${e?.constructor?.name ?? 'Error'}: ${e?.message ?? e}`;
      console.log(`FAIL ${name}: ${why.replace(/\n/g, ' ')}`);
      if (!(e instanceof CheckFailed)) console.error(e);
      if (name === 'connect') abort = 'connect failed';
    }
  }
  clearTimeout(watchdog);
  console.log(`summary: ${ok} ok, ${skipped} skip, ${failed} FAIL`);
  // exit now: a client's leftover socket or timer must not keep the script alive
  process.exit(failed ? 1 : 0);
}
