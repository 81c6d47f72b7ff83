/**
 * The dashboard's files (./dashboard/, copied next to the compiled module by
 * bin/copy-assets.ts), read once at start and served from memory. Only the files that exist
 * there are served, so no request path can reach outside the folder.
 */
import { readdirSync, readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { StaticHandler } from './http-server.js';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.ico': 'image/x-icon',
  '.png': 'image/png',
};

/** The dashboard folder beside this module (src/ under vitest, dist/ once built). */
export function dashboardDir(): string {
  return fileURLToPath(new URL('./dashboard/', import.meta.url));
}

export function staticFiles(dir = dashboardDir()): StaticHandler {
  const files = new Map<string, { body: Buffer; type: string }>();
  let names: string[] = [];
  try {
    names = readdirSync(dir);
  } catch {
    // no dashboard shipped (e.g. a build without assets): the API still works
  }
  for (const name of names) {
    const type = TYPES[extname(name)];
    if (type !== undefined) files.set(`/${name}`, { body: readFileSync(join(dir, name)), type });
  }
  return (req: IncomingMessage, res: ServerResponse, path: string): boolean => {
    const f = files.get(path === '/' ? '/index.html' : path);
    if (f === undefined) return false;
    res.writeHead(200, {
      'content-type': f.type,
      'content-length': f.body.length,
      'cache-control': 'no-cache',
      'content-security-policy': "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; style-src 'self' 'unsafe-inline'",
      'x-content-type-options': 'nosniff',
    });
    res.end(req.method === 'HEAD' ? undefined : f.body);
    return true;
  };
}
