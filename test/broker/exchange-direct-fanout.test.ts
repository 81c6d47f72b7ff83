import { describe, it, expect } from 'vitest';
import { DirectExchange } from '../../src/broker/exchange/direct.js';
import { FanoutExchange } from '../../src/broker/exchange/fanout.js';
import { createExchangeType, EXCHANGE_TYPES } from '../../src/broker/exchange/index.js';
import { tableEqual } from '../../src/broker/exchange/table-equal.js';
import type { Destination, ExchangeType, Routable } from '../../src/broker/exchange/exchange-type.js';
import { table, type FieldTable } from '../../src/protocol/field-table.js';

const q = (name: string): Destination => ({ kind: 'queue', name });
const NO_HEADERS: Routable = { headers: undefined };
const EMPTY: FieldTable = new Map();

function route(x: ExchangeType, key: string): string[] {
  const out: Destination[] = [];
  x.route(key, NO_HEADERS, out);
  return out.map((d) => d.name);
}

describe('tableEqual', () => {
  it('ignores key order at every depth', () => {
    expect(tableEqual(table({ a: 1, b: 'x' }), table({ b: 'x', a: 1 }))).toBe(true);
    expect(tableEqual(table({ t: { a: 1, b: 2 } }), table({ t: { b: 2, a: 1 } }))).toBe(true);
  });

  it('is type-sensitive', () => {
    const i = new Map([['n', { type: 'I', value: 1 }]]) as FieldTable;
    const l = new Map([['n', { type: 'l', value: 1 }]]) as FieldTable;
    expect(tableEqual(i, l)).toBe(false);
    expect(tableEqual(table({ s: '1' }), table({ s: 1 }))).toBe(false);
  });

  it('compares values deeply: arrays in order, buffers by bytes, int64 as number or bigint', () => {
    expect(tableEqual(table({ a: [1, 2] }), table({ a: [1, 2] }))).toBe(true);
    expect(tableEqual(table({ a: [1, 2] }), table({ a: [2, 1] }))).toBe(false);
    expect(tableEqual(table({ x: Buffer.from('ab') }), table({ x: Buffer.from('ab') }))).toBe(true);
    expect(tableEqual(table({ x: Buffer.from('ab') }), table({ x: Buffer.from('ac') }))).toBe(false);
    const big = new Map([['n', { type: 'l', value: 5n }]]) as FieldTable;
    const small = new Map([['n', { type: 'l', value: 5 }]]) as FieldTable;
    expect(tableEqual(big, small)).toBe(true);
    expect(tableEqual(table({ a: 1 }), table({ a: 1, b: 2 }))).toBe(false);
    expect(tableEqual(table({ a: null }), table({ a: null }))).toBe(true);
  });
});

describe('DirectExchange', () => {
  it('routes on the exact key only (case-sensitive, no wildcards)', () => {
    const x = new DirectExchange<Destination>();
    const q1 = q('q1');
    x.bind({ destination: q1, routingKey: 'Key', args: EMPTY });
    expect(route(x, 'Key')).toEqual(['q1']);
    expect(route(x, 'key')).toEqual([]);
    expect(route(x, 'Key.')).toEqual([]);
    x.bind({ destination: q('q2'), routingKey: '*', args: EMPTY });
    expect(route(x, 'anything')).toEqual([]);
    expect(route(x, '*')).toEqual(['q2']);
  });

  it('routes the empty key', () => {
    const x = new DirectExchange<Destination>();
    x.bind({ destination: q('q1'), routingKey: '', args: EMPTY });
    expect(route(x, '')).toEqual(['q1']);
    expect(route(x, 'a')).toEqual([]);
  });

  it('identifies a binding by (destination, key, args)', () => {
    const x = new DirectExchange<Destination>();
    const q1 = q('q1');
    expect(x.bind({ destination: q1, routingKey: 'k', args: table({ a: 1, b: 2 }) })).toBe(true);
    expect(x.bind({ destination: q1, routingKey: 'k', args: table({ b: 2, a: 1 }) })).toBe(false);
    expect(x.bind({ destination: q1, routingKey: 'k', args: EMPTY })).toBe(true);
    expect(x.bind({ destination: q('q1'), routingKey: 'k', args: EMPTY })).toBe(true); // another object
    expect(x.bindingCount).toBe(3);
    // Both bindings of q1 match: route reports it twice, the caller deduplicates.
    expect(route(x, 'k')).toEqual(['q1', 'q1', 'q1']);
    expect(x.unbind(q1, 'k', table({ b: 2, a: 1 }))).toBe(true);
    expect(x.unbind(q1, 'k', table({ b: 2, a: 1 }))).toBe(false);
    expect(x.unbind(q1, 'other', EMPTY)).toBe(false);
    expect(x.bindingCount).toBe(2);
  });

  it('unbindAll removes every binding of one destination and nothing else', () => {
    const x = new DirectExchange<Destination>();
    const [q1, q2] = [q('q1'), q('q2')];
    for (const key of ['a', 'b', 'c']) x.bind({ destination: q1, routingKey: key, args: EMPTY });
    x.bind({ destination: q2, routingKey: 'a', args: EMPTY });
    expect(x.unbindAll(q1)).toBe(3);
    expect(x.unbindAll(q1)).toBe(0);
    expect(x.bindingCount).toBe(1);
    expect(route(x, 'a')).toEqual(['q2']);
    expect(route(x, 'b')).toEqual([]);
    expect([...x.bindings()].map((b) => [b.destination.name, b.routingKey])).toEqual([['q2', 'a']]);
  });

  it('appends to out without clearing it', () => {
    const x = new DirectExchange<Destination>();
    x.bind({ destination: q('q1'), routingKey: 'k', args: EMPTY });
    const out: Destination[] = [q('before')];
    x.route('k', NO_HEADERS, out);
    expect(out.map((d) => d.name)).toEqual(['before', 'q1']);
  });
});

describe('FanoutExchange', () => {
  it('routes to every binding whatever the key', () => {
    const x = new FanoutExchange<Destination>();
    x.bind({ destination: q('q1'), routingKey: '', args: EMPTY });
    x.bind({ destination: q('q2'), routingKey: 'ignored', args: EMPTY });
    expect(route(x, '')).toEqual(['q1', 'q2']);
    expect(route(x, 'whatever.key')).toEqual(['q1', 'q2']);
  });

  it('keeps the key in the binding identity', () => {
    const x = new FanoutExchange<Destination>();
    const q1 = q('q1');
    expect(x.bind({ destination: q1, routingKey: 'a', args: EMPTY })).toBe(true);
    expect(x.bind({ destination: q1, routingKey: 'a', args: new Map() })).toBe(false);
    expect(x.bind({ destination: q1, routingKey: 'b', args: EMPTY })).toBe(true);
    expect(route(x, 'z')).toEqual(['q1', 'q1']);
    expect(x.unbind(q1, 'c', EMPTY)).toBe(false);
    expect(x.unbind(q1, 'a', EMPTY)).toBe(true);
    expect(route(x, 'z')).toEqual(['q1']);
  });

  it('unbindAll keeps the other destinations in order', () => {
    const x = new FanoutExchange<Destination>();
    const [q1, q2, q3] = [q('q1'), q('q2'), q('q3')];
    for (const d of [q1, q2, q1, q3]) x.bind({ destination: d, routingKey: d === q1 ? String(x.bindingCount) : '', args: EMPTY });
    expect(x.unbindAll(q1)).toBe(2);
    expect(route(x, '')).toEqual(['q2', 'q3']);
    expect(x.bindingCount).toBe(2);
    expect([...x.bindings()].map((b) => b.destination.name)).toEqual(['q2', 'q3']);
  });
});

describe('createExchangeType', () => {
  it('knows the four AMQP types and nothing else', () => {
    expect(EXCHANGE_TYPES).toEqual(['direct', 'fanout', 'topic', 'headers']);
    for (const t of EXCHANGE_TYPES) expect(createExchangeType(t)?.type).toBe(t);
    expect(createExchangeType('x-consistent-hash')).toBeUndefined();
    expect(createExchangeType('Direct')).toBeUndefined();
  });

  it('returns a fresh table each time', () => {
    const a = createExchangeType('direct')!;
    const b = createExchangeType('direct')!;
    a.bind({ destination: q('q1'), routingKey: 'k', args: EMPTY });
    expect(b.bindingCount).toBe(0);
  });
});
