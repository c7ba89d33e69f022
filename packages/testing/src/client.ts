import { connect } from 'node:net';

/** One response as it came over the wire. */
export interface RawResponse {
  /** The HTTP version of the status line, such as `'1.1'`. */
  version: string;
  status: number;
  /** Header fields by lower-case name; a repeated field keeps every value, in order. */
  headers: Record<string, string[]>;
  /** The body as latin1 (byte for byte), chunked framing removed. */
  body: string;
  /** Whether the body is complete as its framing says (a close-delimited body is complete once the server closed). */
  complete: boolean;
  /** The interim (1xx) answers that came before it, in order. */
  informational: { status: number; headers: Record<string, string[]> }[];
}

/** What {@link rawExchange} saw. */
export interface RawExchange {
  /** The final responses parsed, in order; the last one may be incomplete. */
  responses: RawResponse[];
  /** Every byte received, as latin1. */
  bytes: string;
  /**
   * How it ended: the server closed the connection (FIN) or reset it, or the expected responses were all complete
   * (`done`, the connection left open), or it was still open when `timeout` passed.
   */
  ending: 'fin' | 'reset' | 'done' | 'open';
}

/** Options of {@link rawExchange}. */
export interface RawExchangeOptions {
  /**
   * The method of each request sent, in order, so that the answer to a HEAD is read without a body.
   * @default every request a GET
   */
  methods?: string[];
  /**
   * How many final responses to wait for; once they are complete the exchange ends (`ending: 'done'`).
   * @default methods.length, or 1
   */
  responses?: number;
  /**
   * Milliseconds to wait at most.
   * @default 5000
   */
  timeout?: number;
}

/**
 * Writes `bytes` to a TCP connection on 127.0.0.1 and parses every response that comes back, the way a client that
 * bypasses every library sees them: for HTTP/1.0 requests, pipelined requests (several in one write), or anything
 * else where a client library would hide or refuse what happened.
 * @example
 * const { responses } = await rawExchange(port, 'GET /a HTTP/1.1\r\nHost: x\r\n\r\nHEAD /b HTTP/1.1\r\nHost: x\r\n\r\n', {
 *   methods: ['GET', 'HEAD'],
 * });
 */
export function rawExchange(
  port: number,
  bytes: string | Buffer,
  options: RawExchangeOptions = {},
): Promise<RawExchange> {
  const methods = options.methods ?? [];
  const expected = options.responses ?? Math.max(1, methods.length);
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const socket = connect(port, '127.0.0.1', () => socket.write(bytes));
    const finish = (ending: RawExchange['ending']) => {
      clearTimeout(timer);
      socket.destroy();
      const received = Buffer.concat(chunks).toString('latin1');
      resolve({ responses: parseResponses(received, methods, ending === 'fin'), bytes: received, ending });
    };
    const timer = setTimeout(() => finish('open'), options.timeout ?? 5000);
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      const parsed = parseResponses(Buffer.concat(chunks).toString('latin1'), methods, false);
      if (parsed.length >= expected && parsed.every((response) => response.complete)) finish('done');
    });
    socket.on('end', () => finish('fin'));
    socket.on('error', () => finish('reset'));
  });
}

/**
 * Parses HTTP/1.x responses from `text` (latin1): interim answers are attached to the final one that follows, a
 * body is framed by chunked encoding, Content-Length, or (`closed`) the end of the connection. The answers to HEAD
 * requests (from `methods`), 1xx, 204 and 304 have no body.
 */
export function parseResponses(text: string, methods: readonly string[] = [], closed = false): RawResponse[] {
  const responses: RawResponse[] = [];
  let informational: RawResponse['informational'] = [];
  let at = 0;
  while (at < text.length) {
    const headEnd = text.indexOf('\r\n\r\n', at);
    if (headEnd === -1) break;
    const [statusLine = '', ...lines] = text.slice(at, headEnd).split('\r\n');
    const match = /^HTTP\/(\d\.\d) (\d{3})/.exec(statusLine);
    if (match === null) break;
    const status = Number(match[2]);
    const headers: Record<string, string[]> = {};
    for (const line of lines) {
      const colon = line.indexOf(':');
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      const values = headers[name];
      if (values === undefined) headers[name] = [value];
      else values.push(value);
    }
    at = headEnd + 4;
    if (status >= 100 && status < 200 && status !== 101) {
      informational.push({ status, headers });
      continue;
    }
    const method = methods[responses.length] ?? 'GET';
    const response: RawResponse = { version: match[1] ?? '', status, headers, body: '', complete: true, informational };
    informational = [];
    responses.push(response);
    if (method === 'HEAD' || status === 204 || status === 304 || status === 101) continue;
    const chunked = headers['transfer-encoding']?.some((value) => /chunked/i.test(value)) === true;
    const length = headers['content-length']?.[0];
    if (chunked) {
      const body = readChunked(text, at);
      response.body = body.body;
      response.complete = body.end !== -1;
      if (body.end === -1) break;
      at = body.end;
    } else if (length !== undefined) {
      response.body = text.slice(at, at + Number(length));
      response.complete = response.body.length === Number(length);
      at += response.body.length;
    } else {
      response.body = text.slice(at);
      response.complete = closed;
      break;
    }
  }
  return responses;
}

/** A chunked body from `at`: its bytes, and where the message ends (-1 while incomplete). */
function readChunked(text: string, at: number): { body: string; end: number } {
  let body = '';
  let position = at;
  for (;;) {
    const lineEnd = text.indexOf('\r\n', position);
    if (lineEnd === -1) return { body, end: -1 };
    const size = Number.parseInt(text.slice(position, lineEnd), 16);
    if (Number.isNaN(size)) return { body, end: -1 };
    position = lineEnd + 2;
    if (size === 0) {
      // Trailer fields, if any, up to the blank line.
      const trailersEnd = text.indexOf('\r\n\r\n', position - 2);
      return trailersEnd === -1 ? { body, end: -1 } : { body, end: trailersEnd + 4 };
    }
    if (text.length < position + size + 2) {
      body += text.slice(position, position + size);
      return { body, end: -1 };
    }
    body += text.slice(position, position + size);
    position += size + 2;
  }
}
