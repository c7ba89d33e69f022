// @ts-check
import { gatewayErrors, gatewayProxy, logTo } from '@gateway-errors/express';
import express from 'express';
import pino from 'pino';

/**
 * A gateway in front of several backends that serve the same site.
 * @param {object} options
 * @param {string[]} options.targets The backends' URLs: requests go round-robin to the healthy ones.
 * @param {{ interval?: number, timeout?: number }} [options.healthCheck] How often each backend's `/health` is asked
 *   (milliseconds between rounds), and how long it may take to answer.
 * @param {import('pino').Logger} [options.logger] Where the proxy's events are logged (logTo() takes pino, or anything
 *   with its calling convention).
 */
export function createGateway({ targets, healthCheck, logger = pino() }) {
  const site = gatewayProxy({
    target: targets,
    // Active health checks: every 2 s (after the previous round ended), GET /health on each backend; 2xx or 3xx within
    // 1 s is healthy. A backend that fails is out of rotation until a check passes again.
    healthCheck: { path: '/health', interval: 2000, timeout: 1000, ...healthCheck },
    // Passive health (on by default with several targets): 3 failed requests in a row take a backend out for 10 s,
    // between two checks.
    passive: { failures: 3, downFor: 10_000 },
    // A request that meets a dead backend is sent to the next healthy one: a refused connection never reached it,
    // so this is safe for any method. One retry is the default; with three backends, allow two.
    retry: { retries: 2 },
  });

  // One line per failure, retry, health and circuit breaker change (logTo's defaults: answers are not logged).
  logTo(site.proxy, logger);

  const app = express();
  app.use(site);
  app.use(gatewayErrors({ locals: { siteName: 'Failover example' } }));
  return { app, proxy: site.proxy };
}
