import { once } from 'node:events';
import { createServer, type IncomingMessage, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createMaintenance,
  type MaintenanceChange,
  type MaintenanceGate,
  type MaintenanceOptions,
} from '../src/resilience/maintenance.js';
import { createErrorResponder } from '../src/response/responder.js';
import { memoryStore } from '../src/store/memory-store.js';

const secret = 'correct-horse-battery-staple';
const NOW = Date.parse('2030-01-01T05:00:00Z');

/** The parts of a request the gate reads. */
function req(
  url: string,
  options: { ip?: string; headers?: Record<string, string | string[]>; originalUrl?: string; method?: string } = {},
) {
  return {
    method: options.method ?? 'GET',
    url,
    originalUrl: options.originalUrl,
    headers: options.headers ?? {},
    socket: { remoteAddress: options.ip ?? '203.0.113.9' },
  } as unknown as IncomingMessage;
}

const gate = (options: MaintenanceOptions) => createMaintenance(options, () => NOW);

describe('maintenance: the decision', () => {
  it('answers every request with 503 proxy_internal_response when on', () => {
    const failure = gate({}).check(req('/'));
    expect(failure).toMatchObject({ type: 'proxy_internal_response', status: 503, phase: 'gateway' });
    expect(failure?.mayHaveReachedUpstream).toBe(false);
    expect(failure?.retryAfter).toBeUndefined();
  });

  it('lets everything through when off', () => {
    expect(gate({ enabled: false }).check(req('/'))).toBeUndefined();
  });

  it.each([
    ['a Date', new Date('2030-01-01T06:00:00Z'), 3600],
    ['an ISO string', '2030-01-01T05:30:00Z', 1800],
    ['an HTTP-date', 'Tue, 01 Jan 2030 05:00:01 GMT', 1],
    ['epoch milliseconds', NOW + 1500, 2],
  ])('sends Retry-After until `until` given as %s', (_name, until, seconds) => {
    expect(gate({ until }).check(req('/'))?.retryAfter).toBe(seconds);
  });

  it('falls back to the short hint once the window has run over', () => {
    expect(gate({ until: NOW - 1 }).check(req('/'))?.retryAfter).toBeUndefined();
    expect(gate({ until: NOW }).check(req('/'))?.retryAfter).toBeUndefined();
  });

  it('asks an `enabled` function on every request', () => {
    let on = false;
    const maintenance = gate({ enabled: () => on });
    expect(maintenance.check(req('/'))).toBeUndefined();
    on = true;
    expect(maintenance.check(req('/'))?.status).toBe(503);
    expect(maintenance.enabled).toBe(true);
  });

  it('switches at run time through `enabled` and `until`', () => {
    const maintenance = gate({ enabled: false });
    maintenance.enabled = true;
    maintenance.until = '2030-01-01T05:10:00Z';
    expect(maintenance.check(req('/'))?.retryAfter).toBe(600);
    expect(maintenance.until?.toISOString()).toBe('2030-01-01T05:10:00.000Z');
    maintenance.until = undefined;
    expect(maintenance.check(req('/'))?.retryAfter).toBeUndefined();
    maintenance.enabled = false;
    expect(maintenance.check(req('/'))).toBeUndefined();
    expect(() => {
      maintenance.until = 'soon';
    }).toThrow(/until must be a Date, a date string such as "2030-01-01T06:00:00Z", or epoch milliseconds; got "soon"/);
  });
});

describe('maintenance: the allow-list', () => {
  it('lets listed paths and everything below them through, nothing else', () => {
    const maintenance = gate({ allow: { paths: ['/status', '/admin/', /^\/api\/v\d+\/health$/] } });
    for (const url of ['/status', '/status/', '/status/db?verbose=1', '/admin', '/admin/users', '/api/v2/health']) {
      expect(maintenance.check(req(url)), url).toBeUndefined();
    }
    for (const url of ['/', '/statuses', '/stat', '/api/v2/health/x', '/x/status']) {
      expect(maintenance.check(req(url))?.status, url).toBe(503);
    }
  });

  it('never lets a path through that the upstream would read differently', () => {
    const maintenance = gate({ allow: { paths: ['/status'] } });
    for (const url of [
      '/status/../admin',
      '/status/./x/../../admin',
      '/status/%2e%2e/admin',
      '/status%2f..%2fadmin',
      '/status\\..\\admin',
    ]) {
      expect(maintenance.check(req(url))?.status, url).toBe(503);
    }
  });

  it('matches the full path when a framework stripped a mount path (originalUrl)', () => {
    const maintenance = gate({ allow: { paths: ['/app/status'] } });
    expect(maintenance.check(req('/status', { originalUrl: '/app/status' }))).toBeUndefined();
    expect(maintenance.check(req('/app/status', { originalUrl: '/status' }))?.status).toBe(503);
  });

  it('lets listed client addresses through, matching IPv4-mapped IPv6 and any IPv6 spelling', () => {
    const maintenance = gate({ allow: { ips: ['127.0.0.1', '::1', '2001:DB8:0:0::7'] } });
    for (const ip of ['127.0.0.1', '::ffff:127.0.0.1', '::1', '0:0:0:0:0:0:0:1', '2001:db8::7']) {
      expect(maintenance.check(req('/', { ip })), ip).toBeUndefined();
    }
    for (const ip of ['127.0.0.2', '::ffff:127.0.0.2', '::2', '10.0.0.1']) {
      expect(maintenance.check(req('/', { ip }))?.status, ip).toBe(503);
    }
    expect(maintenance.check({ url: '/', headers: {}, socket: {} } as unknown as IncomingMessage)?.status).toBe(503);
  });

  it('lets a request with the secret header through, and nothing close to it', () => {
    const maintenance = gate({ allow: { header: { name: 'X-Maintenance-Bypass', value: secret } } });
    expect(maintenance.check(req('/', { headers: { 'x-maintenance-bypass': secret } }))).toBeUndefined();
    for (const value of ['', 'correct-horse', `${secret} `, secret.toUpperCase()]) {
      expect(maintenance.check(req('/', { headers: { 'x-maintenance-bypass': value } }))?.status, value).toBe(503);
    }
    expect(maintenance.check(req('/', { headers: { 'x-maintenance-bypass': [secret, secret] } }))?.status).toBe(503);
    expect(maintenance.check(req('/', { headers: { 'x-other': secret } }))?.status).toBe(503);
  });

  it('lets GET and HEAD of /robots.txt through unless told not to', () => {
    const maintenance = gate({});
    expect(maintenance.check(req('/robots.txt'))).toBeUndefined();
    expect(maintenance.check(req('/robots.txt?x=1', { method: 'HEAD' }))).toBeUndefined();
    expect(maintenance.check(req('/robots.txt', { method: 'POST' }))?.status).toBe(503);
    expect(maintenance.check(req('/robots.txt/x'))?.status).toBe(503);
    expect(maintenance.check(req('/x/../robots.txt'))?.status).toBe(503);
    expect(gate({ allow: { robotsTxt: false } }).check(req('/robots.txt'))?.status).toBe(503);
  });

  it('does not apply the allow-list when maintenance is off (nothing to bypass)', () => {
    expect(gate({ enabled: false, allow: { ips: ['127.0.0.1'] } }).check(req('/'))).toBeUndefined();
  });
});

describe('maintenance: options', () => {
  it.each([
    [{ enabled: 'yes' }, /maintenance enabled must be true, false, or a function that returns one; got string/],
    [{ until: 'next week' }, /maintenance until must be a Date, a date string/],
    [{ until: new Date('nope') }, /maintenance until must be a Date/],
    [
      { allow: { paths: ['status'] } },
      /allow\.paths entries must be paths starting with "\/" or RegExps; got "status"/,
    ],
    [{ allow: { paths: '/status' } }, /allow\.paths must be a list, such as \["\/status"\]/],
    [
      { allow: { ips: ['10.0.0.0/8'] } },
      /allow\.ips entries must be IP addresses such as "10\.0\.0\.5" or "::1" \(no ranges\); got "10\.0\.0\.0\/8"/,
    ],
    [
      { allow: { header: { name: 'x bad', value: secret } } },
      /allow\.header\.name must be a header name such as "x-maintenance-bypass"/,
    ],
    [
      { allow: { header: { name: 'x-ok', value: 'short' } } },
      /allow\.header\.value must be a secret string of at least 16 characters/,
    ],
    [{ allow: { header: { name: 'x-ok', value: secret, secret } } }, /allow\.header has no option "secret"/],
    [{ allow: { ip: ['::1'] } }, /maintenance\(\) allow has no option "ip"\. Did you mean "ips"\?/],
    [{ enable: true }, /maintenance\(\) has no option "enable"\. Did you mean "enabled"\?/],
    [{ allow: { robotsTxt: 'no' } }, /maintenance allow\.robotsTxt must be true or false/],
  ])('rejects %o with a message that names the fix', (options, message) => {
    expect(() => createMaintenance(options as object)).toThrow(message);
  });
});

/** The next change a gate hears of. */
function nextChange(gate: MaintenanceGate): Promise<MaintenanceChange> {
  return once(gate, 'change').then(([change]) => change as MaintenanceChange);
}

/** Resolves once `gate` is in the state `test` looks for: now, or at one of its changes. */
function reaches(gate: MaintenanceGate, test: (gate: MaintenanceGate) => boolean): Promise<void> {
  return new Promise((resolve) => {
    if (test(gate)) return resolve();
    const onChange = () => {
      if (!test(gate)) return;
      gate.off('change', onChange);
      resolve();
    };
    gate.on('change', onChange);
  });
}

describe('maintenance: shared through a store', () => {
  it('switches every gate on the store from any one of them, both ways, with the end of the window', async () => {
    const store = memoryStore();
    const one = gate({ store });
    const two = gate({ store });
    expect(one.check(req('/'))).toBeUndefined();
    const heard = nextChange(two);
    one.enabled = true;
    one.until = '2030-01-01T05:10:00Z';
    expect(one.check(req('/'))?.retryAfter).toBe(600);
    expect(await heard).toMatchObject({ enabled: true, source: 'store' });
    await reaches(two, (gate) => gate.until !== undefined);
    expect(two.check(req('/'))?.retryAfter).toBe(600);
    expect(two.until?.toISOString()).toBe('2030-01-01T05:10:00.000Z');
    const off = nextChange(one);
    two.enabled = false;
    expect(await off).toMatchObject({ enabled: false, source: 'store' });
    expect(one.check(req('/'))).toBeUndefined();
  });

  it('starts a new gate from the stored state, not from its options', async () => {
    const store = memoryStore();
    const first = gate({ store });
    first.enabled = true;
    await Promise.resolve();
    const later = gate({ store, enabled: false });
    expect(later.check(req('/'))).toBeUndefined();
    expect(await nextChange(later)).toMatchObject({ enabled: true, source: 'store' });
    expect(later.check(req('/'))?.status).toBe(503);
  });

  it('keeps gates of different names apart', async () => {
    const store = memoryStore();
    const shop = gate({ store, name: 'shop' });
    const blog = gate({ store, name: 'blog' });
    const shopToo = gate({ store, name: 'shop' });
    const heard = nextChange(shopToo);
    shop.enabled = true;
    await heard;
    expect(shopToo.enabled).toBe(true);
    expect(blog.enabled).toBe(false);
  });

  it('applies the state set last, and ignores an older one or garbage', async () => {
    const store = memoryStore();
    const one = gate({ store });
    one.enabled = true;
    const changes: MaintenanceChange[] = [];
    one.on('change', (change) => changes.push(change));
    const older = { enabled: false, until: null, at: NOW - 1000, by: 'elsewhere:1' };
    await store.publish('maintenance:default', JSON.stringify(older));
    for (const garbage of ['{"enabled":"no"}', 'not json', '{"enabled":false,"until":null,"at":"soon","by":"x"}']) {
      await store.publish('maintenance:default', garbage);
    }
    await store.publish('maintenance:default', JSON.stringify({ ...older, at: NOW + 1000 }));
    await Promise.resolve();
    expect(changes).toEqual([{ enabled: false, until: undefined, source: 'store', by: 'elsewhere:1' }]);
    expect(one.enabled).toBe(false);
  });

  it('refuses a function for enabled, which cannot be shared, naming the fix', () => {
    const store = memoryStore();
    expect(() => gate({ store, enabled: () => true })).toThrow(
      /with a store shares its state with every instance, and a function cannot be shared: give enabled as true or false/,
    );
    const shared = gate({ store });
    expect(() => {
      shared.enabled = () => true;
    }).toThrow(/a function cannot be shared/);
    expect(() => gate({ store: {} as never })).toThrow(/store must be a store/);
    expect(() => gate({ store, name: 'a b' })).toThrow(/name must be 1 to 100 letters/);
  });
});

describe('maintenance over real sockets', () => {
  let server: Server | undefined;
  afterEach(async () => {
    server?.closeAllConnections();
    await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
    server = undefined;
  });

  /** A site behind the gate: the gate's failure is rendered by the core's responder, as the adapters will do. */
  async function site(options: MaintenanceOptions, host = '127.0.0.1') {
    const maintenance = createMaintenance(options);
    const errors = createErrorResponder();
    server = createServer((req, res) => {
      const failure = maintenance.check(req);
      if (failure !== undefined) errors.send(failure, req, res);
      else res.end('the real site\n');
    });
    server.listen(0, host);
    await once(server, 'listening');
    return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, maintenance };
  }

  function get(url: string, headers: Record<string, string> = {}) {
    return new Promise<{ status: number; headers: IncomingMessage['headers']; body: string }>((resolve, reject) => {
      request(url, { agent: false, headers }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      })
        .on('error', reject)
        .end();
    });
  }

  it('shows the maintenance page with 503 and Retry-After until the end of the window', async () => {
    const until = new Date(Date.now() + 30 * 60_000);
    const { url } = await site({ until });
    const res = await get(`${url}/`, { accept: 'text/html' });
    expect(res.status).toBe(503);
    const retryAfter = Number(res.headers['retry-after']);
    expect(retryAfter).toBeGreaterThan(1790);
    expect(retryAfter).toBeLessThanOrEqual(1800);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.headers['proxy-status']).toContain('error=proxy_internal_response');
    expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(res.body).toContain('maintenance');
  });

  it('answers problem+json to an API client during maintenance', async () => {
    const { url } = await site({});
    const res = await get(`${url}/api/x`, { accept: 'application/json' });
    expect(res.status).toBe(503);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(JSON.parse(res.body)).toMatchObject({ status: 503 });
  });

  it('lets the operator in by address, by secret header and by path, and reopens at run time', async () => {
    const { url, maintenance } = await site({
      allow: { paths: ['/health'], header: { name: 'x-maintenance-bypass', value: secret } },
    });
    expect((await get(`${url}/`)).status).toBe(503);
    expect((await get(`${url}/health`)).body).toBe('the real site\n');
    expect((await get(`${url}/`, { 'x-maintenance-bypass': secret })).body).toBe('the real site\n');
    expect((await get(`${url}/`, { 'x-maintenance-bypass': 'wrong-secret-of-some-length' })).status).toBe(503);
    maintenance.enabled = false;
    expect((await get(`${url}/`)).status).toBe(200);
  });

  it('matches 127.0.0.1 for a client that reaches a dual-stack listener as ::ffff:127.0.0.1', async () => {
    const seen: string[] = [];
    const maintenance = createMaintenance({ allow: { ips: ['127.0.0.1'] } });
    server = createServer((req, res) => {
      seen.push(req.socket.remoteAddress ?? '');
      res.statusCode = maintenance.check(req)?.status ?? 200;
      res.end();
    });
    server.listen(0, '::');
    await once(server, 'listening');
    const res = await get(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    expect(seen).toEqual(['::ffff:127.0.0.1']);
    expect(res.status).toBe(200);
  });
});
