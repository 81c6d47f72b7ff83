/**
 * Latency histogram in microseconds, log-linear like HdrHistogram with 64 sub-buckets per
 * power of two (every value is within 1.6 % of its bucket): recording is a few integer
 * operations and no allocation, percentiles are a walk over ~1,700 counters.
 *
 *   value v (µs)          bucket index
 *   [0, 128)              v                         (exact)
 *   [2^k, 2^(k+1)), k≥7   (k-5)·64 + (v >> (k-6)) - 64
 */
const SUB_BITS = 6;
const SUB = 1 << SUB_BITS; // 64
const MAX_VALUE = 2 ** 31 - 1; // ~36 minutes
const BUCKETS = (31 - SUB_BITS + 1) * SUB + SUB;

function indexOf(v: number): number {
  if (v < 2 * SUB) return v;
  const msb = 31 - Math.clz32(v);
  const shift = msb - SUB_BITS;
  return (shift + 1) * SUB + ((v >>> shift) - SUB);
}

/** Middle of the bucket's value range. */
function valueOf(index: number): number {
  if (index < 2 * SUB) return index;
  const shift = Math.floor(index / SUB) - 1;
  const lower = ((index % SUB) + SUB) * 2 ** shift;
  return lower + (2 ** shift - 1) / 2;
}

export interface LatencySummary {
  /** Milliseconds. */
  min: number;
  mean: number;
  p50: number;
  p75: number;
  p95: number;
  p99: number;
  p999: number;
  max: number;
  count: number;
}

export class Histogram {
  readonly #counts = new Float64Array(BUCKETS);
  #count = 0;
  #sum = 0;
  #min = Infinity;
  #max = 0;

  get count(): number {
    return this.#count;
  }

  /** Records a latency given in milliseconds (negative values count as 0). */
  recordMs(ms: number): void {
    let us = Math.round(ms * 1000);
    if (!(us > 0)) us = 0;
    else if (us > MAX_VALUE) us = MAX_VALUE;
    this.#counts[indexOf(us)]!++;
    this.#count++;
    this.#sum += us;
    if (us < this.#min) this.#min = us;
    if (us > this.#max) this.#max = us;
  }

  /** Percentile (0..100) in milliseconds; 0 when empty. */
  percentileMs(p: number): number {
    if (this.#count === 0) return 0;
    const target = Math.max(1, Math.ceil((p / 100) * this.#count));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.#counts[i]!;
      if (seen >= target) return Math.min(this.#max, Math.max(this.#min, valueOf(i))) / 1000;
    }
    return this.#max / 1000;
  }

  add(other: Histogram): void {
    for (let i = 0; i < BUCKETS; i++) this.#counts[i]! += other.#counts[i]!;
    this.#count += other.#count;
    this.#sum += other.#sum;
    if (other.#min < this.#min) this.#min = other.#min;
    if (other.#max > this.#max) this.#max = other.#max;
  }

  reset(): void {
    this.#counts.fill(0);
    this.#count = 0;
    this.#sum = 0;
    this.#min = Infinity;
    this.#max = 0;
  }

  summary(): LatencySummary {
    const r = (x: number): number => Math.round(x * 1000) / 1000;
    return {
      min: this.#count === 0 ? 0 : this.#min / 1000,
      mean: this.#count === 0 ? 0 : r(this.#sum / this.#count / 1000),
      p50: r(this.percentileMs(50)),
      p75: r(this.percentileMs(75)),
      p95: r(this.percentileMs(95)),
      p99: r(this.percentileMs(99)),
      p999: r(this.percentileMs(99.9)),
      max: this.#max / 1000,
      count: this.#count,
    };
  }
}
