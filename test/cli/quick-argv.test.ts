/**
 * bin/cli.ts quickBrokerArgv(): every command line it accepts, yargs accepts too and hands the
 * start command the same options; everything else it leaves to yargs (returns undefined).
 */
import fc from 'fast-check';
import yargs from 'yargs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { brokerOptions, defineCli, quickBrokerArgv } from '../../bin/cli.js';

const KEYS = Object.keys(brokerOptions).map((k) => k.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase()));

/** What yargs hands the start command for these arguments (throws where yargs fails). */
async function viaYargs(args: string[]): Promise<Record<string, unknown>> {
  let got: Record<string, unknown> | undefined;
  const y = defineCli(yargs(args), {
    start: async (argv) => {
      got = argv;
    },
    perf: async () => {
      throw new Error('perf command');
    },
  })
    .exitProcess(false)
    .fail((msg, err) => {
      throw err ?? new Error(msg);
    });
  await y.parseAsync();
  if (got === undefined) throw new Error('start command not run');
  return Object.fromEntries(KEYS.map((k) => [k, got![k]]));
}

// yargs reads WARREN* variables of this process; keep them out while comparing
const saved: Record<string, string | undefined> = {};
beforeAll(() => {
  for (const k of Object.keys(process.env)) {
    if (k.startsWith('WARREN')) {
      saved[k] = process.env[k];
      delete process.env[k];
    }
  }
});
afterAll(() => Object.assign(process.env, saved));

const accepted: string[][] = [
  [],
  ['start'],
  ['--port', '5673', '--host', '127.0.0.1', '--data-dir', '/tmp/x', '--management-port', '0', '--prometheus-port', '0', '--log-level', 'warn'],
  ['start', '--port=0', '--host=::', '--log-level=debug'],
  ['--memory-high-watermark', '0.4', '--disk-free-limit', '50000000', '--frame-max', '131072'],
  ['--tls-verify-peer', '--tls-fail-if-no-peer-cert', 'false', '--tls-cert', 'c.pem', '--tls-key=k.pem'],
  ['--tls-verify-peer=true', '--default-pass', '123', '--default-vhost', '/', '--server-version', '3.13.7'],
  ['--load-definitions', 'defs.json', '--recover-bodies-mib', '64', '--default-user', 'a=b'],
];

const refused: string[][] = [
  ['--help'],
  ['-h'],
  ['--version'],
  ['perf'],
  ['perf', '--uri', 'amqp://x'],
  ['--config', 'c.json'],
  ['--port'],
  ['--port', '-1'],
  ['--port', '0x10'],
  ['--port', '1e3'],
  ['--port', '5672', '--port', '5673'],
  ['--dataDir', 'x'],
  ['--data-dir', ''],
  ['--data-dir='],
  ['--data-dir', '"x"'],
  ['--data-dir="x"'],
  ['--no-tls-verify-peer'],
  ['--tls-verify-peer=yes'],
  ['--loopback-users', 'a', 'b'],
  ['--log-level', 'loud'],
  ['--bogus', '1'],
  ['-p', '1'],
  ['start', 'start'],
  ['x'],
  ['--'],
  ['--port', '1', 'extra'],
];

describe('quickBrokerArgv', () => {
  it.each(accepted.map((a) => [a]))('agrees with yargs: %j', async (args) => {
    const quick = quickBrokerArgv(args, {});
    expect(quick).toBeDefined();
    expect(quick).toEqual(await viaYargs(args));
  });

  it.each(refused.map((a) => [a]))('leaves %j to yargs', (args) => {
    expect(quickBrokerArgv(args, {})).toBeUndefined();
  });

  it('leaves everything to yargs when a WARREN* variable is set', () => {
    expect(quickBrokerArgv(['--port', '1'], { WARREN_PORT: '2' })).toBeUndefined();
    expect(quickBrokerArgv([], { WARRENX: '' })).toBeUndefined();
    expect(quickBrokerArgv([], { PATH: '/bin', BENCH_WARREN_IPC: '1' })).toBeDefined();
  });

  it('agrees with yargs on random command lines it accepts', async () => {
    const names = Object.keys(brokerOptions);
    const value = fc.oneof(
      fc.constantFrom('0', '1', '5672', '0.4', '007', '1.50', '1e3', '-1', '0x1f', '', 'true', 'false', 'warn', 'debug', 'loud'),
      fc.constantFrom('"q"', "'q'", 'a b', 'a=b', '::', '/tmp/data', 'guest', '3.13.7', '--port', '-x', '123abc'),
    );
    const token = fc.oneof(
      fc.constantFrom(...names).map((n) => [`--${n}`]),
      fc.tuple(fc.constantFrom(...names), value).map(([n, v]) => [`--${n}`, v]),
      fc.tuple(fc.constantFrom(...names), value).map(([n, v]) => [`--${n}=${v}`]),
      fc.constantFrom(['start'], ['--no-tls-verify-peer'], ['--dataDir', 'x'], ['-h']),
    );
    const line = fc.array(token, { maxLength: 5 }).map((ts) => ts.flat());
    let agreed = 0;
    await fc.assert(
      fc.asyncProperty(line, async (args) => {
        const quick = quickBrokerArgv(args, {});
        if (quick === undefined) return;
        agreed++;
        expect(quick).toEqual(await viaYargs(args));
      }),
      { numRuns: 400 },
    );
    expect(agreed).toBeGreaterThan(40);
  });
});
