/**
 * pika (Python, Debian's python3-pika) against warren: the Foundation issue's acceptance
 * (connect.py) and RabbitMQ's six tutorials (tutorials.py, the twin of
 * test/wire/tutorials.test.ts). The scripts print `ok <name>` / `FAIL <name>: why` per check
 * and exit non-zero on any failure; see test/clients/pika/.
 *
 * The scripts run as child processes with spawn, never spawnSync: the in-process broker shares
 * this event loop and must keep answering while a script runs.
 */
import { execFile, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { brokerName, external, useBroker } from '../helpers/broker.js';
import { eventually } from '../helpers/wait.js';

const tb = useBroker();
const scripts = fileURLToPath(new URL('../clients/pika/', import.meta.url));
const NOT_INSTALLED = 'python3-pika is not installed (apt-get install python3-pika)';

/**
 * The first interpreter that can import pika: $PYTHON, then `python3` on PATH, then Debian's
 * /usr/bin/python3 — apt installs python3-pika for the latter, which a pyenv or venv `python3`
 * earlier on PATH does not see.
 */
let python: Promise<string> | undefined;
function pythonWithPika(): Promise<string> {
  python ??= (async () => {
    const candidates = [process.env['PYTHON'], 'python3', '/usr/bin/python3'].filter((c): c is string => !!c);
    const tried: string[] = [];
    for (const c of candidates) {
      const why = await new Promise<string | null>((resolve) => {
        execFile(c, ['-c', 'import pika'], { timeout: 20_000 }, (err, _stdout, stderr) =>
          resolve(err === null ? null : stderr.trim().split('\n').pop() || err.message),
        );
      });
      if (why === null) return c;
      tried.push(`${c}: ${why}`);
    }
    throw new Error(`${NOT_INSTALLED}; tried ${tried.join('; ')}`);
  })();
  return python;
}

interface ScriptRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  lines: string[];
  ms: number;
}

/** Runs test/clients/pika/<script>.py <url>; kills it after timeoutMs (the scripts have their own watchdogs). */
async function runScript(script: string, timeoutMs: number): Promise<ScriptRun> {
  const py = await pythonWithPika();
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(py, ['-u', `${scripts}${script}.py`, tb.url], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      stderr += `\n[killed by pika.test.ts after ${timeoutMs} ms]`;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const lines = stdout.split('\n').filter((l) => l !== '');
      resolve({ code, signal, stdout, stderr, lines, ms: performance.now() - started });
    });
  });
}

function explain(script: string, r: ScriptRun): string {
  return `${script}.py against ${brokerName()} exited ${r.code ?? r.signal} after ${Math.round(r.ms)} ms\n--- stdout\n${r.stdout}--- stderr\n${r.stderr}`;
}

describe('pika', () => {
  it('is installed', async () => {
    // fails (never skips) with NOT_INSTALLED when no interpreter can import pika
    await pythonWithPika();
  });

  it('connect.py: a BlockingConnection opens a channel and closes cleanly', async () => {
    const r = await runScript('connect', 60_000);
    const why = explain('connect', r);
    expect(r.lines.filter((l) => !l.startsWith('ok ')), why).toEqual([]);
    expect(r.lines, why).toEqual(['ok connection-open', 'ok channel-open 1', 'ok channel-close', 'ok connection-close']);
    expect(r.code, why).toBe(0);
    if (!external) {
      // the server side saw the close too
      await eventually(() => tb.warren!.broker.registry.connections.size === 0, 5000, 'warren to drop the connection');
    }
  });

  it('tutorials.py: the six tutorials with BlockingConnection', async () => {
    const r = await runScript('tutorials', 110_000);
    const why = explain('tutorials', r);
    expect(r.lines.filter((l) => l.startsWith('FAIL')), why).toEqual([]);
    for (const name of ['hello-world', 'work-queues', 'publish-subscribe', 'routing', 'topics', 'rpc']) {
      expect(r.lines.some((l) => l === `ok ${name}` || l.startsWith(`ok ${name} (`)), `${name}\n${why}`).toBe(true);
    }
    expect(r.lines.at(-1), why).toBe('6/6 tutorials passed');
    expect(r.code, why).toBe(0);
  });
});
