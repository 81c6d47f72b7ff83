/**
 * Ring-buffer double-ended queue. O(1) push/shift/unshift; grows by doubling. Used for queue
 * backlogs and unacked deliveries, where Array.shift would be O(n).
 */
export class Deque<T> {
  #items: (T | undefined)[];
  #head = 0;
  #size = 0;
  #mask: number;

  constructor(capacity = 16) {
    let cap = 16;
    while (cap < capacity) cap *= 2;
    this.#items = new Array<T | undefined>(cap);
    this.#mask = cap - 1;
  }

  get length(): number {
    return this.#size;
  }

  push(item: T): void {
    if (this.#size === this.#items.length) this.#grow();
    this.#items[(this.#head + this.#size) & this.#mask] = item;
    this.#size++;
  }

  unshift(item: T): void {
    if (this.#size === this.#items.length) this.#grow();
    this.#head = (this.#head - 1) & this.#mask;
    this.#items[this.#head] = item;
    this.#size++;
  }

  shift(): T | undefined {
    if (this.#size === 0) return undefined;
    const item = this.#items[this.#head];
    this.#items[this.#head] = undefined;
    this.#head = (this.#head + 1) & this.#mask;
    this.#size--;
    return item;
  }

  pop(): T | undefined {
    if (this.#size === 0) return undefined;
    const i = (this.#head + this.#size - 1) & this.#mask;
    const item = this.#items[i];
    this.#items[i] = undefined;
    this.#size--;
    return item;
  }

  peek(): T | undefined {
    return this.#size === 0 ? undefined : this.#items[this.#head];
  }

  /** Item at position i from the head (0 = head). */
  at(i: number): T | undefined {
    if (i < 0 || i >= this.#size) return undefined;
    return this.#items[(this.#head + i) & this.#mask];
  }

  /** Removes the item at position i, shifting the shorter side. O(min(i, n - i)). */
  removeAt(i: number): T | undefined {
    if (i < 0 || i >= this.#size) return undefined;
    const item = this.at(i);
    if (i < this.#size / 2) {
      for (let j = i; j > 0; j--) this.#items[(this.#head + j) & this.#mask] = this.#items[(this.#head + j - 1) & this.#mask];
      this.#items[this.#head] = undefined;
      this.#head = (this.#head + 1) & this.#mask;
    } else {
      for (let j = i; j < this.#size - 1; j++) this.#items[(this.#head + j) & this.#mask] = this.#items[(this.#head + j + 1) & this.#mask];
      this.#items[(this.#head + this.#size - 1) & this.#mask] = undefined;
    }
    this.#size--;
    return item;
  }

  /**
   * For a deque ordered by `keyOf`: the first position whose key is >= `key` (length when
   * none). `keyOf` should be a module-level function, not a closure made per call.
   */
  lowerBound(key: number, keyOf: (item: T) => number): number {
    let lo = 0;
    let hi = this.#size;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (keyOf(this.#items[(this.#head + mid) & this.#mask] as T) < key) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Inserts before position i (0 = new head), shifting the shorter side. */
  insertAt(i: number, item: T): void {
    if (i <= 0) return this.unshift(item);
    if (i >= this.#size) return this.push(item);
    if (this.#size === this.#items.length) this.#grow();
    if (i < this.#size / 2) {
      this.#head = (this.#head - 1) & this.#mask;
      for (let j = 0; j < i; j++) this.#items[(this.#head + j) & this.#mask] = this.#items[(this.#head + j + 1) & this.#mask];
    } else {
      for (let j = this.#size; j > i; j--) this.#items[(this.#head + j) & this.#mask] = this.#items[(this.#head + j - 1) & this.#mask];
    }
    this.#items[(this.#head + i) & this.#mask] = item;
    this.#size++;
  }

  clear(): void {
    this.#items = new Array<T | undefined>(16);
    this.#mask = 15;
    this.#head = 0;
    this.#size = 0;
  }

  *[Symbol.iterator](): IterableIterator<T> {
    for (let i = 0; i < this.#size; i++) yield this.#items[(this.#head + i) & this.#mask] as T;
  }

  toArray(): T[] {
    return [...this];
  }

  #grow(): void {
    const old = this.#items;
    const cap = old.length * 2;
    const next = new Array<T | undefined>(cap);
    for (let i = 0; i < this.#size; i++) next[i] = old[(this.#head + i) & this.#mask];
    this.#items = next;
    this.#head = 0;
    this.#mask = cap - 1;
  }
}
