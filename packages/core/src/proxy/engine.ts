import {
  type ClientRequest,
  type Agent as HttpAgent,
  request as httpRequest,
  type IncomingMessage,
  type InformationEvent,
} from 'node:http';
import { request as httpsRequest, type RequestOptions } from 'node:https';
import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { HandshakeSockets } from '../node-http/upgrade.js';
import type { Target } from '../resilience/targets.js';
import { originForm } from './request-target.js';
import { FrameBoundaries, goingAwayFrame } from './websocket-frames.js';

/**
 * How an attempt reaches the upstream: `node:http`/`node:https` requests, with nothing in between. A proxy library
 * (http-proxy-3 was used here first) spent more per request in its generic passes (option merging, URL parsing, its
 * own listeners and events) than everything else we do, and we already own the headers, the body and the response.
 */
export interface Engine {
  /**
   * Sends one attempt of `req` to `call.target`, reporting through `hooks`. The response is ours to write; for a
   * WebSocket handshake (`call.upgrade`), a 101 is the engine's: it tunnels the two sockets.
   */
  web(req: IncomingMessage, call: EngineCall, hooks: EngineHooks): void;
  /**
   * Closes the idle connections the agent keeps beside `socket`, one of its connections: those to the same upstream,
   * under the same options. For when that upstream closed a reused connection before answering on it.
   */
  closeIdle(socket: Duplex): void;
  /**
   * From now on, every WebSocket tunnel goes away (a drain): each open one, and each that opens later, gets a close
   * frame 1001 (Going Away) at the next frame boundary of what the upstream sends it, then both of its connections
   * close. Once `signal` aborts, those still open are cut instead (both connections destroyed).
   */
  goAway(signal: AbortSignal): void;
  /** Resolves once no tunnel is open, with how many went away with their close frame, and how many were cut. */
  tunnelsGone(): Promise<TunnelsGone>;
}

/** How the tunnels of a drain ended. */
export interface TunnelsGone {
  /** Closed with a 1001 (Going Away) close frame to the client, at a frame boundary, then both connections. */
  readonly closed: number;
  /** Cut: no frame boundary came before the drain's deadline (an upstream mid-frame, a client that reads nothing). */
  readonly cut: number;
}

/** An open tunnel, as a drain sees it. */
interface Tunnel {
  goAway(signal: AbortSignal): void;
}

/** One attempt. */
export interface EngineCall {
  /** Where it goes. */
  readonly target: Target;
  /** The request body, when it is held in memory (see RequestBody); else `req` is streamed. */
  readonly body: Buffer | undefined;
  /** Rewrite Host to the target's. */
  readonly changeOrigin: boolean;
  /** A WebSocket handshake: the client's side, tunnelled to the upstream's if it answers 101. */
  readonly upgrade?: HandshakeSockets | undefined;
  /** `timeouts.idle`: once one side of a tunnel has ended, the longest silence of the other before both close. */
  readonly idle: number;
}

/**
 * What happens to an attempt. Exactly one of `response`, `upgrade` or `error` ends it, unless the client leaves
 * first. The engine calls them as plain functions (without `this`), and `error` may receive extra arguments.
 */
export interface EngineHooks {
  /** The upstream request exists (it may not have a socket yet): time it, and destroy it to abort. */
  request(proxyReq: ClientRequest): void;
  /** The upstream's response head arrived (for a handshake: an answer other than a 101). */
  response(proxyRes: IncomingMessage): void;
  /**
   * A handshake's 101 arrived: true to tunnel the sockets (the attempt is over), false when the attempt already is
   * (the upstream's side is then closed).
   */
  upgrade?(proxyRes: IncomingMessage): boolean;
  /** An interim (1xx) answer arrived before the response head (not for a handshake): 100, 102, 103 Early Hints. */
  information?(info: InformationEvent): void;
  /** The attempt failed. */
  error(error: Error): void;
}

/** How requests reach one target, derived once from it. */
interface Route {
  readonly send: (options: RequestOptions) => ClientRequest;
  readonly port: number;
  /** The target's own path, which prefixes every request's; `/` when it has none. */
  readonly path: string;
  /** The target's own query (without `?`), merged before the request's; empty when it has none. */
  readonly query: string;
  /** The Host header when `changeOrigin` is set: the target's `host:port`, the port only when not the default. */
  readonly host: string;
  /**
   * The TLS server name (SNI, and the name the certificate must carry): the target's host name. Node would take it
   * from the Host header, which is the client's unless `changeOrigin`: a valid upstream would fail verification.
   * Empty for an IP address, which SNI cannot carry (the certificate is then checked against the IP); undefined for
   * plain HTTP.
   */
  readonly servername: string | undefined;
}

function routeOf(target: Target): Route {
  const { url, secure } = target;
  return {
    send: secure ? httpsRequest : httpRequest,
    port: url.port === '' ? (secure ? 443 : 80) : Number(url.port),
    path: url.pathname === '' ? '/' : url.pathname,
    query: url.search.slice(1),
    host: url.host,
    servername: secure ? (target.resolvesName ? target.hostname : '') : undefined,
  };
}

/**
 * The path the upstream is asked for: the target's path, then the request's as the client wrote it (its origin-form:
 * see request-target.ts, whose rule `forward()` applied before any attempt), with the target's query before the
 * request's.
 */
export function upstreamPath(route: Pick<Route, 'path' | 'query'>, url: string): string {
  let path = originForm(url);
  if (route.path !== '/') path = route.path.endsWith('/') ? route.path + path.slice(1) : route.path + path;
  if (route.query !== '') {
    const mark = path.indexOf('?');
    path =
      mark === -1
        ? `${path}?${route.query}`
        : `${path.slice(0, mark)}?${route.query}${mark + 1 < path.length ? '&' : ''}${path.slice(mark + 1)}`;
  }
  return path;
}

/**
 * Creates the engine over the agent that holds the connections of every target (a proxy speaks one protocol). Every
 * path reports through a listener or callback we own: an `error` event nobody listens to would crash the process on
 * the first refused connection.
 */
export function createEngine(agent: HttpAgent): Engine {
  const routes = new WeakMap<Target, Route>();
  const tunnels = new Set<Tunnel>();
  /** Set by goAway: every tunnel, open or to come, goes away. */
  let goingAway: AbortSignal | undefined;
  const gone = { closed: 0, cut: 0 };
  let noTunnels: Array<() => void> = [];

  /** Keeps a tunnel in the set while it is open, and tells how it ended once it closes. */
  function track(opened: Tunnel & { readonly closing: Promise<'closed' | 'cut' | undefined> }): void {
    tunnels.add(opened);
    if (goingAway !== undefined) opened.goAway(goingAway);
    void opened.closing.then((how) => {
      tunnels.delete(opened);
      if (how !== undefined) gone[how]++;
      if (tunnels.size > 0) return;
      for (const resolve of noTunnels) resolve();
      noTunnels = [];
    });
  }

  /** Starts the upstream request of an attempt; its body (if any) is the caller's to send. */
  function send(req: IncomingMessage, call: EngineCall, hooks: EngineHooks): ClientRequest {
    let route = routes.get(call.target);
    if (route === undefined) {
      route = routeOf(call.target);
      routes.set(call.target, route);
    }
    const proxyReq = route.send({
      hostname: call.target.hostname,
      port: route.port,
      method: req.method,
      path: upstreamPath(route, req.url ?? '/'),
      // prepareRequestHeaders made this object for our hop: only Host may still change.
      headers: call.changeOrigin ? { ...req.headers, host: route.host } : req.headers,
      agent,
      servername: route.servername,
    });
    proxyReq.on('error', hooks.error);
    hooks.request(proxyReq);
    return proxyReq;
  }

  return {
    goAway(signal) {
      goingAway = signal;
      for (const open of tunnels) open.goAway(signal);
    },
    tunnelsGone() {
      const counts = (): TunnelsGone => ({ closed: gone.closed, cut: gone.cut });
      if (tunnels.size === 0) return Promise.resolve(counts());
      return new Promise((resolve) => noTunnels.push(() => resolve(counts())));
    },
    closeIdle(socket) {
      // The agent's pools are keyed by a name it derives from the request's options and its own; the socket is still
      // listed in use under that name when its request fails (it leaves the agent on 'close').
      for (const [name, sockets] of Object.entries(agent.sockets)) {
        if (sockets?.includes(socket as Socket) !== true) continue;
        // 'agentRemove' takes a socket out of the agent at once (Node's documented way); destroyed alone, it would
        // stay in the pool until its 'close', and with LIFO scheduling it could be handed to the very next request.
        for (const idle of [...(agent.freeSockets[name] ?? [])]) {
          idle.emit('agentRemove');
          idle.destroy();
        }
        return;
      }
    },
    web(req, call, hooks) {
      const proxyReq = send(req, call, hooks);
      proxyReq.on('response', hooks.response);
      const upgrade = call.upgrade;
      if (upgrade !== undefined) {
        proxyReq.on('upgrade', (proxyRes: IncomingMessage, upstream: Duplex, upstreamHead: Buffer) => {
          if (hooks.upgrade?.(proxyRes) === true) track(tunnel(upgrade, proxyRes, upstream, upstreamHead, call.idle));
          else upstream.destroy();
        });
        proxyReq.end();
        // A handshake's connection never goes back to the pool, whatever the upstream answers. After a 101 it is the
        // tunnel's; after any other answer its state is unknown: an upstream that answers before reading a body may
        // still expect one (RFC 9112 §9.6). Node writes `Connection: upgrade`, which it reads as keep-alive, and
        // pools the connection after a non-101 answer unless told otherwise once the head is written (as it is by
        // end()): it then closes the connection when the answer ends.
        proxyReq.shouldKeepAlive = false;
        return;
      }
      if (hooks.information !== undefined) proxyReq.on('information', hooks.information);
      // A 101 with Upgrade to a request that asked for none (RFC 9110 §15.2.2 forbids it). Without a listener Node
      // drops the connection and reports nothing, and the attempt would wait for its response timer: it is handed
      // over as the response it claims to be, which the attempt refuses.
      proxyReq.on('upgrade', (proxyRes: IncomingMessage, socket: Duplex) => {
        socket.destroy();
        hooks.response(proxyRes);
      });
      if (call.body !== undefined) {
        proxyReq.end(call.body);
      } else {
        // A client that fails mid-upload (it reset the connection) ends the attempt as an abort.
        req.on('error', hooks.error);
        req.pipe(proxyReq);
      }
    },
  };
}

/** A socket that lasts: no idle timeout of the server's, no Nagle delay for small frames, TCP keep-alive. */
function lasting(socket: Duplex): void {
  if (socket instanceof Socket) {
    socket.setTimeout(0);
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 0);
  }
}

/**
 * The upstream accepted the upgrade: its 101 (with its headers as it wrote them) goes to the client, then bytes flow
 * both ways, the client's early bytes first, until either side ends. A failure of either side closes both. An open
 * tunnel has no timer (a WebSocket may be quiet for hours); once one side has ended, the client has `idle` of silence
 * to take what is left and close its side, then both are closed.
 *
 * The upstream's bytes are relayed by hand rather than piped, through a follower of their frame boundaries, so that a
 * drain can say Going Away (1001) to the client between two frames: put in anywhere else, the close frame would land
 * inside a frame's payload and corrupt the stream (RFC 6455 §5.2). `closing` settles once both sides are closed: with
 * `closed` when the close frame went out, `cut` when the drain's deadline came first, else nothing.
 */
function tunnel(
  client: HandshakeSockets,
  proxyRes: IncomingMessage,
  upstream: Duplex,
  upstreamHead: Buffer,
  idle: number,
): Tunnel & { readonly closing: Promise<'closed' | 'cut' | undefined> } {
  const { socket } = client;
  let ended: 'closed' | 'cut' | undefined;
  let settle: (how: 'closed' | 'cut' | undefined) => void = () => {};
  const closing = new Promise<'closed' | 'cut' | undefined>((resolve) => {
    settle = resolve;
  });
  const close = () => {
    socket.destroy();
    upstream.destroy();
  };
  upstream.on('error', close);
  socket.on('error', close);
  // A client that keeps its side of a finished tunnel open (half-open), or stops reading what is left, would hold
  // this socket forever: one per tunnel the upstream ended, until the process runs out of descriptors.
  let finishing = false;
  const finish = () => {
    if (finishing || !(socket instanceof Socket)) return;
    finishing = true;
    socket.setTimeout(idle, close);
  };
  socket.on('end', finish);
  // A side that closes without a clean end (destroyed, or reset without an error event) must not leave the other open.
  upstream.on('close', () => {
    socket.end();
    finish();
  });
  socket.on('close', () => {
    upstream.destroy();
    if (upstream.closed) settle(ended);
    else upstream.once('close', () => settle(ended));
  });
  const frames = new FrameBoundaries();
  /** Set by a drain: the close frame goes out at the next frame boundary. */
  let goingAway = false;
  const sayGoingAway = () => {
    ended = 'closed';
    upstream.off('data', relay);
    socket.end(goingAwayFrame);
    upstream.destroy();
    // The client's own close frame, and its FIN, are read and dropped: the connection closes once it answers (or
    // after `idle`, or at the drain's deadline, whichever comes first).
    socket.resume();
  };
  function relay(chunk: Buffer): void {
    const taken = frames.feed(chunk, goingAway);
    const flowing = taken === 0 || socket.write(taken === chunk.length ? chunk : chunk.subarray(0, taken));
    if (goingAway && frames.atBoundary) {
      sayGoingAway();
      return;
    }
    if (!flowing) {
      upstream.pause();
      socket.once('drain', () => upstream.resume());
    }
  }
  const opened: Tunnel & { readonly closing: Promise<'closed' | 'cut' | undefined> } = {
    closing,
    goAway(signal) {
      if (goingAway || socket.destroyed) return;
      goingAway = true;
      // Nothing more of the client's reaches the upstream, whose connection closes next.
      socket.unpipe(upstream);
      // At the deadline: cut, unless the close frame went out (then only a client slow to answer it is let go).
      const cut = () => {
        ended ??= 'cut';
        close();
      };
      if (signal.aborted) {
        cut();
        return;
      }
      signal.addEventListener('abort', cut, { once: true });
      socket.once('close', () => signal.removeEventListener('abort', cut));
      if (frames.atBoundary) sayGoingAway();
    },
  };
  if (!socket.writable) {
    close();
    return opened;
  }
  client.tunnelled();
  lasting(socket);
  lasting(upstream);
  let head = 'HTTP/1.1 101 Switching Protocols\r\n';
  const raw = proxyRes.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) head += `${raw[i]}: ${raw[i + 1]}\r\n`;
  // Node's parser keeps each header byte as one char (latin1): written back the same way, obs-text stays the bytes
  // the upstream sent (the default, UTF-8, would turn 0xE9 into 0xC3 0xA9), as ServerResponse writes its heads.
  socket.write(`${head}\r\n`, 'latin1');
  if (upstreamHead.length > 0) {
    frames.feed(upstreamHead);
    socket.write(upstreamHead);
  }
  if (client.head.length > 0) socket.unshift(client.head);
  upstream.on('data', relay);
  socket.pipe(upstream);
  return opened;
}
