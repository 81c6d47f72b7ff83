/**
 * Exact header checks for the queue-feature tests. amqplib decodes a field table to plain JS
 * values (an `l` 1 and an `I` 1 both become 1, key order is lost), so these tests read
 * messages with a raw basic.get and compare the content header as typed, ordered data:
 *
 *   const raw = await RawSession.open(tb);
 *   const m = await raw.getEventually(queue);        // get-ok + decoded properties + body
 *   expect(shape(m.props.headers)).toEqual([...]);   // [key, 'T value'] pairs in wire order
 *   raw.reject(m.getOk.deliveryTag, false);
 */
import { expect } from 'vitest';
import type { Field, FieldTable } from '../../../src/protocol/field-table.js';
import * as P from '../../../src/protocol/generated.js';
import { RawClient } from '../../helpers/raw-client.js';
import type { TestBroker } from '../../helpers/broker.js';

export interface RawMessage {
  getOk: P.BasicGetOk;
  /** property flags of the content header */
  flags: number;
  props: P.BasicProperties;
  body: Buffer;
}

/** A typed field as comparable data: scalars 'T value', arrays [...], tables [[key, …], …]. */
export type Shape = string | Shape[] | [string, Shape][];

export function shape(f: Field | FieldTable | undefined): Shape {
  if (f === undefined) return 'absent';
  if (f instanceof Map) return [...f].map(([k, v]): [string, Shape] => [k, shape(v)]);
  switch (f.type) {
    case 'A':
      return f.value.map((x) => shape(x));
    case 'F':
      return shape(f.value);
    case 'x':
      return `x ${f.value.toString('hex')}`;
    default:
      return `${f.type} ${String(f.value)}`;
  }
}

/** The keys of a table in wire order. */
export function keys(t: FieldTable | Field | undefined): string[] {
  if (t === undefined) return [];
  if (t instanceof Map) return [...t.keys()];
  if (t.type === 'F') return [...t.value.keys()];
  throw new Error(`not a table: ${t.type}`);
}

/**
 * Replaces every `time: T <seconds>` inside an x-death shape with 'T <time>' after checking
 * it lies within [from, to] (seconds), so the rest compares exactly.
 */
export function checkTimes(s: Shape, fromSec: number, toSec: number): Shape {
  if (typeof s === 'string') return s;
  return s.map((item) => {
    if (Array.isArray(item) && item.length === 2 && item[0] === 'time' && typeof item[1] === 'string') {
      const m = /^T (\d+)$/.exec(item[1]);
      expect(m, `time is a timestamp: ${item[1]}`).not.toBeNull();
      const t = Number(m![1]);
      expect(t).toBeGreaterThanOrEqual(fromSec);
      expect(t).toBeLessThanOrEqual(toSec);
      return ['time', 'T <time>'];
    }
    return checkTimes(item as Shape, fromSec, toSec);
  }) as Shape;
}

export const nowSec = (): number => Math.floor(Date.now() / 1000);

export class RawSession {
  readonly client: RawClient;
  readonly channel = 1;

  private constructor(client: RawClient) {
    this.client = client;
  }

  static async open(tb: TestBroker): Promise<RawSession> {
    const c = await RawClient.connect(tb.host, tb.port);
    await c.handshake();
    await c.openChannel(1);
    return new RawSession(c);
  }

  /** basic.get: the message, or null for get-empty. */
  async get(queue: string, noAck = false): Promise<RawMessage | null> {
    const c = this.client;
    c.sendMethod(this.channel, P.encodeBasicGet, { reserved1: 0, queue, noAck });
    const m = await c.nextMethod();
    if (m.name === 'basic.get-empty') return null;
    if (m.name !== 'basic.get-ok') throw new Error(`expected basic.get-ok/empty, got ${m.name} ${JSON.stringify(m.args)}`);
    const header = await c.nextFrame();
    expect(header.type).toBe(P.FRAME_HEADER);
    const size = Number(header.payload.readBigUInt64BE(4));
    const flags = header.payload.readUInt16BE(12);
    const props = P.decodeBasicProperties(header.payload, 12, header.payload.length);
    const parts: Buffer[] = [];
    let got = 0;
    while (got < size) {
      const f = await c.nextFrame();
      expect(f.type).toBe(P.FRAME_BODY);
      parts.push(f.payload);
      got += f.payload.length;
    }
    return { getOk: m.args, flags, props, body: Buffer.concat(parts) };
  }

  /** basic.get until a message is there (dead-lettering and expiry happen asynchronously). */
  async getEventually(queue: string, ms = 5000): Promise<RawMessage> {
    const deadline = Date.now() + ms;
    for (;;) {
      const m = await this.get(queue);
      if (m !== null) return m;
      if (Date.now() > deadline) throw new Error(`no message in ${queue} within ${ms} ms`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  reject(deliveryTag: number, requeue: boolean): void {
    this.client.sendMethod(this.channel, P.encodeBasicReject, { deliveryTag, requeue });
  }

  nack(deliveryTag: number, requeue: boolean): void {
    this.client.sendMethod(this.channel, P.encodeBasicNack, { deliveryTag, multiple: false, requeue });
  }

  ack(deliveryTag: number): void {
    this.client.sendMethod(this.channel, P.encodeBasicAck, { deliveryTag, multiple: false });
  }

  /** basic.publish + content header + one body frame. */
  publish(exchange: string, routingKey: string, body: Buffer, props: P.BasicProperties = {}, mandatory = false): void {
    const c = this.client;
    c.sendMethod(this.channel, P.encodeBasicPublish, { reserved1: 0, exchange, routingKey, mandatory, immediate: false });
    const header = Buffer.alloc(64 * 1024);
    header.writeUInt16BE(P.CLASS_BASIC, 0);
    header.writeUInt16BE(0, 2);
    header.writeBigUInt64BE(BigInt(body.length), 4);
    const end = P.encodeBasicProperties(header, 12, props);
    c.sendFrame(P.FRAME_HEADER, this.channel, header.subarray(0, end));
    if (body.length > 0) c.sendFrame(P.FRAME_BODY, this.channel, body);
  }

  async confirmSelect(): Promise<void> {
    this.client.sendMethod(this.channel, P.encodeConfirmSelect, { nowait: false });
    await this.client.expectMethod(this.channel, 'confirm.select-ok');
  }

  close(): Promise<void> {
    return this.client.close();
  }
}
