/**
 * /api/exchanges…: list, declare (PUT), delete, publish, and the bindings an exchange is the
 * source or destination of. "amq.default" in a path is the default exchange "".
 */
import type { Exchange } from '../../broker/exchange/exchange.js';
import type { VHost } from '../../broker/vhost.js';
import { createdOrNoContent, noContent, ok, type ApiRequest } from '../api-request.js';
import { visibleVhosts } from '../auth.js';
import { badRequest, notFound } from '../http-error.js';
import { exchangeJson, vhostBindings } from '../json/exchange.js';
import { bool, jsonTable } from '../json/format.js';
import { listReply, objectReply } from '../listing.js';
import { publishFromJson } from '../publish.js';
import type { Router } from '../router.js';
import { domain, exchangeName, vhostParam } from './common.js';

export function exchangeRoutes(r: Router): void {
  r.add('/api/exchanges', { GET: (req) => ok(listReply(req, listExchanges(req, [...visibleVhosts(req)]))) });
  r.add('/api/exchanges/:vhost', { GET: (req) => ok(listReply(req, listExchanges(req, [vhostParam(req).name]))) });
  r.add('/api/exchanges/:vhost/:name', {
    GET: (req) => {
      const { vhost, exchange } = exchangeParam(req);
      return ok(objectReply(req, exchangeJson(req.ctx, vhost, exchange, true)));
    },
    PUT: putExchange,
    DELETE: (req) => {
      const { vhost, exchange } = exchangeParam(req);
      domain(() => vhost.deleteExchange(exchange.name, req.query.get('if-unused') === 'true'));
      return noContent();
    },
  });
  r.add('/api/exchanges/:vhost/:name/publish', {
    POST: async (req) => {
      const vhost = vhostParam(req);
      const name = exchangeName(req.params['name']!);
      const { routed } = publishFromJson(vhost, name, req.user.name, await req.body());
      return ok({ routed });
    },
  });
  r.add('/api/exchanges/:vhost/:name/bindings/source', {
    GET: (req) => {
      const { vhost, exchange } = exchangeParam(req);
      const list = vhostBindings(vhost).filter((b) => b.source === exchange.name);
      return ok(listReply(req, list as unknown as Record<string, unknown>[], ['destination', 'routing_key']));
    },
  });
  r.add('/api/exchanges/:vhost/:name/bindings/destination', {
    GET: (req) => {
      const { vhost, exchange } = exchangeParam(req);
      const list = vhostBindings(vhost).filter((b) => b.destination_type === 'exchange' && b.destination === exchange.name);
      return ok(listReply(req, list as unknown as Record<string, unknown>[], ['source', 'routing_key']));
    },
  });
}

function listExchanges(req: ApiRequest, vhosts: string[]): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const name of vhosts) {
    const v = req.ctx.broker.vhost(name);
    if (v === undefined) continue;
    for (const x of v.exchanges.values()) out.push(exchangeJson(req.ctx, v, x));
  }
  return out;
}

function exchangeParam(req: ApiRequest): { vhost: VHost; exchange: Exchange } {
  const vhost = vhostParam(req);
  const exchange = vhost.exchanges.get(exchangeName(req.params['name']!));
  if (exchange === undefined) throw notFound();
  return { vhost, exchange };
}

async function putExchange(req: ApiRequest): Promise<{ status: number }> {
  const vhost = vhostParam(req);
  const name = exchangeName(req.params['name']!);
  const body = await req.body();
  const len = Buffer.byteLength(name);
  if (len > 255) throw badRequest(`exchange should be less than 255 bytes, actually was ${len}\n`);
  const isNew = !vhost.exchanges.has(name);
  const type = body['type'] === undefined ? 'direct' : String(body['type']);
  const x = domain(() =>
    vhost.declareExchange(name, type, {
      passive: false,
      durable: bool(body['durable'], false),
      autoDelete: bool(body['auto_delete'], false),
      internal: bool(body['internal'], false),
      arguments: jsonTable(body['arguments']),
    }),
  );
  if (isNew) req.ctx.meta.exchangeCreators.set(x, req.user.name);
  return createdOrNoContent(isNew);
}
