/**
 * One warren per data directory: a lock file holding the owner's pid. A lock left by a
 * process that no longer runs (kill -9, power loss) is taken over.
 */
import { closeSync, openSync, readFileSync, unlinkSync, writeSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

export class DataDirLock {
  readonly path: string;
  #held = false;

  constructor(dir: string) {
    mkdirSync(dir, { recursive: true });
    this.path = join(dir, 'warren.lock');
  }

  acquire(): void {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const fd = openSync(this.path, 'wx');
        writeSync(fd, `${process.pid}\n`);
        closeSync(fd);
        this.#held = true;
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        const pid = Number.parseInt(readFileSync(this.path, 'utf8'), 10);
        if (Number.isInteger(pid) && alive(pid)) {
          throw new Error(
            `data directory ${join(this.path, '..')} is in use by another warren (pid ${pid}); stop it first or choose another --data-dir`,
          );
        }
        unlinkSync(this.path); // stale: its owner is gone
      }
    }
    throw new Error(`could not lock ${this.path}`);
  }

  release(): void {
    if (!this.#held) return;
    this.#held = false;
    try {
      unlinkSync(this.path);
    } catch {
      // already gone
    }
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
