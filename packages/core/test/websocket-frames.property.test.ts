import { FrameBoundaries } from '@gateway-errors/core/unstable-internals';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { propertyRuns } from '../../../test/support/property.js';

/** One WebSocket frame as it goes on the wire (RFC 6455 §5.2): FIN and opcode, mask bit and length, then payload. */
function encode(opcode: number, masked: boolean, length: number): Buffer {
  const head = [0x80 | opcode];
  const mask = masked ? 0x80 : 0;
  if (length < 126) head.push(mask | length);
  else if (length < 65536) head.push(mask | 126, length >> 8, length & 0xff);
  else
    head.push(
      mask | 127,
      0,
      0,
      0,
      0,
      (length >>> 24) & 0xff,
      (length >> 16) & 0xff,
      (length >> 8) & 0xff,
      length & 0xff,
    );
  if (masked) head.push(1, 2, 3, 4);
  // The payload's bytes do not matter: only the header is read. 0x88 everywhere looks like close frames.
  return Buffer.concat([Buffer.from(head), Buffer.alloc(length, 0x88)]);
}

const frame = fc.record({
  opcode: fc.constantFrom(0x0, 0x1, 0x2, 0x8, 0x9, 0xa),
  masked: fc.boolean(),
  length: fc.oneof(
    { weight: 8, arbitrary: fc.integer({ min: 0, max: 125 }) },
    { weight: 3, arbitrary: fc.integer({ min: 126, max: 700 }) },
    { weight: 1, arbitrary: fc.integer({ min: 65536, max: 66000 }) },
  ),
});

describe('FrameBoundaries: where a frame ends in a WebSocket byte stream', () => {
  it('finds every frame end, whatever the chunks, in both modes', () => {
    fc.assert(
      fc.property(
        fc.array(frame, { minLength: 1, maxLength: 12 }),
        fc.array(fc.nat(), { maxLength: 20 }),
        (frames, cuts) => {
          const encoded = frames.map((f) => encode(f.opcode, f.masked, f.length));
          const stream = Buffer.concat(encoded);
          const ends = new Set<number>([0]);
          let end = 0;
          for (const bytes of encoded) {
            end += bytes.length;
            ends.add(end);
          }
          const points = [...new Set(cuts.map((cut) => cut % stream.length))].sort((a, b) => a - b);
          const follower = new FrameBoundaries();
          let offset = 0;
          for (const [i, start] of [0, ...points].entries()) {
            const chunk = stream.subarray(start, points[i] ?? stream.length);
            if (chunk.length === 0) continue;
            if (!follower.atBoundary) {
              // Up to the next boundary: exactly where the frame under way ends, or the whole chunk.
              const taken = follower.feed(chunk, true);
              const next = Math.min(...[...ends].filter((e) => e > offset));
              expect(taken).toBe(Math.min(next - offset, chunk.length));
              offset += taken;
              expect(follower.atBoundary).toBe(ends.has(offset));
              if (taken === chunk.length) continue;
            }
            const rest = chunk.subarray(offset - start);
            expect(follower.feed(rest)).toBe(rest.length);
            offset += rest.length;
            expect(follower.atBoundary).toBe(ends.has(offset));
          }
          expect(offset).toBe(stream.length);
          expect(follower.atBoundary).toBe(true);
        },
      ),
      propertyRuns(),
    );
  });

  it('at a boundary, feeding up to the next one takes nothing', () => {
    const follower = new FrameBoundaries();
    expect(follower.feed(encode(1, false, 3), true)).toBe(0);
    expect(follower.feed(encode(1, false, 3))).toBe(5);
    expect(follower.atBoundary).toBe(true);
  });

  it('a header split anywhere, even in its extended length or mask', () => {
    const bytes = encode(2, true, 300);
    const follower = new FrameBoundaries();
    for (const byte of bytes.subarray(0, 7)) {
      follower.feed(Buffer.from([byte]));
      expect(follower.atBoundary).toBe(false);
    }
    expect(follower.feed(bytes.subarray(7, 8 + 300 - 1), true)).toBe(300);
    expect(follower.atBoundary).toBe(false);
    expect(follower.feed(Buffer.concat([bytes.subarray(-1), Buffer.from([0x81])]), true)).toBe(1);
    expect(follower.atBoundary).toBe(true);
  });
});
