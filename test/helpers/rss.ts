/**
 * Resident set size of another process (a broker started as a child), sampled while a test
 * runs: /proc/<pid>/status VmRSS on Linux, `ps -o rss=` elsewhere.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

export function rssOf(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    if (m !== null) return Number(m[1]) * 1024;
  } catch {
    // not Linux, or the process is gone
  }
  try {
    return Number(execFileSync('ps', ['-o', 'rss=', '-p', String(pid)], { encoding: 'utf8' }).trim()) * 1024;
  } catch {
    return 0;
  }
}

/** Samples a process's RSS every `everyMs` until stop(); keeps the peak. */
export class RssSampler {
  readonly #pid: number;
  readonly #timer: NodeJS.Timeout;
  peak = 0;
  last = 0;
  samples = 0;

  constructor(pid: number, everyMs = 20) {
    this.#pid = pid;
    this.sample();
    this.#timer = setInterval(() => this.sample(), everyMs);
  }

  sample(): number {
    const v = rssOf(this.#pid);
    if (v > 0) {
      this.last = v;
      this.samples++;
      if (v > this.peak) this.peak = v;
    }
    return v;
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}

export const MiB = 1024 * 1024;
