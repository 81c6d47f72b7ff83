/**
 * The dependency direction of ../shared/DESIGN.md, checked on every import in src/:
 *   session → protocol, broker;  broker → store (interfaces), protocol's pure codecs;
 *   management → broker;  everything → util;  main/index → all.
 * broker/ may use protocol's value codecs (field tables, basic properties) to read and
 * rewrite message properties, but never frames, readers, writers or sockets.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative, dirname, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = resolve(import.meta.dirname, '../src');

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

function layer(path: string): string {
  const rel = relative(SRC, path);
  const top = rel.split('/')[0]!;
  return top.endsWith('.ts') ? top.replace(/\.ts$/, '') : top;
}

const ALLOWED: Record<string, string[]> = {
  util: ['util'],
  protocol: ['protocol', 'util'],
  store: ['store', 'util'],
  broker: ['broker', 'store', 'util', 'protocol:codec'],
  session: ['session', 'protocol', 'broker', 'util', 'config'],
  management: ['management', 'broker', 'util', 'protocol:codec', 'config'],
  config: ['util'],
  perf: ['perf', 'protocol', 'util', 'config'],
  main: ['*'],
  durability: ['*'],
  resources: ['*'],
  index: ['*'],
};
const PROTOCOL_CODEC = new Set(['generated.ts', 'field-table.ts', 'decode-error.ts']);

describe('architecture', () => {
  it('imports follow DESIGN.md', () => {
    const violations: string[] = [];
    for (const f of files(SRC)) {
      const from = layer(f);
      const allowed = ALLOWED[from];
      if (allowed === undefined) {
        violations.push(`${relative(SRC, f)}: folder '${from}' is not in DESIGN.md`);
        continue;
      }
      const text = readFileSync(f, 'utf8');
      for (const m of text.matchAll(/^\s*(import|export)\s+(type\s+)?[^'"]*?from\s+'([^']+)'/gm)) {
        const spec = m[3]!;
        if (!spec.startsWith('.')) continue;
        const target = resolve(dirname(f), spec.replace(/\.js$/, '.ts'));
        const to = layer(target);
        const isType = m[2] !== undefined;
        if (allowed.includes('*') || allowed.includes(to)) continue;
        if (to === 'protocol' && allowed.includes('protocol:codec') && (isType || PROTOCOL_CODEC.has(target.split('/').pop()!))) continue;
        violations.push(`${relative(SRC, f)} → ${relative(SRC, target)}`);
      }
    }
    expect(violations).toEqual([]);
  });
});
