import { readFileSync } from 'node:fs';
import { createServer, type RequestListener, type Server } from 'node:http';
import { type AddressInfo, createServer as createTcpServer } from 'node:net';
import { afterEach } from 'vitest';

/** Something a test starts and must stop: an upstream of @gateway-errors/testing, a proxy, a gateway. */
export interface Closable {
  close(): unknown;
}

/** The servers and upstreams of a test file, stopped after each test. */
export interface TestServers {
  /**
   * Serves `handler` (a request listener, an Express app, Koa's `app.callback()`) or a server on 127.0.0.1, port 0
   * (never `localhost`: it can resolve to ::1), and resolves with its base URL, `http://127.0.0.1:<port>`. After the
   * test its open connections are cut and it is closed.
   */
  serve(handler: RequestListener | Server): Promise<string>;
  /** Stops `started` (an upstream, a proxy) after the test; resolves with it. */
  stopAfter<Started extends Closable>(started: Started | Promise<Started>): Promise<Started>;
}

/**
 * The one setup of a test's servers: call it at the top of a file (or of a `describe`), then `serve()` and
 * `stopAfter()` in the tests. Everything is stopped after each test, servers before the upstreams they proxy to.
 * @example
 * const servers = testServers();
 * it('...', async () => {
 *   const upstream = await servers.stopAfter(refusingUpstream());
 *   const url = await servers.serve(app);
 * });
 */
export function testServers(): TestServers {
  const servers: Server[] = [];
  const others: Closable[] = [];
  afterEach(async () => {
    await Promise.all(
      servers.splice(0).map((server) => {
        server.closeAllConnections();
        return new Promise((resolve) => server.close(resolve));
      }),
    );
    await Promise.all(others.splice(0).map((started) => started.close()));
  });
  return {
    async serve(handler) {
      const server = typeof handler === 'function' ? createServer(handler) : handler;
      servers.push(server);
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    },
    async stopAfter(started) {
      const value = await started;
      others.push(value);
      return value;
    },
  };
}

/**
 * Ports below the kernel's ephemeral range: no port-0 listener and no outgoing connection is ever given one, so the
 * port of a server a test stopped is still free when the test starts it again on the same port (a port from the
 * ephemeral range was taken by another test's server in between, once: "Address already in use").
 */
function quietPorts(): [low: number, high: number] {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    if (Number.isInteger(low) && low > 11000) return [low - 10000, low - 1];
  } catch {
    // Not Linux: the IANA ephemeral range starts at 49152.
  }
  return [30000, 39999];
}

/**
 * A loopback port below the ephemeral range that nothing listens on now: for a server the test stops and starts
 * again on the same port (a Redis, an upstream that dies and comes back).
 */
export async function quietPort(): Promise<number> {
  const [low, high] = quietPorts();
  for (;;) {
    const port = low + Math.floor(Math.random() * (high - low + 1));
    const free = await new Promise<boolean>((resolve) => {
      const server = createTcpServer();
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
    });
    if (free) return port;
  }
}
