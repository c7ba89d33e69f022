import { createServer, type Socket } from 'node:net';
import { listen, onRequestHead, type Upstream, type UpstreamState } from './upstream.js';

// Upstreams that stretch HTTP/1.1's framing rather than break it: a head that arrives byte by byte, interim (1xx)
// answers, a protocol switch nobody asked for, an upload refused or cut half-way. Each serves one request per
// connection (its answer says `Connection: close`), so a keep-alive client never waits on a connection it ignores.

/** Starts a raw upstream that hands each connection to `behave` once its request head has arrived. */
function rawUpstream(behave: (socket: Socket, head: string, rest: Buffer) => void): Promise<Upstream> {
  const state: UpstreamState = { requests: 0 };
  const server = createServer((socket) => {
    onRequestHead(socket, (head, rest) => {
      state.requests++;
      behave(socket, head, rest);
    });
  });
  return listen(server, state);
}

/** A complete `Connection: close` response with a plain-text body. */
function finalResponse(status: number, reason: string, body: string): string {
  return (
    `HTTP/1.1 ${status} ${reason}\r\nContent-Type: text/plain; charset=utf-8\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`
  );
}

/** Options of {@link drippingHeadUpstream}. */
export interface DrippingHeadOptions {
  /**
   * Milliseconds between two bytes of the head.
   * @default 20
   */
  interval?: number;
  /**
   * Bytes of an `X-Drip` header added to the head, to make it last longer (each one takes `interval`).
   * @default 0
   */
  padding?: number;
  /**
   * The body, sent at once after the head.
   * @default 'dripped\n'
   */
  body?: string;
}

/**
 * Answers `200` with a head written one byte at a time, `interval` ms apart, the body with its last byte, then
 * closes. No single gap is long, but the whole head takes `interval` × its length (57 bytes without padding, 67 plus
 * `padding` with it): the response-head timeout decides, not an idle timeout between bytes.
 */
export function drippingHeadUpstream(options: DrippingHeadOptions = {}): Promise<Upstream> {
  const interval = options.interval ?? 20;
  const body = options.body ?? 'dripped\n';
  const padding = options.padding ?? 0;
  const drip = padding > 0 ? `X-Drip: ${'.'.repeat(padding)}\r\n` : '';
  const head = `HTTP/1.1 200 OK\r\n${drip}Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n`;
  return rawUpstream((socket) => {
    socket.resume();
    let sent = 0;
    const timer = setInterval(() => {
      if (socket.destroyed) {
        clearInterval(timer);
        return;
      }
      sent++;
      if (sent < head.length) {
        socket.write(head[sent - 1] ?? '');
        return;
      }
      // The last byte of the head goes with the body: once the head is complete, nothing else is slow.
      clearInterval(timer);
      socket.end(head.slice(-1) + body);
    }, interval);
    socket.on('close', () => clearInterval(timer));
  });
}

/** An interim (1xx) answer of an {@link informationalUpstream}. */
export interface Informational {
  /** 100 to 199. A 101 is a protocol switch, not an interim answer: see {@link unsolicitedUpgradeUpstream}. */
  status: number;
  /** Its headers, such as `{ Link: '</style.css>; rel=preload; as=style' }` for 103 Early Hints (RFC 8297). */
  headers?: Record<string, string>;
}

/** Options of {@link informationalUpstream}. */
export interface InformationalOptions {
  /**
   * The interim answers sent before the final one, in order.
   * @default [{ status: 103, headers: { Link: '</style.css>; rel=preload; as=style' } }]
   */
  informational?: Informational[];
  /**
   * The final status.
   * @default 200
   */
  status?: number;
  /**
   * The final body.
   * @default 'final answer\n'
   */
  body?: string;
  /**
   * Send the final answer. `false`: the interim answers only, then silence with the connection open until `close()`.
   * @default true
   */
  final?: boolean;
}

const reasons: Readonly<Record<number, string>> = { 100: 'Continue', 102: 'Processing', 103: 'Early Hints' };

/**
 * Sends each interim (1xx) answer, then the final answer 20 ms later (unless `final: false`), then closes. An HTTP client must take the
 * interim answers for what they are (Node's emits `information`, and `continue` for a 100) and wait for the final one.
 */
export function informationalUpstream(options: InformationalOptions = {}): Promise<Upstream> {
  const informational = options.informational ?? [
    { status: 103, headers: { Link: '</style.css>; rel=preload; as=style' } },
  ];
  const status = options.status ?? 200;
  const interim = informational
    .map(({ status: code, headers = {} }) => {
      const lines = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`);
      return `HTTP/1.1 ${code} ${reasons[code] ?? 'Informational'}\r\n${lines.join('')}\r\n`;
    })
    .join('');
  const final = finalResponse(status, status === 200 ? 'OK' : 'Final', options.body ?? 'final answer\n');
  return rawUpstream((socket) => {
    socket.resume();
    // The final answer in its own write, a moment later: the client has the interim ones as a separate event.
    socket.write(interim, () => {
      if (options.final !== false) setTimeout(() => socket.end(final), 20);
    });
  });
}

/** Options of {@link unsolicitedUpgradeUpstream}. */
export interface UnsolicitedUpgradeOptions {
  /**
   * The protocol its 101 names in `Upgrade` (with `Connection: Upgrade`), or `false` for a bare 101 without either.
   * @default 'websocket'
   */
  upgrade?: string | false;
}

/**
 * Answers every request, whatever it asked, with `101 Switching Protocols`, then bytes of the new protocol (a
 * WebSocket text frame, `hi`), and keeps the connection open until `close()`. RFC 9110 §15.2.2: a server must not
 * switch to a protocol the client did not ask for.
 */
export function unsolicitedUpgradeUpstream(options: UnsolicitedUpgradeOptions = {}): Promise<Upstream> {
  const upgrade = options.upgrade ?? 'websocket';
  const fields = upgrade === false ? '' : `Connection: Upgrade\r\nUpgrade: ${upgrade}\r\n`;
  return rawUpstream((socket) => {
    socket.resume();
    socket.write(`HTTP/1.1 101 Switching Protocols\r\n${fields}\r\n\x81\x02hi`, 'latin1');
  });
}

/** Options of {@link refusingUploadUpstream}. */
export interface RefusingUploadOptions {
  /**
   * The status of the refusal, such as 417 (Expectation Failed) or 413 (Content Too Large).
   * @default 417
   */
  status?: number;
  /**
   * Its body.
   * @default 'upload refused\n'
   */
  body?: string;
}

/**
 * Answers `status` (417 unless told) as soon as a request head arrives, without a `100 Continue` and without reading
 * the body, with `Connection: close`, then closes its side (FIN). Whatever body bytes still arrive are read and
 * dropped, so the close stays a clean FIN rather than a reset. `received` counts them.
 */
export async function refusingUploadUpstream(
  options: RefusingUploadOptions = {},
): Promise<Upstream & { readonly received: number }> {
  const status = options.status ?? 417;
  const answer = finalResponse(
    status,
    status === 417 ? 'Expectation Failed' : 'Refused',
    options.body ?? 'upload refused\n',
  );
  let received = 0;
  const upstream = await rawUpstream((socket, _head, rest) => {
    received += rest.length;
    socket.on('data', (chunk: Buffer) => {
      received += chunk.length;
    });
    socket.end(answer);
  });
  return Object.defineProperty(upstream, 'received', { get: () => received, enumerable: true }) as Upstream & {
    readonly received: number;
  };
}

/** Options of {@link resetMidUploadUpstream}. */
export interface ResetMidUploadOptions {
  /**
   * How many body bytes it reads before the reset.
   * @default 65536
   */
  after?: number;
}

/**
 * Reads the request head and the first `after` bytes of its body (64 KiB unless told), then resets the connection
 * (TCP RST) without a byte of response. A request whose body is shorter is read whole and never answered.
 * `received` counts the body bytes it read.
 */
export async function resetMidUploadUpstream(
  options: ResetMidUploadOptions = {},
): Promise<Upstream & { readonly received: number }> {
  const after = options.after ?? 65536;
  let received = 0;
  const upstream = await rawUpstream((socket, _head, rest) => {
    let read = 0;
    const take = (chunk: Buffer) => {
      const counted = Math.min(chunk.length, after - read);
      read += counted;
      received += counted;
      if (read >= after) socket.resetAndDestroy();
    };
    take(rest);
    if (!socket.destroyed) socket.on('data', take);
  });
  return Object.defineProperty(upstream, 'received', { get: () => received, enumerable: true }) as Upstream & {
    readonly received: number;
  };
}
