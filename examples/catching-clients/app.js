// @ts-check
import { BadGatewayError, gatewayErrors } from '@gateway-errors/express';
import axios from 'axios';
import express from 'express';
import got from 'got';
import { request } from 'undici';

/**
 * One call, four HTTP clients: each asks `url` for its body, as text, waiting at most `timeout` milliseconds for an answer. None
 * catches anything: a refused, reset or timed-out call rejects, and Express 5 hands the rejection to the error
 * handlers, where gatewayErrors() recognises it (Express 4: catch it and call next(error)).
 * @type {Record<string, (url: string, timeout: number) => Promise<string>>}
 */
export const clients = {
  async fetch(url, timeout) {
    const answer = await fetch(url, { signal: AbortSignal.timeout(timeout) });
    // fetch resolves on a 5xx: say whose failure it is (the message is for logs, never shown to visitors).
    if (answer.status >= 500) throw new BadGatewayError({ message: `${url} answered ${answer.status}` });
    return answer.text();
  },
  async undici(url, timeout) {
    const { statusCode, body } = await request(url, { headersTimeout: timeout });
    if (statusCode >= 500) throw new BadGatewayError({ message: `${url} answered ${statusCode}` });
    return body.text();
  },
  // axios and got reject on a 5xx themselves: gatewayErrors() passes its status and Retry-After on, validated.
  async axios(url, timeout) {
    return (await axios.get(url, { timeout, responseType: 'text' })).data;
  },
  // got retries a GET twice by default; off here, so that a failure answers at once (on, the last one counts).
  async got(url, timeout) {
    return got(url, { timeout: { request: timeout }, retry: { limit: 0 } }).text();
  },
};

/**
 * `/<client>/<service>/<path>` calls `<service>`'s `/<path>` with `<client>`, and answers what it said.
 * @param {{ services: Record<string, string>, timeout?: number }} options
 *   `services`: name to base URL; `timeout`: milliseconds to wait for an answer.
 */
export function createApp({ services, timeout = 5000 }) {
  const app = express();

  app.get('/:client/:service/{*path}', async (req, res, next) => {
    const call = Object.hasOwn(clients, req.params.client) ? clients[req.params.client] : undefined;
    const base = Object.hasOwn(services, req.params.service) ? services[req.params.service] : undefined;
    if (call === undefined || base === undefined) return next(); // Express's own 404
    const path = [req.params.path ?? []].flat().join('/');
    res.type('text').send(await call(`${base}/${path}`, timeout));
  });

  // After the routes: the failures above become 502 or 504 (a page, problem+json or text), anything else goes on.
  app.use(gatewayErrors({ locals: { siteName: 'Acme' } }));
  return app;
}
