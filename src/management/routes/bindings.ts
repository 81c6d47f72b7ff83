/**
 * /api/bindings…: list all or per vhost; between an exchange and a queue (…/e/X/q/Q) or two
 * exchanges (…/e/SRC/e/DST): GET the bindings, POST one (201 + relative location), GET or
 * DELETE one by its properties key.
 */
import type { Bindable } from '../../broker/exchange/exchange.js';
import type { VHost } from '../../broker/vhost.js';
import { created, noContent, ok, type ApiRequest } from '../api-request.js';
import { visibleVhosts } from '../auth.js';
import { badRequest, notFound } from '../http-error.js';
import { argsHash, vhostBindings, type BindingJson } from '../json/exchange.js';
import { jsonTable } from '../json/format.js';
import { listReply } from '../listing.js';
import type { Router } from '../router.js';
import { domain, str, vhostParam } from './common.js';

const SORT = ['vhost', 'source', 'destination', 'routing_key'];

export function bindingRoutes(r: Router): void {
  r.add('/api/bindings', {
    GET: (req) => {
      const all: BindingJson[] = [];
      for (const name of visibleVhosts(req)) all.push(...vhostBindings(req.ctx.broker.vhost(name)!));
      return ok(listReply(req, all as unknown as Record<string, unknown>[], SORT));
    },
  });
  r.add('/api/bindings/:vhost', {
    GET: (req) => ok(listReply(req, vhostBindings(vhostParam(req)) as unknown as Record<string, unknown>[], SORT)),
  });
  for (const kind of ['q', 'e'] as const) {
    r.add(`/api/bindings/:vhost/e/:source/${kind}/:destination`, {
      GET: (req) => ok(listReply(req, between(req, kind) as unknown as Record<string, unknown>[], SORT)),
      POST: (req) => bind(req, kind),
    });
    r.add(`/api/bindings/:vhost/e/:source/${kind}/:destination/:props`, {
      GET: (req) => ok(findBinding(req, kind)),
      DELETE: (req) => {
        const b = findBinding(req, kind);
        const vhost = vhostParam(req);
        const args = argsOf(vhost, b);
        domain(() => {
          if (kind === 'q') vhost.unbindQueue(b.destination, b.source, b.routing_key, args, ownerOf(vhost, b.destination, req));
          else vhost.unbindExchange(b.destination, b.source, b.routing_key, args);
        });
        return noContent();
      },
    });
  }
}

/** Checks both ends exist (404 otherwise) and lists the bindings from source to destination. */
function between(req: ApiRequest, kind: 'q' | 'e'): BindingJson[] {
  const vhost = vhostParam(req);
  const source = req.params['source']!;
  const destination = req.params['destination']!;
  if (!vhost.exchanges.has(source === 'amq.default' ? '' : source)) throw notFound();
  if (kind === 'q' ? !vhost.queues.has(destination) : !vhost.exchanges.has(destination)) throw notFound();
  const type = kind === 'q' ? 'queue' : 'exchange';
  const src = source === 'amq.default' ? '' : source;
  return vhostBindings(vhost).filter((b) => b.source === src && b.destination === destination && b.destination_type === type);
}

function findBinding(req: ApiRequest, kind: 'q' | 'e'): BindingJson {
  const props = req.params['props']!;
  const b = between(req, kind).find((x) => x.properties_key === props);
  if (b === undefined) throw notFound();
  return b;
}

async function bind(req: ApiRequest, kind: 'q' | 'e'): Promise<{ status: number; headers?: Record<string, string> }> {
  const vhost = vhostParam(req);
  const source = req.params['source']!;
  const destination = req.params['destination']!;
  between(req, kind); // 404 for a missing end, before the body is looked at
  const body = await req.body();
  const routingKey = str(body, 'routing_key', '');
  const args = jsonTable(body['arguments']);
  domain(() => {
    if (kind === 'q') vhost.bindQueue(destination, source, routingKey, args, ownerOf(vhost, destination, req));
    else vhost.bindExchange(destination, source, routingKey, args);
  });
  const key = vhostBindings(vhost).find(
    (b) => b.source === source && b.destination === destination && b.routing_key === routingKey && (args.size === 0 || b.properties_key.endsWith(argsHash(args))),
  )?.properties_key;
  if (key === undefined) throw badRequest('binding was not created');
  // rabbitmq-compat: location relative to the request path, the key URL-encoded once more
  return created({ location: `${encodeURIComponent(destination)}/${encodeURIComponent(key).replace(/%7E/gi, '~')}` });
}

/** The API may bind and unbind an exclusive queue on its owner's behalf. */
function ownerOf(vhost: VHost, queue: string, req: ApiRequest): object {
  const q = vhost.queues.get(queue);
  return q?.exclusive === true && q.owner !== null ? q.owner : req.ctx.owner;
}

/** The binding's arguments as the exchange stores them (typed), for unbinding. */
function argsOf(vhost: VHost, b: BindingJson): Map<string, import('../../protocol/field-table.js').Field> {
  const x = vhost.exchanges.get(b.source)!;
  for (const binding of x.router.bindings()) {
    const d: Bindable = binding.destination;
    if (d.name === b.destination && d.kind === b.destination_type && binding.routingKey === b.routing_key) {
      if (binding.args.size === 0 ? b.properties_key.indexOf('~') < 0 || b.properties_key === '~' : b.properties_key.endsWith(argsHash(binding.args))) {
        return binding.args;
      }
    }
  }
  return new Map();
}
