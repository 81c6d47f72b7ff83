import { describe, it, expect } from 'vitest';
import { HeadersExchange } from '../../src/broker/exchange/headers.js';
import type { Destination, Routable } from '../../src/broker/exchange/exchange-type.js';
import { AmqpError } from '../../src/broker/errors.js';
import { table, type Field, type FieldTable } from '../../src/protocol/field-table.js';

const q = (name: string): Destination => ({ kind: 'queue', name });
const f = (type: Field['type'], value: unknown): Field => ({ type, value }) as Field;
const typed = (entries: Record<string, Field>): FieldTable => new Map(Object.entries(entries));
const msg = (headers: FieldTable | undefined): Routable => ({ headers });

/** Does a single binding with `args` match a message with `headers`? */
function matches(args: FieldTable, headers: FieldTable | undefined): boolean {
  const x = new HeadersExchange<Destination>();
  x.bind({ destination: q('q'), routingKey: '', args });
  const out: Destination[] = [];
  x.route('ignored', msg(headers), out);
  return out.length === 1;
}

function bindError(args: FieldTable): AmqpError {
  const x = new HeadersExchange<Destination>();
  try {
    x.bind({ destination: q('q'), routingKey: '', args });
  } catch (e) {
    expect(e).toBeInstanceOf(AmqpError);
    return e as AmqpError;
  }
  throw new Error('bind did not throw');
}

describe('HeadersExchange: x-match all / any', () => {
  it('all (the default) needs every non-x- argument to match', () => {
    for (const args of [table({ a: 1, b: 'x' }), table({ 'x-match': 'all', a: 1, b: 'x' })]) {
      expect(matches(args, table({ a: 1, b: 'x' }))).toBe(true);
      expect(matches(args, table({ b: 'x', a: 1, c: true }))).toBe(true);
      expect(matches(args, table({ a: 1 }))).toBe(false);
      expect(matches(args, table({ a: 2, b: 'x' }))).toBe(false);
      expect(matches(args, undefined)).toBe(false);
    }
  });

  it('any needs at least one', () => {
    const args = table({ 'x-match': 'any', a: 1, b: 'x' });
    expect(matches(args, table({ a: 1 }))).toBe(true);
    expect(matches(args, table({ a: 2, b: 'x' }))).toBe(true);
    expect(matches(args, table({ a: 2, b: 'y' }))).toBe(false);
    expect(matches(args, table({ c: 1 }))).toBe(false);
    expect(matches(args, new Map())).toBe(false);
    expect(matches(args, undefined)).toBe(false);
  });

  it('all with nothing to compare matches everything, any with nothing matches nothing', () => {
    for (const h of [undefined, new Map(), table({ a: 1 })]) {
      expect(matches(new Map(), h)).toBe(true);
      expect(matches(table({ 'x-match': 'all', 'x-foo': 'bar' }), h)).toBe(true);
      expect(matches(table({ 'x-match': 'any' }), h)).toBe(false);
      expect(matches(table({ 'x-match': 'any', 'x-foo': 'bar' }), h)).toBe(false);
    }
  });

  it('ignores routing keys', () => {
    const x = new HeadersExchange<Destination>();
    x.bind({ destination: q('q1'), routingKey: 'some.key', args: table({ a: 1 }) });
    const out: Destination[] = [];
    x.route('other', msg(table({ a: 1 })), out);
    expect(out.map((d) => d.name)).toEqual(['q1']);
  });
});

describe('HeadersExchange: x- arguments', () => {
  const headers = table({ 'x-first-death-reason': 'expired', 'x-first-death-queue': 'q9', a: 1 });

  it('all / any ignore x- arguments', () => {
    expect(matches(table({ 'x-first-death-reason': 'rejected', a: 1 }), headers)).toBe(true);
    expect(matches(table({ 'x-match': 'any', 'x-first-death-reason': 'expired' }), headers)).toBe(false);
  });

  it('all-with-x / any-with-x consider them (but never x-match itself)', () => {
    expect(matches(table({ 'x-match': 'all-with-x', 'x-first-death-reason': 'expired', 'x-first-death-queue': 'q9' }), headers)).toBe(true);
    expect(matches(table({ 'x-match': 'all-with-x', 'x-first-death-reason': 'expired', 'x-first-death-queue': 'q1' }), headers)).toBe(false);
    expect(matches(table({ 'x-match': 'any-with-x', 'x-first-death-reason': 'expired', b: 2 }), headers)).toBe(true);
    expect(matches(table({ 'x-match': 'any-with-x', 'x-first-death-reason': 'rejected' }), headers)).toBe(false);
    // x-match is not compared with a header of the same name
    expect(matches(table({ 'x-match': 'all-with-x' }), table({ 'x-match': 'nope' }))).toBe(true);
    expect(matches(table({ 'x-match': 'any-with-x' }), table({ 'x-match': 'any-with-x' }))).toBe(false);
  });
});

describe('HeadersExchange: values', () => {
  it('a void argument means "present, with any value"', () => {
    const all = table({ a: null, b: 1 });
    expect(matches(all, table({ a: 'anything', b: 1 }))).toBe(true);
    expect(matches(all, table({ a: null, b: 1 }))).toBe(true);
    expect(matches(all, table({ b: 1 }))).toBe(false);
    const any = table({ 'x-match': 'any', a: null });
    expect(matches(any, table({ a: false }))).toBe(true);
    expect(matches(any, table({ b: false }))).toBe(false);
  });

  it('a non-void argument does not match a void header', () => {
    expect(matches(table({ a: 1 }), table({ a: null }))).toBe(false);
  });

  it('never equates strings, numbers and booleans', () => {
    expect(matches(table({ a: '1' }), table({ a: 1 }))).toBe(false);
    expect(matches(table({ a: 1 }), table({ a: '1' }))).toBe(false);
    expect(matches(table({ a: true }), table({ a: 1 }))).toBe(false);
    expect(matches(table({ a: 1 }), table({ a: true }))).toBe(false);
    expect(matches(table({ a: true }), table({ a: true }))).toBe(true);
    expect(matches(table({ a: true }), table({ a: false }))).toBe(false);
    expect(matches(table({ a: 'x' }), table({ a: 'X' }))).toBe(false);
  });

  // rabbitmq-compat: Erlang's == on the values, so numeric types compare by value.
  it('compares numbers by value across numeric types, as RabbitMQ does', () => {
    expect(matches(typed({ n: f('I', 1) }), typed({ n: f('l', 1) }))).toBe(true);
    expect(matches(typed({ n: f('b', 1) }), typed({ n: f('d', 1) }))).toBe(true);
    expect(matches(typed({ n: f('l', 2n ** 60n) }), typed({ n: f('l', 2n ** 60n) }))).toBe(true);
    expect(matches(typed({ n: f('T', 5) }), typed({ n: f('i', 5) }))).toBe(true);
    expect(matches(typed({ n: f('d', 1.5) }), typed({ n: f('f', 1.5) }))).toBe(true);
    expect(matches(typed({ n: f('d', 0.1) }), typed({ n: f('f', Math.fround(0.1)) }))).toBe(false);
    expect(matches(typed({ n: f('I', 1) }), typed({ n: f('I', 2) }))).toBe(false);
  });

  it('treats longstr and byte array as the same bytes; decimals need the same scale', () => {
    expect(matches(typed({ s: f('S', 'ab') }), typed({ s: f('x', Buffer.from('ab')) }))).toBe(true);
    expect(matches(typed({ s: f('x', Buffer.from('ab')) }), typed({ s: f('x', Buffer.from('ac')) }))).toBe(false);
    expect(matches(typed({ d: f('D', { scale: 1, value: 15 }) }), typed({ d: f('D', { scale: 1, value: 15 }) }))).toBe(true);
    expect(matches(typed({ d: f('D', { scale: 2, value: 150 }) }), typed({ d: f('D', { scale: 1, value: 15 }) }))).toBe(false);
    expect(matches(typed({ d: f('D', { scale: 0, value: 1 }) }), typed({ d: f('I', 1) }))).toBe(false);
  });

  it('compares arrays and tables element by element, with their element types', () => {
    expect(matches(table({ a: [1, 'x'] }), table({ a: [1, 'x'] }))).toBe(true);
    expect(matches(table({ a: [1, 'x'] }), table({ a: ['x', 1] }))).toBe(false);
    expect(matches(typed({ a: f('A', [f('I', 1)]) }), typed({ a: f('A', [f('l', 1)]) }))).toBe(false);
    expect(matches(table({ t: { k: 1 } }), table({ t: { k: 1 } }))).toBe(true);
    expect(matches(table({ t: { k: 1 } }), table({ t: { k: 2 } }))).toBe(false);
    expect(matches(table({ t: { k: 1 } }), table({ a: { k: 1 } }))).toBe(false);
  });
});

describe('HeadersExchange: x-match validation', () => {
  it('accepts the four modes', () => {
    for (const mode of ['all', 'any', 'all-with-x', 'any-with-x']) {
      const x = new HeadersExchange<Destination>();
      expect(x.bind({ destination: q('q'), routingKey: '', args: table({ 'x-match': mode }) })).toBe(true);
    }
  });

  it('refuses any other string with RabbitMQ\'s text', () => {
    const e = bindError(table({ 'x-match': 'bogus', a: 1 }));
    expect(e.code).toBe(406);
    expect(e.isHard).toBe(false);
    expect(e.replyText).toBe(
      'PRECONDITION_FAILED - Invalid x-match field value <<"bogus">>; expected all, any, all-with-x, or any-with-x',
    );
    expect(bindError(table({ 'x-match': 'ALL' })).replyText).toContain('value <<"ALL">>;');
    expect(bindError(table({ 'x-match': '' })).replyText).toContain('value <<"">>;');
  });

  it('refuses a value of another type with RabbitMQ\'s text', () => {
    expect(bindError(typed({ 'x-match': f('b', 1) })).replyText).toBe(
      'PRECONDITION_FAILED - Invalid x-match field type byte (value 1); expected longstr',
    );
    expect(bindError(typed({ 'x-match': f('x', Buffer.from('all')) })).replyText).toBe(
      'PRECONDITION_FAILED - Invalid x-match field type binary (value <<"all">>); expected longstr',
    );
    expect(bindError(table({ 'x-match': true })).replyText).toContain('type bool (value true)');
    expect(bindError(table({ 'x-match': null })).replyText).toContain('type void (value undefined)');
  });

  it('adds nothing when it refuses', () => {
    const x = new HeadersExchange<Destination>();
    expect(() => x.bind({ destination: q('q'), routingKey: '', args: table({ 'x-match': 'nope' }) })).toThrow(AmqpError);
    expect(x.bindingCount).toBe(0);
  });
});

describe('HeadersExchange: bindings', () => {
  it('identifies a binding by (destination, key, args), args in any order', () => {
    const x = new HeadersExchange<Destination>();
    const q1 = q('q1');
    expect(x.bind({ destination: q1, routingKey: '', args: table({ 'x-match': 'any', a: 1 }) })).toBe(true);
    expect(x.bind({ destination: q1, routingKey: '', args: table({ a: 1, 'x-match': 'any' }) })).toBe(false);
    expect(x.bind({ destination: q1, routingKey: 'k', args: table({ a: 1, 'x-match': 'any' }) })).toBe(true);
    expect(x.bind({ destination: q1, routingKey: '', args: typed({ 'x-match': f('S', 'any'), a: f('l', 1) }) })).toBe(true);
    expect(x.bindingCount).toBe(3);
    expect(x.unbind(q1, '', table({ a: 1, 'x-match': 'any' }))).toBe(true);
    expect(x.unbind(q1, '', table({ a: 1, 'x-match': 'any' }))).toBe(false);
    expect(x.bindingCount).toBe(2);
  });

  it('unbindAll removes one destination\'s bindings', () => {
    const x = new HeadersExchange<Destination>();
    const [q1, q2] = [q('q1'), q('q2')];
    x.bind({ destination: q1, routingKey: '', args: table({ a: 1 }) });
    x.bind({ destination: q2, routingKey: '', args: table({ a: 1 }) });
    x.bind({ destination: q1, routingKey: '', args: table({ b: 1 }) });
    expect(x.unbindAll(q1)).toBe(2);
    const out: Destination[] = [];
    x.route('', msg(table({ a: 1, b: 1 })), out);
    expect(out.map((d) => d.name)).toEqual(['q2']);
    expect([...x.bindings()].map((b) => b.destination.name)).toEqual(['q2']);
  });

  it('reads the headers only when a binding looks at them', () => {
    const x = new HeadersExchange<Destination>();
    x.bind({ destination: q('q1'), routingKey: '', args: new Map() });
    let reads = 0;
    const lazy: Routable = {
      get headers() {
        reads++;
        return undefined;
      },
    };
    const out: Destination[] = [];
    x.route('', lazy, out);
    expect(out).toHaveLength(1);
    expect(reads).toBe(0);
    x.bind({ destination: q('q2'), routingKey: '', args: table({ a: 1 }) });
    x.bind({ destination: q('q3'), routingKey: '', args: table({ b: 1 }) });
    x.route('', lazy, out);
    expect(reads).toBe(1);
  });
});
