// @ts-check
import { GatewayTimeoutError, gatewayErrors } from '@gateway-errors/express';
import express from 'express';
import httpProxy from 'http-proxy';

/**
 * An Express app that keeps its own http-proxy instance for `/legacy`, and lets gatewayErrors() answer its failures.
 * @param {{ target: string, timeout?: number }} options
 *   `target`: where /legacy goes; `timeout`: milliseconds the upstream may stay silent.
 */
export function createApp({ target, timeout = 5000 }) {
  const proxy = httpProxy.createProxyServer({ target });

  // http-proxy's own proxyTimeout destroys the request and reports a reset, which cannot be told from a real one
  // (a 502). Time the request here instead and fail it with what it is: a 504.
  proxy.on('proxyReq', (proxyReq) => {
    proxyReq.setTimeout(timeout, () => proxyReq.destroy(new GatewayTimeoutError({ type: 'http_response_timeout' })));
  });

  // An upstream that dies in the middle of the body: http-proxy would leave the client waiting for the rest for
  // ever. Cut the client's connection instead, so that it sees a truncated answer (its status was sent already).
  proxy.on('proxyRes', (proxyRes, _req, res) => {
    proxyRes.once('close', () => {
      if (!proxyRes.complete) res.destroy();
    });
  });

  const app = express();

  // `next` as the error callback: http-proxy hands it every error (refused, reset, TLS, a malformed answer), and
  // without a callback or an `error` listener it would throw and crash the process.
  app.use('/legacy', (req, res, next) => proxy.web(req, res, {}, next));

  // After the routes: http-proxy's errors become 502 or 504 (a page, problem+json or text), anything else goes on.
  app.use(gatewayErrors({ locals: { siteName: 'Acme' } }));
  return { app, proxy };
}
