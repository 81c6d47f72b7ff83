/**
 * The management listener's request cycle: /api/* through the router (404 unknown path,
 * 405 wrong method, then authentication, then the handler), everything else to the static
 * dashboard. Responses carry RabbitMQ's headers (content-security-policy, vary,
 * cache-control on JSON) and are gzipped when the client accepts it, as cowboy does.
 *
 * Paths are split raw at "?" and "/" before percent-decoding, so %2F and "%2E%2E" stay inside
 * one segment (a queue may be named "..").
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { gzipSync } from 'node:zlib';
import type { ApiRequest, ApiResult } from './api-request.js';
import { authenticateRequest } from './auth.js';
import type { ManagementContext } from './context.js';
import { HttpError, badRequest } from './http-error.js';
import type { Router } from './router.js';

const MAX_BODY = 10_000_000; // RabbitMQ's max_http_body_size default
const COMMON_HEADERS = {
  'content-security-policy': "script-src 'self' 'unsafe-eval' 'unsafe-inline'; object-src 'self'",
  vary: 'accept, accept-encoding, origin',
};

export type StaticHandler = (req: IncomingMessage, res: ServerResponse, path: string) => boolean;

export function createManagementServer(ctx: ManagementContext, router: Router, serveStatic: StaticHandler): Server {
  const server = createServer((req, res) => {
    handle(ctx, router, serveStatic, req, res).catch((err: unknown) => {
      ctx.log.error({ err }, 'management request failed');
      if (!res.headersSent) send(req, res, { status: 500 });
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 5_000;
  return server;
}

async function handle(ctx: ManagementContext, router: Router, serveStatic: StaticHandler, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  const query = new URLSearchParams(q < 0 ? '' : url.slice(q + 1));
  const method = req.method ?? 'GET';
  if (!path.startsWith('/api/') && path !== '/api') {
    if ((method === 'GET' || method === 'HEAD') && serveStatic(req, res, path)) return;
    return send(req, res, errorResult(new HttpError(404, 'Object Not Found', 'Not Found')));
  }
  const match = router.match(method, path);
  if (match.kind === 'not-found') return send(req, res, errorResult(new HttpError(404, 'Object Not Found', 'Not Found')));
  if (method === 'OPTIONS') {
    const allow = match.kind === 'method-not-allowed' ? match.allow : 'HEAD, GET, PUT, POST, DELETE, OPTIONS';
    return send(req, res, { status: 200, headers: { allow } });
  }
  if (match.kind === 'method-not-allowed') {
    // rabbitmq-compat: 405 with an empty body (error-405-method-not-allowed.json)
    return send(req, res, { status: 405, headers: { allow: match.allow } });
  }
  let result: ApiResult;
  try {
    const user = authenticateRequest(ctx.broker.users, req, ctx.config.loopbackUsers);
    let bodyPromise: Promise<Record<string, unknown>> | undefined;
    const apiReq: ApiRequest = {
      ctx,
      method,
      params: match.params,
      query,
      user,
      raw: req,
      body: () => (bodyPromise ??= readJson(req)),
    };
    result = await match.handler(apiReq);
  } catch (err) {
    if (!(err instanceof HttpError)) throw err;
    result = errorResult(err);
  }
  if (!req.readableEnded) req.resume(); // unread body: drain it so keep-alive works
  send(req, res, result);
}

function errorResult(err: HttpError): ApiResult {
  return { status: err.status, body: err.error === null ? undefined : { error: err.error, reason: err.reason }, headers: err.headers };
}

function send(req: IncomingMessage, res: ServerResponse, r: ApiResult): void {
  const headers: Record<string, string | number> = { ...COMMON_HEADERS, ...(r.headers ?? {}) };
  let payload: Buffer | undefined;
  if (r.body !== undefined) {
    payload = Buffer.from(JSON.stringify(r.body), 'utf8');
    headers['content-type'] = 'application/json';
    if (r.status === 200) headers['cache-control'] = 'no-cache';
    if (payload.length >= 1024 && /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''))) {
      payload = gzipSync(payload);
      headers['content-encoding'] = 'gzip';
    }
  }
  if (r.status !== 204) headers['content-length'] = payload?.length ?? 0;
  res.writeHead(r.status, headers);
  res.end(req.method === 'HEAD' ? undefined : payload);
}

/** The request body as a JSON object, as rabbit_mgmt_util:decode accepts it. */
function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(badRequest('Exceeded HTTP request body size limit'));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('error', reject);
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8').trim();
      if (text === '' || text === 'null' || text === 'undefined') return resolve({});
      let v: unknown;
      try {
        v = JSON.parse(text);
      } catch {
        return reject(badRequest('not_json'));
      }
      if (typeof v === 'string') {
        return reject(badRequest('invalid payload: the request body JSON-decoded to a string. Is the input doubly-JSON-encoded?'));
      }
      if (v === null || typeof v !== 'object' || Array.isArray(v)) return reject(badRequest('not_json'));
      resolve(v as Record<string, unknown>);
    });
  });
}
