/**
 * A bulk AMQP client for tests that move a million messages: the handshake goes through
 * RawClient, then the socket is read with warren's FrameReader and written with whole
 * batches of pre-encoded frames (FrameWriter), so the test process costs a fraction of what
 * amqplib does per message and the broker is what is measured.
 *
 *   const p = await BulkPublisher.open(port, 'q');      // confirm.select on channel 1
 *   await p.publish(1_000_000, 16, 5000);                 // window of 5000 unconfirmed
 *   const c = await BulkConsumer.open(port, 'q', 5000);   // prefetch 5000
 *   await c.consume(1_000_000, 500);                      // ack multiple every 500
 *
 * Bodies carry their sequence number (u32 at offset 0); the consumer checks the order.
 */
import * as P from '../../src/protocol/generated.js';
import { FrameReader, type FrameSink } from '../../src/protocol/frame-reader.js';
import { FrameWriter } from '../../src/protocol/frame-writer.js';
import { RawClient } from './raw-client.js';
import { withTimeout } from './wait.js';

/** property flags: delivery-mode present; delivery-mode 2 */
const PERSISTENT_PROPS = Buffer.from([0x10, 0x00, 2]);

async function openChannel1(port: number, queue: string): Promise<RawClient> {
  const c = await RawClient.connect('127.0.0.1', port);
  await c.handshake({ heartbeat: 0 });
  await c.openChannel(1);
  c.sendMethod(1, P.encodeQueueDeclare, {
    reserved1: 0,
    queue,
    passive: false,
    durable: true,
    exclusive: false,
    autoDelete: false,
    noWait: false,
    arguments: new Map(),
  });
  await c.expectMethod(1, 'queue.declare-ok');
  return c;
}

/** Takes the socket over from RawClient: frames go to `sink` from here on. */
function takeOver(c: RawClient, sink: FrameSink, onClose: () => void): void {
  const reader = new FrameReader(131072);
  c.socket.removeAllListeners('data');
  c.socket.on('data', (chunk: Buffer) => reader.push(chunk, sink));
  c.socket.on('close', onClose);
}

export class BulkPublisher {
  readonly #c: RawClient;
  #confirmed = 0;
  #nacked = 0;
  #wake: (() => void) | null = null;
  #closed = false;

  private constructor(c: RawClient) {
    this.#c = c;
  }

  static async open(port: number, queue: string): Promise<BulkPublisher> {
    const c = await openChannel1(port, queue);
    c.sendMethod(1, P.encodeConfirmSelect, { nowait: false });
    await c.expectMethod(1, 'confirm.select-ok');
    const p = new BulkPublisher(c);
    takeOver(
      c,
      {
        onFrame: (type, _ch, buf, start) => {
          if (type !== P.FRAME_METHOD) return;
          const id = buf.readUInt32BE(start);
          if (id !== P.BASIC_ACK && id !== P.BASIC_NACK) return;
          const tag = buf.readUInt32BE(start + 4) * 0x100000000 + buf.readUInt32BE(start + 8);
          const multiple = (buf[start + 12]! & 1) !== 0;
          // spec: confirms come in order here, so a single ack is the next tag
          const n = multiple ? tag - p.#confirmed - p.#nacked : 1;
          if (id === P.BASIC_ACK) p.#confirmed += n;
          else p.#nacked += n;
          p.#notify();
        },
        onFrameError: () => c.destroy(),
      },
      () => {
        p.#closed = true;
        p.#notify();
      },
    );
    return p;
  }

  get confirmed(): number {
    return this.#confirmed;
  }

  #notify(): void {
    const w = this.#wake;
    this.#wake = null;
    w?.();
  }

  #event(): Promise<void> {
    return new Promise((resolve) => (this.#wake = resolve));
  }

  /** Publishes `count` persistent messages of `size` bytes; resolves when all are confirmed. */
  async publish(count: number, size: number, window: number, routingKey: string, batch = 1000): Promise<void> {
    const w = new FrameWriter(131072);
    const body = Buffer.alloc(size); // FrameWriter copies small bodies: one buffer will do
    let sent = 0;
    while (this.#confirmed + this.#nacked < count) {
      if (this.#closed) throw new Error(`connection closed after ${this.#confirmed} confirms`);
      if (sent < count && sent - this.#confirmed - this.#nacked < window) {
        const n = Math.min(batch, count - sent);
        for (let i = 0; i < n; i++) {
          body.writeUInt32BE(sent++, 0);
          w.method(1, P.encodeBasicPublish, { reserved1: 0, exchange: '', routingKey, mandatory: false, immediate: false });
          w.content(1, P.CLASS_BASIC, PERSISTENT_PROPS, body);
        }
        const ok = this.#c.socket.write(Buffer.concat(w.take() ?? []));
        if (!ok) await new Promise((r) => this.#c.socket.once('drain', r));
        continue;
      }
      await withTimeout(this.#event(), 30_000, `confirms (have ${this.#confirmed} of ${count})`);
    }
    if (this.#nacked > 0) throw new Error(`${this.#nacked} publishes were nacked`);
  }

  close(): void {
    this.#c.destroy();
  }
}

export class BulkConsumer {
  readonly #c: RawClient;
  received = 0;
  outOfOrder = 0;
  #lastTag = 0;
  #wake: (() => void) | null = null;
  #closed = false;
  #target = 0;
  #ackEvery = 1;
  readonly #w = new FrameWriter(131072);
  /** the delivery whose body comes next */
  #expectBody = false;
  #synced = 0;
  /** Called every `progressEvery` deliveries (e.g. to sample disk usage). */
  onProgress: ((received: number) => void) | undefined;
  progressEvery = 100_000;

  private constructor(c: RawClient) {
    this.#c = c;
  }

  static async open(port: number, queue: string, prefetch: number): Promise<BulkConsumer> {
    const c = await openChannel1(port, queue);
    c.sendMethod(1, P.encodeBasicQos, { prefetchSize: 0, prefetchCount: prefetch, global: false });
    await c.expectMethod(1, 'basic.qos-ok');
    c.sendMethod(1, P.encodeBasicConsume, {
      reserved1: 0,
      queue,
      consumerTag: 'bulk',
      noLocal: false,
      noAck: false,
      exclusive: false,
      noWait: false,
      arguments: new Map(),
    });
    await c.expectMethod(1, 'basic.consume-ok');
    const k = new BulkConsumer(c);
    takeOver(
      c,
      { onFrame: (type, _ch, buf, start, end) => k.#onFrame(type, buf, start, end), onFrameError: () => c.destroy() },
      () => {
        k.#closed = true;
        k.#notify();
      },
    );
    return k;
  }

  #onFrame(type: number, buf: Buffer, start: number, end: number): void {
    if (type === P.FRAME_METHOD) {
      const id = buf.readUInt32BE(start);
      if (id === P.BASIC_QOS_OK) {
        this.#synced++;
        this.#notify();
      }
      if (id !== P.BASIC_DELIVER) return;
      const o = start + 4 + 1 + buf[start + 4]!; // after the consumer tag
      this.#lastTag = buf.readUInt32BE(o) * 0x100000000 + buf.readUInt32BE(o + 4);
      this.#expectBody = true;
      return;
    }
    if (type !== P.FRAME_BODY || !this.#expectBody || end - start < 4) return;
    this.#expectBody = false;
    if (buf.readUInt32BE(start) !== this.received) this.outOfOrder++;
    this.received++;
    if (this.received % this.#ackEvery === 0 || this.received === this.#target) {
      this.#w.method(1, P.encodeBasicAck, { deliveryTag: this.#lastTag, multiple: true }); // spec: basic.ack multiple
      this.#c.socket.write(Buffer.concat(this.#w.take() ?? []));
    }
    if (this.received % this.progressEvery === 0) this.onProgress?.(this.received);
    if (this.received >= this.#target) this.#notify();
  }

  #notify(): void {
    const w = this.#wake;
    this.#wake = null;
    w?.();
  }

  /** Resolves once `count` messages were delivered (and acked, multiple=true every `ackEvery`). */
  async consume(count: number, ackEvery: number, timeoutMs: number): Promise<void> {
    this.#target = count;
    this.#ackEvery = ackEvery;
    while (this.received < count) {
      if (this.#closed) throw new Error(`connection closed after ${this.received} deliveries`);
      await withTimeout(new Promise<void>((r) => (this.#wake = r)), timeoutMs, `${count} deliveries (have ${this.received})`);
    }
  }

  /**
   * A round trip on the consuming channel (basic.qos → qos-ok): when it resolves, the broker
   * has handled every ack sent before it.
   */
  async sync(prefetch: number): Promise<void> {
    const want = this.#synced + 1;
    this.#w.method(1, P.encodeBasicQos, { prefetchSize: 0, prefetchCount: prefetch, global: false });
    this.#c.socket.write(Buffer.concat(this.#w.take() ?? []));
    while (this.#synced < want) {
      if (this.#closed) throw new Error('connection closed');
      await withTimeout(new Promise<void>((r) => (this.#wake = r)), 10_000, 'basic.qos-ok');
    }
  }

  close(): void {
    this.#c.destroy();
  }
}
