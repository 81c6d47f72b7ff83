import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FrameWriter } from '../../src/protocol/frame-writer.js';
import { encodeBasicDeliver } from '../../src/protocol/generated.js';

function shortstr(s: string): Buffer {
  const b = Buffer.from(s, 'utf8');
  return Buffer.concat([Buffer.from([b.length]), b]);
}

describe('FrameWriter.basicDeliver', () => {
  it('writes exactly the frame the generated encoder writes', () => {
    const str = fc.string({ maxLength: 40 });
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 65535 }), str, fc.integer({ min: 0, max: 2 ** 52 }), fc.boolean(), str, str, (ch, tag, dtag, red, ex, rk) => {
        const fast = new FrameWriter(131072);
        fast.basicDeliver(ch, shortstr(tag), dtag, red, Buffer.concat([shortstr(ex), shortstr(rk)]));
        const slow = new FrameWriter(131072);
        slow.method(ch, encodeBasicDeliver, { consumerTag: tag, deliveryTag: dtag, redelivered: red, exchange: ex, routingKey: rk });
        expect(Buffer.concat(fast.take()!)).toEqual(Buffer.concat(slow.take()!));
      }),
    );
  });
});
