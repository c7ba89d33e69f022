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
  /** Proxies a WebSocket (upgrade) request; `onError` gets any failure, before or after the upgrade. */
  ws(req: IncomingMessage, socket: Duplex, head: Buffer, call: EngineCall, onError: (error: Error) => void): void;
}

/** One attempt. */
export interface EngineCall {
  readonly target: URL;
  readonly agent: Agent | undefined;
  /** The request body, when it was buffered to allow a retry; otherwise the request itself is streamed. */
  readonly body: Buffer | undefined;
  /** Rewrite Host to the target's. */
  readonly changeOrigin: boolean;
}

/** What happens to an attempt. Exactly one of `response` or `error` ends it, unless the client leaves first. */
export interface EngineHooks {
  /** The upstream request exists and has a socket: time it, and destroy it to abort. */
  request(proxyReq: ClientRequest): void;
  /** The upstream's response head arrived. */
  response(proxyRes: IncomingMessage): void;
  /** The attempt failed before a response head. */
  error(error: Error): void;
}

/** Creates the engine: one http-proxy-3 server, whose events are routed to the hooks of the request they concern. */
export function createEngine(): Engine {
  const server = new ProxyServer({ selfHandleResponse: true, prependPath: true, xfwd: false, ws: true });
  const hooksOf = new WeakMap<IncomingMessage, EngineHooks>();
  server.on('proxyReq', (proxyReq: ClientRequest, req: IncomingMessage) => hooksOf.get(req)?.request(proxyReq));
  server.on('proxyRes', (proxyRes: IncomingMessage, req: IncomingMessage) => hooksOf.get(req)?.response(proxyRes));
  // http-proxy throws from `emit('error')` when nobody listens; every path reports through our hooks instead.
  server.on('error', (error: Error, req: IncomingMessage) => hooksOf.get(req)?.error(error));
  // A reset of the *incoming* socket: the client left. The proxy's own close handling reports it.
  server.on('econnreset', () => {});

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
    ws(req, socket, head, call, onError) {
      server.ws(req, socket, head, optionsOf(call), (error: Error) => onError(error));
    },
  };
}
