/**
 * Message bodies that prove themselves: a sequence number and a CRC-32 of the rest, so a
 * test reading messages back after a crash can tell a corrupted body from a good one.
 *
 *   0      4      8
 *   +------+------+------------------+
 *   | seq  | crc  | payload          |     crc = crc32(seq bytes + payload)
 *   +------+------+------------------+
 */
import { randomFillSync } from 'node:crypto';
import { crc32 } from 'node:zlib';

export function checkedBody(seq: number, payloadBytes: number): Buffer {
  const b = Buffer.allocUnsafe(8 + payloadBytes);
  b.writeUInt32BE(seq, 0);
  randomFillSync(b, 8);
  b.writeUInt32BE(crc32(b.subarray(8), crc32(b.subarray(0, 4))), 4);
  return b;
}

/** The sequence number of an intact body; throws on a corrupted one. */
export function readChecked(b: Buffer): number {
  if (b.length < 8) throw new Error(`body of ${b.length} bytes is too short to be checked`);
  const seq = b.readUInt32BE(0);
  const want = b.readUInt32BE(4);
  const got = crc32(b.subarray(8), crc32(b.subarray(0, 4)));
  if (want !== got) throw new Error(`body of message ${seq} is corrupted (crc ${got.toString(16)} ≠ ${want.toString(16)})`);
  return seq;
}
