import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { TopicExchange, TOPIC_CACHE_MAX } from '../../src/broker/exchange/topic.js';
import type { Binding, Destination, Routable } from '../../src/broker/exchange/exchange-type.js';
import { table, type FieldTable } from '../../src/protocol/field-table.js';

const q = (name: string): Destination => ({ kind: 'queue', name });
const NO_HEADERS: Routable = { headers: undefined };
const EMPTY: FieldTable = new Map();

function routeNames(x: TopicExchange<Destination>, key: string): string[] {
  const out: Destination[] = [];
  x.route(key, NO_HEADERS, out);
  return out.map((d) => d.name).sort();
}

/** The obvious recursive matcher, on RabbitMQ's word split ("" has no words). */
const words = (key: string): string[] => (key === '' ? [] : key.split('.'));
function refMatch(p: string[], k: string[]): boolean {
  if (p.length === 0) return k.length === 0;
  const [head, ...rest] = p;
  if (head === '#') return refMatch(rest, k) || (k.length > 0 && refMatch(p, k.slice(1)));
  if (k.length === 0) return false;
  return (head === '*' || head === k[0]) && refMatch(rest, k.slice(1));
}

function matchesOne(pattern: string, key: string): boolean {
  const x = new TopicExchange<Destination>();
  x.bind({ destination: q('q'), routingKey: pattern, args: EMPTY });
  return routeNames(x, key).length === 1;
}

describe('TopicExchange: single patterns', () => {
  const cases: [pattern: string, key: string, expected: boolean][] = [
    // from RabbitMQ's tutorial 5
    ['*.orange.*', 'quick.orange.rabbit', true],
    ['*.*.rabbit', 'quick.orange.rabbit', true],
    ['lazy.#', 'lazy.orange.elephant', true],
    ['*.orange.*', 'quick.orange.fox', true],
    ['lazy.#', 'lazy.brown.fox', true],
    ['*.*.rabbit', 'lazy.pink.rabbit', true],
    ['lazy.#', 'lazy.pink.rabbit', true],
    ['*.orange.*', 'quick.brown.fox', false],
    ['*.orange.*', 'orange', false],
    ['*.orange.*', 'quick.orange.new.rabbit', false],
    ['lazy.#', 'lazy.orange.new.rabbit', true],
    ['*.*.rabbit', 'lazy.orange.new.rabbit', false],
    // '#' is zero or more words
    ['#', '', true],
    ['#', 'a', true],
    ['#', 'a.b.c', true],
    ['#', '.', true],
    ['a.#', 'a', true],
    ['a.#', 'a.b.c', true],
    ['a.#', 'b', false],
    ['a.#', 'ab', false],
    ['#.a', 'a', true],
    ['#.a', 'b.a', true],
    ['#.a', 'a.b', false],
    ['#.a.#', 'a', true],
    ['#.a.#', 'x.a.y', true],
    ['a.#.b', 'a.b', true],
    ['a.#.b', 'a.x.y.b', true],
    ['a.#.b', 'a.b.c', false],
    ['a.*.#', 'a.b', true],
    ['a.*.#', 'a', false],
    ['#.#', '', true],
    ['a.#.#', 'a', true],
    ['#.*', '', false],
    ['#.*', 'a', true],
    ['#.*.#', 'a.b', true],
    // '*' is exactly one word, and an empty word is a word
    ['*', '', false],
    ['*', 'a', true],
    ['*', 'a.b', false],
    ['*', '.', false],
    ['*.*', '.', true],
    ['a.*.b', 'a..b', true],
    ['a..b', 'a..b', true],
    ['a.b', 'a..b', false],
    ['a.*', 'a.', true],
    ['a', 'a.', false],
    ['a.', 'a.', true],
    ['.a', '.a', true],
    ['*.a', '.a', true],
    // the empty binding key matches only the empty routing key
    ['', '', true],
    ['', 'a', false],
    ['', '.', false],
    // literal words: no prefix matching, case-sensitive; '*' and '#' only as whole words
    ['a', 'A', false],
    ['a*', 'ab', false],
    ['a*', 'a*', true],
    ['a#', 'a#', true],
    ['a#', 'a.b', false],
    ['a.b.c', 'a.b.c', true],
    ['a.b.c', 'a.b', false],
  ];
  it.each(cases)('pattern %j, key %j → %s', (pattern, key, expected) => {
    expect(matchesOne(pattern, key)).toBe(expected);
    expect(refMatch(words(pattern), words(key))).toBe(expected); // keeps the reference honest
  });
});

describe('TopicExchange: RabbitMQ topic_matching test table', () => {
  // rabbitmq-server deps/rabbit/test: the topic routing test's bindings (t27 bound twice with
  // different arguments), matches, then matches after removing bindings 1, 5, 11, 19, 21, 28.
  const specs: [string, string, FieldTable][] = [
    ['a.b.c', 't1', EMPTY], ['a.*.c', 't2', EMPTY], ['a.#.b', 't3', EMPTY], ['a.b.b.c', 't4', EMPTY],
    ['#', 't5', EMPTY], ['#.#', 't6', EMPTY], ['#.b', 't7', EMPTY], ['*.*', 't8', EMPTY],
    ['a.*', 't9', EMPTY], ['*.b.c', 't10', EMPTY], ['a.#', 't11', EMPTY], ['a.#.#', 't12', EMPTY],
    ['b.b.c', 't13', EMPTY], ['a.b.b', 't14', EMPTY], ['a.b', 't15', EMPTY], ['b.c', 't16', EMPTY],
    ['', 't17', EMPTY], ['*.*.*', 't18', EMPTY], ['vodka.martini', 't19', EMPTY], ['a.b.c', 't20', EMPTY],
    ['*.#', 't21', EMPTY], ['#.*.#', 't22', EMPTY], ['*.#.#', 't23', EMPTY], ['#.#.#', 't24', EMPTY],
    ['*', 't25', EMPTY], ['#.b.#', 't26', EMPTY],
    ['args-test', 't27', table({ foo: 'bar' })], ['args-test', 't27', table({ foo: 'baz' })],
  ];
  const before: [string, string[]][] = [
    ['a.b.c', ['t1', 't2', 't5', 't6', 't10', 't11', 't12', 't18', 't20', 't21', 't22', 't23', 't24', 't26']],
    ['a.b', ['t3', 't5', 't6', 't7', 't8', 't9', 't11', 't12', 't15', 't21', 't22', 't23', 't24', 't26']],
    ['a.b.b', ['t3', 't5', 't6', 't7', 't11', 't12', 't14', 't18', 't21', 't22', 't23', 't24', 't26']],
    ['', ['t5', 't6', 't17', 't24']],
    ['b.c.c', ['t5', 't6', 't18', 't21', 't22', 't23', 't24', 't26']],
    ['a.a.a.a.a', ['t5', 't6', 't11', 't12', 't21', 't22', 't23', 't24']],
    ['vodka.gin', ['t5', 't6', 't8', 't21', 't22', 't23', 't24']],
    ['vodka.martini', ['t5', 't6', 't8', 't19', 't21', 't22', 't23', 't24']],
    ['b.b.c', ['t5', 't6', 't10', 't13', 't18', 't21', 't22', 't23', 't24', 't26']],
    ['nothing.here.at.all', ['t5', 't6', 't21', 't22', 't23', 't24']],
    ['oneword', ['t5', 't6', 't21', 't22', 't23', 't24', 't25']],
    ['args-test', ['t5', 't6', 't21', 't22', 't23', 't24', 't25', 't27']],
  ];
  const after: [string, string[]][] = [
    ['a.b.c', ['t2', 't6', 't10', 't12', 't18', 't20', 't22', 't23', 't24', 't26']],
    ['a.b', ['t3', 't6', 't7', 't8', 't9', 't12', 't15', 't22', 't23', 't24', 't26']],
    ['a.b.b', ['t3', 't6', 't7', 't12', 't14', 't18', 't22', 't23', 't24', 't26']],
    ['', ['t6', 't17', 't24']],
    ['b.c.c', ['t6', 't18', 't22', 't23', 't24', 't26']],
    ['a.a.a.a.a', ['t6', 't12', 't22', 't23', 't24']],
    ['vodka.gin', ['t6', 't8', 't22', 't23', 't24']],
    ['vodka.martini', ['t6', 't8', 't22', 't23', 't24']],
    ['b.b.c', ['t6', 't10', 't13', 't18', 't22', 't23', 't24', 't26']],
    ['nothing.here.at.all', ['t6', 't22', 't23', 't24']],
    ['oneword', ['t6', 't22', 't23', 't24', 't25']],
    ['args-test', ['t6', 't22', 't23', 't24', 't25', 't27']],
  ];

  it('matches, deduplicated, before and after removing bindings', () => {
    const x = new TopicExchange<Destination>();
    const queues = new Map<string, Destination>();
    const bindings: Binding<Destination>[] = specs.map(([key, name, args]) => {
      if (!queues.has(name)) queues.set(name, q(name));
      return { destination: queues.get(name)!, routingKey: key, args };
    });
    for (const b of bindings) expect(x.bind(b)).toBe(true);
    expect(x.bindingCount).toBe(28);
    for (const [key, expected] of before) expect(routeNames(x, key), key).toEqual([...expected].sort());
    for (const n of [1, 5, 11, 19, 21, 28]) {
      const b = bindings[n - 1]!;
      expect(x.unbind(b.destination, b.routingKey, b.args)).toBe(true);
    }
    expect(x.bindingCount).toBe(22);
    for (const [key, expected] of after) expect(routeNames(x, key), key).toEqual([...expected].sort());
    for (const d of queues.values()) x.unbindAll(d);
    expect(x.bindingCount).toBe(0);
    for (const key of ['a.b.c', 'b.b.c', '']) expect(routeNames(x, key)).toEqual([]);
  });
});

describe('TopicExchange: bindings and cache', () => {
  it('identifies a binding by (destination, key, args)', () => {
    const x = new TopicExchange<Destination>();
    const q1 = q('q1');
    expect(x.bind({ destination: q1, routingKey: 'a.*', args: EMPTY })).toBe(true);
    expect(x.bind({ destination: q1, routingKey: 'a.*', args: new Map() })).toBe(false);
    expect(x.bind({ destination: q1, routingKey: 'a.#', args: EMPTY })).toBe(true);
    expect(x.unbind(q1, 'a.b', EMPTY)).toBe(false);
    expect(x.unbind(q1, 'a.*', table({ x: 1 }))).toBe(false);
    expect(x.bindingCount).toBe(2);
    expect([...x.bindings()].map((b) => b.routingKey).sort()).toEqual(['a.#', 'a.*']);
  });

  it('routes a destination once even when several of its bindings match', () => {
    const x = new TopicExchange<Destination>();
    const q1 = q('q1');
    for (const key of ['a.*', 'a.#', '#', '*.b']) x.bind({ destination: q1, routingKey: key, args: EMPTY });
    expect(routeNames(x, 'a.b')).toEqual(['q1']);
  });

  it('invalidates the cache on bind, unbind and unbindAll', () => {
    const x = new TopicExchange<Destination>();
    const [q1, q2] = [q('q1'), q('q2')];
    x.bind({ destination: q1, routingKey: 'a.*', args: EMPTY });
    expect(routeNames(x, 'a.b')).toEqual(['q1']);
    expect(x.cacheSize).toBe(1);
    expect(routeNames(x, 'a.b')).toEqual(['q1']); // hit
    x.bind({ destination: q2, routingKey: '#.b', args: EMPTY });
    expect(x.cacheSize).toBe(0);
    expect(routeNames(x, 'a.b')).toEqual(['q1', 'q2']);
    x.unbind(q1, 'a.*', EMPTY);
    expect(routeNames(x, 'a.b')).toEqual(['q2']);
    x.bind({ destination: q1, routingKey: 'a.b', args: EMPTY });
    expect(routeNames(x, 'a.b')).toEqual(['q1', 'q2']);
    expect(x.unbindAll(q2)).toBe(1);
    expect(routeNames(x, 'a.b')).toEqual(['q1']);
    x.unbindAll(q1);
    expect(routeNames(x, 'a.b')).toEqual([]);
  });

  it('keeps the cache when nothing changed', () => {
    const x = new TopicExchange<Destination>();
    const q1 = q('q1');
    x.bind({ destination: q1, routingKey: 'a', args: EMPTY });
    routeNames(x, 'a');
    expect(x.bind({ destination: q1, routingKey: 'a', args: EMPTY })).toBe(false);
    expect(x.unbind(q1, 'b', EMPTY)).toBe(false);
    expect(x.unbindAll(q('other'))).toBe(0);
    expect(x.cacheSize).toBe(1);
  });

  it('bounds the cache', () => {
    const x = new TopicExchange<Destination>();
    x.bind({ destination: q('q1'), routingKey: '#', args: EMPTY });
    for (let i = 0; i < TOPIC_CACHE_MAX + 10; i++) routeNames(x, `k.${i}`);
    expect(x.cacheSize).toBeLessThanOrEqual(TOPIC_CACHE_MAX);
    expect(x.cacheSize).toBeGreaterThan(0);
  });

  it('prunes the trie so a removed pattern leaves no trace', () => {
    const x = new TopicExchange<Destination>();
    const q1 = q('q1');
    x.bind({ destination: q1, routingKey: 'a.#.b.*', args: EMPTY });
    x.bind({ destination: q1, routingKey: 'a.#', args: EMPTY });
    x.unbind(q1, 'a.#', EMPTY);
    expect(routeNames(x, 'a.x.b.c')).toEqual(['q1']);
    expect(routeNames(x, 'a')).toEqual([]);
    x.unbind(q1, 'a.#.b.*', EMPTY);
    expect(routeNames(x, 'a.x.b.c')).toEqual([]);
    x.bind({ destination: q1, routingKey: 'a.#.b.*', args: EMPTY });
    expect(routeNames(x, 'a.b.c')).toEqual(['q1']);
  });

  it('stays fast on many hashes against a long key', () => {
    const x = new TopicExchange<Destination>();
    x.bind({ destination: q('q1'), routingKey: Array(20).fill('#').join('.') + '.z', args: EMPTY });
    const key = Array(120).fill('a').join('.');
    const t0 = performance.now();
    expect(routeNames(x, key)).toEqual([]);
    expect(routeNames(x, `${key}.z`)).toEqual(['q1']);
    expect(performance.now() - t0).toBeLessThan(1000);
  });
});

describe('TopicExchange: property — the trie agrees with the reference matcher', () => {
  const keyWord = fc.constantFrom('a', 'b', 'c', '');
  const patternWord = fc.constantFrom('a', 'b', '', '*', '#', '*', '#');
  const key = fc.array(keyWord, { maxLength: 6 }).map((ws) => ws.join('.'));
  const pattern = fc.array(patternWord, { maxLength: 6 }).map((ws) => ws.join('.'));

  it('for one pattern and one key', () => {
    fc.assert(fc.property(pattern, key, (p, k) => matchesOne(p, k) === refMatch(words(p), words(k))), { numRuns: 2000 });
  });

  it('for many bindings, keys, and after removing some bindings', () => {
    fc.assert(
      fc.property(
        fc.array(pattern, { minLength: 1, maxLength: 12 }),
        fc.array(key, { minLength: 1, maxLength: 12 }),
        fc.array(fc.boolean(), { minLength: 12, maxLength: 12 }),
        (patterns, keys, removed) => {
          const x = new TopicExchange<Destination>();
          const dests = patterns.map((_, i) => q(`q${i}`));
          patterns.forEach((p, i) => x.bind({ destination: dests[i]!, routingKey: p, args: EMPTY }));
          const expected = (k: string, live: (i: number) => boolean): string[] =>
            patterns.flatMap((p, i) => (live(i) && refMatch(words(p), words(k)) ? [`q${i}`] : [])).sort();
          for (const k of keys) expect(routeNames(x, k)).toEqual(expected(k, () => true));
          patterns.forEach((p, i) => {
            if (removed[i]) x.unbind(dests[i]!, p, EMPTY);
          });
          // Same keys again: any stale cache entry would show here.
          for (const k of keys) expect(routeNames(x, k)).toEqual(expected(k, (i) => !removed[i]));
        },
      ),
      { numRuns: 500 },
    );
  });
});
