import { createHash } from 'node:crypto';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';
import { listen, type Upstream, type UpstreamState } from './upstream.js';

/** A WebSocket handshake the upstream received. */
export interface Handshake {
  /** The request target, such as `/ws?room=1`. */
  url: string;
  headers: IncomingHttpHeaders;
}

/** A running {@link webSocketEchoUpstream}. */
export interface WebSocketEchoUpstream extends Upstream {
  /** Every handshake received, in order (`requests` counts them). */
  readonly handshakes: readonly Handshake[];
  /** How many tunnels are open now. */
  openTunnels(): number;
}

/** RFC 6455 §1.3: the GUID a server appends to the client's key. */
const websocketGuid = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/**
 * A WebSocket upstream at the byte level: it accepts every handshake with a valid 101 (RFC 6455 §4.2.2), then echoes
 * every byte it receives (frames included, unparsed). A plain HTTP request gets 426 Upgrade Required.
 */
export async function webSocketEchoUpstream(): Promise<WebSocketEchoUpstream> {
  const state: UpstreamState = { requests: 0 };
  const handshakes: Handshake[] = [];
  const tunnels = new Set<Socket>();
  const server = createServer((_req, res) => res.writeHead(426, { Connection: 'close' }).end());
  server.on('upgrade', (req, socket: Socket, head: Buffer) => {
    state.requests++;
    handshakes.push({ url: req.url ?? '/', headers: req.headers });
    tunnels.add(socket);
    socket.on('close', () => tunnels.delete(socket));
    socket.on('error', () => {});
    const accept = createHash('sha1').update(`${req.headers['sec-websocket-key']}${websocketGuid}`).digest('base64');
    socket.write(
      `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`,
    );
    if (head.length > 0) socket.write(head);
    socket.pipe(socket);
  });
  const upstream = await listen(server, state);
  return Object.assign(upstream, { handshakes, openTunnels: () => tunnels.size });
}
