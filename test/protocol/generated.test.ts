import { existsSync, readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { extractSpec, type PrimitiveType, type Spec } from '../../bin/extract-spec.js';
import { camel, generate, pascal, upper } from '../../bin/gen-protocol.js';
import * as P from '../../src/protocol/generated.js';
import { DecodeError } from '../../src/protocol/decode-error.js';
import type { Field, FieldTable } from '../../src/protocol/field-table.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const specText = readFileSync(`${root}spec/amqp0-9-1.json`, 'utf8');
const spec = JSON.parse(specText) as Spec;
const xmlPath = `${root}../shared/amqp/amqp0-9-1-rabbitmq-extended.xml`;

const methods = spec.classes.flatMap((c) =>
  c.methods.map((m) => ({
    name: `${c.name}.${m.name}`,
    id: c.id * 0x10000 + m.id,
    idName: upper(c.name, m.name),
    type: pascal(c.name, m.name),
    m,
  })),
);

type Encoder = (buf: Buffer, off: number, a: unknown) => number;
const api = P as unknown as Record<string, unknown>;
const encoderOf = (type: string): Encoder => api[`encode${type}`] as Encoder;

const hex = (s: string): Buffer => Buffer.from(s, 'hex');

/** Encodes into a fresh buffer of exactly the needed size. */
function encoded(encode: (buf: Buffer, off: number) => number): Buffer {
  const big = Buffer.alloc(1 << 20);
  const end = encode(big, 0);
  return Buffer.from(big.subarray(0, end));
}

// ---------------------------------------------------------------------------------------
// arbitraries

const shortstr = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 70 }).filter((s) => Buffer.byteLength(s) <= 255),
  fc.string({ unit: 'grapheme-ascii', minLength: 250, maxLength: 255 }),
);
const bytes = fc.uint8Array({ maxLength: 300 }).map((u) => Buffer.from(u));
const longlong = fc.oneof(fc.maxSafeNat(), fc.integer({ min: 0, max: 0xffffffff }));

const safe = (v: bigint): number | bigint =>
  v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;

const key = fc.string({ unit: 'binary', maxLength: 12 }).filter((k) => Buffer.byteLength(k) <= 255);

const { field, table } = fc.letrec<{ field: Field; table: FieldTable }>((tie) => ({
  field: fc.oneof(
    { maxDepth: 3, depthIdentifier: 'field-table' },
    fc.boolean().map((value): Field => ({ type: 't', value })),
    fc.integer({ min: -128, max: 127 }).map((value): Field => ({ type: 'b', value })),
    fc.integer({ min: 0, max: 255 }).map((value): Field => ({ type: 'B', value })),
    fc.integer({ min: -32768, max: 32767 }).map((value): Field => ({ type: 's', value })),
    fc.integer({ min: 0, max: 65535 }).map((value): Field => ({ type: 'u', value })),
    fc.integer().map((value): Field => ({ type: 'I', value })),
    fc.integer({ min: 0, max: 0xffffffff }).map((value): Field => ({ type: 'i', value })),
    fc.bigInt(-(2n ** 63n), 2n ** 63n - 1n).map((v): Field => ({ type: 'l', value: safe(v) })),
    fc.bigInt(0n, 2n ** 64n - 1n).map((v): Field => ({ type: 'T', value: safe(v) })),
    fc.float().map((value): Field => ({ type: 'f', value })),
    fc.double().map((value): Field => ({ type: 'd', value })),
    fc.record({ scale: fc.integer({ min: 0, max: 255 }), value: fc.integer() }).map((value): Field => ({ type: 'D', value })),
    fc.string({ unit: 'binary', maxLength: 40 }).map((value): Field => ({ type: 'S', value })),
    bytes.map((value): Field => ({ type: 'x', value })),
    fc.constant<Field>({ type: 'V', value: null }),
    fc.array(tie('field'), { maxLength: 4 }).map((value): Field => ({ type: 'A', value })),
    tie('table').map((value): Field => ({ type: 'F', value })),
  ),
  table: fc
    .uniqueArray(fc.tuple(key, tie('field')), { maxLength: 5, selector: ([k]) => k })
    .map((entries) => new Map(entries)),
}));

function valueArb(type: PrimitiveType): fc.Arbitrary<unknown> {
  switch (type) {
    case 'bit': return fc.boolean();
    case 'octet': return fc.integer({ min: 0, max: 0xff });
    case 'short': return fc.integer({ min: 0, max: 0xffff });
    case 'long': return fc.integer({ min: 0, max: 0xffffffff });
    case 'longlong': case 'timestamp': return longlong;
    case 'shortstr': return shortstr;
    case 'longstr': return bytes;
    case 'table': return table;
  }
}

const propertiesArb: fc.Arbitrary<P.BasicProperties> = fc.record(
  {
    contentType: shortstr,
    contentEncoding: shortstr,
    headers: table,
    deliveryMode: fc.integer({ min: 0, max: 255 }),
    priority: fc.integer({ min: 0, max: 255 }),
    correlationId: shortstr,
    replyTo: shortstr,
    expiration: shortstr,
    messageId: shortstr,
    timestamp: longlong,
    type: shortstr,
    userId: shortstr,
    appId: shortstr,
    clusterId: shortstr,
  },
  { requiredKeys: [] },
);

// ---------------------------------------------------------------------------------------

describe('generated protocol code', () => {
  it('is up to date with spec/amqp0-9-1.json (else run npm run gen)', () => {
    const committed = readFileSync(`${root}src/protocol/generated.ts`, 'utf8');
    const fresh = generate(JSON.parse(specText));
    expect(fresh === committed, 'src/protocol/generated.ts is stale').toBe(true);
  });

  it.skipIf(!existsSync(xmlPath))('spec/amqp0-9-1.json is up to date with the XML', () => {
    const fresh = JSON.stringify(extractSpec(readFileSync(xmlPath, 'utf8'), basename(xmlPath)), null, 2) + '\n';
    expect(fresh === specText, 'spec/amqp0-9-1.json is stale').toBe(true);
  });

  it('covers the RabbitMQ extensions', () => {
    expect(P.CONNECTION_BLOCKED).toBe(0x000a003c);
    expect(P.CONNECTION_UNBLOCKED).toBe(0x000a003d);
    expect(P.CONNECTION_UPDATE_SECRET).toBe(0x000a0046);
    expect(P.CONNECTION_UPDATE_SECRET_OK).toBe(0x000a0047);
    expect(P.methodInfo(P.CONNECTION_UPDATE_SECRET)?.synchronous).toBe(true);
    expect(P.EXCHANGE_BIND).toBe(0x0028001e);
    expect(P.EXCHANGE_UNBIND_OK).toBe(0x00280033); // 40/51, as RabbitMQ numbers it
    expect(P.BASIC_NACK).toBe(0x003c0078);
    expect(P.CONFIRM_SELECT).toBe(0x0055000a);
    expect(methods).toHaveLength(64);
  });

  it('exports the constants and reply codes', () => {
    expect([P.FRAME_METHOD, P.FRAME_HEADER, P.FRAME_BODY, P.FRAME_HEARTBEAT, P.FRAME_END, P.FRAME_MIN_SIZE]).toEqual([
      1, 2, 3, 8, 206, 4096,
    ]);
    expect([P.CLASS_CONNECTION, P.CLASS_CHANNEL, P.CLASS_EXCHANGE, P.CLASS_QUEUE, P.CLASS_BASIC, P.CLASS_CONFIRM, P.CLASS_TX]).toEqual([
      10, 20, 40, 50, 60, 85, 90,
    ]);
    expect(P.NO_ROUTE).toBe(312);
    expect(P.REPLY_NAMES[312]).toBe('NO_ROUTE');
    expect(P.REPLY_NAMES[404]).toBe('NOT_FOUND');
    expect(P.REPLY_NAMES[200]).toBe('REPLY_SUCCESS');
    expect(P.isHardError(P.CHANNEL_ERROR)).toBe(true);
    expect(P.isHardError(P.CONNECTION_FORCED)).toBe(true);
    expect(P.isHardError(P.NOT_FOUND)).toBe(false);
    expect(P.isHardError(P.ACCESS_REFUSED)).toBe(false);
    expect(P.isHardError(P.NO_ROUTE)).toBe(false);
  });

  it('names methods', () => {
    expect(P.methodName(60, 40)).toBe('basic.publish');
    expect(P.methodName(99, 1)).toBe('unknown(99/1)');
    expect(P.methodInfo(P.BASIC_PUBLISH)).toEqual({
      id: 0x003c0028, classId: 60, methodId: 40, name: 'basic.publish', synchronous: false, content: true,
    });
    expect(P.methodInfo(0x00630001)).toBeUndefined();
    for (const { id, name } of methods) expect(P.methodName(id >>> 16, id & 0xffff)).toBe(name);
  });
});

describe('method round trips', () => {
  for (const { name, id, idName, type, m } of methods) {
    it(name, () => {
      expect(api[idName]).toBe(id);
      const encode = encoderOf(type);
      const args = fc.record(Object.fromEntries(m.fields.map((f) => [camel(f.name), valueArb(f.type)])));
      const buf = Buffer.alloc(1 << 20);
      fc.assert(
        fc.property(args, fc.nat(8), fc.nat(), (a, pad, cut) => {
          const end = encode(buf, pad, a);
          const payload = Buffer.from(buf.subarray(pad, end));
          const decoded = P.decodeMethod(payload);
          expect(decoded.id).toBe(id);
          expect(decoded.name).toBe(name);
          expect(decoded.args).toEqual(a);
          // the generic encoder produces the same bytes
          const again = Buffer.alloc(payload.length);
          expect(P.encodeMethod(again, 0, decoded)).toBe(payload.length);
          expect(again.equals(payload)).toBe(true);
          // never a silent truncation: any smaller buffer throws RangeError
          const short = cut % payload.length;
          expect(() => encode(Buffer.alloc(short), 0, a)).toThrow(RangeError);
          expect(() => encode(Buffer.alloc(payload.length - 1), 0, a)).toThrow(RangeError);
        }),
        { numRuns: m.fields.length === 0 ? 5 : 150 },
      );
    });
  }
});

describe('basic properties', () => {
  it('round-trip for random subsets', () => {
    fc.assert(
      fc.property(propertiesArb, fc.nat(), (p, cut) => {
        const size = P.basicPropertiesSize(p);
        const buf = Buffer.alloc(size);
        expect(P.encodeBasicProperties(buf, 0, p)).toBe(size);
        const d = P.decodeBasicProperties(buf, 0, size);
        expect(d).toEqual(p);
        const present = Object.keys(d).filter((k) => d[k as keyof P.BasicProperties] !== undefined);
        expect(present.sort()).toEqual(Object.keys(p).sort());
        expect(() => P.encodeBasicProperties(Buffer.alloc(cut % size), 0, p)).toThrow(RangeError);
        expect(() => P.encodeBasicProperties(Buffer.alloc(size - 1), 0, p)).toThrow(RangeError);
        for (let n = 0; n < size; n += Math.max(1, size >> 4)) {
          expect(() => P.decodeBasicProperties(buf, 0, n)).toThrow(DecodeError);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('uses bit 15 for content-type and bit 2 for cluster-id', () => {
    const e = (p: P.BasicProperties): string => encoded((b, o) => P.encodeBasicProperties(b, o, p)).toString('hex');
    expect(e({})).toBe('0000');
    expect(e({ contentType: 'a' })).toBe('80000161');
    expect(e({ deliveryMode: 2 })).toBe('100002');
    expect(e({ timestamp: 2 ** 32 + 1 })).toBe('00400000000100000001');
    expect(e({ clusterId: '' })).toBe('000400');
    expect(e({ headers: new Map() })).toBe('200000000000');
  });

  it('refuses the continuation flag and trailing bytes', () => {
    expect(() => P.decodeBasicProperties(hex('0001'), 0, 2)).toThrow(DecodeError);
    expect(() => P.decodeBasicProperties(hex('100002ff'), 0, 4)).toThrow(/trailing/);
    expect(P.decodeBasicProperties(hex('ff100002ff'), 1, 4).deliveryMode).toBe(2);
  });
});

describe('golden bytes', () => {
  it('connection.tune', () => {
    const b = encoded((buf, off) => P.encodeConnectionTune(buf, off, { channelMax: 2047, frameMax: 131072, heartbeat: 60 }));
    expect(b.toString('hex')).toBe('000a001e07ff00020000003c');
    expect(P.decodeMethod(b)).toEqual({
      id: P.CONNECTION_TUNE, name: 'connection.tune', args: { channelMax: 2047, frameMax: 131072, heartbeat: 60 },
    });
  });

  it('channel.open-ok, connection.open-ok, channel.close-ok', () => {
    expect(encoded((b, o) => P.encodeChannelOpenOk(b, o, { reserved1: Buffer.alloc(0) })).toString('hex')).toBe('0014000b00000000');
    expect(encoded((b, o) => P.encodeConnectionOpenOk(b, o, { reserved1: '' })).toString('hex')).toBe('000a002900');
    expect(encoded((b, o) => P.encodeChannelCloseOk(b, o, {})).toString('hex')).toBe('00140029');
  });

  it('basic.ack and basic.deliver with a delivery tag above 2^32, bits packed LSB first', () => {
    const ack = encoded((b, o) => P.encodeBasicAck(b, o, { deliveryTag: 2 ** 32 + 5, multiple: true }));
    expect(ack.toString('hex')).toBe('003c0050' + '0000000100000005' + '01');
    const nack = encoded((b, o) => P.encodeBasicNack(b, o, { deliveryTag: 1, multiple: false, requeue: true }));
    expect(nack.toString('hex')).toBe('003c0078' + '0000000000000001' + '02');
    const deliver = encoded((b, o) =>
      P.encodeBasicDeliver(b, o, { consumerTag: 'c', deliveryTag: Number.MAX_SAFE_INTEGER, redelivered: true, exchange: '', routingKey: 'rk' }),
    );
    expect(deliver.toString('hex')).toBe('003c003c' + '0163' + '001fffffffffffff' + '01' + '00' + '02726b');
    expect(P.decodeMethod(deliver).args).toEqual({
      consumerTag: 'c', deliveryTag: Number.MAX_SAFE_INTEGER, redelivered: true, exchange: '', routingKey: 'rk',
    });
  });

  it('an absent table encodes as an empty one', () => {
    const b = encoded((buf, off) =>
      P.encodeQueueBind(buf, off, { reserved1: 0, queue: 'q', exchange: 'x', routingKey: '', noWait: false } as P.QueueBind),
    );
    expect(b.toString('hex')).toBe('00320014' + '0000' + '0171' + '0178' + '00' + '00' + '00000000');
  });
});

describe('malformed input', () => {
  const samples: Buffer[] = [
    encoded((b, o) =>
      P.encodeConnectionStart(b, o, {
        versionMajor: 0, versionMinor: 9, serverProperties: new Map<string, Field>([['product', { type: 'S', value: 'warren' }]]),
        mechanisms: Buffer.from('PLAIN AMQPLAIN'), locales: Buffer.from('en_US'),
      }),
    ),
    encoded((b, o) => P.encodeConnectionTune(b, o, { channelMax: 2047, frameMax: 131072, heartbeat: 60 })),
    encoded((b, o) => P.encodeBasicPublish(b, o, { reserved1: 0, exchange: 'ex', routingKey: 'key', mandatory: true, immediate: false })),
    encoded((b, o) => P.encodeBasicDeliver(b, o, { consumerTag: 'ctag', deliveryTag: 7, redelivered: false, exchange: 'ex', routingKey: 'k' })),
    encoded((b, o) => P.encodeBasicAck(b, o, { deliveryTag: 1, multiple: false })),
    encoded((b, o) =>
      P.encodeExchangeDeclare(b, o, {
        reserved1: 0, exchange: 'e', type: 'topic', passive: false, durable: true, autoDelete: false, internal: false, noWait: false,
        arguments: new Map<string, Field>([['alternate-exchange', { type: 'S', value: 'ae' }]]),
      }),
    ),
    encoded((b, o) => P.encodeQueueDeclareOk(b, o, { queue: 'q', messageCount: 3, consumerCount: 1 })),
    encoded((b, o) => P.encodeChannelCloseOk(b, o, {})),
  ];

  it('every proper prefix throws DecodeError', () => {
    for (const full of samples) {
      expect(() => P.decodeMethod(full)).not.toThrow();
      for (let n = 0; n < full.length; n++) {
        expect(() => P.decodeMethod(full.subarray(0, n)), `${full.toString('hex')} cut at ${n}`).toThrow(DecodeError);
      }
    }
  });

  it('trailing garbage throws DecodeError', () => {
    for (const full of samples) {
      const longer = Buffer.concat([full, hex('00')]);
      expect(() => P.decodeMethod(longer)).toThrow(DecodeError);
      expect(() => P.decodeMethod(longer)).toThrow(/trailing/);
    }
  });

  it('decodeMethodAt respects its window', () => {
    const framed = Buffer.concat([hex('ffff'), samples[2]!, hex('ce')]);
    expect(P.decodeMethodAt(framed, 2, framed.length - 1).name).toBe('basic.publish');
    expect(() => P.decodeMethodAt(framed, 2, framed.length)).toThrow(/trailing/);
  });

  it('unknown class or method ids throw UnknownMethodError', () => {
    for (const [payload, classId, methodId] of [
      ['00630001', 99, 1],
      ['003c03e7', 60, 999],
      ['ffffffff00', 0xffff, 0xffff],
    ] as const) {
      let err: unknown;
      try {
        P.decodeMethod(hex(payload));
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(P.UnknownMethodError);
      expect(err).toBeInstanceOf(DecodeError);
      expect((err as P.UnknownMethodError).classId).toBe(classId);
      expect((err as P.UnknownMethodError).methodId).toBe(methodId);
    }
  });
});

describe('encoding invalid values', () => {
  const buf = Buffer.alloc(4096);

  it('a shortstr over 255 bytes throws TypeError', () => {
    const ok = { reserved1: 0, exchange: 'x'.repeat(255), routingKey: '', mandatory: false, immediate: false };
    expect(() => P.encodeBasicPublish(buf, 0, ok)).not.toThrow();
    expect(() => P.encodeBasicPublish(buf, 0, { ...ok, routingKey: 'x'.repeat(256) })).toThrow(TypeError);
    expect(() => P.encodeBasicPublish(buf, 0, { ...ok, routingKey: 'é'.repeat(128) })).toThrow(TypeError); // 256 bytes
    expect(() => P.encodeBasicProperties(buf, 0, { messageId: 'x'.repeat(300) })).toThrow(TypeError);
  });

  it('numbers out of range throw TypeError', () => {
    expect(() => P.encodeBasicAck(buf, 0, { deliveryTag: -1, multiple: false })).toThrow(TypeError);
    expect(() => P.encodeBasicAck(buf, 0, { deliveryTag: 1.5, multiple: false })).toThrow(TypeError);
    expect(() => P.encodeConnectionTune(buf, 0, { channelMax: 65536, frameMax: 0, heartbeat: 0 })).toThrow(TypeError);
    expect(() => P.encodeConnectionTune(buf, 0, { channelMax: 0, frameMax: 2 ** 32, heartbeat: 0 })).toThrow(TypeError);
    expect(() => P.encodeBasicProperties(buf, 0, { priority: 256 })).toThrow(TypeError);
  });
});
