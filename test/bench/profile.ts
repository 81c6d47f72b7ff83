/**
 * Reads a V8 .cpuprofile (node --cpu-prof) and lists the functions with the most self time.
 * Self time of a node = the sample intervals spent with it on top of the stack; functions
 * are merged by name + script + line (one function appears under many call paths).
 */
import { readFileSync } from 'node:fs';

interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; hitCount?: number }[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface SelfTime {
  name: string;
  where: string;
  ms: number;
  /** Share of the non-idle time. */
  percent: number;
}

export function topSelfTime(path: string, n = 10): { top: SelfTime[]; totalMs: number; idleMs: number } {
  const p = JSON.parse(readFileSync(path, 'utf8')) as CpuProfile;
  const byId = new Map(p.nodes.map((node) => [node.id, node]));
  const self = new Map<number, number>();
  for (let i = 0; i < p.samples.length; i++) {
    // timeDeltas[i] is the gap before sample i; charge the gap after it to the sample
    const dt = p.timeDeltas[i + 1] ?? 0;
    self.set(p.samples[i]!, (self.get(p.samples[i]!) ?? 0) + dt);
  }
  const merged = new Map<string, SelfTime>();
  let total = 0;
  let idle = 0;
  for (const [id, us] of self) {
    const f = byId.get(id)!.callFrame;
    total += us;
    if (f.functionName === '(idle)') {
      idle += us;
      continue;
    }
    const file = f.url.replace(/^file:\/\//, '').replace(/^.*\/dist\//, '').replace(/^.*\/node_modules\//, 'node_modules/');
    const where = file === '' ? '' : `${file}:${f.lineNumber + 1}`;
    const name = f.functionName === '' ? '(anonymous)' : f.functionName;
    const key = `${name} ${where}`;
    const e = merged.get(key) ?? { name, where, ms: 0, percent: 0 };
    e.ms += us / 1000;
    merged.set(key, e);
  }
  const busy = (total - idle) / 1000;
  const top = [...merged.values()].sort((a, b) => b.ms - a.ms).slice(0, n);
  for (const e of top) {
    e.percent = busy > 0 ? (100 * e.ms) / busy : 0;
    e.ms = Math.round(e.ms * 10) / 10;
  }
  return { top, totalMs: Math.round(total / 1000), idleMs: Math.round(idle / 1000) };
}
