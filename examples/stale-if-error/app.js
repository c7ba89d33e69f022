// @ts-check
import { gatewayErrors, gatewayProxy } from '@gateway-errors/koa';
import Koa from 'koa';

/**
 * A Koa gateway in front of a site, answering a failed GET or HEAD with the last good copy of its answer.
 * @param {{ siteUrl: string, timeout?: number, log?: (line: string) => void }} options
 *   `siteUrl`: the site; `timeout`: milliseconds to wait for a response head; `log`: where failures go.
 */
export function createApp({ siteUrl, timeout = 5000, log = console.warn }) {
  const app = new Koa();

  // First: it answers what has no copy (a page never seen, or one that may not be kept) with the error page.
  app.use(gatewayErrors({ locals: { siteName: 'Acme News' } }));

  app.use(
    gatewayProxy({
      target: siteUrl,
      timeouts: { connect: 2000, response: timeout },
      // A copy answers while it is at most an hour old, unless the page says otherwise: with
      // `Cache-Control: stale-if-error=N`, for N seconds after its freshness ran out (RFC 5861 §4).
      staleIfError: { maxAge: 3600 },
      // The site's own 500, 502, 503 and 504 are failures too: a copy (or our page) answers them.
      intercept: true,
    }),
  );

  // A failure answered with our page is an `error` event of the app; one answered with a copy is not (it was answered).
  app.on('error', (error, ctx) => {
    log(`${ctx.method} ${ctx.originalUrl}: ${error.status} ${error.failure?.type ?? error.message}`);
  });
  return app;
}
