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

/** Why a body could not be read: the client left, or sent nothing for the idle timeout (it stalled). */
export type UnreadBody = 'left' | 'stalled';

/**
 * Reads the whole request body, under the idle timer: a client that sends nothing for `idle` ms has stalled (nginx's
 * client_body_timeout), and one whose connection closes first has left.
 */
function readBody(req: IncomingMessage, idle: number): Promise<Buffer | UnreadBody> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => end('stalled'), idle);
    function onData(chunk: Buffer): void {
      chunks.push(chunk);
      timer.refresh();
    }
    function onEnd(): void {
      end(Buffer.concat(chunks));
    }
    function onGone(): void {
      end('left');
    }
    function end(result: Buffer | UnreadBody): void {
      clearTimeout(timer);
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onGone);
      req.off('close', onGone);
      // A stalled or abandoned body is not read further: the connection is closed after our answer.
      if (!Buffer.isBuffer(result)) req.pause();
      resolve(result);
    }
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onGone);
    // 'close' before 'end': the connection closed mid-body (Node emits 'aborted' and 'error' only in some versions).
    req.on('close', onGone);
  });
}

/**
 * Decides how the attempts send the body, and reads it when it should be buffered (`buffer`: a retry could replay
 * it, or it is read before a concurrency slot is taken), under the idle timer. Resolves with `'left'` when the client
 * left while its body was read, and `'stalled'` when it sent nothing for `idle` ms.
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
  buffer: boolean,
  idle: number,
): Promise<RequestBody | UnreadBody> {
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
  if (buffer) {
    const length = Number(req.headers['content-length']);
    if (Number.isInteger(length) && length <= maxBuffered) {
      const body = await readBody(req, idle);
      return Buffer.isBuffer(body) ? { body, replayable: true } : body;
    }
  }
  return streamed;
}
