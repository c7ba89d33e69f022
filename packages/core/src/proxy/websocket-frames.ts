/**
 * Follows the frames of one direction of a WebSocket connection (RFC 6455 §5.2) by their headers alone, to tell where
 * one frame ends: the only place another frame, such as a close, may be put in without corrupting the stream. A
 * control frame may go between the frames of a fragmented message (§5.4), so any frame boundary will do. Payloads are
 * skipped by their length, never read or copied: the cost is a few operations per frame, whatever its size.
 *
 * Bytes that are not WebSocket frames are followed as if they were: at worst a length read from them puts the next
 * boundary far away, and whoever waits for it gives up on a timer.
 */
export class FrameBoundaries {
  /** Payload bytes still to come in the current frame. */
  #payloadLeft = 0;
  /** The current frame's header, as far as it came: at most 2 + 8 (extended length) + 4 (masking key) bytes. */
  readonly #header = Buffer.alloc(14);
  #headerRead = 0;

  /** Whether everything followed so far ends with a whole frame (or nothing at all). */
  get atBoundary(): boolean {
    return this.#payloadLeft === 0 && this.#headerRead === 0;
  }

  /**
   * Follows `chunk`, the next bytes of the stream, and returns how many it followed: all of them, or with
   * `untilBoundary`, those up to the first frame boundary (0 when the stream is at one already).
   */
  feed(chunk: Uint8Array, untilBoundary = false): number {
    let at = 0;
    while (at < chunk.length) {
      if (untilBoundary && this.atBoundary) break;
      if (this.#payloadLeft > 0) {
        const skipped = Math.min(this.#payloadLeft, chunk.length - at);
        this.#payloadLeft -= skipped;
        at += skipped;
        continue;
      }
      this.#header[this.#headerRead++] = chunk[at++] as number;
      if (this.#headerRead === headerSize(this.#header, this.#headerRead)) {
        this.#payloadLeft = payloadLength(this.#header);
        this.#headerRead = 0;
      }
    }
    return at;
  }
}

/** The size of a frame header whose first `read` bytes are in `header`; 0 while its second byte has not come. */
function headerSize(header: Buffer, read: number): number {
  if (read < 2) return 0;
  const length = (header[1] as number) & 0x7f;
  const extended = length === 126 ? 2 : length === 127 ? 8 : 0;
  const masked = (header[1] as number) & 0x80 ? 4 : 0;
  return 2 + extended + masked;
}

/** The payload length a complete frame header announces: 7 bits, or 16 or 64 bits after them (network order). */
function payloadLength(header: Buffer): number {
  const length = (header[1] as number) & 0x7f;
  if (length === 126) return header.readUInt16BE(2);
  if (length === 127) return Number(header.readBigUInt64BE(2));
  return length;
}

/** RFC 6455 §5.5.1 and §7.4.1: a close frame from the server (unmasked), status 1001 Going Away. */
export const goingAwayFrame: Buffer = Buffer.from([0x88, 0x02, 0x03, 0xe9]);
