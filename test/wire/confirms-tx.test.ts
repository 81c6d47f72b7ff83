/**
 * Messaging acceptance, publisher confirms and transactions: confirm.select, sequence numbers,
 * acks for routed and unroutable messages (after the basic.return), nacks for refused ones,
 * 10,000 confirms, tx.select/commit/rollback holding publishes, acks, nacks and rejects, and
 * the refusals of errors.md rows 98–100 and 141–146 (RabbitMQ 3.10.8).
 */
import { describe, expect, it } from 'vitest';
import type { Channel, ChannelModel, Message } from 'amqplib';
import { external, useBroker } from '../helpers/broker.js';
import {
  expectServerClose,
  expectUsable,
  getOne,
  openChannel,
  openConfirmChannel,
  rpc,
  send,
  uniq,
  useCleanup,
  useSharedConnection,
} from '../helpers/amqp.js';
import { eventually, withTimeout } from '../helpers/wait.js';

const tb = useBroker();
const tidy = useCleanup(tb);

let conn: ChannelModel;
useSharedConnection(tb, (c) => (conn = c));

interface Confirm {
  deliveryTag: number;
  multiple: boolean;
}

async function queue(ch: Channel, prefix: string, args?: Record<string, unknown>): Promise<string> {
  const q = tidy.queue(uniq(prefix));
  await ch.assertQueue(q, { durable: false, ...(args === undefined ? {} : { arguments: args }) });
  return q;
}

/** Ready count from a passive declare, once it is `n` (RabbitMQ may answer before deliveries land). */
async function readyBecomes(ch: Channel, q: string, n: number): Promise<void> {
  let last = -1;
  await eventually(async () => (last = (await ch.checkQueue(q)).messageCount) === n, 5000, `${n} ready in ${q}`).catch(() =>
    expect(last).toBe(n),
  );
}

/** The sequence numbers a run of basic.ack frames confirms: each exactly once, in order. */
function confirmedSeqs(acks: Confirm[]): number[] {
  const out: number[] = [];
  let upTo = 0;
  for (const a of acks) {
    if (a.multiple) for (let s = upTo + 1; s <= a.deliveryTag; s++) out.push(s);
    else out.push(a.deliveryTag);
    upTo = Math.max(upTo, a.deliveryTag);
  }
  return out;
}

describe('publisher confirms', () => {
  it('confirm.select, then every publish is acked by sequence number 1, 2, 3…', async () => {
    const ch = await openConfirmChannel(conn);
    const q = await queue(ch, 'confirm');
    const acks: Confirm[] = [];
    ch.on('ack', (f: Confirm) => acks.push(f));
    const results: (Error | null)[] = [];
    for (let i = 0; i < 20; i++) ch.sendToQueue(q, Buffer.from(String(i)), {}, (err) => results.push(err));
    await ch.waitForConfirms();
    expect(results).toEqual(Array(20).fill(null));
    expect(confirmedSeqs(acks)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    await readyBecomes(ch, q, 20);
    await ch.close();
  });

  it('acks an unroutable message too (errors.md 99); a mandatory one after its basic.return (98)', async () => {
    const ch = await openConfirmChannel(conn);
    const events: string[] = [];
    ch.on('ack', (f: Confirm) => events.push(`ack ${f.deliveryTag}`));
    ch.on('return', (m: Message) => {
      const f = m.fields as unknown as { replyCode: number; replyText: string };
      events.push(`return ${f.replyCode} ${f.replyText} ${m.content.toString()}`);
    });
    const rk = uniq('unroutable');
    ch.publish('amq.direct', rk, Buffer.from('quiet'), {}, () => {});
    await ch.waitForConfirms();
    ch.publish('amq.direct', rk, Buffer.from('loud'), { mandatory: true }, () => {});
    await ch.waitForConfirms();
    expect(events).toEqual(['ack 1', 'return 312 NO_ROUTE loud', 'ack 2']);
    await ch.close();
  });

  it('nacks a message a queue refuses (x-overflow reject-publish), after the acks before it (errors.md 100)', async () => {
    const ch = await openConfirmChannel(conn);
    const q = await queue(ch, 'reject-publish', { 'x-max-length': 1, 'x-overflow': 'reject-publish' });
    const frames: string[] = [];
    ch.on('ack', (f: Confirm) => frames.push(`ack ${f.deliveryTag}`));
    ch.on('nack', (f: Confirm) => frames.push(`nack ${f.deliveryTag} multiple=${f.multiple}`));
    const results: string[] = [];
    ch.sendToQueue(q, Buffer.from('kept'), {}, (err) => results.push(err === null ? 'ok' : 'nacked'));
    ch.sendToQueue(q, Buffer.from('refused'), {}, (err) => results.push(err === null ? 'ok' : 'nacked'));
    await ch.waitForConfirms().catch(() => {}); // rejects because of the nack
    await eventually(() => results.length === 2, 5000, 'both confirms');
    expect(results).toEqual(['ok', 'nacked']);
    // RabbitMQ's multiple flag on that nack depends on batching: true when the nack goes out
    // alone (as recorded), false when it shares a batch with the ack before it; warren: true
    if (external) expect(frames.map((f) => f.replace(/ multiple=\w+$/, ''))).toEqual(['ack 1', 'nack 2']);
    else expect(frames).toEqual(['ack 1', 'nack 2 multiple=true']);
    expect((await getOne(ch, q, { noAck: true })).content.toString()).toBe('kept');
    await ch.close();
  });

  it('waitForConfirms over 10,000 messages', async () => {
    const ch = await openConfirmChannel(conn);
    const q = await queue(ch, 'confirm-10k');
    let acked = 0;
    let failed = 0;
    const body = Buffer.from('confirm me');
    for (let i = 0; i < 10_000; i++) {
      ch.sendToQueue(q, body, {}, (err) => (err === null ? acked++ : failed++));
    }
    await withTimeout(ch.waitForConfirms(), 20_000, '10,000 confirms');
    expect([acked, failed]).toEqual([10_000, 0]);
    expect(await ch.purgeQueue(q)).toEqual({ messageCount: 10_000 });
    await ch.close();
  });

  it('confirm.select nowait: no select-ok, but the acks come (errors.md 146)', async () => {
    const ch = await openChannel(conn);
    const q = await queue(ch, 'confirm-nowait');
    const acks: Confirm[] = [];
    const first = withTimeout(new Promise<void>((resolve) => ch.once('ack', () => resolve())), 5000, 'basic.ack');
    ch.on('ack', (f: Confirm) => acks.push(f));
    send(ch, 'ConfirmSelect', { nowait: true });
    ch.sendToQueue(q, Buffer.from('x'));
    await first;
    expect(acks).toEqual([{ deliveryTag: 1, multiple: false }]);
    await ch.checkQueue(q); // the channel is fine (no stray select-ok confused amqplib)
    await ch.close();
  });

  it('confirm.select twice is fine; tx.select after it is 406 (errors.md 144)', async () => {
    const ch = await openConfirmChannel(conn);
    await rpc(ch, 'ConfirmSelect', { nowait: false }, 'ConfirmSelectOk');
    await expectServerClose(ch, 406, 'PRECONDITION_FAILED - cannot switch from confirm to tx mode', () =>
      rpc(ch, 'TxSelect', {}, 'TxSelectOk'),
    );
    await expectUsable(conn);
  });
});

describe('transactions', () => {
  async function txChannel(): Promise<Channel> {
    const ch = await openChannel(conn);
    await rpc(ch, 'TxSelect', {}, 'TxSelectOk');
    return ch;
  }
  const commit = (ch: Channel): Promise<unknown> => rpc(ch, 'TxCommit', {}, 'TxCommitOk');
  const rollback = (ch: Channel): Promise<unknown> => rpc(ch, 'TxRollback', {}, 'TxRollbackOk');

  it('publishes wait for tx.commit; tx.rollback drops them', async () => {
    const ch = await txChannel();
    const watcher = await openChannel(conn);
    const q = await queue(watcher, 'tx-pub');
    ch.sendToQueue(q, Buffer.from('1'));
    ch.sendToQueue(q, Buffer.from('2'));
    await ch.checkQueue(q); // the publishes have reached the server
    expect((await watcher.checkQueue(q)).messageCount).toBe(0);
    await commit(ch);
    expect((await watcher.checkQueue(q)).messageCount).toBe(2);
    ch.sendToQueue(q, Buffer.from('3'));
    await rollback(ch);
    await commit(ch); // nothing left to commit
    expect((await watcher.checkQueue(q)).messageCount).toBe(2);
    expect([(await getOne(watcher, q, { noAck: true })).content.toString(), (await getOne(watcher, q, { noAck: true })).content.toString()]).toEqual(['1', '2']);
    await ch.close();
    await watcher.close();
  });

  it('an unroutable mandatory publish comes back at commit, before commit-ok', async () => {
    const ch = await txChannel();
    const returns: string[] = [];
    ch.on('return', (m: Message) => returns.push(m.content.toString()));
    ch.publish('amq.direct', uniq('unroutable'), Buffer.from('back'), { mandatory: true });
    await ch.checkExchange('amq.direct');
    expect(returns).toEqual([]);
    await commit(ch);
    expect(returns).toEqual(['back']);
    await ch.close();
  });

  it('acks wait for tx.commit; after tx.rollback the deliveries are unacked again', async () => {
    const setup = await openChannel(conn);
    const q = await queue(setup, 'tx-ack');
    for (const b of ['a', 'b', 'c']) setup.sendToQueue(q, Buffer.from(b));
    await readyBecomes(setup, q, 3);
    const ch = await txChannel();
    const ms = [await getOne(ch, q), await getOne(ch, q), await getOne(ch, q)];
    ch.ack(ms[1]!, true); // a and b
    await rollback(ch);
    ch.ack(ms[0]!); // a again: known, rollback put it back
    await commit(ch);
    await ch.close(); // b and c were never committed acked: back to the queue
    await readyBecomes(setup, q, 2);
    const back = [await getOne(setup, q, { noAck: true }), await getOne(setup, q, { noAck: true })];
    expect(back.map((m) => [m.content.toString(), m.fields.redelivered])).toEqual([['b', true], ['c', true]]);
    await setup.close();
  });

  it('nacks and rejects wait for tx.commit too', async () => {
    const setup = await openChannel(conn);
    const q = await queue(setup, 'tx-nack');
    for (const b of ['a', 'b', 'c']) setup.sendToQueue(q, Buffer.from(b));
    await readyBecomes(setup, q, 3);
    const ch = await txChannel();
    const ms = [await getOne(ch, q), await getOne(ch, q), await getOne(ch, q)];
    ch.reject(ms[0]!, true); // requeue a
    ch.nack(ms[2]!, false, false); // drop c
    await ch.checkQueue(q);
    expect((await setup.checkQueue(q)).messageCount, 'nothing happens before commit').toBe(0);
    await commit(ch);
    await readyBecomes(setup, q, 1);
    const m = await getOne(setup, q, { noAck: true });
    expect([m.content.toString(), m.fields.redelivered]).toEqual(['a', true]);
    ch.ack(ms[1]!);
    await commit(ch);
    await ch.close();
    expect((await setup.checkQueue(q)).messageCount, 'b acked, c dropped').toBe(0);
    await setup.close();
  });

  it('tx.select twice is fine (errors.md 145); confirm.select after it is 406 (143)', async () => {
    const ch = await txChannel();
    await rpc(ch, 'TxSelect', {}, 'TxSelectOk');
    await expectServerClose(ch, 406, 'PRECONDITION_FAILED - cannot switch from tx to confirm mode', () =>
      rpc(ch, 'ConfirmSelect', { nowait: false }, 'ConfirmSelectOk'),
    );
    await expectUsable(conn);
  });

  it('tx.commit and tx.rollback without tx.select are 406 (errors.md 141, 142)', async () => {
    const ch = await openChannel(conn);
    await expectServerClose(ch, 406, 'PRECONDITION_FAILED - channel is not transactional', () => commit(ch));
    const ch2 = await openChannel(conn);
    await expectServerClose(ch2, 406, 'PRECONDITION_FAILED - channel is not transactional', () => rollback(ch2));
    await expectUsable(conn);
  });
});
