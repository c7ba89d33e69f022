import type { Agent, ClientRequest, IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { Readable } from 'node:stream';
import { ProxyServer, type ServerOptions } from 'http-proxy-3';

/**
 * The small interface our proxy needs from a proxy engine. The engine is http-proxy-3 (the maintained,
 * API-compatible rewrite of http-proxy); nothing outside this file knows that.
 */
export interface Engine {
  /** Sends one attempt of `req` to `call.target`, reporting through `hooks`. The response is ours to write. */
  web(req: IncomingMessage, res: ServerResponse, call: EngineCall, hooks: EngineHooks): void;
  /**
   * Proxies a WebSocket (upgrade) request. The engine writes the upstream's 101 (or its non-101 answer) to `socket`
   * and pipes the two sockets; `hooks.error` gets any failure before or after the upgrade.
   */
  ws(req: IncomingMessage, socket: Duplex, head: Buffer, call: EngineCall, hooks: EngineHooks): void;
}

/**
 * One attempt. `target`, `agent` and `changeOrigin` describe an upstream: calls with the same `target` object must
 * use the same agent and `changeOrigin` (the engine keeps one proxy server per target).
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
  /**
   * The upstream request exists: time it, and destroy it to abort. For `web` it already has a socket; for `ws` it
   * may not yet.
   */
  request(proxyReq: ClientRequest): void;
  /** The upstream's response head arrived (`web` only; `ws` hooks listen on the request). */
  response(proxyRes: IncomingMessage): void;
  /** The attempt failed, or (for `ws`) the client's socket or the tunnel did. */
  error(error: Error): void;
}

/** Where the hooks of an attempt travel: on the per-call options (http-proxy hands them to `proxyReq`), then on the
 * upstream request (which its response points back to), and for a WebSocket on the request. */
const hooksKey: unique symbol = Symbol('gateway-errors.engineHooks');
type Tagged<T> = T & { [hooksKey]?: EngineHooks };

/**
 * Creates the engine: one http-proxy-3 server per target (its options fixed at creation, so that a request merges
 * one small object into them), whose events are routed to the hooks of the attempt they concern. Routing follows
 * the attempt, not the incoming request: a late event of a failed attempt (its request destroyed by our timer) must
 * not reach the next attempt of the same request. Every path reports through a listener or callback we own:
 * http-proxy throws from `emit('error')` when nobody listens, which would crash the process on the first refused
 * connection.
 */
export function createEngine(): Engine {
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
    web(req, res, call, hooks) {
      const options: Tagged<ServerOptions> = { [hooksKey]: hooks };
      if (call.body !== undefined) options.buffer = Readable.from([call.body]);
      serverFor(call).web(req, res, options, hooks.error);
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
  });
  const request = (proxyReq: Tagged<ClientRequest>, options: Tagged<object>) => {
    const hooks = options[hooksKey];
    proxyReq[hooksKey] = hooks;
    hooks?.request(proxyReq);
  };
  server.on('proxyReq', (proxyReq, _req, _res, options) => request(proxyReq, options));
  server.on('proxyReqWs', (proxyReq, _req, _socket, options) => request(proxyReq, options));
  // Node links a client response to its request (`res.req`), which carries the attempt's hooks.
  server.on('proxyRes', (proxyRes: IncomingMessage & { req?: Tagged<ClientRequest> }) =>
    proxyRes.req?.[hooksKey]?.response(proxyRes),
  );
  // With a callback on every call, this only hears errors of a WebSocket client's own socket.
  server.on('error', (error: Error, req: IncomingMessage) => (req as Tagged<IncomingMessage>)[hooksKey]?.error(error));
  // A reset of the *incoming* socket: the client left. Our close handling reports it.
  server.on('econnreset', () => {});

  // http-proxy's `deleteLength` pass sets `Content-Length: 0` on a DELETE or OPTIONS without one, and deletes
  // Transfer-Encoding: a chunked DELETE body would then follow a zero-length request on the upstream connection and
  // be read as the next request (smuggling). We frame bodies ourselves (see prepareRequestHeaders), so the framing
  // headers are put back as they were right after that pass. Both passes run synchronously, one request at a time.
  let transferEncoding: string | undefined;
  let contentLength: string | undefined;
  server.before('web', 'deleteLength', (req: IncomingMessage) => {
    transferEncoding = req.headers['transfer-encoding'];
    contentLength = req.headers['content-length'];
  });
  server.before('web', 'timeout', (req: IncomingMessage) => {
    if (transferEncoding !== undefined) req.headers['transfer-encoding'] = transferEncoding;
    if (contentLength === undefined) delete req.headers['content-length'];
  });
  return server;
}
