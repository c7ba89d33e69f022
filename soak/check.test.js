// The soak's checker must be able to fail: a gateway that gets a fault wrong, over real sockets, is caught.
import { Agent, createServer } from 'node:http';
import { largeBody, receivedLine } from '@gateway-errors/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { check } from './check.js';
import { send } from './load.js';
import { largeSize, markdownTable, routes } from './routes.js';

const route = (name) => routes.find((candidate) => candidate.route === name);

let server;
afterEach(async () => {
  server?.closeAllConnections();
  await new Promise((resolve) => (server ? server.close(resolve) : resolve()));
  server = undefined;
});

/** A "gateway" that answers every request with `handler`, and what one request to `name` sees and is judged. */
async function judge(handler, name, request = {}) {
  server = createServer(handler);
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const pick = { route: route(name), method: 'GET', accept: 'json', body: undefined, ...request };
  const agent = new Agent({ keepAlive: false });
  const seen = await send(server.address().port, agent, pick, request.bound ?? 5000);
  return check(pick.route, pick, seen);
}

/** A generated error as gatewayProxy() writes it. */
function problem(res, status, error, retryAfter = '5') {
  const body = JSON.stringify({
    type: 'about:blank',
    title: 'x',
    status,
    detail: 'x',
    errorType: error,
    requestId: 'r',
  });
  res.writeHead(status, {
    'Content-Type': 'application/problem+json; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
    'Cache-Control': 'no-store',
    'Proxy-Status': `gateway-errors; error=${error}`,
    ...(retryAfter === null ? {} : { 'Retry-After': retryAfter }),
    'X-Request-Id': 'r',
  });
  res.end(body);
}

describe('the soak checker', () => {
  it('accepts the right answers', async () => {
    expect(await judge((_req, res) => problem(res, 502, 'connection_terminated'), 'reset')).toEqual({
      label: '502 connection_terminated',
    });
    expect(await judge((_req, res) => problem(res, 503, 'destination_unavailable', '37'), 'dead')).toEqual({
      label: '503 destination_unavailable',
    });
    const body = Buffer.from('posted');
    const echo = (req, res) => {
      req.resume();
      req.on('end', () => res.end(receivedLine(body)));
    };
    expect(await judge(echo, 'fast', { method: 'POST', body })).toEqual({ label: '200' });
    expect(await judge((_req, res) => res.end(largeBody(largeSize)), 'large')).toEqual({ label: '200' });
    const cut = (_req, res) => {
      res.writeHead(200, { 'Content-Length': 100000 });
      res.write('partial body\n', () => res.destroy());
    };
    expect(await judge(cut, 'die')).toEqual({ label: '200 aborted' });
  });

  it('catches a cut body that ends cleanly (chunked, with its last chunk)', async () => {
    const clean = (_req, res) => {
      res.writeHead(200);
      res.end('partial body\n');
    };
    expect(await judge(clean, 'die')).toEqual({ wrong: 'a cut body ended cleanly (13 bytes): expected an abort' });
  });

  it('catches a generated error without Retry-After, with the wrong Proxy-Status, or in the wrong format', async () => {
    const withoutRetryAfter = (_req, res) => problem(res, 502, 'connection_terminated', null);
    expect((await judge(withoutRetryAfter, 'reset')).wrong).toBe('Retry-After undefined, expected 5-5');
    expect((await judge((_req, res) => problem(res, 502, 'connection_refused'), 'reset')).wrong).toMatch(
      /^Proxy-Status/,
    );
    expect(
      (await judge((_req, res) => problem(res, 502, 'connection_terminated'), 'reset', { accept: 'html' })).wrong,
    ).toMatch(/^Content-Type/);
    expect((await judge((_req, res) => problem(res, 500, 'connection_terminated'), 'reset')).wrong).toBe(
      'status 500, expected 502',
    );
  });

  it('catches an altered body, a passed answer with Proxy-Status, a hang and a refused connection', async () => {
    const body = Buffer.from('posted');
    expect((await judge((_req, res) => res.end('fast\n'), 'fast', { method: 'POST', body })).wrong).toMatch(/^body/);
    expect((await judge((_req, res) => res.end(largeBody(largeSize - 1)), 'large')).wrong).toMatch(/altered/);
    const stamped = (_req, res) => {
      res.writeHead(500, { 'Proxy-Status': 'gateway-errors; received-status=500' });
      res.end('upstream says 500\n');
    };
    expect((await judge(stamped, '500')).wrong).toMatch(/^Proxy-Status/);
    expect(await judge(() => {}, 'fast', { bound: 100 })).toEqual({ wrong: 'no answer within the bound: it hung' });
    const refused = (req) => req.socket.destroy();
    expect((await judge(refused, 'fast')).wrong).toMatch(/^no response: ECONNRESET/);
  });

  it('the table names every route once', () => {
    expect(new Set(routes.map((entry) => entry.path)).size).toBe(routes.length);
    expect(
      markdownTable()
        .split('\n')
        .filter((line) => line.startsWith('| `/')),
    ).toHaveLength(routes.length);
  });
});
