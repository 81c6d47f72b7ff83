/**
 * A damaged message store: bytes flipped in, or cut from, the last segment file
 * (data-dir/msgs/%2F/msg-*.seg), or garbage after its last record. warren starts anyway,
 * truncates the segment at the first bad record, says so in one JSON log line naming the
 * file and the bytes cut, serves every message before the damage, and goes on appending
 * where it cut.
 */
import { appendFileSync, readFileSync, readdirSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Collector, connect, openChannel, openConfirmChannel } from '../helpers/amqp.js';
import { checkedBody, readChecked } from '../helpers/checked-body.js';
import { WarrenProcess, removeTempDirs, tempDataDir } from '../helpers/warren-process.js';

afterEach(() => WarrenProcess.killAll());
afterAll(() => removeTempDirs());

const N = 200;
const ACKED = 20;

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

/** Start offsets of the records in a segment file (length u32 + crc u32 + length bytes). */
function recordStarts(data: Buffer): number[] {
  const out: number[] = [];
  for (let o = 0; o + 8 <= data.length; o += 8 + data.readUInt32BE(o)) out.push(o);
  return out;
}

interface Damage {
  name: string;
  /** Damages the file; returns the byte offset the broker must cut at. */
  apply(path: string, bodies: Buffer[]): number;
  /**
   * The messages served after the restart. Acks are recorded after the messages they
   * settle, so a cut before an ack record brings that message back (at least once).
   */
  served: number[];
}

const DAMAGES: Damage[] = [
  {
    name: 'its last record cut short (torn write)',
    apply(path) {
      const size = statSync(path).size;
      const starts = recordStarts(readFileSync(path));
      const last = starts.at(-1)!;
      truncateSync(path, size - 7);
      return last;
    },
    served: range(ACKED, N), // the torn record is the ack of message 20
  },
  {
    name: 'a byte flipped in the body of message 150',
    apply(path, bodies) {
      const data = readFileSync(path);
      const at = data.indexOf(bodies[149]!);
      expect(at).toBeGreaterThan(0);
      data[at + 20] ^= 0x40;
      writeFileSync(path, data);
      return recordStarts(data).filter((s) => s < at).at(-1)!;
    },
    served: range(1, 149),
  },
  {
    name: 'a flipped length field in the header of message 120',
    apply(path, bodies) {
      const data = readFileSync(path);
      const at = data.indexOf(bodies[119]!);
      const start = recordStarts(data).filter((s) => s < at).at(-1)!;
      data[start + 2] ^= 0x01; // length += 256: the checksum no longer matches
      writeFileSync(path, data);
      return start;
    },
    served: range(1, 119),
  },
  {
    name: 'zeros after the last record (preallocated, never written)',
    apply(path) {
      const size = statSync(path).size;
      appendFileSync(path, Buffer.alloc(4096));
      return size;
    },
    served: range(ACKED + 1, N),
  },
];

describe.each(DAMAGES)('a segment with $name', (damage) => {
  it('is truncated, reported and everything before the damage is served', async () => {
    const dir = tempDataDir();
    const w1 = await WarrenProcess.start({ dataDir: dir });
    const conn = await connect(w1.url);
    const ch = await openConfirmChannel(conn);
    await ch.assertQueue('c.q', { durable: true });
    const bodies: Buffer[] = [];
    for (let i = 1; i <= N; i++) {
      bodies.push(checkedBody(i, 100));
      ch.sendToQueue('c.q', bodies[i - 1]!, { persistent: true });
    }
    await ch.waitForConfirms();
    // some acks too, so the segment holds more than message records
    const consumer = await openChannel(conn);
    const first = new Collector();
    await consumer.prefetch(ACKED);
    const { consumerTag } = await consumer.consume('c.q', first.onMessage);
    await first.count(ACKED);
    await consumer.cancel(consumerTag); // no more deliveries: the acks are the last records
    consumer.ack(first.messages.at(-1)!, true);
    await consumer.close(); // nothing else delivered: back to the queue
    await conn.close();
    expect(await w1.kill('SIGTERM')).toEqual({ code: 0, signal: null });

    const msgs = join(dir, 'msgs', '%2F');
    const segments = readdirSync(msgs).filter((f) => /^msg-\d{8}\.seg$/.test(f)).sort();
    const path = join(msgs, segments.at(-1)!);
    const cutAt = damage.apply(path, bodies);
    const damagedSize = statSync(path).size;

    const w2 = await WarrenProcess.start({ dataDir: dir });
    const warn = await w2.waitForLog((l) => l.msg === 'message store: truncating damaged segment tail');
    expect(warn).toMatchObject({ level: 40, file: path, offset: cutAt, bytes: damagedSize - cutAt });
    expect(statSync(path).size).toBe(cutAt);
    const recovered = await w2.waitForLog((l) => l.msg === 'message store recovered');
    expect(recovered).toMatchObject({ truncatedBytes: damagedSize - cutAt });

    const conn2 = await connect(w2.url);
    const ch2 = await openConfirmChannel(conn2);
    const expected = damage.served;
    expect(await ch2.checkQueue('c.q')).toMatchObject({ messageCount: expected.length });
    const got = new Collector();
    const reader = await openChannel(conn2);
    await reader.consume('c.q', got.onMessage, { noAck: false });
    await got.count(expected.length);
    expect(got.messages.map((m) => readChecked(m.content))).toEqual(expected);
    // the store goes on from where it cut: new messages survive the next restart
    for (let i = 1; i <= 10; i++) ch2.sendToQueue('c.q', checkedBody(1000 + i, 100), { persistent: true });
    await ch2.waitForConfirms();
    await conn2.close(); // the unacked deliveries go back to the queue
    await w2.kill('SIGKILL');

    const w3 = await WarrenProcess.start({ dataDir: dir });
    expect(w3.logs.some((l) => l.msg === 'message store: truncating damaged segment tail')).toBe(false);
    const conn3 = await connect(w3.url);
    const reader3 = await openChannel(conn3);
    const all = new Collector();
    await reader3.consume('c.q', all.onMessage, { noAck: true });
    const after = [...expected, ...Array.from({ length: 10 }, (_, i) => 1001 + i)];
    await all.count(after.length);
    expect(all.messages.map((m) => readChecked(m.content))).toEqual(after);
    await conn3.close();
    await w3.kill('SIGTERM');
  }, 60_000);
});
