/**
 * Path templates → handlers per method. Segments are matched raw and then percent-decoded one
 * by one, so `%2F` in `/api/queues/%2F/q` is the vhost "/" and never a path separator.
 *
 * Order of checks follows cowboy_rest as RabbitMQ uses it: an unknown path is 404 and a known
 * path with a method it lacks is 405 (with `allow`), both before authentication.
 */
import type { ApiHandler } from './api-request.js';

export type Method = 'GET' | 'PUT' | 'POST' | 'DELETE';

export type Handlers = Partial<Record<Method, ApiHandler>>;

interface Route {
  readonly parts: string[];
  readonly handlers: Handlers;
}

export type RouteMatch =
  | { kind: 'found'; handler: ApiHandler; params: Record<string, string> }
  | { kind: 'method-not-allowed'; allow: string }
  | { kind: 'not-found' };

export class Router {
  readonly #routes: Route[] = [];

  /** `pattern` like '/api/queues/:vhost/:name'; a later route never shadows an earlier one. */
  add(pattern: string, handlers: Handlers): this {
    this.#routes.push({ parts: pattern.split('/').slice(1), handlers });
    return this;
  }

  match(method: string, rawPath: string): RouteMatch {
    const segments = rawPath.split('/').slice(1);
    // rabbitmq-compat: cowboy ignores one trailing slash ("/api/queues/")
    if (segments.length > 1 && segments[segments.length - 1] === '') segments.pop();
    for (const r of this.#routes) {
      const params = matchParts(r.parts, segments);
      if (params === null) continue;
      const m = (method === 'HEAD' ? 'GET' : method) as Method;
      const handler = r.handlers[m];
      if (handler !== undefined) return { kind: 'found', handler, params };
      return { kind: 'method-not-allowed', allow: allowHeader(r.handlers) };
    }
    return { kind: 'not-found' };
  }
}

function matchParts(parts: string[], segments: string[]): Record<string, string> | null {
  if (parts.length !== segments.length) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i]!;
    let s: string;
    try {
      s = decodeURIComponent(segments[i]!);
    } catch {
      return null;
    }
    if (p.startsWith(':')) params[p.slice(1)] = s;
    else if (p !== s) return null;
  }
  return params;
}

/** RabbitMQ's order: "HEAD, GET, PUT, POST, DELETE, OPTIONS". */
function allowHeader(h: Handlers): string {
  const out: string[] = [];
  if (h.GET) out.push('HEAD', 'GET');
  if (h.PUT) out.push('PUT');
  if (h.POST) out.push('POST');
  if (h.DELETE) out.push('DELETE');
  out.push('OPTIONS');
  return out.join(', ');
}
