/**
 * pino logger: JSON lines for machines; a short coloured line per record when stdout is a
 * TTY (a person watching `npm start`). The pretty printer is a few lines here rather than a
 * dependency on pino-pretty.
 */
import { createRequire } from 'node:module';
import { Writable } from 'node:stream';
import type { Logger, DestinationStream } from 'pino';

// pino is CommonJS: require() loads it as such, without the ES-module wrapper that first
// scans its source for export names (a few ms of every start).
const { pino } = createRequire(import.meta.url)('pino') as typeof import('pino');

export type { Logger };

export interface LoggerOptions {
  level?: string;
  /** true: human lines; false: JSON; undefined: human when stdout is a TTY. */
  pretty?: boolean;
  destination?: DestinationStream;
}

const LEVELS: Record<number, [string, string]> = {
  10: ['TRACE', '\x1b[90m'], 20: ['DEBUG', '\x1b[36m'], 30: ['INFO ', '\x1b[32m'],
  40: ['WARN ', '\x1b[33m'], 50: ['ERROR', '\x1b[31m'], 60: ['FATAL', '\x1b[35m'],
};
const SKIP = new Set(['level', 'time', 'pid', 'hostname', 'msg', 'name']);

function prettyLine(line: string): string {
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  const [label, colour] = LEVELS[rec['level'] as number] ?? ['?    ', ''];
  const t = new Date(rec['time'] as number).toISOString().slice(11, 23);
  let extra = '';
  for (const k of Object.keys(rec)) {
    if (SKIP.has(k)) continue;
    const v = rec[k];
    extra += ` \x1b[90m${k}=\x1b[0m${typeof v === 'string' ? v : JSON.stringify(v)}`;
  }
  return `\x1b[90m${t}\x1b[0m ${colour}${label}\x1b[0m ${String(rec['msg'] ?? '')}${extra}\n`;
}

function prettyStream(out: NodeJS.WriteStream): DestinationStream {
  let partial = '';
  return new Writable({
    write(chunk: Buffer, _enc, cb) {
      const text = partial + chunk.toString('utf8');
      const lines = text.split('\n');
      partial = lines.pop() ?? '';
      let s = '';
      for (const l of lines) if (l.length > 0) s += prettyLine(l);
      if (s.length > 0) out.write(s);
      cb();
    },
  });
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const level = opts.level ?? 'info';
  if (opts.destination) return pino({ level, base: { pid: process.pid } }, opts.destination);
  const pretty = opts.pretty ?? process.stdout.isTTY === true;
  if (pretty) return pino({ level, base: undefined }, prettyStream(process.stdout));
  return pino({ level, base: { pid: process.pid } }, pino.destination({ dest: 1, sync: true }));
}

/** A logger that drops everything: the default for embedded brokers in test suites. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
