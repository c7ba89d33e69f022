import type { Agent, ClientRequest, IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { Readable } from 'node:stream';
import { ProxyServer } from 'http-proxy-3';

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

/** One attempt. */
export interface EngineCall {
  readonly target: URL;
  readonly agent: Agent;
  /** The request body, when it was buffered (to allow a retry, or taken from a body parser); else `req` is streamed. */
  readonly body: Buffer | undefined;
  /** Rewrite Host to the target's. */
  readonly changeOrigin: boolean;
}

/** What happens to an attempt. Exactly one of `response` or `error` ends it, unless the client leaves first. */
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

/**
 * Creates the engine: one http-proxy-3 server, whose events are routed to the hooks of the request they concern.
 * Every path reports through a listener we own: http-proxy throws from `emit('error')` when nobody listens, which
 * would crash the process on the first refused connection.
 */
export function createEngine(): Engine {
  const server = new ProxyServer({ selfHandleResponse: true, prependPath: true, xfwd: false, ws: true });
  const hooksOf = new WeakMap<IncomingMessage, EngineHooks>();
  server.on('proxyReq', (proxyReq: ClientRequest, req: IncomingMessage) => hooksOf.get(req)?.request(proxyReq));
  server.on('proxyReqWs', (proxyReq: ClientRequest, req: IncomingMessage) => hooksOf.get(req)?.request(proxyReq));
  server.on('proxyRes', (proxyRes: IncomingMessage, req: IncomingMessage) => hooksOf.get(req)?.response(proxyRes));
  // With a callback on every call, this only hears errors of a WebSocket client's own socket.
  server.on('error', (error: Error, req: IncomingMessage) => hooksOf.get(req)?.error(error));
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

  const optionsOf = (call: EngineCall) => ({
    target: call.target,
    agent: call.agent,
    changeOrigin: call.changeOrigin,
    buffer: call.body === undefined ? undefined : Readable.from([call.body]),
  });

  return {
    web(req, res, call, hooks) {
      hooksOf.set(req, hooks);
      server.web(req, res, optionsOf(call), (error: Error) => hooks.error(error));
    },
    ws(req, socket, head, call, hooks) {
      hooksOf.set(req, hooks);
      server.ws(req, socket, head, optionsOf(call), (error: Error) => hooks.error(error));
    },
  };
}
