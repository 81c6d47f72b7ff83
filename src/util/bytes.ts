/**
 * Byte copies for the hot path. Buffer#copy of a sub-range allocates a Uint8Array view of the
 * source on every call and crosses into C++; for the few bytes of a consumer tag, a route,
 * a property block or a small body a plain loop is several times cheaper.
 */

/** Copies src[srcStart, srcEnd) to dst at dstStart; returns the number of bytes copied. */
export function copyBytes(src: Buffer, srcStart: number, srcEnd: number, dst: Buffer, dstStart: number): number {
  const n = srcEnd - srcStart;
  if (n > 48) return src.copy(dst, dstStart, srcStart, srcEnd);
  for (let i = 0; i < n; i++) dst[dstStart + i] = src[srcStart + i]!;
  return n;
}
