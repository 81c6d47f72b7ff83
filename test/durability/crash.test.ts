/**
 * Crash model test (after RabbitMQ's classic_queue_prop_SUITE): a publisher with confirms
 * streams persistent messages to a durable queue while a consumer on the same channel takes
 * and acks them; warren is killed with SIGKILL at a random moment, ten times, and restarted
 * on the same data directory.
 *
 * The model knows, for every message, whether it is CONFIRMED (basic.ack from the broker)
 * or UNCERTAIN (published, no confirm before the crash), and for every ack and delivery
 * whether it is known to be on disk: the consumer acks on the publishing channel, so the
 * broker records an ack before any later publish on it, and once such a later publish is
 * confirmed the ack is synced too (the store syncs batches in order). The same holds for
 * the "delivered" record of a delivery received before a later confirmed publish.
 *
 * After each restart: every body is intact (checksum); deliveries in one broker life come
 * in increasing sequence order; no message whose ack is known to be on disk comes back; a
 * message known delivered comes back with redelivered=true; every confirmed message not yet
 * acked comes before any later one; at the end every confirmed message was delivered at
 * least once.
 */
import type { ConsumeMessage } from 'amqplib';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { connect, openConfirmChannel } from '../helpers/amqp.js';
import { checkedBody, readChecked } from '../helpers/checked-body.js';
import { WarrenProcess, removeTempDirs, tempDataDir } from '../helpers/warren-process.js';

afterEach(() => WarrenProcess.killAll());
afterAll(() => removeTempDirs());

const ROUNDS = 10;
const QUEUE = 'crash.q';

/** Seeded PRNG (mulberry32): a failing run can be replayed with WARREN_CRASH_SEED. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Delivery {
  seq: number;
  redelivered: boolean;
  life: number;
}

class CrashModel {
  /** seq of the next publish */
  nextSeq = 1;
  readonly confirmed = new Set<number>();
  /** highest seq confirmed in the current life (confirms come in order) */
  lifeMaxConfirmed = 0;
  /** seq → the first seq published after the ack was sent (in the life it was sent) */
  readonly ackMarks = new Map<number, number>();
  /** acks known to be on disk */
  readonly durableAcks = new Set<number>();
  /** acks sent in an earlier life, on disk or not */
  readonly ackedBefore = new Set<number>();
  /** deliveries whose "delivered" record is known to be on disk */
  readonly durablyDelivered = new Set<number>();
  readonly deliveredMarks = new Map<number, number>();
  readonly everDelivered = new Set<number>();
  readonly lives: Delivery[][] = [];
  duplicates = 0;
  duplicatesNotFlagged = 0;
  failures: string[] = [];

  startLife(): Delivery[] {
    const life: Delivery[] = [];
    this.lives.push(life);
    this.lifeMaxConfirmed = 0;
    return life;
  }

  onConfirm(seq: number): void {
    this.confirmed.add(seq);
    if (seq > this.lifeMaxConfirmed) this.lifeMaxConfirmed = seq;
  }

  onDelivery(life: Delivery[], m: ConsumeMessage): number {
    let seq: number;
    try {
      seq = readChecked(m.content);
    } catch (err) {
      this.failures.push((err as Error).message);
      return -1;
    }
    const n = this.lives.length - 1;
    const prev = life.at(-1);
    if (prev !== undefined && seq <= prev.seq) this.failures.push(`life ${n}: seq ${seq} delivered after ${prev.seq}`);
    if (seq >= this.nextSeq) this.failures.push(`life ${n}: seq ${seq} was never published`);
    if (this.durableAcks.has(seq)) this.failures.push(`life ${n}: seq ${seq} came back although its ack was on disk`);
    if (this.durablyDelivered.has(seq) && !m.fields.redelivered) {
      this.failures.push(`life ${n}: seq ${seq} was delivered before (on disk) but redelivered=false`);
    }
    if (this.everDelivered.has(seq)) {
      this.duplicates++;
      if (!m.fields.redelivered) this.duplicatesNotFlagged++;
    }
    this.everDelivered.add(seq);
    this.deliveredMarks.set(seq, this.nextSeq);
    life.push({ seq, redelivered: m.fields.redelivered, life: n });
    return seq;
  }

  onAckSent(seqs: number[]): void {
    for (const s of seqs) this.ackMarks.set(s, this.nextSeq);
  }

  /** The broker died: settle what this life proved. */
  endLife(): void {
    const n = this.lives.length - 1;
    const life = this.lives[n]!;
    for (const [seq, mark] of this.ackMarks) {
      if (this.lifeMaxConfirmed >= mark) this.durableAcks.add(seq);
      this.ackedBefore.add(seq);
    }
    this.ackMarks.clear();
    for (const [seq, mark] of this.deliveredMarks) if (this.lifeMaxConfirmed >= mark) this.durablyDelivered.add(seq);
    this.deliveredMarks.clear();
    // FIFO: a confirmed message not acked before this life comes before any later one
    const max = life.at(-1)?.seq ?? 0;
    const seen = new Set(life.map((d) => d.seq));
    for (const c of this.confirmed) {
      if (c < max && !seen.has(c) && !this.ackedBefore.has(c)) {
        this.failures.push(`life ${n}: confirmed seq ${c} missing (seq ${max} was delivered)`);
      }
    }
  }
}

describe('crash recovery (model-based)', () => {
  it(`keeps every confirmed message across ${ROUNDS} SIGKILLs at random moments`, async () => {
    const seed = Number(process.env['WARREN_CRASH_SEED'] ?? Date.now() % 1_000_000);
    const random = prng(seed);
    const dir = tempDataDir();
    const model = new CrashModel();
    const t0 = Date.now();
    const report: string[] = [];

    for (let round = 0; round <= ROUNDS; round++) {
      const final = round === ROUNDS;
      const w = await WarrenProcess.start({ dataDir: dir });
      const recovered = w.logs.find((l) => l.msg === 'data directory opened')?.['messages'];
      const conn = await connect(w.url);
      const ch = await openConfirmChannel(conn);
      await ch.assertQueue(QUEUE, { durable: true });
      const life = model.startLife();

      if (final) {
        // drain what is left with a clean broker, then check the whole history
        const { messageCount } = await ch.checkQueue(QUEUE);
        let left = messageCount;
        await new Promise<void>((resolve) => {
          if (left === 0) resolve();
          void ch.consume(QUEUE, (m) => {
            if (m === null) return;
            model.onDelivery(life, m);
            if (--left === 0) resolve();
          }, { noAck: true });
        });
        model.endLife();
        report.push(`final: ${messageCount} left`);
        await conn.close();
        expect(await w.kill('SIGTERM')).toEqual({ code: 0, signal: null });
        break;
      }

      // this life: consume (most of the time), publish, die after a random number of confirms
      const consuming = random() < 0.8;
      const killAfter = 200 + Math.floor(random() * 6000);
      const ackEvery = 1 + Math.floor(random() * 40);
      const inflightMax = 100 + Math.floor(random() * 2000);
      let confirmsThisLife = 0;
      let dead = false;
      let killing: Promise<unknown> | undefined;
      const kill = (): void => {
        if (killing !== undefined) return;
        dead = true;
        killing = w.kill('SIGKILL');
      };
      if (consuming) {
        await ch.prefetch(50 + Math.floor(random() * 500));
        let unacked: number[] = [];
        let last: ConsumeMessage | undefined;
        await ch.consume(QUEUE, (m) => {
          if (m === null) return;
          const seq = model.onDelivery(life, m);
          unacked.push(seq);
          last = m;
          if (unacked.length >= ackEvery) {
            try {
              ch.ack(last, true); // spec: basic.ack multiple — every delivery up to this one
            } catch {
              return; // channel gone: the broker died
            }
            model.onAckSent(unacked);
            unacked = [];
          }
        });
      }
      let inflight = 0;
      let wake: (() => void) | undefined;
      while (!dead) {
        if (inflight >= inflightMax) {
          await new Promise<void>((r) => (wake = r));
          continue;
        }
        const seq = model.nextSeq;
        try {
          ch.sendToQueue(QUEUE, checkedBody(seq, 8 + Math.floor(random() * 1500)), { persistent: true }, (err) => {
            inflight--;
            if (err === null || err === undefined) {
              model.onConfirm(seq); // a confirm that left before the kill landed counts too
              if (++confirmsThisLife >= killAfter) kill();
            }
            wake?.();
          });
        } catch {
          break; // channel gone
        }
        model.nextSeq++;
        inflight++;
        if (seq % 200 === 0) await new Promise((r) => setImmediate(r));
      }
      await killing;
      model.endLife();
      report.push(
        `life ${round}: recovered ${String(recovered)}, consumed ${life.length}, confirmed up to ${model.lifeMaxConfirmed}, published up to ${model.nextSeq - 1}`,
      );
      expect(model.failures, `seed ${seed}`).toEqual([]);
    }

    expect(model.failures, `seed ${seed}`).toEqual([]);
    const lost = [...model.confirmed].filter((s) => !model.everDelivered.has(s));
    expect(lost, `seed ${seed}: confirmed but never delivered`).toEqual([]);
    report.push(
      `seed ${seed}: ${model.confirmed.size} confirmed of ${model.nextSeq - 1} published, ${model.everDelivered.size} delivered, ` +
        `${model.duplicates} redeliveries after crashes (${model.duplicatesNotFlagged} with redelivered=false), ${Date.now() - t0} ms`,
    );
    console.log(report.join('\n'));
  }, 120_000);
});
