import { createServer, type IncomingMessage, request, type ServerResponse } from 'node:http';
import { gzipSync } from 'node:zlib';
import { memoryStore } from '@gateway-errors/core';
import { dieMidBodyUpstream, httpUpstream, refusingUpstream, type Upstream } from '@gateway-errors/testing';
import { describe, expect, it } from 'vitest';
import { testServers } from '../../../test/support/servers.js';
import type { CopySource } from '../src/resilience/copies.js';
import {
  createRobotsKeeper,
  type RobotsKeeper,
  type RobotsOptions,
  resolveRobotsOptions,
} from '../src/resilience/robots.js';

const realRobots = 'User-agent: *\nDisallow: /private/\nSitemap: https://example.com/sitemap.xml\n';

function fakeReq(method: string, url: string, originalUrl?: string) {
  return { method, url, originalUrl, headers: { host: 'example.com' } } as unknown as IncomingMessage;
}

describe('robots.txt: options and matching', () => {
  it('has the documented defaults', () => {
    expect(resolveRobotsOptions()).toEqual({
      fallback: 'User-agent: *\nAllow: /\n',
      cacheControl: 'max-age=300',
      maxBodyBytes: 512000,
      maxTotalBytes: 4194304,
    });
  });

  it.each([
    [{ fallback: 42 }, /robots\.fallback must be the text of a robots\.txt/],
    [
      { cacheControl: 'max-age=300\r\nSet-Cookie: x' },
      /robots\.cacheControl must be a Cache-Control value, such as "max-age=300"/,
    ],
    [{ maxBodyBytes: 0 }, /robots\.maxBodyBytes must be a whole number from 1 to 16777216; got 0/],
    [{ maxTotalBytes: 1.5 }, /robots\.maxTotalBytes must be a whole number from 1/],
    [
      { maxTotalBytes: 1000, maxBodyBytes: 2000 },
      /robots\.maxTotalBytes \(1000\) must be at least robots\.maxBodyBytes/,
    ],
    [{ fallbak: '' }, /robots has no option "fallbak"\. Did you mean "fallback"\?/],
  ])('rejects %o', (options, message) => {
    expect(() => createRobotsKeeper(options as object)).toThrow(message);
  });

  it.each([
    ['GET', '/robots.txt', undefined, true],
    ['HEAD', '/robots.txt', undefined, true],
    ['GET', '/robots.txt?v=2', undefined, true],
    ['POST', '/robots.txt', undefined, false],
    ['GET', '/robots.txt.bak', undefined, false],
    ['GET', '/docs/robots.txt', undefined, false],
    ['GET', '/robots.txt', '/api/robots.txt', false], // Express mounted the proxy on /api: not the site's robots.txt
  ])('%s %s (originalUrl %s) matches: %s', (method, url, originalUrl, expected) => {
    expect(createRobotsKeeper().matches(fakeReq(method, url, originalUrl))).toBe(expected);
  });

  it.each([
    [500, true],
    [502, true],
    [503, true],
    [429, true],
    [404, false],
    [403, false],
    [200, false],
  ])('replaces an upstream %i: %s', (status, expected) => {
    expect(createRobotsKeeper().replaces(status)).toBe(expected);
  });
});

describe('robots.txt over real sockets', () => {
  const servers = testServers();

  async function start(make: () => Promise<Upstream>): Promise<Upstream> {
    return servers.stopAfter(make());
  }

  /**
   * A minimal proxy with the keeper wired in as the core proxy will: observe after piping a response, replace an
   * upstream 5xx/429 for robots.txt, stand in when the attempt fails before a response head.
   */
  async function gateway(robots: RobotsKeeper, target: () => string) {
    // The client's Host goes upstream unchanged, as without changeOrigin; the targets are replicas of one site.
    const sourceOf = (req: IncomingMessage): CopySource => ({ upstream: 'site', host: req.headers.host ?? '' });
    const standIn = async (req: IncomingMessage, res: ServerResponse) =>
      (await robots.standIn(req, sourceOf(req))).write(req, res);
    const server = createServer((req: IncomingMessage, res: ServerResponse) => {
      const upstreamReq = request(`${target()}${req.url}`, { method: req.method, headers: req.headers, agent: false });
      upstreamReq.on('response', (upstreamRes) => {
        const status = upstreamRes.statusCode ?? 502;
        if (robots.matches(req) && robots.replaces(status)) {
          upstreamRes.resume();
          void standIn(req, res);
          return;
        }
        res.writeHead(status, upstreamRes.headers);
        upstreamRes.pipe(res);
        robots.observe(req, upstreamRes, sourceOf(req));
        upstreamRes.on('error', () => res.destroy());
        upstreamRes.on('aborted', () => res.destroy());
      });
      upstreamReq.on('error', async () => {
        if (robots.matches(req) && (await standIn(req, res))) return;
        if (res.headersSent) res.destroy();
        else res.writeHead(502).end('bad gateway\n');
      });
      req.pipe(upstreamReq);
    });
    return servers.serve(server);
  }

  function get(url: string, options: { method?: string; host?: string } = {}) {
    return new Promise<{ status: number; headers: IncomingMessage['headers']; body: string }>((resolve) => {
      const headers = options.host === undefined ? {} : { host: options.host };
      request(url, { method: options.method ?? 'GET', agent: false, headers }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        res.on('error', () => resolve({ status: -1, headers: res.headers, body }));
      })
        .on('error', () => resolve({ status: -1, headers: {}, body: '' }))
        .end();
    });
  }

  /** An upstream that serves `robotsBody` as text/plain at /robots.txt, with optional extra headers. */
  function robotsUpstream(body: string | Buffer = realRobots, headers: Record<string, string> = {}) {
    return httpUpstream((req, res) => {
      req.resume();
      res.writeHead(200, {
        'content-type': 'text/plain; charset=utf-8',
        'content-length': Buffer.byteLength(body),
        ...headers,
      });
      res.end(req.method === 'HEAD' ? undefined : body);
    });
  }

  it('passes a good robots.txt through, keeps it, and serves it with 200 when the upstream is gone', async () => {
    const good = await start(() => robotsUpstream());
    const dead = await start(refusingUpstream);
    let target = good.url;
    const robots = createRobotsKeeper();
    const url = await gateway(robots, () => target);
    const live = await get(`${url}/robots.txt`);
    expect(live).toMatchObject({ status: 200, body: realRobots });
    target = dead.url;
    const standIn = await get(`${url}/robots.txt`);
    expect(standIn.status).toBe(200);
    expect(standIn.body).toBe(realRobots);
    expect(standIn.headers['content-type']).toBe('text/plain; charset=utf-8');
    expect(standIn.headers['content-length']).toBe(String(Buffer.byteLength(realRobots)));
    expect(standIn.headers['cache-control']).toBe('max-age=300');
    // Other paths still fail as they should.
    expect((await get(`${url}/page`)).status).toBe(502);
  });

  it('serves the fallback (allow everything) when no good copy was ever seen', async () => {
    const dead = await start(refusingUpstream);
    const url = await gateway(createRobotsKeeper(), () => dead.url);
    const res = await get(`${url}/robots.txt`);
    expect(res.status).toBe(200);
    expect(res.body).toBe('User-agent: *\nAllow: /\n');
    expect(res.headers['cache-control']).toBe('max-age=300');
  });

  it('serves a configured fallback with a configured Cache-Control', async () => {
    const dead = await start(refusingUpstream);
    const options: RobotsOptions = {
      fallback: 'User-agent: *\nDisallow: /admin/\n',
      cacheControl: 'public, max-age=60',
    };
    const url = await gateway(createRobotsKeeper(options), () => dead.url);
    const res = await get(`${url}/robots.txt`);
    expect(res).toMatchObject({ status: 200, body: options.fallback });
    expect(res.headers['cache-control']).toBe('public, max-age=60');
  });

  it('replaces the upstream’s own 503 (and 429) for robots.txt, but passes a 404 through', async () => {
    let status = 503;
    const upstream = await start(() =>
      httpUpstream((req, res) => {
        req.resume();
        res.writeHead(status, { 'retry-after': '120' }).end('down\n');
      }),
    );
    const url = await gateway(createRobotsKeeper(), () => upstream.url);
    const replaced = await get(`${url}/robots.txt`);
    expect(replaced.status).toBe(200);
    expect(replaced.body).toBe('User-agent: *\nAllow: /\n');
    expect(replaced.headers['retry-after']).toBeUndefined();
    status = 429;
    expect((await get(`${url}/robots.txt`)).status).toBe(200);
    status = 404; // "no robots.txt": crawlers read it as allow-all already
    expect((await get(`${url}/robots.txt`)).status).toBe(404);
  });

  it('answers HEAD with the headers and no body', async () => {
    const dead = await start(refusingUpstream);
    const url = await gateway(createRobotsKeeper(), () => dead.url);
    const res = await get(`${url}/robots.txt`, { method: 'HEAD' });
    expect(res.status).toBe(200);
    expect(res.body).toBe('');
    expect(res.headers['content-length']).toBe(String(Buffer.byteLength('User-agent: *\nAllow: /\n')));
  });

  it('keeps a gzip-encoded copy decoded, and serves it without Content-Encoding', async () => {
    const good = await start(() => robotsUpstream(gzipSync(realRobots), { 'content-encoding': 'gzip' }));
    const dead = await start(refusingUpstream);
    let target = good.url;
    const url = await gateway(createRobotsKeeper(), () => target);
    await get(`${url}/robots.txt`);
    target = dead.url;
    const res = await get(`${url}/robots.txt`);
    expect(res.status).toBe(200);
    expect(res.headers['content-encoding']).toBeUndefined();
    expect(res.body).toBe(realRobots);
  });

  it.each([
    ['an HTML page', () => robotsUpstream('<html>login</html>', { 'content-type': 'text/html' })],
    ['a body over maxBytes', () => robotsUpstream('x'.repeat(2000))],
    [
      'a body over maxBytes once decoded',
      () => robotsUpstream(gzipSync('x'.repeat(5000)), { 'content-encoding': 'gzip' }),
    ],
    ['an unknown encoding', () => robotsUpstream('whatever', { 'content-encoding': 'zstd' })],
    ['a body cut short', () => dieMidBodyUpstream({ declaredLength: 500, headers: { 'Content-Type': 'text/plain' } })],
    ['a chunked body cut short', () => dieMidBodyUpstream({ framing: 'chunked' })],
  ])('does not keep %s', async (_name, make) => {
    const upstream = await start(make);
    const dead = await start(refusingUpstream);
    let target = upstream.url;
    const robots = createRobotsKeeper({ maxBodyBytes: 1000 });
    const url = await gateway(robots, () => target);
    await get(`${url}/robots.txt`);
    target = dead.url;
    const res = await get(`${url}/robots.txt`);
    expect(res.status).toBe(200);
    expect(res.body).toBe('User-agent: *\nAllow: /\n');
  });

  it('keeps one copy per Host; past maxTotalBytes the copy least recently kept or served goes, never a newcomer', async () => {
    const good = await start(() =>
      httpUpstream((req, res) => {
        req.resume();
        res.writeHead(200, { 'content-type': 'text/plain' }).end(`# robots of ${req.headers.host}\n`);
      }),
    );
    const dead = await start(refusingUpstream);
    let target = good.url;
    let now = 1000;
    // Room for two copies of these (each about 300 bytes stored), not three.
    const robots = createRobotsKeeper({ maxBodyBytes: 100, maxTotalBytes: 700 }, { now: () => now });
    const url = await gateway(robots, () => target);
    const robotsOf = async (host: string) => (await get(`${url}/robots.txt`, { host })).body;
    await robotsOf('a.example');
    now += 2000;
    await robotsOf('b.example');
    now += 2000;
    target = dead.url;
    // Served during a failure: used, so b is now the least recently used.
    expect(await robotsOf('a.example')).toBe('# robots of a.example\n');
    target = good.url;
    // A newcomer always has a place: the copy least recently kept or served (b) makes room.
    expect(await robotsOf('c.example')).toBe('# robots of c.example\n');
    target = dead.url;
    expect(await robotsOf('a.example')).toBe('# robots of a.example\n');
    expect(await robotsOf('B.EXAMPLE')).toBe('User-agent: *\nAllow: /\n');
    expect(await robotsOf('c.example')).toBe('# robots of c.example\n');
  });

  it('replaces a kept copy with a newer good answer', async () => {
    let version = 1;
    const good = await start(() =>
      httpUpstream((req, res) => {
        req.resume();
        res.writeHead(200, { 'content-type': 'text/plain' }).end(`# ${req.headers.host} v${version}\n`);
      }),
    );
    const dead = await start(refusingUpstream);
    let target = good.url;
    let now = 0;
    const robots = createRobotsKeeper({}, { now: () => now });
    const url = await gateway(robots, () => target);
    await get(`${url}/robots.txt`, { host: 'www.example' });
    // A hot robots.txt is kept again at most about once a second.
    now += 1000;
    version = 2;
    await get(`${url}/robots.txt`, { host: 'www.example' });
    target = dead.url;
    // Kept once the upstream's response ended, before the client had all of it.
    expect((await get(`${url}/robots.txt`, { host: 'www.example' })).body).toBe('# www.example v2\n');
    expect((await get(`${url}/robots.txt`, { host: 'junk.example' })).body).toBe('User-agent: *\nAllow: /\n');
  });

  it('shares copies through a store: another keeper serves a copy it never saw itself', async () => {
    const good = await start(() => robotsUpstream());
    const dead = await start(refusingUpstream);
    const store = memoryStore();
    const seen = await gateway(createRobotsKeeper({}, { store }), () => good.url);
    expect((await get(`${seen}/robots.txt`, { host: 'www.example' })).body).toBe(realRobots);
    const other = createRobotsKeeper({}, { store });
    const otherUrl = await gateway(other, () => dead.url);
    const standIn = await get(`${otherUrl}/robots.txt`, { host: 'www.example' });
    expect(standIn).toMatchObject({ status: 200, body: realRobots });
  });

  it('does not write when the head was already sent', async () => {
    const stale = await createRobotsKeeper().standIn(fakeReq('GET', '/robots.txt'), { upstream: 'site', host: '' });
    let answered: boolean | undefined;
    const server = createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('partial');
      answered = stale.write(req, res);
      res.end();
    });
    const res = await get(`${await servers.serve(server)}/robots.txt`);
    expect(answered).toBe(false);
    expect(res.body).toBe('partial');
  });

  it('drops a validator or an encoding an earlier handler set', async () => {
    const fallback = await createRobotsKeeper().standIn(fakeReq('GET', '/robots.txt'), { upstream: 'site', host: '' });
    const server = createServer((req, res) => {
      res.setHeader('etag', '"v1"');
      res.setHeader('content-encoding', 'gzip');
      res.setHeader('x-frame-options', 'DENY');
      fallback.write(req, res);
    });
    const res = await get(`${await servers.serve(server)}/robots.txt`);
    expect(res.status).toBe(200);
    expect(res.headers.etag).toBeUndefined();
    expect(res.headers['content-encoding']).toBeUndefined();
    expect(res.headers['x-frame-options']).toBe('DENY');
    expect(res.body).toBe('User-agent: *\nAllow: /\n');
  });
});
