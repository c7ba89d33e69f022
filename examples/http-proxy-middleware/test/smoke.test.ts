import {
  dieMidBodyUpstream,
  echoUpstream,
  garbageUpstream,
  hangingUpstream,
  refusingUpstream,
  resetAfterRequest,
  statusUpstream,
  type Upstream,
} from '@gateway-errors/testing';
import { expect, it } from 'vitest';
import { testServers } from '../../../test/support/servers.js';
import { createApp } from '../app.js';

const servers = testServers();

/** The example's app in front of `upstream`, served on 127.0.0.1 port 0; resolves with its base URL. */
async function appBefore(upstream: Promise<Upstream>, timeout?: number): Promise<string> {
  const { url } = await servers.stopAfter(upstream);
  return servers.serve(createApp({ target: url, timeout }));
}

it('proxies /api to the upstream, the mount path stripped', async () => {
  const base = await appBefore(echoUpstream());
  const res = await fetch(`${base}/api/users/7?full=1`);
  expect(res.status).toBe(200);
  expect(await res.json()).toMatchObject({ method: 'GET', url: '/users/7?full=1' });
});

it.each([
  ['refused', refusingUpstream, 502, 'connection_refused'],
  ['reset after the request', resetAfterRequest, 502, 'connection_terminated'],
  ['not HTTP', garbageUpstream, 502, 'http_protocol_error'],
] as const)(
  'answers an upstream that is %s with %i %s, as problem+json for a JSON client',
  async (_, start, status, type) => {
    const base = await appBefore(start());
    const res = await fetch(`${base}/api/users/7`, { headers: { accept: 'application/json' } });
    expect(res.status).toBe(status);
    expect(res.headers.get('content-type')).toBe('application/problem+json; charset=utf-8');
    expect(res.headers.get('proxy-status')).toBe(`gateway-errors; error=${type}`);
    expect(res.headers.get('retry-after')).toMatch(/^[1-9]\d*$/);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const body = await res.json();
    expect(body).toMatchObject({ status, errorType: type });
    expect(JSON.stringify(body)).not.toContain('127.0.0.1');
  },
);

it('answers an upstream that never answers with 504 http_response_timeout, and the HTML page for a browser', async () => {
  const base = await appBefore(hangingUpstream(), 100);
  const res = await fetch(`${base}/api/report`, { headers: { accept: 'text/html' } });
  expect(res.status).toBe(504);
  expect(res.headers.get('proxy-status')).toBe('gateway-errors; error=http_response_timeout');
  expect(await res.text()).toContain('<title>504 Gateway Timeout · Acme</title>');
});

it("passes the upstream's own 503 through, as hpm relays it", async () => {
  const base = await appBefore(statusUpstream({ status: 503, retryAfter: '7' }));
  const res = await fetch(`${base}/api/report`);
  expect(res.status).toBe(503);
  expect(res.headers.get('retry-after')).toBe('7');
  expect(res.headers.get('proxy-status')).toBeNull();
  expect(await res.text()).toBe('upstream says 503\n');
});

it('cuts the client connection when the upstream dies in the middle of the body: a truncated answer, never a hang', async () => {
  const base = await appBefore(dieMidBodyUpstream());
  const res = await fetch(`${base}/api/report`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-length')).toBe('1000');
  await expect(res.text()).rejects.toThrow(TypeError);
});
