// @ts-check
import { BadGatewayError, gatewayErrors, gatewayProxy } from '@gateway-errors/express';
import express from 'express';

/**
 * An Express app with the three places an upstream can fail: a proxied path, a call in a route of your own, and
 * neither (a bug of yours, which is not a gateway failure and goes on to your own error handler).
 * @param {{ apiUrl: string, usersUrl: string, timeout?: number }} options
 *   `apiUrl`: where /api goes; `usersUrl`: the service /me calls; `timeout`: milliseconds to wait for an answer.
 */
export function createApp({ apiUrl, usersUrl, timeout = 5000 }) {
  const app = express();

  // /api/users/7 goes to `${apiUrl}/users/7`; connect and response have separate timeouts.
  app.use('/api', gatewayProxy({ target: apiUrl, timeouts: { connect: 2000, response: timeout } }));

  // A route of your own: a failing fetch is a gateway failure too. Express 5 gives the rejection to the error
  // handlers (Express 4: catch it and call next(error)).
  app.get('/me', async (_req, res) => {
    const answer = await fetch(`${usersUrl}/me`, { signal: AbortSignal.timeout(timeout) });
    // fetch resolves on a 5xx: say whose failure it is (the message is for logs, never shown to visitors).
    if (answer.status >= 500) throw new BadGatewayError({ message: `the users service answered ${answer.status}` });
    res.status(answer.status).json(await answer.json());
  });

  app.get('/bug', () => {
    throw new Error('a bug of ours');
  });

  // After the routes: answers every gateway failure (502, 503, 504 with the page, problem+json or text), and passes
  // every other error on, unchanged.
  app.use(gatewayErrors({ locals: { siteName: 'Acme' } }));

  app.use(ourErrors);
  return app;
}

/**
 * Your own error handler: what gatewayErrors() passed on arrives here, unchanged.
 * @param {unknown} error
 * @param {express.Request} _req
 * @param {express.Response} res
 * @param {express.NextFunction} _next
 */
function ourErrors(error, _req, res, _next) {
  console.error(error);
  res.status(500).type('text').send('Something broke on our side.\n');
}
