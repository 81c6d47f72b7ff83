/**
 * Build step after tsc: copies the files that are not TypeScript (the dashboard's HTML, CSS
 * and JS) next to their compiled modules, so dist/ runs on its own after `npm install`.
 */
import { cpSync, existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

// this file runs as dist/bin/copy-assets.js: the package root is two levels up
const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const ASSETS = ['src/management/dashboard'];

for (const rel of ASSETS) {
  const from = join(root, rel);
  if (!existsSync(from)) continue;
  cpSync(from, join(root, 'dist', rel), { recursive: true });
}
