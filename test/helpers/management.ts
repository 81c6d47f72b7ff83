/**
 * warren in-process with its management (and optionally Prometheus) listener on free ports,
 * plus a small HTTP client that returns status, headers and body together.
 */
import { createServer } from 'node:net';
import { startBroker, type RunningBroker } from '../../src/index.js';
import type { BrokerConfig } from '../../src/config.js';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen({ host: '127.0.0.1', port: 0 }, () => {
      const a = s.address();
      const port = typeof a === 'object' && a !== null ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

export interface Managed {
  warren: RunningBroker;
  /** http://127.0.0.1:PORT */
  base: string;
  prometheus: string | undefined;
}

/** Starts warren with the API on a free port (retrying if another process takes it first). */
export async function startManaged(options: Partial<BrokerConfig> & { prometheus?: boolean } = {}): Promise<Managed> {
  const { prometheus, ...rest } = options;
  for (let attempt = 0; ; attempt++) {
    const managementPort = await freePort();
    const prometheusPort = prometheus === true ? await freePort() : 0;
    try {
      const warren = await startBroker({ managementPort, prometheusPort, silentCloseDelayMs: 200, ...rest });
      return {
        warren,
        base: `http://127.0.0.1:${managementPort}`,
        prometheus: prometheusPort === 0 ? undefined : `http://127.0.0.1:${prometheusPort}`,
      };
    } catch (err) {
      if (attempt < 5 && /in use/.test(String((err as Error).message))) continue;
      throw err;
    }
  }
}

export interface HttpResponse {
  status: number;
  headers: Headers;
  text: string;
  /** Parsed JSON body, undefined when empty or not JSON. */
  json: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

export interface RequestOptions {
  body?: unknown;
  /** Raw body text (for malformed JSON). */
  raw?: string;
  /** "user:pass"; null sends no Authorization header. Default guest:guest. */
  auth?: string | null;
  headers?: Record<string, string>;
}

export function basic(userPass: string): string {
  return 'Basic ' + Buffer.from(userPass).toString('base64');
}

export function httpClient(base: string) {
  return async (method: string, path: string, o: RequestOptions = {}): Promise<HttpResponse> => {
    const headers: Record<string, string> = { ...(o.headers ?? {}) };
    const auth = o.auth === undefined ? 'guest:guest' : o.auth;
    if (auth !== null) headers['authorization'] = basic(auth);
    let body: string | undefined;
    if (o.raw !== undefined) body = o.raw;
    else if (o.body !== undefined) body = JSON.stringify(o.body);
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(base + path, { method, headers, body });
    const text = await res.text();
    let json: unknown;
    try {
      json = text === '' ? undefined : JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: res.status, headers: res.headers, text, json };
  };
}
