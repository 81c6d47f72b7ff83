/**
 * warren as a child process, for tests that kill it (SIGKILL, SIGTERM) and restart it on the
 * same data directory:
 *
 *   const dir = tempDataDir();
 *   const w = await WarrenProcess.start({ dataDir: dir });   // waits for "AMQP listener up"
 *   … amqplib.connect(w.url) …
 *   await w.kill('SIGKILL');                                  // resolves with the exit
 *   const again = await WarrenProcess.start({ dataDir: dir });
 *
 * The CLI runs from a build of src/ and bin/ made here with TypeScript's transpileModule
 * (isolatedModules: one file at a time, no type check), so the unit suite needs nothing but
 * Node and no prior `npm run build`. The build is cached in node_modules/.cache by a hash of
 * the sources' paths, sizes and mtimes, and made atomically (temp dir + rename) so parallel
 * test files share it. WARREN_TEST_BUILD=<dir with bin/warren.js> uses an existing build.
 *
 * Every log line (pino JSON on stdout) is kept; waitForLog() waits for one with a deadline.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { withTimeout } from './wait.js';

const ROOT = resolve(import.meta.dirname, '../..');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    return e.isDirectory() ? sources(p) : e.name.endsWith('.ts') ? [p] : [];
  });
}

/** Path of bin/warren.js in an up-to-date build of the current sources. */
export function warrenBuild(): string {
  const given = process.env['WARREN_TEST_BUILD'];
  if (given !== undefined && given !== '') return join(resolve(given), 'bin', 'warren.js');
  const files = [...sources(join(ROOT, 'src')), join(ROOT, 'bin', 'warren.ts'), join(ROOT, 'bin', 'cli.ts')].sort();
  const h = createHash('sha256');
  for (const f of files) {
    const s = statSync(f);
    h.update(`${relative(ROOT, f)}\0${s.size}\0${s.mtimeMs}\n`);
  }
  const cache = join(ROOT, 'node_modules', '.cache', 'warren-test-build');
  const out = join(cache, h.digest('hex').slice(0, 16));
  const entry = join(out, 'bin', 'warren.js');
  if (existsSync(entry)) return entry;
  mkdirSync(cache, { recursive: true });
  const tmp = mkdtempSync(join(cache, 'tmp-'));
  const options: ts.CompilerOptions = {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.ES2022,
    verbatimModuleSyntax: true,
    isolatedModules: true,
    sourceMap: false,
  };
  for (const f of files) {
    const js = ts.transpileModule(readFileSync(f, 'utf8'), { compilerOptions: options, fileName: f }).outputText;
    const target = join(tmp, relative(ROOT, f)).replace(/\.ts$/, '.js');
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, js);
  }
  // node_modules/ ends the search for a package scope: say the build is ESM here
  writeFileSync(join(tmp, 'package.json'), '{ "type": "module" }\n');
  try {
    renameSync(tmp, out);
  } catch {
    rmSync(tmp, { recursive: true, force: true }); // another test file built it first
  }
  // old builds go after an hour (a running test uses its build for minutes)
  for (const d of readdirSync(cache)) {
    const p = join(cache, d);
    if (p !== out && Date.now() - statSync(p).mtimeMs > 3_600_000) rmSync(p, { recursive: true, force: true });
  }
  return entry;
}

/** A TCP port nobody listens on right now (the CLI wants a fixed one). */
export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen({ host: '127.0.0.1', port: 0 }, () => {
      const a = s.address();
      const port = typeof a === 'object' && a !== null ? a.port : 0;
      s.close(() => resolvePort(port));
    });
  });
}

const made: string[] = [];

/** A fresh temporary data directory, removed by removeTempDirs(). */
export function tempDataDir(prefix = 'warren-data-'): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  made.push(d);
  return d;
}

export function removeTempDirs(): void {
  for (const d of made.splice(0)) rmSync(d, { recursive: true, force: true });
}

/** Bytes of every file under `dir`. */
export function dirBytes(dir: string): number {
  let n = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    n += e.isDirectory() ? dirBytes(p) : statSync(p).size;
  }
  return n;
}

export interface LogLine {
  level: number;
  msg: string;
  [k: string]: unknown;
}

export interface StartOptions {
  dataDir: string;
  /** Extra CLI flags. */
  args?: string[];
  /** Wait for "AMQP listener up" (default true). */
  waitUp?: boolean;
  timeoutMs?: number;
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

const live = new Set<WarrenProcess>();

export class WarrenProcess {
  readonly child: ChildProcess;
  readonly port: number;
  readonly logs: LogLine[] = [];
  /** stdout lines that were not JSON, and all of stderr. */
  readonly otherOutput: string[] = [];
  readonly exited: Promise<Exit>;
  exit: Exit | undefined;
  #waiters: { match: (l: LogLine) => boolean; resolve: (l: LogLine) => void }[] = [];

  private constructor(entry: string, port: number, o: StartOptions) {
    this.port = port;
    // WARREN_TEST_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" profiles the broker
    const nodeArgs = (process.env['WARREN_TEST_NODE_ARGS'] ?? '').split(' ').filter((a) => a !== '');
    const args = [
      ...nodeArgs,
      entry,
      '--host', '127.0.0.1',
      '--port', String(port),
      '--data-dir', o.dataDir,
      '--management-port', '0',
      '--prometheus-port', '0',
      '--log-level', 'info',
      ...(o.args ?? []),
    ];
    // WARREN_* variables are options to the CLI (yargs .env): the test's own ones stay here
    const env: NodeJS.ProcessEnv = { FORCE_COLOR: '0' };
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('WARREN_')) env[k] = v;
    this.child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
    live.add(this);
    let partial = '';
    this.child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop()!;
      for (const line of lines) this.#line(line);
    });
    this.child.stderr!.setEncoding('utf8').on('data', (chunk: string) => this.otherOutput.push(chunk));
    this.exited = new Promise((res) => {
      this.child.once('exit', (code, signal) => {
        if (partial !== '') this.#line(partial);
        this.exit = { code, signal };
        live.delete(this);
        res(this.exit);
      });
    });
  }

  #line(line: string): void {
    if (line.trim() === '') return;
    let rec: LogLine;
    try {
      rec = JSON.parse(line) as LogLine;
    } catch {
      this.otherOutput.push(line);
      return;
    }
    this.logs.push(rec);
    this.#waiters = this.#waiters.filter((w) => {
      if (!w.match(rec)) return true;
      w.resolve(rec);
      return false;
    });
  }

  /** Starts warren on a free port and waits until it listens. */
  static async start(o: StartOptions): Promise<WarrenProcess> {
    const entry = warrenBuild();
    for (let attempt = 0; ; attempt++) {
      const w = new WarrenProcess(entry, await freePort(), o);
      if (o.waitUp === false) return w;
      try {
        await w.waitUp(o.timeoutMs ?? 15_000);
        return w;
      } catch (err) {
        // someone took the port between freePort() and listen: try another
        if (attempt < 3 && w.logs.some((l) => String(l['err'] ?? '').includes('already in use'))) continue;
        throw err;
      }
    }
  }

  get url(): string {
    return `amqp://guest:guest@127.0.0.1:${this.port}`;
  }

  /** Resolves at "AMQP listener up"; rejects if the process exits first. */
  async waitUp(ms = 15_000): Promise<void> {
    const up = this.waitForLog((l) => l.msg === 'AMQP listener up', ms);
    const died = this.exited.then((e) => {
      throw new Error(`warren exited (${JSON.stringify(e)}) before listening:\n${this.transcript()}`);
    });
    await Promise.race([up, died]);
  }

  /** The first log line (already seen or still to come) that matches. */
  waitForLog(match: (l: LogLine) => boolean, ms = 10_000, what = 'a log line'): Promise<LogLine> {
    const seen = this.logs.find(match);
    if (seen !== undefined) return Promise.resolve(seen);
    return withTimeout(
      new Promise<LogLine>((res) => this.#waiters.push({ match, resolve: res })),
      ms,
      `${what} from warren:\n${this.transcript()}`,
    );
  }

  /** Waits for the process to end on its own. */
  waitExit(ms = 15_000): Promise<Exit> {
    return withTimeout(this.exited, ms, `warren to exit:\n${this.transcript()}`);
  }

  /** Sends `signal` and waits for the process to end. */
  async kill(signal: NodeJS.Signals = 'SIGTERM', ms = 15_000): Promise<Exit> {
    if (this.exit === undefined) this.child.kill(signal);
    return withTimeout(this.exited, ms, `warren to exit after ${signal}`);
  }

  transcript(): string {
    return [...this.logs.map((l) => JSON.stringify(l)), ...this.otherOutput].join('\n');
  }

  /** Kills every child still running (afterAll / afterEach safety net). */
  static async killAll(): Promise<void> {
    await Promise.all([...live].map((w) => w.kill('SIGKILL')));
  }
}
