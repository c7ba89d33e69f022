// @ts-check
import { GatewayTimeoutError, gatewayErrors } from '@gateway-errors/express';
import express from 'express';
import { createProxyMiddleware } from 'http-proxy-middleware';

/**
 * An Express app that keeps http-proxy-middleware for `/api`, and lets gatewayErrors() answer its failures.
 * @param {{ target: string, timeout?: number }} options
 *   `target`: where /api goes; `timeout`: milliseconds the upstream may stay silent.
 */
export function createApp({ target, timeout = 5000 }) {
  // hpm's error handler is given the request, not Express's `next`: remember each request's.
  /** @type {WeakMap<import('node:http').IncomingMessage, express.NextFunction>} */
  const nexts = new WeakMap();

  const proxy = createProxyMiddleware({
    target,
    on: {
      // With on.error set, hpm no longer answers errors itself (a 504 for a refused connection, as a bare text):
      // pass the error on, and gatewayErrors() answers it.
      error: (error, req, res) => {
        const next = nexts.get(req);
        if (next !== undefined) next(error);
        else res.destroy(); // not a request of this app's (a WebSocket handshake): nothing to answer with
      },
      // hpm's proxyTimeout destroys the request and reports a reset, which cannot be told from a real one (a 502).
      // Time the request here instead and fail it with what it is: a 504.
      proxyReq: (proxyReq) => {
        proxyReq.setTimeout(timeout, () =>
          proxyReq.destroy(new GatewayTimeoutError({ type: 'http_response_timeout' })),
        );
      },
      // An upstream that dies in the middle of the body: hpm would leave the client waiting for the rest for ever.
      // Cut the client's connection instead, so that it sees a truncated answer (its status was sent already).
      proxyRes: (proxyRes, _req, res) => {
        proxyRes.once('close', () => {
          if (!proxyRes.complete) res.destroy();
        });
      },
    },
  });

  const app = express();
  app.use('/api', (req, res, next) => {
    nexts.set(req, next);
    proxy(req, res, next);
  });

  // After the routes: hpm's errors become 502 or 504 (a page, problem+json or text), anything else goes on.
  app.use(gatewayErrors({ locals: { siteName: 'Acme' } }));
  return app;
}
