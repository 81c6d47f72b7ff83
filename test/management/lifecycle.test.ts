/**
 * The management listener's life: the dashboard's WebSocket (authentication, hello, ticks),
 * --load-definitions at start, the static dashboard, and close() leaving no listener, socket
 * or timer behind.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { spawn } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { basic, freePort, httpClient, startManaged } from '../helpers/management.js';
import { warrenBuild } from '../helpers/warren-process.js';
import { withTimeout } from '../helpers/wait.js';

/** Resolves with the next message (parsed) or the close code. */
function next(ws: WebSocket): Promise<{ type?: string; [k: string]: unknown } | { closed: number }> {
  return new Promise((res) => {
    const onMsg = (d: WebSocket.RawData): void => {
      ws.off('close', onClose);
      res(JSON.parse(String(d)));
    };
    const onClose = (code: number): void => {
      ws.off('message', onMsg);
      res({ closed: code });
    };
    ws.once('message', onMsg);
    ws.once('close', onClose);
  });
}

function open(url: string): Promise<WebSocket> {
  const ws = new WebSocket(url);
  return withTimeout(new Promise((res, rej) => ws.once('open', () => res(ws)).once('error', rej)), 5000, 'the WebSocket to open');
}

describe('live updates over /ws', () => {
  it('authenticates with the first message, then sends hello and a tick every second', async () => {
    const m = await startManaged();
    try {
      const wsUrl = m.base.replace('http', 'ws') + '/ws';
      const bad = await open(wsUrl);
      bad.send(JSON.stringify({ type: 'auth', authorization: basic('guest:nope') }));
      expect(await next(bad)).toMatchObject({ type: 'error', status: 401, reason: 'Login failed' });

      const ws = await open(wsUrl);
      ws.send(JSON.stringify({ type: 'auth', authorization: basic('guest:guest') }));
      const hello = await withTimeout(next(ws), 5000, 'hello');
      expect(hello).toMatchObject({ type: 'hello', user: { name: 'guest', tags: ['administrator'] } });
      const tick = (await withTimeout(next(ws), 5000, 'the first tick')) as Record<string, unknown>;
      expect(tick).toMatchObject({ type: 'tick', vhosts: ['/'], totals: { queues: 0, connections: 0 } });
      await httpClient(m.base)('PUT', '/api/queues/%2F/live-q', { body: {} });
      const t0 = Date.now();
      const later = (await withTimeout(next(ws), 5000, 'the next tick')) as { queues: { name: string }[]; point: Record<string, number> };
      expect(Date.now() - t0).toBeLessThan(2000);
      expect(later.queues.map((q) => q.name)).toEqual(['live-q']);
      expect(Object.keys(later.point).sort()).toEqual(['ack', 'deliver', 'publish', 'ready', 't', 'unacked']);
      ws.close();
    } finally {
      await m.warren.close();
    }
  });
});

describe('start and stop', () => {
  it('imports --load-definitions before clients connect and serves the dashboard', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'warren-defs-'));
    try {
      const file = join(dir, 'definitions.json');
      const recorded = readFileSync(resolve(import.meta.dirname, '../../../shared/reference/management-samples/definitions.json'), 'utf8');
      writeFileSync(file, recorded);
      const m = await startManaged({ loadDefinitions: file });
      try {
        expect(m.warren.managementUrl).toBe(`${m.base}/`);
        const http = httpClient(m.base);
        expect((await http('GET', '/api/queues/ref-vhost/ref-q-main')).json.arguments).toEqual({
          'x-dead-letter-exchange': 'ref-x-fanout',
          'x-max-length': 1000,
          'x-message-ttl': 60000,
        });
        expect((await http('GET', '/api/whoami', { auth: 'ref-user:ref-pass' })).status).toBe(200);
        const page = await fetch(`${m.base}/`);
        expect(page.status).toBe(200);
        expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
        expect(await page.text()).toContain('<title>warren');
        expect((await fetch(`${m.base}/app.js`)).headers.get('content-type')).toBe('text/javascript; charset=utf-8');
        expect((await fetch(`${m.base}/../package.json`)).status).toBe(404);
      } finally {
        await m.warren.close();
      }
      await expect(startManaged({ loadDefinitions: join(dir, 'missing.json') })).rejects.toThrow(/cannot read definitions file/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('close() leaves no listener, socket or timer behind: the process ends by itself', async () => {
    // in a child process, so that "nothing keeps the event loop alive" can be observed as the
    // process exiting without process.exit()
    const index = join(dirname(warrenBuild()), '..', 'src', 'index.js');
    const [mgmt, prom] = [await freePort(), await freePort()];
    const script = `
      import { startBroker } from ${JSON.stringify(pathToFileURL(index).href)};
      import WebSocket from 'ws';
      import amqplib from 'amqplib';
      const b = await startBroker({ managementPort: ${mgmt}, prometheusPort: ${prom} });
      const c = await amqplib.connect(b.url);
      await c.createChannel();
      const ws = new WebSocket('ws://127.0.0.1:${mgmt}/ws');
      await new Promise((r) => ws.once('open', r));
      ws.send(JSON.stringify({ type: 'auth', authorization: 'Basic ' + Buffer.from('guest:guest').toString('base64') }));
      await new Promise((r) => ws.once('message', r));
      const auth = { authorization: 'Basic ' + Buffer.from('guest:guest').toString('base64') };
      await (await fetch('http://127.0.0.1:${mgmt}/api/overview', { headers: auth })).text();
      await (await fetch('http://127.0.0.1:${prom}/metrics')).text();
      c.on('error', () => {});
      await b.close();
      console.log('closed');
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { cwd: resolve(import.meta.dirname, '../..'), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d));
    child.stderr.on('data', (d: Buffer) => (out += d));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    try {
      const code = await withTimeout(exited, 10_000, 'the process to end by itself after close() (something keeps the event loop alive)');
      expect(out).toContain('closed');
      expect(code, out).toBe(0);
    } finally {
      child.kill('SIGKILL');
    }
  });
});
