/**
 * Append-only segment files for persistent messages: group commit, acks, recovery, cleanup.
 *
 * A segment (`msg-00000001.seg`) is a sequence of records:
 *
 *   0        4        8      9
 *   +--------+--------+------+----------------------+
 *   | length | crc32  | type | body (length-1 bytes)|
 *   +--------+--------+------+----------------------+
 *   length = 1 + body length; crc32 covers type and body.
 *
 *   MESSAGE   id u64 | nqueues u8 | queue shortstr × n | exchange shortstr |
 *             routing-key shortstr | props u32+bytes | body u32+bytes
 *   MESSAGE_WIDE (5)  the same with nqueues u16 (routed to more than 255 durable queues)
 *   ACK       id u64 | queue shortstr          the message left that queue
 *   DELIVERED id u64 | queue shortstr          delivered (recovery: redelivered=true)
 *   DROPQUEUE upto u64 | queue shortstr        queue deleted: all its messages ≤ upto gone
 *
 * A message id may appear in more than one MESSAGE record: compaction copies a live message
 * forward (same id, only the queues still holding it, then a DELIVERED record per queue it
 * had been delivered from). Recovery keeps the last copy; records about the id that come
 * before the copy in file order concern queues the copy no longer lists.
 *
 * Invariants:
 *  - message ids grow monotonically: recovery goes on after the highest id any record
 *    mentions (an id is reused only when no record of it survived); a message is written
 *    once, however many queues it was routed to;
 *  - records of one event-loop turn form a batch, encoded into a shared slab (small bodies
 *    copied, large ones referenced): one writev per segment touched, then one fdatasync;
 *    batch N+1 starts writing only after batch N is synced, so listeners are told in order;
 *  - segments are deleted oldest first, and only when no message in them is still held by a
 *    queue: an ACK record can then never outlive the MESSAGE it refers to, so recovery
 *    cannot resurrect an acked message;
 *  - compaction: when the directory is mostly garbage because the oldest segment still
 *    holds a few live messages (one unacked message pins every segment after it), those
 *    messages are copied into the current segment; the oldest segment is deleted only after
 *    the batch holding the copies is synced, and the in-memory locations switch to the
 *    copies at that moment (until then bodies are read from the old segment).
 */
import { closeSync, fdatasync, fsyncSync, mkdirSync, openSync, readFileSync, readdirSync, ftruncateSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import type { Logger } from '../util/logger.js';
import {
  ACK,
  DELIVERED,
  DROPQUEUE,
  HEADER,
  MESSAGE,
  MESSAGE_WIDE,
  checkRecord,
  messageType,
  putCount,
  crc32Of,
  fsyncDir,
  putBytes,
  putShort,
  readFully,
  writeFully,
  writeId,
} from './segment-format.js';
import type { MessageStore, RecoveredMessage, RecoveryStats, SyncListener } from './store.js';

export { segmentBytes } from './segment-format.js';


export interface SegmentStoreOptions {
  /** Start a new segment once the current one is this big. */
  segmentSize?: number;
  /** Keep bodies of recovered messages on disk once this many body bytes are in memory. */
  recoverBodiesInMemory?: number;
  /**
   * Compact (copy the oldest segment's live messages forward) once the segment files hold
   * more than this many bytes and at most half of them are live. Default: 2 segments, so
   * one pinned message keeps at most about three segments on disk.
   */
  compactAbove?: number;
  log: Logger;
}

interface Segment {
  readonly no: number;
  readonly path: string;
  fd: number;
  /** bytes written or queued */
  size: number;
  /** messages in it still held by some queue, and the bytes of their records */
  live: number;
  liveBytes: number;
  /** Its live messages are being copied forward in this batch (0 = not compacting). */
  movedIn: number;
}

interface MsgMeta {
  seg: Segment;
  /** where the whole MESSAGE record starts, and its length (header included) */
  recOffset: number;
  recBytes: number;
  bodySize: number;
  /** the queues it was stored for; '' once it left that queue */
  queues: string[];
  /** queues still holding it */
  refs: number;
  /** bit i: delivered from queues[i] (i < 30); bit 30: from some queue beyond */
  delivered: number;
}

interface Move {
  id: number;
  m: MsgMeta;
  seg: Segment;
  recOffset: number;
  recBytes: number;
  batch: number;
}

const DELIVERED_OVERFLOW = 1 << 30;
/** Records are encoded into slabs of this size; bodies larger than COPY_BODY_MAX are not copied. */
const SLAB = 1024 * 1024;
const COPY_BODY_MAX = 8 * 1024;

interface Pending {
  seg: Segment;
  /** file offset of the first chunk */
  position: number;
  chunks: Buffer[];
  bytes: number;
}

export class SegmentStore implements MessageStore {
  readonly #dir: string;
  readonly #segmentSize: number;
  readonly #recoverBodies: number;
  readonly #log: Logger;
  readonly #segments: Segment[] = [];
  readonly #msgs = new Map<number, MsgMeta>();
  #nextId = 1;
  #current!: Segment;
  #batch = 1;
  /** The last batch written and synced. */
  #synced = 0;
  readonly #compactAbove: number;
  /** bytes of all segments, and of the live message records in them */
  #bytes = 0;
  #liveBytes = 0;
  #moves: Move[] = [];
  /** Compactions done (for tests and stats). */
  compactions = 0;
  #pending: Pending[] = [];
  /** Records are encoded into this slab; [#runStart, #slabPos) belongs to #run, not yet a chunk. */
  #slab: Buffer = Buffer.alloc(0);
  #slabPos = 0;
  #runStart = 0;
  #run: Pending | null = null;
  readonly #names = new Map<string, Buffer>();
  /** The batch being written (its bytes may not be in the file yet). */
  #inflight: Pending[] = [];
  #listeners = new Set<SyncListener>();
  #scheduled = false;
  #writing = false;
  #closed = false;
  #abandoned = false;
  /** Handing recovered messages to the broker: no segment is deleted meanwhile. */
  #recovering = false;
  #flushWaiters: (() => void)[] = [];
  /** Batches whose write failed: the store stops confirming (never claim durability falsely). */
  #failed: Error | null = null;
  fsyncs = 0;

  constructor(dir: string, opts: SegmentStoreOptions) {
    this.#dir = dir;
    this.#segmentSize = opts.segmentSize ?? 8 * 1024 * 1024;
    this.#recoverBodies = opts.recoverBodiesInMemory ?? 512 * 1024 * 1024;
    this.#compactAbove = opts.compactAbove ?? 2 * this.#segmentSize;
    this.#log = opts.log;
    mkdirSync(dir, { recursive: true });
  }

  get batch(): number {
    return this.#batch;
  }

  // -------------------------------------------------------------------------------------
  // writing

  append(exchange: string, routingKey: string, propsRaw: Buffer, body: Buffer, queues: readonly string[]): number {
    const id = this.#nextId++;
    const ex = this.#name(exchange);
    const rk = this.#name(routingKey);
    let qbytes = 0;
    for (const q of queues) qbytes += 1 + this.#name(q).length;
    const [type, countBytes] = messageType(queues.length);
    const headLen = HEADER + 1 + 8 + countBytes + qbytes + 1 + ex.length + 1 + rk.length + 4 + propsRaw.length + 4;
    const recBytes = headLen + body.length;
    const seg = this.#target(recBytes);
    // small bodies are copied next to their header (one contiguous write, one checksum
    // pass); large ones are written from the message's own buffer
    const copyBody = body.length <= COPY_BODY_MAX;
    const at = this.#space(seg, copyBody ? recBytes : headLen);
    const b = this.#slab;
    let o = at + HEADER;
    b[o++] = type;
    o = writeId(b, o, id);
    o = putCount(b, o, queues.length, countBytes);
    for (const q of queues) o = putShort(b, o, this.#name(q));
    o = putShort(b, o, ex);
    o = putShort(b, o, rk);
    b.writeUInt32BE(propsRaw.length, o);
    o = putBytes(b, o + 4, propsRaw);
    b.writeUInt32BE(body.length, o);
    b.writeUInt32BE(recBytes - HEADER, at);
    if (copyBody) {
      putBytes(b, o + 4, body);
      b.writeUInt32BE(crc32Of(b, at + HEADER, at + recBytes), at + 4);
      this.#wrote(seg, recBytes);
    } else {
      b.writeUInt32BE(crc32(body, crc32Of(b, at + HEADER, at + headLen)), at + 4);
      this.#wrote(seg, headLen);
      this.#attach(seg, body);
    }
    this.#msgs.set(id, { seg, recOffset: seg.size - recBytes, recBytes, bodySize: body.length, queues: queues.slice(), refs: queues.length, delivered: 0 });
    seg.live++;
    seg.liveBytes += recBytes;
    this.#liveBytes += recBytes;
    return id;
  }

  delivered(id: number, queue: string): void {
    const m = this.#msgs.get(id);
    if (m === undefined) return;
    const i = m.queues.indexOf(queue);
    if (i < 0) return;
    m.delivered |= i < 30 ? 1 << i : DELIVERED_OVERFLOW;
    this.#small(DELIVERED, id, queue);
  }

  ack(id: number, queue: string): void {
    const m = this.#msgs.get(id);
    if (m === undefined) return;
    const i = m.queues.indexOf(queue);
    if (i < 0) return; // not held there (a second ack): nothing to record
    this.#small(ACK, id, queue);
    m.queues[i] = '';
    this.#release(id, m);
  }

  dropQueue(queue: string, ids: Iterable<number>): void {
    this.#small(DROPQUEUE, this.#nextId - 1, queue);
    for (const id of ids) {
      const m = this.#msgs.get(id);
      if (m === undefined) continue;
      const i = m.queues.indexOf(queue);
      if (i < 0) continue;
      m.queues[i] = '';
      this.#release(id, m);
    }
  }

  whenSynced(listener: SyncListener): void {
    this.#listeners.add(listener);
    this.#schedule();
  }

  #small(type: number, id: number, queue: string): void {
    const q = this.#name(queue);
    const n = HEADER + 1 + 8 + 1 + q.length;
    const seg = this.#target(n);
    const at = this.#space(seg, n);
    const b = this.#slab;
    b.writeUInt32BE(n - HEADER, at);
    b[at + HEADER] = type;
    writeId(b, at + HEADER + 1, id);
    putShort(b, at + HEADER + 9, q);
    b.writeUInt32BE(crc32Of(b, at + HEADER, at + n), at + 4);
    this.#wrote(seg, n);
  }

  /** A whole record built elsewhere (compaction); returns the segment it goes to. */
  #queueRecord(head: Buffer, tail: Buffer): Segment {
    const n = head.length + tail.length;
    const seg = this.#target(n);
    const copyTail = tail.length <= COPY_BODY_MAX;
    const at = this.#space(seg, copyTail ? n : head.length);
    let o = putBytes(this.#slab, at, head);
    if (copyTail) {
      putBytes(this.#slab, o, tail);
      this.#wrote(seg, n);
    } else {
      this.#wrote(seg, head.length);
      this.#attach(seg, tail);
    }
    return seg;
  }

  /** UTF-8 bytes of a queue, exchange or routing key name; the common ones are cached. */
  #name(s: string): Buffer {
    let b = this.#names.get(s);
    if (b === undefined) {
      b = Buffer.from(s, 'utf8');
      if (b.length > 255) throw new Error(`name longer than 255 bytes: ${s.slice(0, 40)}…`);
      if (this.#names.size >= 4096) this.#names.clear();
      this.#names.set(s, b);
    }
    return b;
  }

  /** The segment a record of `n` bytes goes to (a new one when the current is full). */
  #target(n: number): Segment {
    if (this.#closed) throw new Error('message store is closed');
    const seg = this.#current;
    return seg.size > 0 && seg.size + n > this.#segmentSize ? this.#rotate() : seg;
  }

  /**
   * Room for `n` bytes of a record going to `seg` in this batch: an offset into #slab. The
   * bytes of one segment in one batch form runs of the slab, taken as chunks at commit.
   */
  #space(seg: Segment, n: number): number {
    let p = this.#pending[this.#pending.length - 1];
    if (p === undefined || p.seg !== seg) {
      p = { seg, position: seg.size, chunks: [], bytes: 0 };
      this.#pending.push(p);
    }
    if (this.#run !== p || this.#slabPos + n > this.#slab.length) {
      this.#closeRun();
      if (this.#slabPos + n > this.#slab.length) {
        this.#slab = Buffer.allocUnsafe(Math.max(SLAB, n));
        this.#slabPos = this.#runStart = 0;
      }
      this.#run = p;
    }
    return this.#slabPos;
  }

  /** `n` bytes were written at the offset #space gave. */
  #wrote(seg: Segment, n: number): void {
    this.#slabPos += n;
    this.#run!.bytes += n;
    seg.size += n;
    this.#bytes += n;
    this.#schedule();
  }

  /** A large body written from its own buffer, right after the bytes before it. */
  #attach(seg: Segment, body: Buffer): void {
    this.#closeRun();
    const p = this.#pending[this.#pending.length - 1]!;
    if (body.length > 0) p.chunks.push(body);
    p.bytes += body.length;
    seg.size += body.length;
    this.#bytes += body.length;
  }

  #closeRun(): void {
    if (this.#run !== null && this.#slabPos > this.#runStart) this.#run.chunks.push(this.#slab.subarray(this.#runStart, this.#slabPos));
    this.#runStart = this.#slabPos;
    this.#run = null;
  }

  #schedule(): void {
    if (!this.#scheduled && !this.#writing) {
      this.#scheduled = true;
      setImmediate(() => this.#commit());
    }
  }

  /** Group commit: one writev per segment touched, one fdatasync, then tell listeners. */
  #commit(): void {
    this.#scheduled = false;
    if (this.#writing) return;
    this.#closeRun();
    const pending = this.#pending;
    const listeners = this.#listeners;
    const batch = this.#batch;
    if (pending.length === 0 && listeners.size === 0) return this.#wakeFlushers();
    this.#pending = [];
    this.#inflight = pending;
    this.#listeners = new Set();
    this.#batch++;
    this.#writing = true;
    const done = (err: Error | null): void => {
      this.#writing = false;
      this.#inflight = [];
      if (this.#abandoned) return this.#wakeFlushers();
      if (err !== null) {
        this.#failed ??= err;
        this.#log.error({ err: err.message, dir: this.#dir }, 'message store write failed: persistent messages are no longer confirmed');
      } else if (this.#failed === null) {
        this.#synced = batch;
        if (this.#moves.length > 0) this.#applyMoves();
        for (const l of listeners) l.onStoreSynced(batch);
      }
      // between batches nothing is in flight: dead segments can go now, even under load;
      // compaction only here, never in the middle of an ack or a queue drop
      this.#collect();
      this.#maybeCompact();
      if (this.#pending.length > 0 || this.#listeners.size > 0) this.#commit();
      else this.#wakeFlushers();
    };
    this.#writeAll(pending, 0, done);
  }

  #writeAll(pending: Pending[], i: number, done: (err: Error | null) => void): void {
    if (i === pending.length) {
      const fds = new Set(pending.map((p) => p.seg.fd));
      if (fds.size === 0) return done(null);
      let left = fds.size;
      let failure: Error | null = null;
      for (const fd of fds) {
        this.fsyncs++;
        fdatasync(fd, (err) => {
          if (err) failure = err;
          if (--left === 0) done(failure);
        });
      }
      return;
    }
    const p = pending[i]!;
    writeFully(p.seg.fd, p.chunks, p.position, (err) => (err ? done(err) : this.#writeAll(pending, i + 1, done)));
  }

  #wakeFlushers(): void {
    const w = this.#flushWaiters;
    this.#flushWaiters = [];
    for (const f of w) f();
  }

  flush(): Promise<void> {
    if (!this.#writing && !this.#scheduled && this.#pending.length === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.#flushWaiters.push(resolve);
      this.#schedule();
    });
  }

  async close(): Promise<void> {
    await this.flush();
    this.#closed = true;
    for (const s of this.#segments) closeSync(s.fd);
    this.#segments.length = 0;
  }

  /**
   * For tests: stops as a crash between two writes would. A batch already being written
   * completes; records not yet handed to the disk are lost and no listener hears of them.
   */
  async abandon(): Promise<void> {
    this.#abandoned = this.#closed = true;
    this.#pending = [];
    this.#listeners.clear();
    this.#moves = [];
    while (this.#writing) await new Promise<void>((resolve) => this.#flushWaiters.push(resolve));
    for (const s of this.#segments) closeSync(s.fd);
    this.#segments.length = 0;
  }

  // -------------------------------------------------------------------------------------
  // cleanup

  #release(id: number, m: MsgMeta): void {
    if (--m.refs > 0) return;
    this.#msgs.delete(id);
    m.seg.live--;
    m.seg.liveBytes -= m.recBytes;
    this.#liveBytes -= m.recBytes;
    this.#collect();
  }

  /** Deletes fully-acked segments, oldest first; restarts an all-dead current segment. */
  #collect(): void {
    if (this.#recovering) return;
    const segs = this.#segments;
    let deleted = false;
    for (;;) {
      while (segs.length > 1 && segs[0]!.live === 0 && !this.#hasPending(segs[0]!) && segs[0]!.movedIn <= this.#synced) {
        const s = segs.shift()!;
        closeSync(s.fd);
        unlinkSync(s.path);
        this.#bytes -= s.size;
        deleted = true;
      }
      const cur = this.#current;
      if (segs.length === 1 && cur.live === 0 && cur.size > 1024 * 1024 && !this.#hasPending(cur)) {
        // everything acked: start afresh so the data directory shrinks back
        this.#rotate();
        continue;
      }
      break;
    }
    if (deleted) fsyncDir(this.#dir); // a deleted segment must not come back after a power loss
  }

  /**
   * Copies the oldest segment's few live messages forward when it keeps mostly garbage on
   * disk. Called between batches only: every ack and queue drop before it is complete.
   */
  #maybeCompact(): void {
    const segs = this.#segments;
    const head = segs[0]!;
    if (
      this.#closed ||
      this.#failed !== null ||
      segs.length < 3 ||
      head.movedIn !== 0 ||
      this.#bytes <= this.#compactAbove ||
      this.#liveBytes * 2 > this.#bytes ||
      head.liveBytes * 2 > head.size ||
      this.#hasPending(head)
    ) {
      return;
    }
    const batch = this.#batch;
    let moved = 0;
    for (const [id, m] of this.#msgs) {
      if (m.seg !== head) continue;
      this.#copyForward(id, m, batch);
      moved++;
    }
    head.movedIn = batch;
    this.compactions++;
    this.#log.info({ dir: this.#dir, segment: head.path, messages: moved, bytes: head.liveBytes }, 'message store: compacting oldest segment');
  }

  /** Queues a copy of a live message's record (only the queues still holding it) for `batch`. */
  #copyForward(id: number, m: MsgMeta, batch: number): void {
    const rec = Buffer.allocUnsafe(m.recBytes);
    readFully(m.seg.fd, rec, m.recOffset, m.seg.path);
    // skip header, type, id, queue list: the rest (exchange … body) is copied as is
    let o = HEADER + 1 + 8;
    const wide = rec[HEADER] === MESSAGE_WIDE;
    const n = wide ? rec.readUInt16BE(o) : rec[o]!;
    o += wide ? 2 : 1;
    for (let i = 0; i < n; i++) o += 1 + rec[o]!;
    const rest = rec.subarray(o);
    const holders: string[] = [];
    let delivered = 0;
    for (let i = 0; i < m.queues.length; i++) {
      const q = m.queues[i]!;
      if (q === '') continue;
      if ((m.delivered & (i < 30 ? 1 << i : DELIVERED_OVERFLOW)) !== 0) delivered |= holders.length < 30 ? 1 << holders.length : DELIVERED_OVERFLOW;
      holders.push(q);
    }
    let qbytes = 0;
    for (const q of holders) qbytes += 1 + Buffer.byteLength(q);
    const [type, countBytes] = messageType(holders.length);
    const head = Buffer.allocUnsafe(HEADER + 1 + 8 + countBytes + qbytes);
    head[HEADER] = type;
    let p = writeId(head, HEADER + 1, id);
    p = putCount(head, p, holders.length, countBytes);
    for (const q of holders) p = putShort(head, p, this.#name(q));
    const recBytes = head.length + rest.length;
    head.writeUInt32BE(recBytes - HEADER, 0);
    head.writeUInt32BE(crc32(rest, crc32(head.subarray(HEADER))), 4);
    const seg = this.#queueRecord(head, rest);
    this.#moves.push({ id, m, seg, recOffset: seg.size - recBytes, recBytes, batch });
    for (let i = 0; i < holders.length; i++) {
      if ((delivered & (i < 30 ? 1 << i : DELIVERED_OVERFLOW)) !== 0) this.#small(DELIVERED, id, holders[i]!);
    }
    m.queues = holders;
    m.delivered = delivered;
  }

  /** The copies of batch ≤ #synced are on disk: messages now live there. */
  #applyMoves(): void {
    const keep: Move[] = [];
    for (const mv of this.#moves) {
      if (mv.batch > this.#synced) {
        keep.push(mv);
        continue;
      }
      const m = mv.m;
      if (this.#msgs.get(mv.id) !== m) continue; // acked meanwhile: the copy is garbage
      m.seg.live--;
      m.seg.liveBytes -= m.recBytes;
      this.#liveBytes += mv.recBytes - m.recBytes;
      m.seg = mv.seg;
      m.recOffset = mv.recOffset;
      m.recBytes = mv.recBytes;
      mv.seg.live++;
      mv.seg.liveBytes += mv.recBytes;
    }
    this.#moves = keep;
  }

  #hasPending(seg: Segment): boolean {
    if (this.#writing) return true; // a batch in flight may touch it
    for (const p of this.#pending) if (p.seg === seg) return true;
    return false;
  }

  #rotate(): Segment {
    const no = (this.#segments.at(-1)?.no ?? 0) + 1;
    const path = join(this.#dir, `msg-${String(no).padStart(8, '0')}.seg`);
    const fd = openSync(path, 'w+');
    const seg: Segment = { no, path, fd, size: 0, live: 0, liveBytes: 0, movedIn: 0 };
    this.#segments.push(seg);
    this.#current = seg;
    fsyncDir(this.#dir);
    return seg;
  }

  // -------------------------------------------------------------------------------------
  // reading

  readBody(id: number): Buffer {
    const m = this.#msgs.get(id);
    if (m === undefined) throw new Error(`message ${id} is not in the store`);
    const at = m.recOffset + m.recBytes - m.bodySize;
    const buf = Buffer.allocUnsafe(m.bodySize);
    if (!this.#fromUnwritten(m.seg, at, buf)) readFully(m.seg.fd, buf, at, m.seg.path);
    return buf;
  }

  /** Copies bytes not yet (surely) in the file out of the batch that holds them. */
  #fromUnwritten(seg: Segment, at: number, out: Buffer): boolean {
    this.#closeRun();
    for (const p of [this.#inflight, this.#pending]) {
      for (const batch of p) {
        if (batch.seg !== seg || at < batch.position || at >= batch.position + batch.bytes) continue;
        let pos = batch.position;
        let got = 0;
        for (const c of batch.chunks) {
          const end = pos + c.length;
          if (end > at + got && got < out.length) {
            const from = at + got - pos;
            got += c.copy(out, got, from, Math.min(c.length, from + out.length - got));
          }
          pos = end;
        }
        return got === out.length;
      }
    }
    return false;
  }

  stats(): { segments: number; bytes: number; messages: number; liveBytes: number } {
    return { segments: this.#segments.length, bytes: this.#bytes, messages: this.#msgs.size, liveBytes: this.#liveBytes };
  }

  /**
   * Reads every segment, truncating a torn or corrupt tail, and hands back the messages
   * still held by queues, in id (publish) order. Bodies are read into memory while the
   * budget lasts (`recoverBodiesInMemory`); later ones are left on disk (body null).
   */
  recover(onMessage: (m: RecoveredMessage) => void): RecoveryStats {
    const t0 = Date.now();
    const files = readdirSync(this.#dir).filter((f) => /^msg-\d{8}\.seg$/.test(f)).sort();
    const found = new Map<number, Found>();
    let bytes = 0;
    let truncatedBytes = 0;
    for (const f of files) {
      const path = join(this.#dir, f);
      const data = readFileSync(path);
      bytes += data.length;
      const seg: Segment = { no: Number(f.slice(4, 12)), path, fd: -1, size: 0, live: 0, liveBytes: 0, movedIn: 0 };
      let o = 0;
      while (o < data.length) {
        const why = checkRecord(data, o);
        if (why !== null) {
          truncatedBytes += data.length - o;
          // one JSON line naming the file and the bytes cut: operators grep for it
          this.#log.warn({ file: path, offset: o, bytes: data.length - o, why }, 'message store: truncating damaged segment tail');
          const fd = openSync(path, 'r+');
          ftruncateSync(fd, o);
          fsyncSync(fd);
          closeSync(fd);
          break;
        }
        const len = data.readUInt32BE(o);
        this.#replay(data, o, o + HEADER + len, seg, found);
        o += HEADER + len;
      }
      seg.size = o;
      seg.fd = openSync(path, 'r+');
      this.#segments.push(seg);
      this.#bytes += o;
    }
    if (this.#segments.length === 0) this.#rotate();
    else this.#current = this.#segments[this.#segments.length - 1]!;

    // first every held message counts in its segment, then the broker hears of them: an ack
    // it sends back during recovery (a queue gone from the definitions) must not empty, and
    // delete, a segment whose other messages have not been handed out yet
    const ids = [...found.keys()].sort((a, b) => a - b);
    const held: [number, Found, { name: string; delivered: boolean }[]][] = [];
    for (const id of ids) {
      const m = found.get(id)!;
      const queues = m.queues.filter((q) => q.name !== '');
      if (queues.length === 0) continue;
      let delivered = 0;
      for (let i = 0; i < queues.length; i++) if (queues[i]!.delivered) delivered |= i < 30 ? 1 << i : DELIVERED_OVERFLOW;
      this.#msgs.set(id, {
        seg: m.seg,
        recOffset: m.recOffset,
        recBytes: m.recBytes,
        bodySize: m.bodySize,
        queues: queues.map((q) => q.name),
        refs: queues.length,
        delivered,
      });
      m.seg.live++;
      m.seg.liveBytes += m.recBytes;
      this.#liveBytes += m.recBytes;
      held.push([id, m, queues]);
    }
    let inMemory = 0;
    let onDisk = 0;
    this.#recovering = true;
    try {
      for (const [id, m, queues] of held) {
        if (inMemory + m.bodySize <= this.#recoverBodies) {
          m.body = this.readBody(id);
          inMemory += m.bodySize;
        } else {
          onDisk++;
        }
        onMessage({ id, exchange: m.exchange, routingKey: m.routingKey, propsRaw: m.propsRaw, body: m.body, bodySize: m.bodySize, queues });
      }
    } finally {
      this.#recovering = false;
    }
    const count = held.length;
    this.#nextId = Math.max(this.#nextId, (ids.at(-1) ?? 0) + 1);
    this.#collect();
    this.#maybeCompact();
    return { messages: count, segments: files.length, bytes, truncatedBytes, bodiesOnDisk: onDisk, ms: Date.now() - t0 };
  }

  /** Applies one record (`start` = its header) to the messages found so far. */
  #replay(d: Buffer, start: number, end: number, seg: Segment, found: Map<number, Found>): void {
    const type = d[start + HEADER]!;
    let o = start + HEADER + 1;
    const id = d.readUInt32BE(o) * 0x100000000 + d.readUInt32BE(o + 4);
    o += 8;
    if (id >= this.#nextId) this.#nextId = id + 1;
    if (type === MESSAGE || type === MESSAGE_WIDE) {
      const n = type === MESSAGE_WIDE ? d.readUInt16BE(o) : d[o]!;
      o += type === MESSAGE_WIDE ? 2 : 1;
      const queues: { name: string; delivered: boolean }[] = [];
      for (let i = 0; i < n; i++) {
        const l = d[o]!;
        queues.push({ name: d.toString('utf8', o + 1, o + 1 + l), delivered: false });
        o += 1 + l;
      }
      const exl = d[o]!;
      const exchange = d.toString('utf8', o + 1, o + 1 + exl);
      o += 1 + exl;
      const rkl = d[o]!;
      const routingKey = d.toString('utf8', o + 1, o + 1 + rkl);
      o += 1 + rkl;
      const pl = d.readUInt32BE(o);
      const propsRaw = Buffer.from(d.subarray(o + 4, o + 4 + pl));
      o += 4 + pl;
      const bl = d.readUInt32BE(o);
      // the body is read back at the end, and only while the in-memory budget lasts;
      // a later copy of the same id (compaction) replaces an earlier one
      found.set(id, { exchange, routingKey, propsRaw, body: null, bodySize: bl, queues, seg, recOffset: start, recBytes: end - start });
      return;
    }
    const l = d[o]!;
    const queue = d.toString('utf8', o + 1, o + 1 + l);
    if (type === DROPQUEUE) {
      for (const [mid, m] of found) if (mid <= id) for (const q of m.queues) if (q.name === queue) q.name = '';
      return;
    }
    const m = found.get(id);
    if (m === undefined) return; // its segment was already collected
    const q = m.queues.find((x) => x.name === queue);
    if (q === undefined) return;
    if (type === ACK) q.name = '';
    else if (type === DELIVERED) q.delivered = true;
  }
}

/** A message met during replay, and where its record is. */
interface Found extends Omit<RecoveredMessage, 'id'> {
  seg: Segment;
  recOffset: number;
  recBytes: number;
}
