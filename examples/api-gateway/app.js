// @ts-check
import { gatewayErrors, gatewayProxy } from '@gateway-errors/express';
import express from 'express';

/**
 * Where each problem type is documented: a problem's `type` is this followed by its error type
 * (`https://api.acme.example/problems/connection_refused`). RFC 9457 §3.1.1: a type is a URI a developer can open
 * to read what the problem means; with no base, `type` is `about:blank` and the status says it all.
 */
export const problemTypeBase = 'https://api.acme.example/problems/';

/**
 * An API gateway in front of three services, each under its own version prefix.
 * @param {{ usersUrl: string, ordersUrl: string, billingUrl: string, timeout?: number }} options
 *   the services' URLs; `timeout`: milliseconds to wait for a response head.
 */
export function createApp({ usersUrl, ordersUrl, billingUrl, timeout = 5000 }) {
  const app = express();
  const timeouts = { connect: 2000, response: timeout };

  // /v1/users/7 goes to the users service's /7: its failures (refused, reset, timeout, garbage) become 502 or 504.
  app.use('/v1/users', gatewayProxy({ target: usersUrl, timeouts }));

  // The orders service answers its own 5xx with an HTML page of its own: `intercept` answers them in the client's
  // format instead (problem+json here), with the service's status and its Retry-After, validated.
  app.use('/v1/orders', gatewayProxy({ target: ordersUrl, timeouts, intercept: true }));

  // After 3 failed attempts in a row the billing service's circuit opens for 30 s: clients then get 503 at once,
  // with Retry-After saying how long it stays open, instead of waiting on a service that is down.
  app.use(
    '/v1/billing',
    gatewayProxy({ target: billingUrl, timeouts, breaker: { consecutiveFailures: 3, openFor: 30_000, jitter: 0 } }),
  );

  // Content negotiation: problem+json for `Accept: application/json` (or application/problem+json), the HTML page
  // for a browser, text for curl. Every answer carries X-Request-Id, the id the service was sent too.
  app.use(gatewayErrors({ problemTypeBase, locals: { siteName: 'Acme API' } }));
  return app;
}
