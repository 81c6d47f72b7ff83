/**
 * AMQP field tables and arrays with RabbitMQ's type tags (the 0-9-1 errata, which is what
 * RabbitMQ, amqplib, pika and the Java client actually put on the wire):
 *
 *   t boolean   b int8    B uint8   s int16   u uint16   I int32   i uint32   l int64
 *   f float32   d float64 D decimal (scale octet + int32)  S longstr  x byte array
 *   A array     T timestamp (uint64 seconds)  F table      V void
 *
 * Table on the wire:  uint32 size | { shortstr key | octet type | value }*
 * Array on the wire:  uint32 size | { octet type | value }*
 *
 * A table decodes to a Map so key order (which RabbitMQ keeps, e.g. in x-death) and odd keys
 * such as "__proto__" survive; every value keeps its wire type so a table re-encodes to the
 * same types and argument equivalence can compare types as RabbitMQ does.
 */
import { DecodeError } from './decode-error.js';

export interface Decimal {
  scale: number;
  value: number;
}

export type Field =
  | { type: 't'; value: boolean }
  | { type: 'b' | 'B' | 's' | 'u' | 'I' | 'i' | 'f' | 'd'; value: number }
  | { type: 'l' | 'T'; value: number | bigint }
  | { type: 'D'; value: Decimal }
  | { type: 'S'; value: string }
  | { type: 'x'; value: Buffer }
  | { type: 'A'; value: Field[] }
  | { type: 'F'; value: FieldTable }
  | { type: 'V'; value: null };

export type FieldType = Field['type'];
export type FieldTable = Map<string, Field>;

/** Nesting beyond this is refused: a hostile client must not blow the stack. */
export const MAX_TABLE_DEPTH = 64;

// ---------------------------------------------------------------------------------------
// decoding

/** Decodes a table whose uint32 size prefix starts at `off`; `end` bounds the enclosing data. */
export function decodeTable(buf: Buffer, off: number, end: number): { table: FieldTable; end: number } {
  if (off + 4 > end) throw new DecodeError('field table size truncated');
  const size = buf.readUInt32BE(off);
  const stop = off + 4 + size;
  if (stop > end) throw new DecodeError('field table longer than its frame');
  return { table: readTableBody(buf, off + 4, stop, 0), end: stop };
}

function readTableBody(buf: Buffer, off: number, stop: number, depth: number): FieldTable {
  if (depth > MAX_TABLE_DEPTH) throw new DecodeError('field tables nested too deeply');
  const table: FieldTable = new Map();
  while (off < stop) {
    const klen = buf[off]!;
    const kend = off + 1 + klen;
    if (kend >= stop) throw new DecodeError('field table key truncated');
    const key = buf.toString('utf8', off + 1, kend);
    const r = readValue(buf, kend, stop, depth);
    table.set(key, r.field);
    off = r.end;
  }
  return table;
}

function readArrayBody(buf: Buffer, off: number, stop: number, depth: number): Field[] {
  if (depth > MAX_TABLE_DEPTH) throw new DecodeError('field arrays nested too deeply');
  const out: Field[] = [];
  while (off < stop) {
    const r = readValue(buf, off, stop, depth);
    out.push(r.field);
    off = r.end;
  }
  return out;
}

function need(off: number, n: number, stop: number): void {
  if (off + n > stop) throw new DecodeError('field value truncated');
}

function readValue(buf: Buffer, off: number, stop: number, depth: number): { field: Field; end: number } {
  need(off, 1, stop);
  const tag = buf[off++]!;
  switch (tag) {
    case 0x74: // t
      need(off, 1, stop);
      return { field: { type: 't', value: buf[off] !== 0 }, end: off + 1 };
    case 0x62: // b
      need(off, 1, stop);
      return { field: { type: 'b', value: buf.readInt8(off) }, end: off + 1 };
    case 0x42: // B
      need(off, 1, stop);
      return { field: { type: 'B', value: buf[off]! }, end: off + 1 };
    case 0x73: // s
      need(off, 2, stop);
      return { field: { type: 's', value: buf.readInt16BE(off) }, end: off + 2 };
    case 0x75: // u
      need(off, 2, stop);
      return { field: { type: 'u', value: buf.readUInt16BE(off) }, end: off + 2 };
    case 0x49: // I
      need(off, 4, stop);
      return { field: { type: 'I', value: buf.readInt32BE(off) }, end: off + 4 };
    case 0x69: // i
      need(off, 4, stop);
      return { field: { type: 'i', value: buf.readUInt32BE(off) }, end: off + 4 };
    case 0x6c: // l
      need(off, 8, stop);
      return { field: { type: 'l', value: narrow(buf.readBigInt64BE(off)) }, end: off + 8 };
    case 0x54: // T
      need(off, 8, stop);
      return { field: { type: 'T', value: narrow(buf.readBigUInt64BE(off)) }, end: off + 8 };
    case 0x66: // f
      need(off, 4, stop);
      return { field: { type: 'f', value: buf.readFloatBE(off) }, end: off + 4 };
    case 0x64: // d
      need(off, 8, stop);
      return { field: { type: 'd', value: buf.readDoubleBE(off) }, end: off + 8 };
    case 0x44: // D
      need(off, 5, stop);
      return { field: { type: 'D', value: { scale: buf[off]!, value: buf.readInt32BE(off + 1) } }, end: off + 5 };
    case 0x53: { // S
      need(off, 4, stop);
      const len = buf.readUInt32BE(off);
      need(off + 4, len, stop);
      return { field: { type: 'S', value: buf.toString('utf8', off + 4, off + 4 + len) }, end: off + 4 + len };
    }
    case 0x78: { // x
      need(off, 4, stop);
      const len = buf.readUInt32BE(off);
      need(off + 4, len, stop);
      return { field: { type: 'x', value: Buffer.from(buf.subarray(off + 4, off + 4 + len)) }, end: off + 4 + len };
    }
    case 0x41: { // A
      need(off, 4, stop);
      const len = buf.readUInt32BE(off);
      need(off + 4, len, stop);
      const end = off + 4 + len;
      return { field: { type: 'A', value: readArrayBody(buf, off + 4, end, depth + 1) }, end };
    }
    case 0x46: { // F
      need(off, 4, stop);
      const len = buf.readUInt32BE(off);
      need(off + 4, len, stop);
      const end = off + 4 + len;
      return { field: { type: 'F', value: readTableBody(buf, off + 4, end, depth + 1) }, end };
    }
    case 0x56: // V
      return { field: { type: 'V', value: null }, end: off };
    default:
      throw new DecodeError(`unknown field-table type octet 0x${tag.toString(16).padStart(2, '0')}`);
  }
}

function narrow(v: bigint): number | bigint {
  return v >= -9007199254740991n && v <= 9007199254740991n ? Number(v) : v;
}

// ---------------------------------------------------------------------------------------
// encoding: write into `buf` at `off`, return the end offset; RangeError when `buf` is too
// small (the frame writer grows its buffer and retries).

export function encodeTable(buf: Buffer, off: number, table: FieldTable | undefined): number {
  const start = off;
  off += 4;
  if (table !== undefined) {
    for (const [key, field] of table) {
      off = writeShortKey(buf, off, key);
      off = writeValue(buf, off, field);
    }
  }
  buf.writeUInt32BE(off - start - 4, start);
  return off;
}

function writeShortKey(buf: Buffer, off: number, key: string): number {
  const len = Buffer.byteLength(key);
  if (len > 255) throw new TypeError(`field-table key longer than 255 bytes: ${key.slice(0, 32)}…`);
  if (off + 1 + len > buf.length) throw new RangeError('buffer full');
  buf[off] = len;
  buf.write(key, off + 1, len, 'utf8');
  return off + 1 + len;
}

function writeBytes(buf: Buffer, off: number, bytes: Buffer): number {
  if (off + 4 + bytes.length > buf.length) throw new RangeError('buffer full');
  buf.writeUInt32BE(bytes.length, off);
  bytes.copy(buf, off + 4);
  return off + 4 + bytes.length;
}

function writeValue(buf: Buffer, off: number, f: Field): number {
  if (off + 1 > buf.length) throw new RangeError('buffer full');
  buf[off++] = f.type.charCodeAt(0);
  switch (f.type) {
    case 't': buf.writeUInt8(f.value ? 1 : 0, off); return off + 1;
    case 'b': buf.writeInt8(f.value, off); return off + 1;
    case 'B': buf.writeUInt8(f.value, off); return off + 1;
    case 's': buf.writeInt16BE(f.value, off); return off + 2;
    case 'u': buf.writeUInt16BE(f.value, off); return off + 2;
    case 'I': buf.writeInt32BE(f.value, off); return off + 4;
    case 'i': buf.writeUInt32BE(f.value, off); return off + 4;
    case 'l': buf.writeBigInt64BE(BigInt(f.value), off); return off + 8;
    case 'T': buf.writeBigUInt64BE(BigInt(f.value), off); return off + 8;
    case 'f': buf.writeFloatBE(f.value, off); return off + 4;
    case 'd': buf.writeDoubleBE(f.value, off); return off + 8;
    case 'D': buf.writeUInt8(f.value.scale, off); buf.writeInt32BE(f.value.value, off + 1); return off + 5;
    case 'S': {
      const len = Buffer.byteLength(f.value);
      if (off + 4 + len > buf.length) throw new RangeError('buffer full');
      buf.writeUInt32BE(len, off);
      buf.write(f.value, off + 4, len, 'utf8');
      return off + 4 + len;
    }
    case 'x': return writeBytes(buf, off, f.value);
    case 'A': {
      const start = off;
      off += 4;
      if (off > buf.length) throw new RangeError('buffer full');
      for (const item of f.value) off = writeValue(buf, off, item);
      buf.writeUInt32BE(off - start - 4, start);
      return off;
    }
    case 'F': return encodeTable(buf, off, f.value);
    case 'V': return off;
  }
}

/** Encoded size of a table including its 4-byte size prefix (for sizing output buffers). */
export function tableSize(table: FieldTable | undefined): number {
  let n = 4;
  if (table !== undefined) for (const [k, f] of table) n += 1 + Buffer.byteLength(k) + valueSize(f);
  return n;
}

function valueSize(f: Field): number {
  switch (f.type) {
    case 't': case 'b': case 'B': return 2;
    case 's': case 'u': return 3;
    case 'I': case 'i': case 'f': return 5;
    case 'l': case 'T': case 'd': return 9;
    case 'D': return 6;
    case 'S': return 5 + Buffer.byteLength(f.value);
    case 'x': return 5 + f.value.length;
    case 'A': { let n = 5; for (const v of f.value) n += valueSize(v); return n; }
    case 'F': return 1 + tableSize(f.value);
    case 'V': return 1;
  }
}

// ---------------------------------------------------------------------------------------
// conveniences for code that builds or reads tables

/** Plain JS → typed field, choosing the types RabbitMQ itself would write. */
export function toField(v: unknown): Field {
  if (v === null || v === undefined) return { type: 'V', value: null };
  if (typeof v === 'boolean') return { type: 't', value: v };
  if (typeof v === 'string') return { type: 'S', value: v };
  if (typeof v === 'bigint') return { type: 'l', value: v };
  if (typeof v === 'number') {
    if (Number.isInteger(v)) return v >= -0x80000000 && v <= 0x7fffffff ? { type: 'I', value: v } : { type: 'l', value: v };
    return { type: 'd', value: v };
  }
  if (Buffer.isBuffer(v)) return { type: 'x', value: v };
  if (v instanceof Date) return { type: 'T', value: Math.floor(v.getTime() / 1000) };
  if (Array.isArray(v)) return { type: 'A', value: v.map(toField) };
  if (v instanceof Map) return { type: 'F', value: v as FieldTable };
  if (typeof v === 'object') return { type: 'F', value: table(v as Record<string, unknown>) };
  throw new TypeError(`cannot put a ${typeof v} in a field table`);
}

/** Builds a table from a plain object, keeping key order. */
export function table(obj: Record<string, unknown>): FieldTable {
  const t: FieldTable = new Map();
  for (const k of Object.keys(obj)) t.set(k, toField(obj[k]));
  return t;
}

/** Typed field → plain JS (for logs, JSON, the management API). */
export function fromField(f: Field): unknown {
  switch (f.type) {
    case 'A': return f.value.map(fromField);
    case 'F': return plain(f.value);
    case 'l': case 'T': return typeof f.value === 'bigint' ? f.value.toString() : f.value;
    case 'D': return f.value.value / 10 ** f.value.scale;
    case 'x': return f.value.toString('base64');
    default: return f.value;
  }
}

export function plain(t: FieldTable | undefined): Record<string, unknown> {
  const o: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  if (t !== undefined) for (const [k, f] of t) o[k] = fromField(f);
  return o;
}

const INTEGER_TYPES = new Set<FieldType>(['b', 'B', 's', 'u', 'I', 'i', 'l', 'T']);

/** The integer value of an integer-typed field, or undefined for any other type. */
export function intValue(f: Field | undefined): number | undefined {
  if (f === undefined || !INTEGER_TYPES.has(f.type)) return undefined;
  return Number(f.value);
}

/** RabbitMQ's type names, used in its error texts ("of type 'signedint'"). */
export const RABBIT_TYPE_NAMES: Record<FieldType, string> = {
  t: 'bool', b: 'byte', B: 'unsignedbyte', s: 'short', u: 'unsignedshort', I: 'signedint',
  i: 'unsignedint', l: 'long', T: 'timestamp', f: 'float', d: 'double', D: 'decimal',
  S: 'longstr', x: 'binary', A: 'array', F: 'table', V: 'void',
};
