import type { IncomingMessage } from 'node:http';

/** The request body of one proxied request, as the attempts will send it. */
export interface RequestBody {
  /**
   * The bytes, when held in memory (buffered for a retry, taken from a body parser, or none at all: an empty
   * buffer); undefined when `req` is streamed.
   */
  readonly body: Buffer | undefined;
  /** Whether a second attempt could send the same body again. */
  readonly replayable: boolean;
}

/** A request without a body: nothing to send, trivially replayable. */
export const noBody: RequestBody = Object.freeze({ body: Buffer.alloc(0), replayable: true });
const streamed: RequestBody = Object.freeze({ body: undefined, replayable: false });

/**
 * Thrown (as a rejection of `forward()`) when earlier middleware already read the request body and left nothing we
 * can forward. It is a mounting mistake, not an upstream failure: frameworks answer it with a 500.
 */
export class ConsumedBodyError extends Error {
  /** A stable code to tell this error apart. */
  readonly code: 'ERR_GATEWAY_BODY_CONSUMED' = 'ERR_GATEWAY_BODY_CONSUMED';
  constructor(why: string) {
    super(
      `gateway-errors: the request body was already read by earlier middleware (a body parser?) ${why}. Mount the proxy before body parsers, or parse with a raw or text parser so that req.body holds the bytes.`,
    );
    this.name = 'ConsumedBodyError';
  }
}

/** Whether the request has a body to send: a non-zero Content-Length, or Transfer-Encoding (RFC 9112 §6.3). */
export function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return (length !== undefined && length !== '0') || req.headers['transfer-encoding'] !== undefined;
}

/** Reads the whole request body, or `undefined` if the client left on the way. */
async function readBody(req: IncomingMessage): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  try {
    for await (const chunk of req) chunks.push(chunk as Buffer);
  } catch {
    return undefined;
  }
  return Buffer.concat(chunks);
}

/**
 * Decides how the attempts send the body, and reads it when it should be buffered. Resolves with `undefined` when
 * the client left while its body was read.
 *
 * A body an earlier parser consumed cannot be streamed again: piping an ended request would send the head with its
 * Content-Length and no bytes, and the upstream would wait for them until our response timeout. When the parser
 * left the raw bytes (`req.body` a Buffer or string, as `express.raw()` and `express.text()` do) and did not decode
 * a Content-Encoding, those are forwarded, with Content-Length set to their size; otherwise this throws
 * {@link ConsumedBodyError}.
 */
export async function prepareBody(
  req: IncomingMessage,
  maxBuffered: number,
  wantReplay: boolean,
): Promise<RequestBody | undefined> {
  if (!hasBody(req)) return noBody;
  if (req.readableDidRead || req.readableEnded) {
    const parsed = (req as IncomingMessage & { body?: unknown }).body;
    const encoding = req.headers['content-encoding'];
    if (!req.readableEnded) throw new ConsumedBodyError('in part, and is still reading it');
    if (encoding !== undefined && encoding !== 'identity') {
      throw new ConsumedBodyError(`and decoded its Content-Encoding (${encoding})`);
    }
    if (!Buffer.isBuffer(parsed) && typeof parsed !== 'string') {
      throw new ConsumedBodyError('and req.body is not a Buffer or a string');
    }
    const body = Buffer.isBuffer(parsed) ? parsed : Buffer.from(parsed);
    req.headers['content-length'] = String(body.length);
    delete req.headers['transfer-encoding'];
    return { body, replayable: true };
  }
  if (wantReplay) {
    const length = Number(req.headers['content-length']);
    if (Number.isInteger(length) && length <= maxBuffered) {
      const body = await readBody(req);
      return body === undefined ? undefined : { body, replayable: true };
    }
  }
  return streamed;
}
