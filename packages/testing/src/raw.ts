import { createServer, type Socket } from 'node:net';
import { listen, onRequestHead, type Upstream, type UpstreamState } from './upstream.js';

/** Starts a TCP server that hands each connection, once its request head has arrived, to `behave`. */
function rawUpstream(behave: (socket: Socket, head: string) => void): Promise<Upstream> {
  const state: UpstreamState = { requests: 0 };
  const server = createServer((socket) => {
    onRequestHead(socket, (head) => {
      state.requests++;
      behave(socket, head);
    });
  });
  return listen(server, state);
}

/**
 * A port where nothing listens: connecting to it fails with ECONNREFUSED.
 * The port was bound and released, so on a busy machine another process could take it in between; on a test
 * machine that is rare enough. `requests` is always 0.
 */
export async function refusingUpstream(): Promise<Upstream> {
  const placeholder = await listen(createServer(), { requests: 0 });
  await placeholder.close();
  return { url: placeholder.url, port: placeholder.port, requests: 0, close: async () => {} };
}

/** Accepts each connection and resets it at once (TCP RST), before reading anything. */
export function resetOnAccept(): Promise<Upstream> {
  const state: UpstreamState = { requests: 0 };
  const server = createServer((socket) => {
    state.requests++;
    socket.resetAndDestroy();
  });
  return listen(server, state);
}

/** Reads the request head, then resets the connection (TCP RST) without a byte of response. */
export function resetAfterRequest(): Promise<Upstream> {
  return rawUpstream((socket) => socket.resetAndDestroy());
}

/** Reads the request and never answers; the connection stays open until `close()`. */
export function hangingUpstream(): Promise<Upstream> {
  return rawUpstream((socket) => socket.resume());
}

/** Options of {@link garbageUpstream}. */
export interface GarbageOptions {
  /**
   * What it writes instead of a response.
   * @default 'SSH-2.0-OpenSSH_9.6\r\n' (a non-HTTP protocol banner)
   */
  bytes?: string | Buffer;
}

/** Answers the request with bytes that are not HTTP, then closes the connection. */
export function garbageUpstream(options: GarbageOptions = {}): Promise<Upstream> {
  const bytes = options.bytes ?? 'SSH-2.0-OpenSSH_9.6\r\n';
  return rawUpstream((socket) => socket.end(bytes));
}

/** Answers with a response whose header value holds a control character (0x01), which HTTP parsers reject. */
export function badHeaderUpstream(): Promise<Upstream> {
  return rawUpstream((socket) => socket.end('HTTP/1.1 200 OK\r\nX-Bad: a\x01b\r\nContent-Length: 2\r\n\r\nok'));
}

/** Options of {@link oversizedHeadUpstream}. */
export interface OversizedHeadOptions {
  /**
   * Bytes in the response head. Node's default limit (`--max-http-header-size`) is 16 KiB.
   * @default 32768
   */
  size?: number;
}

/** Answers with a well-formed response whose head is larger than HTTP clients accept. */
export function oversizedHeadUpstream(options: OversizedHeadOptions = {}): Promise<Upstream> {
  const size = options.size ?? 32768;
  const start = 'HTTP/1.1 200 OK\r\nX-Filler: ';
  const end = '\r\nContent-Length: 2\r\n\r\nok';
  const filler = 'a'.repeat(Math.max(1, size - start.length - end.length + 4));
  return rawUpstream((socket) => socket.end(`${start}${filler}${end}`));
}

/** Options of the mid-body behaviours. */
export interface MidBodyOptions {
  /**
   * How the body is framed: a `Content-Length` larger than what is sent, or `Transfer-Encoding: chunked` without
   * the last chunk.
   * @default 'content-length'
   */
  framing?: 'content-length' | 'chunked';
  /**
   * The body bytes sent before the failure.
   * @default 'partial body\n'
   */
  sent?: string;
  /**
   * With `content-length` framing, the length announced in the head.
   * @default 1000
   */
  declaredLength?: number;
  /**
   * Extra response headers, such as `{ 'Content-Type': 'text/plain' }`.
   * @default {}
   */
  headers?: Record<string, string>;
}

/** The exact head and first body bytes of a mid-body behaviour. */
function partialResponse(options: MidBodyOptions): string {
  const sent = options.sent ?? 'partial body\n';
  const framing = options.framing ?? 'content-length';
  const extra = Object.entries(options.headers ?? {})
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('');
  if (framing === 'chunked') {
    const size = Buffer.byteLength(sent).toString(16);
    return `HTTP/1.1 200 OK\r\n${extra}Transfer-Encoding: chunked\r\n\r\n${size}\r\n${sent}\r\n`;
  }
  return `HTTP/1.1 200 OK\r\n${extra}Content-Length: ${options.declaredLength ?? 1000}\r\n\r\n${sent}`;
}

/**
 * Sends a 200 head and part of the body, then closes the connection (FIN) before the body is complete:
 * fewer bytes than `Content-Length`, or a chunked body without its last chunk.
 */
export function dieMidBodyUpstream(options: MidBodyOptions = {}): Promise<Upstream> {
  const bytes = partialResponse(options);
  return rawUpstream((socket) => {
    // Give the head its own moment so clients see a response start before the close.
    socket.write(bytes, () => setTimeout(() => socket.end(), 20));
  });
}

/** Sends a 200 head and part of the body, then sends nothing more; the connection stays open until `close()`. */
export function stallMidBodyUpstream(options: MidBodyOptions = {}): Promise<Upstream> {
  const bytes = partialResponse(options);
  return rawUpstream((socket) => {
    socket.resume();
    socket.write(bytes);
  });
}
