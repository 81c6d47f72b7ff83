/**
 * Small message bodies packed side by side into shared slabs.
 *
 * A Buffer of its own costs a 16-byte body about 100 bytes of object header on the V8 heap,
 * more than the body itself; a queued message refers to its slab and offset instead (see
 * Message). Slabs are filled in publish order and freed by the GC once every message in them
 * is gone, so a queue drained in order frees them in order; one message held for long keeps
 * its whole slab (16 KiB) alive, the same trade Node's own Buffer pool makes at 8 KiB.
 */

import { copyBytes } from '../util/bytes.js';

/** Bodies up to this size are packed; larger ones keep a Buffer of their own. */
export const PACK_MAX = 512;
const SLAB_SIZE = 16 * 1024;

let slab: Buffer = Buffer.allocUnsafeSlow(0);
let used = 0;

/** The slab the last packBody() wrote into. */
export let packedSlab: Buffer = slab;

/** Copies src[start, end) into the current slab; returns its offset in `packedSlab`. */
export function packBody(src: Buffer, start: number, end: number): number {
  const n = end - start;
  if (used + n > slab.length) {
    slab = Buffer.allocUnsafeSlow(SLAB_SIZE);
    used = 0;
  }
  const off = used;
  copyBytes(src, start, end, slab, off);
  used += n;
  packedSlab = slab;
  return off;
}
