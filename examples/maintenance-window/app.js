// @ts-check
import { gatewayErrors, gatewayProxy, maintenance } from '@gateway-errors/express';
import express from 'express';

/**
 * A gateway with a maintenance window: visitors get the maintenance page (503, Retry-After until `until`), while
 * operators (a secret header, or an address of theirs) and the load balancer's status check get through.
 * @param {object} options
 * @param {string} options.target Where the site is.
 * @param {boolean} [options.enabled] Whether the window is open now (`gate.enabled` switches it later).
 * @param {Date | string} [options.until] When the window is expected to end: sent as Retry-After, and the page says it.
 * @param {string} options.bypassToken The secret value of the `X-Maintenance-Bypass` header (16 characters or more).
 * @param {string[]} [options.allowIps] Addresses that always get through (the socket's: X-Forwarded-For is not read).
 */
export function createGateway({ target, enabled = true, until, bypassToken, allowIps = [] }) {
  const site = gatewayProxy({ target });
  const planned = maintenance({
    enabled,
    until,
    allow: {
      header: { name: 'x-maintenance-bypass', value: bypassToken },
      ips: allowIps,
      // The load balancer's check: a window must not take the instance out of rotation (a drain does, below).
      paths: ['/status'],
    },
  });

  const app = express();
  app.use(planned);
  app.get('/status', (_req, res) => {
    res.type('text').send('ok\n');
  });
  app.use(site);
  app.use(gatewayErrors({ locals: { siteName: 'Acme' } }));
  return { app, gate: planned.gate, proxy: site.proxy };
}

/**
 * What SIGTERM does (a rolling deploy, often made during a window): no new connections, requests in flight finish
 * (up to `deadline` ms), new ones on open connections get 503 with `Connection: close`. Resolves with what the
 * drain did; nothing is left running, so the process then exits by itself.
 * @param {import('node:http').Server} server
 * @param {import('@gateway-errors/express').GatewayProxy} proxy
 * @param {number} [deadline]
 */
export function shutdown(server, proxy, deadline = 25_000) {
  server.close();
  return proxy.drain({ deadline });
}
