/**
 * npm run bench [-- options]
 *
 *   --compare URL   also measure this broker (e.g. RabbitMQ at amqp://guest:guest@localhost:5680),
 *                   alternating with warren run by run
 *   --runs N        runs per scenario and broker; the table shows medians (default 3)
 *   --quick         1 run, shorter scenarios (smaller soak)
 *   --seconds S     measured length of each throughput scenario, after 1 s of warmup
 *                   (default 3, quick 2); soak and memory-1m run once per broker
 *   --only a,b      only these scenarios (ids from --list)
 *   --list          print the scenario ids and exit
 *   --cpu-prof      profile the warren child (node --cpu-prof) under the selected scenarios
 *                   (default: transient-autoack), print the top 10 self-time functions;
 *                   1 run, warren only, nothing saved
 *   --no-save       do not append to test/bench/results.jsonl
 *
 * warren runs as a child process started fresh for every scenario run:
 *   node dist/bin/warren.js --port <free> --data-dir <tmp> --management-port 0 --prometheus-port 0 --log-level warn
 * Results are appended to test/bench/results.jsonl with CPU model, Node version, commit and date.
 */
import { execFileSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { maskUri } from '../../src/perf/amqp-uri.js';
import { PerfConnection } from '../../src/perf/client.js';
import { CompareTarget, WarrenChild, type Target } from './brokers.js';
import { topSelfTime } from './profile.js';
import { SCENARIOS, type BenchContext, type Metric, type Scenario } from './scenarios.js';

const { values: args } = parseArgs({
  options: {
    compare: { type: 'string' },
    runs: { type: 'string' },
    quick: { type: 'boolean', default: false },
    seconds: { type: 'string' },
    only: { type: 'string' },
    list: { type: 'boolean', default: false },
    'cpu-prof': { type: 'boolean', default: false },
    'no-save': { type: 'boolean', default: false },
  },
  strict: true,
});

if (args.list) {
  for (const s of SCENARIOS) console.log(`${s.id.padEnd(22)} ${s.title}`);
  process.exit(0);
}

const profiling = args['cpu-prof'];
const quick = args.quick;
const runs = profiling ? 1 : Number(args.runs ?? (quick ? 1 : 3));
const seconds = Number(args.seconds ?? (quick ? 2 : 3));
const warmup = 1;
const onlyIds = args.only?.split(',').map((s) => s.trim()) ?? (profiling ? ['transient-autoack'] : undefined);
const selected = onlyIds === undefined ? SCENARIOS : onlyIds.map((id) => SCENARIOS.find((s) => s.id === id) ?? fail(`unknown scenario '${id}' (see --list)`));
const compareUrl = profiling ? undefined : args.compare;
const save = !args['no-save'] && !profiling;
if (!(runs >= 1) || !(seconds > 0)) fail('--runs and --seconds must be positive');

function fail(msg: string): never {
  console.error(`bench: ${msg}`);
  process.exit(2);
}

const log = (text: string): void => void process.stdout.write(text + '\n');

interface Row {
  scenario: string;
  title: string;
  metric: string;
  label: string;
  format: Metric['format'];
  better: Metric['better'];
  warren: number | null;
  compare: number | null;
  ratio: number | null;
  samples: { warren: (number | null)[]; compare: (number | null)[] };
}

function median(xs: (number | null)[]): number | null {
  const v = xs.filter((x): x is number => x !== null && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const m = v.length >> 1;
  return v.length % 2 === 1 ? v[m]! : (v[m - 1]! + v[m]!) / 2;
}

async function runOnce(sc: Scenario, role: 'warren' | 'compare', compare: CompareTarget | undefined, profDir: string | undefined): Promise<Metric[] | null> {
  const ctx: BenchContext = { seconds, warmup, quick, warren: undefined, log };
  let w: WarrenChild | undefined;
  try {
    let target: Target;
    if (role === 'warren') {
      w = await WarrenChild.start({ cpuProfDir: profDir });
      ctx.warren = w;
      target = w;
    } else {
      target = compare!;
    }
    const metrics = await sc.run(target, ctx);
    if (w !== undefined && !w.alive) log(`    warren exited during the scenario:\n${w.output}`);
    return metrics;
  } catch (err) {
    log(`    ${role}: FAILED: ${(err as Error).message}`);
    if (w !== undefined) log(w.output.split('\n').slice(-10).join('\n'));
    return null;
  } finally {
    await w?.stop();
  }
}

function fmt(v: number | null, f: Metric['format']): string {
  if (v === null) return 'n/a';
  switch (f) {
    case 'rate':
    case 'count':
    case 'bytes':
      return Math.round(v).toLocaleString('en-US');
    case 'ms':
      return v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : Math.round(v).toLocaleString('en-US');
    case 'mib':
    case 'mibs':
      return v.toFixed(1);
    case 'ok':
      return v >= 1 ? 'ok' : 'FAIL';
  }
}

function table(rows: Row[], compareName: string | undefined): string {
  const head = ['scenario', 'metric', 'warren', ...(compareName !== undefined ? [compareName, 'warren/other'] : [])];
  const body = rows.map((r, i) => {
    const first = i === 0 || rows[i - 1]!.scenario !== r.scenario;
    const arrow = r.better === 'higher' ? ' ↑' : r.better === 'lower' ? ' ↓' : '';
    const cells = [first ? r.scenario : '', r.label + arrow, fmt(r.warren, r.format)];
    if (compareName !== undefined) cells.push(fmt(r.compare, r.format), r.ratio === null ? '' : `${r.ratio.toFixed(2)}×`);
    return cells;
  });
  const widths = head.map((h, c) => Math.max(h.length, ...body.map((b) => b[c]!.length)));
  const line = (cells: string[]): string => cells.map((x, c) => (c < 2 ? x.padEnd(widths[c]!) : x.padStart(widths[c]!))).join('  ');
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}

function repoRoot(): string {
  let d = import.meta.dirname;
  while (!existsSync(join(d, 'package.json')) || !readFileSync(join(d, 'package.json'), 'utf8').includes('"name": "warren"')) {
    const up = dirname(d);
    if (up === d) return process.cwd();
    d = up;
  }
  return d;
}

function git(root: string, ...a: string[]): string {
  try {
    return execFileSync('git', a, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return '';
  }
}

async function describeCompare(url: string): Promise<string> {
  try {
    const c = await PerfConnection.open(url, { name: 'bench' });
    const p = c.serverProperties;
    await c.close();
    return `${String(p['product'] ?? '?')} ${String(p['version'] ?? '?')}`;
  } catch (err) {
    fail(`cannot reach --compare ${maskUri(url)}: ${(err as Error).message}`);
  }
}

async function main(): Promise<void> {
  const root = repoRoot();
  const compare = compareUrl !== undefined ? new CompareTarget(compareUrl) : undefined;
  const compareProduct = compareUrl !== undefined ? await describeCompare(compareUrl) : undefined;
  const profDir = profiling ? mkdtempSync(join(tmpdir(), 'warren-prof-')) : undefined;
  log(
    `warren bench: ${selected.length} scenarios, ${runs} run(s), ${warmup} + ${seconds} s each` +
      (compare !== undefined ? `, compared with ${compareProduct} at ${maskUri(compare.url)}${compare.pid !== undefined ? ` (pid ${compare.pid})` : ''}` : '') +
      (profiling ? `, profiling into ${profDir}` : ''),
  );
  const started = Date.now();
  const rows: Row[] = [];
  for (const sc of selected) {
    log(`\n${sc.id}: ${sc.title}`);
    const samples = new Map<string, { metric: Metric; warren: (number | null)[]; compare: (number | null)[] }>();
    for (let r = 0; r < Math.min(runs, sc.maxRuns ?? runs); r++) {
      const roles: ('warren' | 'compare')[] = compare === undefined || sc.warrenOnly === true ? ['warren'] : r % 2 === 0 ? ['warren', 'compare'] : ['compare', 'warren'];
      for (const role of roles) {
        const metrics = await runOnce(sc, role, compare, profDir);
        if (metrics === null) continue;
        for (const m of metrics) {
          const e = samples.get(m.key) ?? { metric: m, warren: [], compare: [] };
          e[role].push(m.value);
          samples.set(m.key, e);
        }
        log(`  run ${r + 1} ${role.padEnd(7)} ${metrics.map((m) => `${m.label}: ${fmt(m.value, m.format)}`).join(', ')}`);
      }
    }
    for (const [key, e] of samples) {
      // a pass/fail row fails if any run failed
      const pick = e.metric.format === 'ok' ? (xs: (number | null)[]) => (xs.length === 0 ? null : Math.min(...xs.map((x) => x ?? 0))) : median;
      const wv = pick(e.warren);
      const cv = compare === undefined || sc.warrenOnly === true ? null : pick(e.compare);
      const ratio = wv !== null && cv !== null && cv !== 0 && e.metric.better !== 'none' ? wv / cv : null;
      rows.push({ scenario: sc.id, title: sc.title, metric: key, label: e.metric.label, format: e.metric.format, better: e.metric.better, warren: wv, compare: cv, ratio, samples: { warren: e.warren, compare: e.compare } });
    }
  }
  const minutes = ((Date.now() - started) / 60000).toFixed(1);
  log(`\nmedians of ${runs} run(s) (↑ higher is better, ↓ lower is better), ${minutes} min:\n`);
  log(table(rows, compare !== undefined ? (compareProduct ?? 'compare') : undefined));

  if (save) {
    const entry = {
      date: new Date().toISOString(),
      commit: git(root, 'rev-parse', 'HEAD'),
      dirty: git(root, 'status', '--porcelain').length > 0,
      cpu: cpus()[0]?.model ?? '?',
      cores: cpus().length,
      node: process.version,
      runs,
      seconds,
      quick,
      compare: compare !== undefined ? { url: maskUri(compare.url), product: compareProduct } : null,
      rows: rows.map(({ title: _t, format: _f, ...r }) => r),
    };
    const file = join(root, 'test/bench/results.jsonl');
    appendFileSync(file, JSON.stringify(entry) + '\n');
    log(`\nappended to ${file}`);
  }

  if (profDir !== undefined) {
    const files = readdirSync(profDir).filter((f) => f.endsWith('.cpuprofile'));
    for (const f of files) {
      const { top, totalMs, idleMs } = topSelfTime(join(profDir, f));
      log(`\nwarren CPU profile ${join(profDir, f)}: ${totalMs} ms sampled, ${idleMs} ms idle; top 10 self time (% of busy):`);
      for (const e of top) log(`  ${e.ms.toFixed(1).padStart(8)} ms ${e.percent.toFixed(1).padStart(5)}%  ${e.name}  ${e.where}`);
    }
    if (files.length === 0) log('no .cpuprofile written (did warren exit cleanly?)');
    else log(`\n(profiles kept in ${profDir}; open them in Chrome DevTools › Performance)`);
  }
}

await main();
