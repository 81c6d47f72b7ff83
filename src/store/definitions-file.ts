/**
 * The durable definitions (users, vhosts, permissions, policies, durable exchanges, queues
 * and bindings) as one JSON document — RabbitMQ's definitions.json format, so the data
 * directory's copy can be imported into RabbitMQ as-is.
 *
 * Saved atomically: write a temp file, fsync it, rename over the old one, fsync the
 * directory. A crash leaves either the old or the new file, never a torn one.
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';

export class DefinitionsFile {
  readonly path: string;
  readonly #dir: string;

  constructor(dir: string) {
    mkdirSync(dir, { recursive: true });
    this.#dir = dir;
    this.path = join(dir, 'definitions.json');
  }

  load(): unknown | null {
    if (!existsSync(this.path)) return null;
    const text = readFileSync(this.path, 'utf8');
    try {
      return JSON.parse(text) as unknown;
    } catch (err) {
      throw new Error(`${this.path} is not valid JSON (${(err as Error).message}); restore it from a backup or remove it to start empty`);
    }
  }

  save(definitions: unknown): void {
    const tmp = `${this.path}.tmp`;
    const fd = openSync(tmp, 'w');
    try {
      writeSync(fd, JSON.stringify(definitions, null, 2) + '\n');
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.path);
    try {
      const dfd = openSync(this.#dir, 'r');
      fsyncSync(dfd);
      closeSync(dfd);
    } catch {
      // directory fsync is not supported everywhere
    }
  }
}
