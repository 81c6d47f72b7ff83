/**
 * List replies as rabbit_mgmt_util builds them: sort (default by vhost then name; `sort=` a
 * dotted key put first, `sort_reverse=true`), the optional page envelope (`page`,
 * `page_size` ≤ 500, `name` filter — case-insensitive substring, or a regex with
 * `use_regex=true`) and `columns=` (dotted keys, comma separated) to trim each item.
 *
 * Sort order follows Erlang term order, which is what RabbitMQ compares: numbers < atoms
 * (true/false/null) < maps < lists < binaries (strings); a missing key counts as 0.
 */
import type { ApiRequest } from './api-request.js';
import { HttpError } from './http-error.js';

type Item = Record<string, unknown>;

const DEFAULT_PAGE_SIZE = 100;
const MAX_PAGE_SIZE = 500;

export interface Pagination {
  page: number;
  pageSize: number;
  name: string | undefined;
  useRegex: boolean;
}

export function paginationParams(q: URLSearchParams): Pagination | undefined {
  const pageRaw = q.get('page');
  if (pageRaw === null) return undefined;
  const sizeRaw = q.get('page_size');
  const page = toInt(pageRaw);
  const pageSize = sizeRaw === null ? DEFAULT_PAGE_SIZE : toInt(sizeRaw);
  if (page === undefined || pageSize === undefined || page <= 0 || pageSize <= 0 || pageSize > MAX_PAGE_SIZE) {
    throw new HttpError(
      400,
      'invalid_pagination_parameters',
      `Invalid pagination parameters: page number ${page ?? pageRaw}, page size ${pageSize ?? sizeRaw}`,
    );
  }
  const name = q.get('name') ?? undefined;
  return { page, pageSize, name: name === '' ? undefined : name, useRegex: q.get('use_regex') === 'true' };
}

function toInt(s: string): number | undefined {
  return /^-?\d+$/.test(s) ? Number(s) : undefined;
}

/** Sorts, filters, pages and trims a list for the response body. */
export function listReply(req: ApiRequest, items: Item[], defaultSort: string[] = ['vhost', 'name']): unknown {
  const q = req.query;
  const pagination = paginationParams(q);
  const sortParam = q.get('sort');
  let sorted = items;
  if (sortParam !== '' || !q.has('sort')) {
    const keys = sortParam === null || sortParam === '' ? defaultSort : [sortParam, ...defaultSort.filter((k) => k !== sortParam)];
    sorted = sortItems(items, keys);
  }
  if (q.get('sort_reverse') === 'true') sorted = sorted.slice().reverse();
  const columns = columnsParam(q);
  if (pagination === undefined) return columns === undefined ? sorted : sorted.map((i) => pick(i, columns));
  const filtered = filterByName(sorted, pagination);
  const { page, pageSize } = pagination;
  const offset = (page - 1) * pageSize;
  if (offset > filtered.length) {
    throw new HttpError(400, 'page_out_of_range', `Page out of range, page: ${page} page size: ${pageSize}, len: ${filtered.length}`);
  }
  const pageItems = filtered.slice(offset, offset + pageSize);
  return {
    filtered_count: filtered.length,
    item_count: pageItems.length,
    items: columns === undefined ? pageItems : pageItems.map((i) => pick(i, columns)),
    page,
    page_count: Math.ceil(filtered.length / pageSize),
    page_size: pageSize,
    total_count: items.length,
  };
}

/** `columns=` on a single object (GET /api/queues/v/q?columns=name,messages). */
export function objectReply(req: ApiRequest, item: Item): unknown {
  const columns = columnsParam(req.query);
  return columns === undefined ? item : pick(item, columns);
}

function filterByName(items: Item[], p: Pagination): Item[] {
  if (p.name === undefined) return items;
  let test: (s: string) => boolean;
  if (p.useRegex) {
    let re: RegExp;
    try {
      re = new RegExp(p.name, 'i');
    } catch {
      throw new HttpError(400, 'bad_request', `invalid regular expression: ${p.name}`);
    }
    test = (s) => re.test(s);
  } else {
    const needle = p.name.toLowerCase();
    test = (s) => s.toLowerCase().includes(needle);
  }
  return items.filter((i) => typeof i['name'] === 'string' && test(i['name']));
}

function columnsParam(q: URLSearchParams): string[][] | undefined {
  const c = q.get('columns');
  if (c === null) return undefined;
  return c.split(',').filter((s) => s !== '').map((s) => s.split('.'));
}

/** Keeps the requested (possibly dotted) keys, in the item's own key order. */
function pick(item: Item, columns: string[][]): Item {
  const out: Item = {};
  for (const [k, v] of Object.entries(item)) {
    const wanted = columns.filter((c) => c[0] === k);
    if (wanted.length === 0) continue;
    if (wanted.some((c) => c.length === 1) || v === null || typeof v !== 'object' || Array.isArray(v)) out[k] = v;
    else out[k] = pick(v as Item, wanted.map((c) => c.slice(1)));
  }
  return out;
}

export function sortItems(items: Item[], keys: string[]): Item[] {
  const paths = keys.map((k) => k.split('.'));
  const keyed = items.map((item) => ({ item, key: paths.map((p) => dotted(item, p)) }));
  keyed.sort((a, b) => {
    for (let i = 0; i < paths.length; i++) {
      const c = compareTerms(a.key[i], b.key[i]);
      if (c !== 0) return c;
    }
    return 0;
  });
  return keyed.map((k) => k.item);
}

function dotted(item: Item, path: string[]): unknown {
  let v: unknown = item;
  for (let i = 0; i < path.length; i++) {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return i === path.length ? v : 0;
    const next = (v as Item)[path[i]!];
    if (next === undefined) return i === path.length - 1 ? 0 : [];
    v = next;
  }
  return v;
}

function rank(v: unknown): number {
  if (typeof v === 'number') return 0;
  if (typeof v === 'boolean' || v === null || v === undefined) return 1;
  if (typeof v === 'object' && !Array.isArray(v)) return 2;
  if (Array.isArray(v)) return 3;
  return 4;
}

function compareTerms(a: unknown, b: unknown): number {
  const ra = rank(a);
  const rb = rank(b);
  if (ra !== rb) return ra - rb;
  if (ra === 0) return (a as number) - (b as number);
  if (ra === 4) return Buffer.compare(Buffer.from(String(a)), Buffer.from(String(b)));
  const sa = JSON.stringify(a) ?? '';
  const sb = JSON.stringify(b) ?? '';
  return sa < sb ? -1 : sa > sb ? 1 : 0;
}
