/**
 * The topic exchange: binding keys are patterns of words separated by '.', where `*` matches
 * exactly one word and `#` matches zero or more words.
 *
 * rabbitmq-compat (rabbit_exchange_type_topic): a key is split on every '.', so empty words are
 * words ("a..b" is three words, "a." is two) — except that the empty key has NO words. Hence
 * binding "" matches only routing key "", `#` matches "" and everything, `a.#` matches "a",
 * `*` never matches "".
 *
 * Binding keys are stored in a word trie; the wildcards are separate edges:
 *
 *   bindings  a.*.c → q1    a.# → q2    #.c → q3    "" → q4
 *
 *   root [q4] ─┬─ "a" ─┬─ * ─── "c" [q1]
 *              │       └─ # [q2]
 *              └─ # ─── "c" [q3]
 *
 * Matching walks the routing key's words from the root: a literal edge and `*` consume one
 * word, `#` consumes any number (0..rest), trying each — backtracking. A state is (node, word
 * index) and its result depends on nothing else, so a state is expanded once per match: keys
 * like "#.#.#.#" cannot make a match exponential.
 *
 * Results are cached per routing key (deduplicated destinations). Invariant: the cache only
 * holds results computed since the last change to the bindings — every successful bind, unbind
 * or unbindAll clears it. It is bounded by clearing it when full.
 */
import type { FieldTable } from '../../protocol/field-table.js';
import type { Binding, Destination, ExchangeType, Routable } from './exchange-type.js';
import { indexOfBinding } from './table-equal.js';

/** Routing keys are at most 255 bytes, so the cache holds at most ~1 MiB of keys. */
export const TOPIC_CACHE_MAX = 4096;

class TrieNode<D extends Destination> {
  /** Edges for literal words (including the empty word). */
  readonly words = new Map<string, TrieNode<D>>();
  star: TrieNode<D> | undefined = undefined;
  hash: TrieNode<D> | undefined = undefined;
  readonly bindings: Binding<D>[] = [];

  constructor(readonly parent: TrieNode<D> | undefined, readonly word: string, readonly id: number) {}

  child(word: string): TrieNode<D> | undefined {
    return word === '*' ? this.star : word === '#' ? this.hash : this.words.get(word);
  }

  get isEmpty(): boolean {
    return this.bindings.length === 0 && this.words.size === 0 && this.star === undefined && this.hash === undefined;
  }
}

function splitKey(key: string): string[] {
  return key === '' ? [] : key.split('.');
}

export class TopicExchange<D extends Destination> implements ExchangeType<D> {
  readonly type = 'topic';
  readonly #root: TrieNode<D> = new TrieNode<D>(undefined, '', 0);
  readonly #byDest = new Map<D, Binding<D>[]>();
  readonly #cache = new Map<string, D[]>();
  #nextId = 1;
  #count = 0;

  get bindingCount(): number {
    return this.#count;
  }

  /** Number of cached routing keys (for tests and metrics). */
  get cacheSize(): number {
    return this.#cache.size;
  }

  bind(binding: Binding<D>): boolean {
    let node = this.#root;
    for (const word of splitKey(binding.routingKey)) node = node.child(word) ?? this.#addChild(node, word);
    if (indexOfBinding(node.bindings, binding.destination, binding.args) >= 0) return false;
    node.bindings.push(binding);
    const mine = this.#byDest.get(binding.destination);
    if (mine === undefined) this.#byDest.set(binding.destination, [binding]);
    else mine.push(binding);
    this.#count++;
    this.#cache.clear();
    return true;
  }

  unbind(destination: D, routingKey: string, args: FieldTable): boolean {
    const node = this.#find(routingKey);
    if (node === undefined) return false;
    const i = indexOfBinding(node.bindings, destination, args);
    if (i < 0) return false;
    const binding = node.bindings[i]!;
    node.bindings.splice(i, 1);
    this.#prune(node);
    const mine = this.#byDest.get(destination)!;
    mine.splice(mine.indexOf(binding), 1);
    if (mine.length === 0) this.#byDest.delete(destination);
    this.#count--;
    this.#cache.clear();
    return true;
  }

  unbindAll(destination: D): number {
    const mine = this.#byDest.get(destination);
    if (mine === undefined) return 0;
    this.#byDest.delete(destination);
    for (const binding of mine) {
      const node = this.#find(binding.routingKey)!;
      node.bindings.splice(node.bindings.indexOf(binding), 1);
      this.#prune(node);
    }
    this.#count -= mine.length;
    this.#cache.clear();
    return mine.length;
  }

  route(routingKey: string, _message: Routable, out: D[]): void {
    if (this.#count === 0) return;
    let hit = this.#cache.get(routingKey);
    if (hit === undefined) {
      hit = this.#match(routingKey);
      if (this.#cache.size >= TOPIC_CACHE_MAX) this.#cache.clear();
      this.#cache.set(routingKey, hit);
    }
    for (let i = 0; i < hit.length; i++) out.push(hit[i]!);
  }

  *bindings(): IterableIterator<Binding<D>> {
    for (const list of this.#byDest.values()) yield* list;
  }

  // Cache miss: the only place routing allocates.
  #match(routingKey: string): D[] {
    const found = new Set<D>();
    this.#walk(this.#root, 0, splitKey(routingKey), found, new Set<number>());
    return [...found];
  }

  #walk(node: TrieNode<D>, i: number, words: string[], found: Set<D>, seen: Set<number>): void {
    const n = words.length;
    const state = node.id * (n + 1) + i;
    if (seen.has(state)) return;
    seen.add(state);
    if (i === n) {
      for (const b of node.bindings) found.add(b.destination);
    } else {
      const literal = node.words.get(words[i]!);
      if (literal !== undefined) this.#walk(literal, i + 1, words, found, seen);
      if (node.star !== undefined) this.#walk(node.star, i + 1, words, found, seen);
    }
    // `#` swallows words i..j-1 for every j, including none (j = i) and all (j = n).
    if (node.hash !== undefined) for (let j = i; j <= n; j++) this.#walk(node.hash, j, words, found, seen);
  }

  #find(bindingKey: string): TrieNode<D> | undefined {
    let node: TrieNode<D> | undefined = this.#root;
    for (const word of splitKey(bindingKey)) {
      node = node.child(word);
      if (node === undefined) return undefined;
    }
    return node;
  }

  #addChild(parent: TrieNode<D>, word: string): TrieNode<D> {
    const node = new TrieNode<D>(parent, word, this.#nextId++);
    if (word === '*') parent.star = node;
    else if (word === '#') parent.hash = node;
    else parent.words.set(word, node);
    return node;
  }

  /** Removes `node` and its ancestors while they hold no binding and lead nowhere. */
  #prune(node: TrieNode<D>): void {
    let n: TrieNode<D> = node;
    while (n.parent !== undefined && n.isEmpty) {
      const parent: TrieNode<D> = n.parent;
      if (n.word === '*') parent.star = undefined;
      else if (n.word === '#') parent.hash = undefined;
      else parent.words.delete(n.word);
      n = parent;
    }
  }
}
