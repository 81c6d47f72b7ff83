/**
 * The brokers a bench run measures: a warren child process started fresh for every scenario
 * run (so memory numbers start from the same baseline and one scenario cannot leave state for
 * the next), and an optional second broker given by URL. For a local second broker the
 * process listening on its port is found through /proc so its RSS can be read too.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { PerfConnection } from '../../src/perf/client.js';

export interface Target {
  /** 'warren' or 'compare'. */
  readonly role: 'warren' | 'compare';
  readonly url: string;
  /** OS process of the broker when it is local and could be found. */
  readonly pid: number | undefined;
  /** Message store fsyncs so far (warren child only). */
  fsyncs(): Promise<number | null>;
}

/** RSS of a process in bytes, from /proc/<pid>/status; null when unreadable. */
export function rssBytes(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m === null ? null : Number(m[1]) * 1024;
  } catch {
    return null;
  }
}

export function processName(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '?';
  }
}

export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a !== null ? a.port : 0;
      s.close(() => resolvePort(port));
    });
  });
}

/** Tries the AMQP handshake until it succeeds; resolves with the time it first did. */
export async function waitForAmqp(url: string, timeoutMs: number, alive: () => boolean = () => true): Promise<number> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    try {
      const c = await PerfConnection.open(url, { name: 'bench probe' });
      const at = performance.now();
      await c.close();
      return at;
    } catch (err) {
      if (!alive()) throw new Error('broker process exited before accepting AMQP');
      if (performance.now() > deadline) throw new Error(`no AMQP at ${url} after ${timeoutMs} ms: ${(err as Error).message}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }
}

export interface WarrenOptions {
  /** Directory for --cpu-prof output; profiling off when undefined. */
  cpuProfDir?: string;
}

/** A warren child process: `node dist/bin/warren.js --port <free> --data-dir <tmp> …`. */
export class WarrenChild implements Target {
  readonly role = 'warren' as const;
  readonly url: string;
  readonly pid: number;
  /** From spawn() to the first completed AMQP handshake (ms). */
  startupMs = 0;
  readonly #child: ChildProcess;
  readonly #dataDir: string;
  #output = '';
  #exited = false;
  readonly #exit: Promise<void>;

  private constructor(child: ChildProcess, port: number, dataDir: string) {
    this.#child = child;
    this.pid = child.pid!;
    this.url = `amqp://guest:guest@127.0.0.1:${port}`;
    this.#dataDir = dataDir;
    const keep = (b: Buffer): void => {
      this.#output = (this.#output + b.toString('utf8')).slice(-4000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    this.#exit = new Promise((r) =>
      child.once('exit', () => {
        this.#exited = true;
        r();
      }),
    );
  }

  static async start(opts: WarrenOptions = {}): Promise<WarrenChild> {
    const port = await freePort();
    const dataDir = mkdtempSync(join(tmpdir(), 'warren-bench-'));
    const bin = resolve(import.meta.dirname, '../../bin/warren.js');
    const nodeArgs = opts.cpuProfDir !== undefined ? ['--cpu-prof', `--cpu-prof-dir=${opts.cpuProfDir}`] : [];
    const t0 = performance.now();
    const child = spawn(
      process.execPath,
      [...nodeArgs, bin, '--port', String(port), '--host', '127.0.0.1', '--data-dir', dataDir, '--management-port', '0', '--prometheus-port', '0', '--log-level', 'warn'],
      { stdio: ['ignore', 'pipe', 'pipe', 'ipc'], env: { ...process.env, BENCH_WARREN_IPC: '1' } },
    );
    const w = new WarrenChild(child, port, dataDir);
    try {
      const ready = await waitForAmqp(w.url, 30_000, () => !w.#exited);
      w.startupMs = ready - t0;
    } catch (err) {
      await w.stop();
      throw new Error(`${(err as Error).message}\n${w.#output}`);
    }
    return w;
  }

  get output(): string {
    return this.#output;
  }

  get alive(): boolean {
    return !this.#exited;
  }

  fsyncs(): Promise<number | null> {
    if (this.#exited || this.#child.send === undefined) return Promise.resolve(null);
    return new Promise((done) => {
      const timer = setTimeout(() => finish(null), 2000);
      const onMessage = (m: unknown): void => {
        const msg = m as { type?: string; fsyncs?: number };
        if (msg.type === 'warren:counters') finish(msg.fsyncs ?? null);
      };
      const finish = (v: number | null): void => {
        clearTimeout(timer);
        this.#child.off('message', onMessage);
        done(v);
      };
      this.#child.on('message', onMessage);
      this.#child.send('warren:counters');
    });
  }

  /** SIGTERM (warren closes cleanly, and writes its --cpu-prof profile), SIGKILL after 15 s. */
  async stop(): Promise<void> {
    if (!this.#exited) {
      this.#child.kill('SIGTERM');
      const timer = setTimeout(() => this.#child.kill('SIGKILL'), 15_000);
      await this.#exit;
      clearTimeout(timer);
    }
    rmSync(this.#dataDir, { recursive: true, force: true });
  }
}

/** A broker given by URL; its process is found when it listens on this machine. */
export class CompareTarget implements Target {
  readonly role = 'compare' as const;
  readonly url: string;
  readonly pid: number | undefined;

  constructor(url: string) {
    this.url = url;
    const u = new URL(url);
    const host = u.hostname.replace(/^\[|\]$/g, '');
    const local = host === 'localhost' || host === '127.0.0.1' || host === '::1';
    this.pid = local ? listeningPid(Number(u.port || 5672)) : undefined;
  }

  fsyncs(): Promise<number | null> {
    return Promise.resolve(null);
  }
}

/** The process listening on a TCP port: socket inode from /proc/net/tcp{,6}, then whose fd it is. */
export function listeningPid(port: number): number | undefined {
  const inodes = new Set<string>();
  for (const f of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(f, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 10 || cols[3] !== '0A') continue; // 0A = LISTEN
      const localPort = parseInt(cols[1]!.split(':').pop()!, 16);
      if (localPort === port) inodes.add(cols[9]!);
    }
  }
  if (inodes.size === 0) return undefined;
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${d}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${d}/fd/${fd}`));
        if (m !== null && inodes.has(m[1]!)) return Number(d);
      } catch {
        // fd closed meanwhile
      }
    }
  }
  return undefined;
}
