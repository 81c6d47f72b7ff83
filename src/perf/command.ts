/**
 * The `warren perf` command behind bin/warren.ts: runs one load test, prints a line per
 * second and a summary (text, or JSON with --json; live lines then go to stderr so stdout is
 * only the JSON), stops early and still reports on Ctrl-C. Exit code 1 when the run had
 * errors or did not account for every message.
 */
import { runPerf, type PerfLine, type PerfOptions, type PerfSummary } from './perf.js';

const nf = new Intl.NumberFormat('en-US');

export function formatLine(l: PerfLine): string {
  const t = `${l.t.toFixed(1)}s`.padStart(7);
  const phase = l.phase === 'run' ? '' : ` (${l.phase})`;
  return (
    `${t}  sent ${nf.format(l.sentRate).padStart(9)}/s  received ${nf.format(l.receivedRate).padStart(9)}/s  ` +
    `confirmed ${nf.format(l.confirmedRate).padStart(9)}/s  latency p50 ${ms(l.p50)} p99 ${ms(l.p99)}${phase}`
  );
}

export function formatSummary(s: PerfSummary): string {
  const L = s.latencyMs;
  const lines = [
    `summary: ${s.server.product} ${s.server.version} (${s.server.cluster}) at ${s.uri}, ${s.seconds} s` +
      `${s.options.warmup > 0 ? ` after ${s.options.warmup} s warmup` : ''} (+${s.drainSeconds} s drain)`,
    `  sent       ${nf.format(s.sent).padStart(12)}   ${nf.format(s.sentRate).padStart(10)} msg/s`,
    `  received   ${nf.format(s.received).padStart(12)}   ${nf.format(s.receivedRate).padStart(10)} msg/s  ${mib(s.receivedBytesRate)} MiB/s`,
  ];
  if (s.options.confirm > 0) {
    lines.push(`  confirmed  ${nf.format(s.confirmed).padStart(12)}   ${nf.format(s.confirmedRate).padStart(10)} msg/s${s.nacked > 0 ? `  (nacked ${nf.format(s.nacked)})` : ''}`);
  }
  if (L.count > 0) {
    lines.push(`  latency ms min ${L.min} p50 ${L.p50} p75 ${L.p75} p95 ${L.p95} p99 ${L.p99} p99.9 ${L.p999} max ${L.max}`);
  }
  if (s.expected !== null && s.options.consumers > 0) {
    lines.push(
      `  accounting expected ${nf.format(s.expected)}, unique ${nf.format(s.unique)}, ` +
        `${s.stillQueued !== null && s.stillQueued > 0 ? `still queued ${nf.format(s.stillQueued)}, ` : ''}` +
        `${s.lost !== null ? `lost ${nf.format(s.lost)}` : `undelivered ${nf.format(s.undelivered ?? 0)}${s.undelivered ? ' (unconfirmed: may have been in TCP buffers)' : ''}`}, ` +
        `duplicates ${s.duplicates}, out of order ${s.outOfOrder}${s.foreign > 0 ? `, foreign ${s.foreign}` : ''}: ${s.accounted ? 'OK' : 'FAILED'}`,
    );
  }
  for (const e of s.errors) lines.push(`  error: ${e}`);
  return lines.join('\n');
}

function ms(x: number): string {
  return `${x < 10 ? x.toFixed(2) : x < 100 ? x.toFixed(1) : Math.round(x)} ms`.padStart(9);
}

function mib(bytesPerSec: number): string {
  return (bytesPerSec / 1048576).toFixed(1);
}

export async function perfCommand(options: Partial<PerfOptions>, json: boolean): Promise<number> {
  const out = json ? process.stderr : process.stdout;
  const ac = new AbortController();
  let interrupts = 0;
  const onSigint = (): void => {
    if (++interrupts > 1) process.exit(130);
    out.write('stopping (Ctrl-C again to quit at once)…\n');
    ac.abort();
  };
  process.on('SIGINT', onSigint);
  let summary: PerfSummary;
  try {
    summary = await runPerf(options, { onLine: (l) => out.write(formatLine(l) + '\n'), signal: ac.signal });
  } catch (err) {
    process.stderr.write(`warren perf: ${(err as Error).message}\n`);
    return 1;
  } finally {
    process.off('SIGINT', onSigint);
  }
  if (json) process.stdout.write(JSON.stringify(summary) + '\n');
  else process.stdout.write(formatSummary(summary) + '\n');
  return summary.errors.length > 0 || !summary.accounted ? 1 : 0;
}
