import { echoUpstream } from '@gateway-errors/testing';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { adapters } from './adapters.js';
import { type ExpectedError, expectError, harness, htmlAccept, jsonAccept } from './harness.js';

// maintenance(): a planned 503 in front of everything, with a way through for the people who need one.
describe.each(adapters)('$name: maintenance()', (adapter) => {
  const h = harness(adapter);
  const down: ExpectedError = {
    status: 503,
    format: 'problem',
    type: 'proxy_internal_response',
    title: 'Down for maintenance',
  };
  const secret = 'a-long-random-bypass-token';

  it('answers 503 proxy_internal_response with the maintenance page, never reaching the upstream', async () => {
    const { url, upstream, passedOn, errorEvents } = await h.gateway(echoUpstream, {}, { maintenance: {} });
    const res = await request(url).get('/api/x').set('Accept', htmlAccept);
    expectError(res, { ...down, format: 'html' });
    expect(res.text).toContain('We are doing some planned maintenance');
    const problem = await request(url).get('/api/x').set('Accept', jsonAccept);
    expectError(problem, down);
    const head = await request(url).head('/api/x');
    expectError(head, { ...down, format: 'text' });
    expect(upstream.requests).toBe(0);
    // Maintenance is not an error: nothing reaches the app's error handling or Koa's error event.
    expect(passedOn).toEqual([]);
    expect(errorEvents).toEqual([]);
  });

  it('sends Retry-After until the window ends', async () => {
    const until = new Date(Date.now() + 600_000);
    const { url } = await h.gateway(echoUpstream, {}, { maintenance: { until } });
    const res = await request(url).get('/api/x').set('Accept', jsonAccept);
    const seconds = Number(res.headers['retry-after']);
    expect(seconds).toBeGreaterThan(590);
    expect(seconds).toBeLessThanOrEqual(600);
    expectError(res, { ...down, retryAfter: seconds });
  });

  it('sends the short hint once the window has run over', async () => {
    const until = new Date(Date.now() - 60_000);
    const { url } = await h.gateway(echoUpstream, {}, { maintenance: { until } });
    const res = await request(url).get('/api/x').set('Accept', jsonAccept);
    expectError(res, { ...down, retryAfter: 5 });
  });

  it('lets allowed paths through, and only them', async () => {
    const { url, upstream } = await h.gateway(echoUpstream, {}, { maintenance: { allow: { paths: ['/api/status'] } } });
    const allowed = await request(url).get('/api/status/db?verbose=1');
    expect(allowed.status).toBe(200);
    expect(allowed.body).toMatchObject({ method: 'GET', url: '/status/db?verbose=1' });
    const prefixOnly = await request(url).get('/api/statuses').set('Accept', jsonAccept);
    expectError(prefixOnly, down);
    expect(upstream.requests).toBe(1);
  });

  it('lets an allowed client address through', async () => {
    const open = await h.gateway(echoUpstream, {}, { maintenance: { allow: { ips: ['127.0.0.1'] } } });
    expect((await request(open.url).get('/api/x')).status).toBe(200);
    const closed = await h.gateway(echoUpstream, {}, { maintenance: { allow: { ips: ['10.9.8.7'] } } });
    expectError(await request(closed.url).get('/api/x').set('Accept', jsonAccept), down);
  });

  it('lets a request with the secret header through', async () => {
    const allow = { header: { name: 'X-Maintenance-Bypass', value: secret } };
    const { url } = await h.gateway(echoUpstream, {}, { maintenance: { allow } });
    const through = await request(url).get('/api/x').set('X-Maintenance-Bypass', secret);
    expect(through.status).toBe(200);
    expect(through.body.url).toBe('/x');
    const wrong = await request(url).get('/api/x').set('Accept', jsonAccept).set('X-Maintenance-Bypass', 'guess');
    expectError(wrong, down);
    const none = await request(url).get('/api/x').set('Accept', jsonAccept);
    expectError(none, down);
  });

  it('switches at run time, by a function or through the gate', async () => {
    let flag = false;
    const { url, gate } = await h.gateway(echoUpstream, {}, { maintenance: { enabled: () => flag } });
    expect((await request(url).get('/api/x')).status).toBe(200);
    flag = true;
    expectError(await request(url).get('/api/x').set('Accept', jsonAccept), down);
    if (gate) gate.enabled = false;
    expect((await request(url).get('/api/x')).status).toBe(200);
  });

  it('renders with the options of gatewayErrors(), keeping headers set earlier', async () => {
    const { url } = await h.gateway(
      echoUpstream,
      {},
      {
        maintenance: {},
        errors: { proxyName: 'edge', locals: { statusPageUrl: 'https://status.example' } },
        earlyHeaders: { 'Access-Control-Allow-Origin': '*', ETag: '"stale"' },
      },
    );
    const res = await request(url).get('/api/x').set('Accept', htmlAccept);
    expectError(res, { ...down, format: 'html', proxyName: 'edge' });
    expect(res.text).toContain('href="https://status.example"');
    expect(res.headers['access-control-allow-origin']).toBe('*');
  });

  it('answers with the defaults when no gatewayErrors() is mounted', async () => {
    const { url } = await h.gateway(echoUpstream, {}, { maintenance: {}, errors: false });
    expectError(await request(url).get('/api/x').set('Accept', jsonAccept), down);
  });

  it('covers routes of the app too, not only the proxy', async () => {
    const { url } = await h.app({ maintenance: {}, route: async () => ({ ok: true }) });
    expectError(await request(url).get('/route').set('Accept', jsonAccept), down);
  });
});
