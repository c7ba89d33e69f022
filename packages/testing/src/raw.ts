import { connect, createServer, type Socket } from 'node:net';
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
 * The ports `refusingUpstream()` gives out: privileged (below 1024), and of four digits, so that a test which checks
 * that the port never shows in a page is not fooled by a `2` or a `600` of its markup. None is one of the Fetch
 * standard's "bad ports", which fetch() refuses before connecting.
 */
const firstRefusingPort = 1001;
const lastRefusingPort = 1023;

/** The last port given out: each call gives the next, so that two at once are never the same. */
let refusingPort = lastRefusingPort;

/**
 * A port on 127.0.0.1 where nothing listens: connecting to it fails with ECONNREFUSED. It is a privileged port
 * (1001-1023), checked at creation to refuse a connection: a server that listens on port 0 (every other upstream here,
 * and most test servers) is given a port of the ephemeral range (32768-60999 on Linux, 49152-65535 on macOS and
 * Windows), never one of these, so no other test can take it while this one runs. (A port bound on 0 then released,
 * as it was before, could be handed to the next port-0 listener, whose answer the test then got.) Each call gives
 * another port, in turn (several targets that refuse are several targets). `requests` is always 0.
 */
export async function refusingUpstream(): Promise<Upstream> {
  for (let tried = firstRefusingPort; tried <= lastRefusingPort; tried++) {
    refusingPort = refusingPort === lastRefusingPort ? firstRefusingPort : refusingPort + 1;
    const port = refusingPort;
    if (await refuses(port)) return { url: `http://127.0.0.1:${port}`, port, requests: 0, close: async () => {} };
  }
  throw new Error(
    `refusingUpstream(): every port from ${firstRefusingPort} to ${lastRefusingPort} on 127.0.0.1 accepts connections or drops them`,
  );
}

/** Whether a connection to `port` on 127.0.0.1 is refused. One that is accepted or goes unanswered is not. */
function refuses(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    const end = (refused: boolean) => {
      socket.destroy();
      resolve(refused);
    };
    socket.once('connect', () => end(false));
    socket.once('error', (error: NodeJS.ErrnoException) => end(error.code === 'ECONNREFUSED'));
    // A firewall that drops instead of refusing: not a port for this (loopback refuses at once).
    socket.setTimeout(1000, () => end(false));
  });
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
