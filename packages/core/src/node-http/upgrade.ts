import type { EventEmitter } from 'node:events';
import { type IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { rejection, writeRejection } from './reject.js';

/** Whether `req` is a WebSocket handshake (RFC 6455 §4.1: a GET over HTTP/1.1 or later, with `Upgrade: websocket`). */
export function isWebSocketUpgrade(req: IncomingMessage): boolean {
  return (
    req.method === 'GET' &&
    (req.httpVersionMajor > 1 || req.httpVersionMinor >= 1) &&
    typeof req.headers.upgrade === 'string' &&
    /^websocket$/i.test(req.headers.upgrade)
  );
}

/**
 * Whether Node gave `req` to the server's `upgrade` listeners instead of as a request: it then read none of its body
 * and made it no response. (Node's `req.upgrade`, which its types leave out.)
 */
export function cameAsUpgrade(req: IncomingMessage): boolean {
  return (req as { upgrade?: unknown }).upgrade === true;
}

/**
 * Whether a handshake announces a body: any Content-Length (even 0) or Transfer-Encoding. Node's server reads no body
 * for an upgrade request (the bytes after its head belong to the new protocol, or to nobody). Forwarded, the length
 * would make the upstream read that many bytes of whatever comes next on its connection as this body: the next
 * request on it, anyone's, loses its head, and its body is parsed as a request of the attacker's (RFC 9112 §6.3,
 * §11.2: request smuggling). A WebSocket handshake has no body (RFC 6455 §4.1), so none is ever forwarded.
 */
export function announcesBody(req: IncomingMessage): boolean {
  return req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
}

/** The client's side of a WebSocket handshake, which the engine tunnels to the upstream's after its 101. */
export interface HandshakeSockets {
  /** The client's connection. */
  readonly socket: Duplex;
  /** What the client sent after the handshake's head: the first bytes of the tunnel. */
  readonly head: Buffer;
  /** Called as the tunnel opens: from then on a FIN from the client only ends its direction of the tunnel. */
  tunnelled(): void;
}

/** A server's `upgrade` listener. */
export type UpgradeListener = (req: IncomingMessage, socket: Duplex, head: Buffer) => void;

/** A handshake given to the app as a request, until a proxy's `forward()` claims it. */
interface Routed extends HandshakeSockets {
  /** The response it was given to the app with. */
  readonly res: ServerResponse;
  /** Where that response writes while other `upgrade` listeners may own the handshake: nowhere. */
  sink: Duplex | undefined;
  claimed: boolean;
  /** Closes the connection when the client leaves before a tunnel opens. */
  readonly leave: () => void;
}

function routedOf(req: IncomingMessage, socket: Duplex, head: Buffer): Routed {
  const leave = () => socket.destroy();
  return {
    socket,
    head,
    res: handshakeResponse(req),
    sink: undefined,
    claimed: false,
    leave,
    tunnelled: () => socket.off('end', leave),
  };
}

/** Shared by every copy of the package, like the listener mark: a proxy claims what any copy routed. */
const routedKey = Symbol.for('gateway-errors.routed-handshake');
const listenerMark = Symbol.for('gateway-errors.upgrade-listener');
type RoutedRequest = IncomingMessage & { [routedKey]?: Routed };

/** Marks `listener` as one of ours, so that routing can tell other `upgrade` listeners of a server from ours. */
export function markUpgradeListener(listener: UpgradeListener): UpgradeListener {
  return Object.defineProperty(listener, listenerMark, { value: true });
}

/** The answer to a handshake on a server that has no request listener to route it to. */
const notRouted = rejection(404, 'nothing here answers this upgrade');

/**
 * Gives a handshake to the app as a request. Node's server hands an upgrade to its `upgrade` listeners only: with no
 * response, and with its body, if any, unread. Here the server's own request listeners (the Express app, Koa's
 * `app.callback()`, a node:http handler) get it with a response written on its socket, so that routing, mount paths
 * and middleware (auth, `maintenance()`) apply exactly as to any request; it is proxied only if the app routes it to
 * a proxy's `forward()`, which claims it (`claimHandshake`). The app runs once every other `upgrade` listener has
 * seen the request as Node gave it: a mount path rewrites `req.url` while the app runs below it.
 *
 * Who answers a handshake the app does not route to a proxy depends on who else listens. When every `upgrade`
 * listener of the server is ours, or none is (your own code called us: the handshake was given to us), the app
 * answers it (its 404, 401 or 503), and the connection closes after that answer. When other listeners share the
 * server, the handshake may be theirs: the app's answer goes nowhere and the socket is left to them.
 *
 * A handshake that announces a body is never given to the app, where a middleware that forwards requests (another
 * proxy) would forward its length with no body behind it: `refuse` answers it, when it is ours to answer.
 */
export function routeUpgrade(
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  refuse: (res: ServerResponse) => void,
): void {
  const request = req as RoutedRequest;
  // Every listener of ours gets the event: the first routes it.
  if (request[routedKey] !== undefined) return;
  const server = (socket as { server?: EventEmitter }).server;
  const shared = server !== undefined && sharesUpgrades(server);
  const routed = routedOf(req, socket, head);
  const { res } = routed;
  request[routedKey] = routed;
  if (announcesBody(req)) {
    if (!shared && answerOnClient(routed)) refuse(res);
    return;
  }
  if (shared) {
    const sink = discarding();
    routed.sink = sink;
    answerOn(res, sink);
    // An answer the app never finishes is let go with the connection, whoever owns it.
    socket.once('close', () => sink.destroy());
  } else if (!answerOnClient(routed)) {
    return;
  }
  queueMicrotask(() => {
    if (server?.emit('request', req, res) === true) return;
    if (shared) routed.sink?.destroy();
    else writeRejection(req, res, notRouted);
  });
}

/**
 * The sockets of a handshake that `routeUpgrade` gave to the app (or `adoptHandshake` to a proxy) and that reached a
 * proxy's `forward()` with the response it was given with: that proxy answers it from now on, on its socket.
 * `undefined` for any other request, and for a handshake another proxy already claimed.
 */
export function claimHandshake(req: IncomingMessage, res: ServerResponse): HandshakeSockets | undefined {
  const routed = (req as RoutedRequest)[routedKey];
  if (routed === undefined || routed.claimed || routed.res !== res) return undefined;
  routed.claimed = true;
  const sink = routed.sink;
  // Another listener took it while the app ran: its answer stays on the sink, the socket is left to that listener.
  if (sink !== undefined && takenByAnother(routed.socket)) return undefined;
  if (sink !== undefined) {
    routed.sink = undefined;
    res.detachSocket(sink as Socket);
    sink.destroy();
    if (res.headersSent || !answerOnClient(routed)) return undefined;
  }
  return routed;
}

/**
 * Whether another `upgrade` listener of the server took a handshake's socket: it wrote on it (its 101, its 401),
 * closed or ended it, or reads it (a pipe, a WebSocket's frame reader). Node's server removes its own listeners from
 * the socket before the `upgrade` event, and ours add none of these while other listeners may own it, so any of them
 * is another's doing. Asked when the app routes the handshake to a proxy, once every listener has run and the app's
 * middleware with it: a listener that answers at once (ws's `handleUpgrade` with no `verifyClient`, or a synchronous
 * one) is seen. One that leaves the socket untouched while it decides asynchronously (ws's `verifyClient` with a
 * callback, an authentication lookup before `handleUpgrade`) cannot be told from one that ignores the handshake.
 */
function takenByAnother(socket: Duplex): boolean {
  return (
    socket.destroyed ||
    !socket.writable ||
    ((socket as Partial<Socket>).bytesWritten ?? 0) > 0 ||
    socket.readableFlowing === true ||
    socket.listenerCount('data') > 0 ||
    socket.listenerCount('readable') > 0
  );
}

/**
 * A handshake given straight to a proxy (`proxy.upgrade`): its response, written on its socket, with which the
 * proxy's `forward()` claims it. `undefined` when the socket cannot take it (then it was closed).
 */
export function adoptHandshake(req: IncomingMessage, socket: Duplex, head: Buffer): ServerResponse | undefined {
  const routed = routedOf(req, socket, head);
  if (!answerOnClient(routed)) return undefined;
  (req as RoutedRequest)[routedKey] = routed;
  return routed.res;
}

/**
 * A response to a handshake, as Node's server would make for a request. The connection closes once it is written:
 * after an upgrade Node reads no more requests on it (RFC 9112 §9.6). A 101 is written by the tunnel instead, and
 * never finishes it.
 */
function handshakeResponse(req: IncomingMessage): ServerResponse {
  const res = new ServerResponse(req);
  res.shouldKeepAlive = false;
  res.once('finish', () => {
    const out = res.socket;
    out?.end(() => out.destroy());
  });
  return res;
}

/** Makes `res` write on `out`. False when `out` is still another response's (a request pipelined before): closed. */
function answerOn(res: ServerResponse, out: Duplex): boolean {
  out.on('error', ignore);
  try {
    res.assignSocket(out as Socket);
  } catch {
    out.destroy();
    return false;
  }
  return true;
}

/**
 * Makes a handshake's response write on the client's connection. A FIN from the client before a tunnel opens means it
 * left: the connection is closed, as Node's server closes a request's (`httpAllowHalfOpen` is off by default), and
 * the response's 'close' tells whoever answers it.
 */
function answerOnClient(routed: Routed): boolean {
  if (!answerOn(routed.res, routed.socket)) return false;
  routed.socket.once('end', routed.leave);
  return true;
}

/**
 * Whether other `upgrade` listeners share the server with ours. None of ours among them means your own code called
 * us (a dispatcher that chose this handshake for us): ours to answer, like when every listener is ours.
 */
function sharesUpgrades(server: EventEmitter): boolean {
  const listeners = server.listeners('upgrade') as Array<{ [listenerMark]?: true }>;
  let ours = 0;
  for (const listener of listeners) if (listener[listenerMark] === true) ours++;
  return ours > 0 && ours < listeners.length;
}

/** Takes what the app answers to a handshake that may be another listener's, and drops it. */
function discarding(): Duplex {
  return new Duplex({
    read() {},
    write(_chunk, _encoding, done) {
      done();
    },
  });
}

function ignore(): void {}
