/**
 * The bytes of segment files: record types, the record header, checksums and the small
 * encoders and file helpers SegmentStore uses. The layout is drawn in segments.ts.
 */
import { closeSync, fsyncSync, openSync, readSync, readdirSync, statSync, writev } from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';

export const MESSAGE = 1;
export const ACK = 2;
export const DELIVERED = 3;
export const DROPQUEUE = 4;
/** MESSAGE with nqueues u16: a message routed to more than 255 durable queues. */
export const MESSAGE_WIDE = 5;
/** length u32 + crc32 u32 */
export const HEADER = 8;

/** Why the record at `o` cannot be trusted, or null when it is whole and intact. */
export function checkRecord(data: Buffer, o: number): string | null {
  if (o + HEADER + 1 > data.length) return 'torn record header';
  const len = data.readUInt32BE(o);
  if (len < 1 || o + HEADER + len > data.length) return 'record runs past the end of the file';
  if (crc32(data.subarray(o + HEADER, o + HEADER + len)) !== data.readUInt32BE(o + 4)) return 'checksum mismatch';
  const type = data[o + HEADER]!;
  if (type < MESSAGE || type > MESSAGE_WIDE || len < 1 + 8 + 1) return `unknown record type ${type}`;
  return null;
}

export function readFully(fd: number, buf: Buffer, position: number, path: string): void {
  let got = 0;
  while (got < buf.length) {
    const n = readSync(fd, buf, got, buf.length - got, position + got);
    if (n === 0) throw new Error(`short read at ${position} in ${path}`);
    got += n;
  }
}

export function writeId(b: Buffer, o: number, id: number): number {
  b.writeUInt32BE(Math.floor(id / 0x100000000), o);
  b.writeUInt32BE(id >>> 0, o + 4);
  return o + 8;
}

/** The MESSAGE record type and queue-count field for `n` queues: [type, count bytes]. */
export function messageType(n: number): [number, number] {
  return n > 255 ? [MESSAGE_WIDE, 2] : [MESSAGE, 1];
}

/** Writes the queue count in the width `messageType` chose. */
export function putCount(b: Buffer, o: number, n: number, width: number): number {
  if (width === 2) {
    if (n > 0xffff) throw new Error(`a message can be stored for at most 65535 queues, not ${n}`);
    b.writeUInt16BE(n, o);
    return o + 2;
  }
  b[o] = n;
  return o + 1;
}

export function putShort(b: Buffer, o: number, s: Buffer): number {
  b[o] = s.length;
  return putBytes(b, o + 1, s);
}

/** Copies small buffers with a loop (cheaper than a native copy for a few bytes). */
export function putBytes(b: Buffer, o: number, s: Buffer): number {
  const n = s.length;
  if (n > 64) return o + s.copy(b, o);
  for (let i = 0; i < n; i++) b[o + i] = s[i]!;
  return o + n;
}

const CRC_TABLE = (() => {
  const t = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c;
  }
  return t;
})();

/** CRC-32 (zlib's) of b[start, end): a table loop for small records, zlib for large. */
export function crc32Of(b: Buffer, start: number, end: number): number {
  if (end - start > 256) return crc32(b.subarray(start, end));
  let c = -1;
  for (let i = start; i < end; i++) c = CRC_TABLE[(c ^ b[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}

/** writev at a position, continuing after short writes. */
export function writeFully(fd: number, chunks: Buffer[], position: number, cb: (err: Error | null) => void): void {
  writev(fd, chunks, position, (err, written) => {
    if (err) return cb(err);
    let total = 0;
    for (const c of chunks) total += c.length;
    if (written === total) return cb(null);
    // rare: short write; drop what was written and go on
    let skip = written;
    const rest: Buffer[] = [];
    for (const c of chunks) {
      if (skip >= c.length) {
        skip -= c.length;
        continue;
      }
      rest.push(skip > 0 ? c.subarray(skip) : c);
      skip = 0;
    }
    writeFully(fd, rest, position + written, cb);
  });
}

export function fsyncDir(dir: string): void {
  try {
    const fd = openSync(dir, 'r');
    fsyncSync(fd);
    closeSync(fd);
  } catch {
    // some filesystems refuse fsync on directories; the rename/creation is still ordered
  }
}

export function segmentBytes(dir: string): number {
  let n = 0;
  for (const f of readdirSync(dir)) n += statSync(join(dir, f)).size;
  return n;
}
