import { type Agent, type ClientRequest, request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest, type RequestOptions } from 'node:https';
import { isIP } from 'node:net';
import type { Duplex } from 'node:stream';
import { ProxyServer, type ServerOptions } from 'http-proxy-3';
import { hasBody } from './request-body.js';

/**
 * The small interface our proxy needs from a proxy engine. Plain HTTP requests go out through `node:http`/`node:https`
 * directly: a proxy engine's generic passes (option merging, URL parsing, its own listeners and events) cost more
 * per request than everything else we do, and we already own the headers, the body and the response. WebSockets go
 * through http-proxy-3 (the maintained, API-compatible rewrite of http-proxy); nothing outside this file knows that.
 */
export interface Engine {
  /** Sends one attempt of `req` to `call.target`, reporting through `hooks`. The response is ours to write. */
  web(req: IncomingMessage, call: EngineCall, hooks: EngineHooks): void;
  /**
   * Proxies a WebSocket (upgrade) request. The engine writes the upstream's 101 (or its non-101 answer) to `socket`
   * and pipes the two sockets; `hooks.error` gets any failure before or after the upgrade.
   */
  ws(req: IncomingMessage, socket: Duplex, head: Buffer, call: EngineCall, hooks: EngineHooks): void;
}

/**
 * One attempt. `target`, `agent` and `changeOrigin` describe an upstream: calls with the same `target` object must
 * use the same agent and `changeOrigin` (the engine keeps what it derives from a target, by target).
 */
export interface EngineCall {
  readonly target: URL;
  readonly agent: Agent;
  /** The request body, when it was buffered (to allow a retry, or taken from a body parser); else `req` is streamed. */
  readonly body: Buffer | undefined;
  /** Rewrite Host to the target's. */
  readonly changeOrigin: boolean;
}

/**
 * What happens to an attempt. Exactly one of `response` or `error` ends it, unless the client leaves first. The
 * engine calls them as plain functions (without `this`), and `error` may receive extra arguments.
 */
export interface EngineHooks {
  /** The upstream request exists (it may not have a socket yet): time it, and destroy it to abort. */
  request(proxyReq: ClientRequest): void;
  /** The upstream's response head arrived (`web` only; `ws` hooks listen on the request). */
  response(proxyRes: IncomingMessage): void;
  /** The attempt failed, or (for `ws`) the client's socket or the tunnel did. */
  error(error: Error): void;
}

/** Where the hooks of a WebSocket attempt travel: on the per-call options (http-proxy hands them to `proxyReq`). */
const hooksKey: unique symbol = Symbol('gateway-errors.engineHooks');
type Tagged<T> = T & { [hooksKey]?: EngineHooks };

/** How requests reach one target, derived once from its URL. */
interface Route {
  readonly send: (options: RequestOptions) => ClientRequest;
  /** Without IPv6 brackets, as `net.connect` wants it. */
  readonly hostname: string;
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

function routeOf(target: URL): Route {
  const secure = target.protocol === 'https:';
  const hostname = target.hostname.replace(/^\[(.*)\]$/, '$1');
  return {
    send: secure ? httpsRequest : httpRequest,
    hostname,
    port: target.port === '' ? (secure ? 443 : 80) : Number(target.port),
    path: target.pathname === '' ? '/' : target.pathname,
    query: target.search.slice(1),
    host: target.host,
    servername: secure ? (isIP(hostname) === 0 ? hostname : '') : undefined,
  };
}

/**
 * A request-target that URL parsing would change in meaning, not only in spelling: a dot segment (plain or
 * percent-encoded) or a backslash (read as `/`). Forwarded raw below a target path, `/../admin` would climb out of
 * it at the upstream.
 */
const unsafePath = /\/\.|%2e|\\/i;

/**
 * The path the upstream is asked for: the target's path, then the request's (origin-form, or the path of an
 * absolute-form or odd request-target), with the target's query before the request's. The common request-target is
 * forwarded as the client wrote it; one whose meaning URL parsing would change is resolved first, so that it can
 * never leave the target's path.
 */
export function upstreamPath(route: Pick<Route, 'path' | 'query'>, url: string): string {
  let path = url;
  if (path.charCodeAt(0) !== 47 /* / */ || unsafePath.test(path)) {
    const parsed = new URL(path.startsWith('//') ? `http://base.invalid${path}` : path, 'http://base.invalid');
    path = parsed.pathname + parsed.search;
  }
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
 * Creates the engine. Every path reports through a listener or callback we own: an `error` event nobody listens to
 * would crash the process on the first refused connection. For WebSockets, one http-proxy-3 server per target (its
 * options fixed at creation), whose events are routed to the hooks of the attempt they concern.
 */
export function createEngine(): Engine {
  const routes = new WeakMap<URL, Route>();
  const servers = new WeakMap<URL, ProxyServer>();
  const serverFor = (call: EngineCall): ProxyServer => {
    let server = servers.get(call.target);
    if (server === undefined) {
      server = createServer(call);
      servers.set(call.target, server);
    }
    return server;
  };

  return {
    web(req, call, hooks) {
      let route = routes.get(call.target);
      if (route === undefined) {
        route = routeOf(call.target);
        routes.set(call.target, route);
      }
      const proxyReq = route.send({
        hostname: route.hostname,
        port: route.port,
        method: req.method,
        path: upstreamPath(route, req.url ?? '/'),
        // prepareRequestHeaders made this object for our hop: only Host may still change.
        headers: call.changeOrigin ? { ...req.headers, host: route.host } : req.headers,
        agent: call.agent,
        servername: route.servername,
      });
      proxyReq.on('error', hooks.error);
      proxyReq.on('response', hooks.response);
      hooks.request(proxyReq);
      if (call.body !== undefined) {
        proxyReq.end(call.body);
      } else if (hasBody(req)) {
        // A client that fails mid-upload (it reset the connection) ends the attempt as an abort.
        req.on('error', hooks.error);
        req.pipe(proxyReq);
      } else {
        proxyReq.end();
      }
    },
    ws(req, socket, head, call, hooks) {
      (req as Tagged<IncomingMessage>)[hooksKey] = hooks;
      const options: Tagged<ServerOptions> = { [hooksKey]: hooks };
      serverFor(call).ws(req, socket, head, options, hooks.error);
    },
  };
}

function createServer(call: EngineCall): ProxyServer {
  const server = new ProxyServer({
    target: call.target,
    agent: call.agent,
    changeOrigin: call.changeOrigin,
    selfHandleResponse: true,
    prependPath: true,
    xfwd: false,
    ws: true,
    // http-proxy takes its request options from `ssl`: the server name, as for `web` (see Route.servername).
    ssl: { servername: routeOf(call.target).servername },
  });
  server.on('proxyReqWs', (proxyReq: ClientRequest, _req, _socket, options: Tagged<object>) =>
    options[hooksKey]?.request(proxyReq),
  );
  // With a callback on every call, this only hears errors of a WebSocket client's own socket.
  server.on('error', (error: Error, req: IncomingMessage) => (req as Tagged<IncomingMessage>)[hooksKey]?.error(error));
  // A reset of the *incoming* socket: the client left. Our close handling reports it.
  server.on('econnreset', () => {});
  return server;
}
