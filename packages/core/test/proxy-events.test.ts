import { readFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { type GatewayProxy, logTo } from '@gateway-errors/core';
import {
  dieMidBodyUpstream,
  echoUpstream,
  flakyUpstream,
  hangingUpstream,
  refusingUpstream,
  siteUpstream,
  type Upstream,
} from '@gateway-errors/testing';
import pino from 'pino';
import client from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { type Gateway, rawExchange, send, startGateway, until } from './proxy-helpers.js';

let upstream: Upstream | undefined;
let gateway: Gateway | undefined;
afterEach(async () => {
  await gateway?.close();
  await upstream?.close();
  gateway = upstream = undefined;
});

describe('events', () => {
  it('a failure carries the classification, phase, timings, attempt, upstream, method, path and request id', async () => {
    upstream = await refusingUpstream();
    gateway = await startGateway({ target: upstream.url, trustRequestId: true });
    const reply = await send(`${gateway.url}/orders/42?token=secret`, {
      method: 'DELETE',
      headers: { 'x-request-id': 'req-7' },
    });
    expect(reply.status).toBe(502);
    // Refused: the request never left, so even a DELETE is retried once.
    expect(gateway.events.failure).toHaveLength(2);
    const [first, second] = gateway.events.failure;
    expect(first).toEqual({
      requestId: 'req-7',
      method: 'DELETE',
      path: '/orders/42',
      upstream: upstream.url,
      attempt: 1,
      upgrade: false,
      timings: { total: expect.any(Number) },
      failure: expect.objectContaining({
        type: 'connection_refused',
        status: 502,
        phase: 'connect',
        code: 'ECONNREFUSED',
        mayHaveReachedUpstream: false,
        upstream: upstream.url,
      }),
      timeout: undefined,
      headSent: false,
      willRetry: true,
      stale: false,
    });
    expect(second).toMatchObject({ attempt: 2, willRetry: false, stale: false });
    expect(gateway.events.retry).toEqual([
      {
        requestId: 'req-7',
        method: 'DELETE',
        path: '/orders/42',
        upstream: upstream.url,
        attempt: 2,
        upgrade: false,
        timings: {},
        failure: first?.failure,
        resend: false,
      },
    ]);
  });

  it('a retry that works: failure, retry, then the response of attempt 2', async () => {
    upstream = await flakyUpstream({ failures: 1 });
    gateway = await startGateway({ target: upstream.url });
    const reply = await send(`${gateway.url}/x`);
    expect(reply.status).toBe(200);
    expect(gateway.events.failure).toMatchObject([
      { attempt: 1, willRetry: true, failure: { type: 'connection_terminated' } },
    ]);
    expect(gateway.events.retry).toMatchObject([{ attempt: 2 }]);
    expect(gateway.events.response).toMatchObject([{ attempt: 2, status: 200 }]);
    expect(gateway.events.response[0]?.timings.firstByte).toBeTypeOf('number');
    expect(gateway.events.response[0]?.timings.total).toBeGreaterThanOrEqual(
      gateway.events.response[0]?.timings.firstByte ?? 0,
    );
  });

  it('a name that does not resolve: a DNS failure with its DNS timing', async () => {
    gateway = await startGateway({ target: 'http://gateway-errors-test.invalid', timeouts: { connect: 3000 } });
    const reply = await send(`${gateway.url}/x`);
    expect([502, 504]).toContain(reply.status);
    const [event] = gateway.events.failure;
    expect(event?.failure.phase).toBe('dns');
    expect(['dns_error', 'dns_timeout']).toContain(event?.failure.type);
    expect(event?.upstream).toBe('http://gateway-errors-test.invalid');
  });

  it('nothing is emitted when nobody listens', async () => {
    upstream = await hangingUpstream();
    gateway = await startGateway({ target: upstream.url, timeouts: { response: 100 } }, { record: false });
    const proxy: GatewayProxy = gateway.proxy;
    let emitted = 0;
    const emit = proxy.emit;
    proxy.emit = function (this: GatewayProxy, ...args: unknown[]) {
      emitted++;
      return (emit as (...args: unknown[]) => boolean).apply(this, args);
    } as typeof proxy.emit;
    expect((await send(`${gateway.url}/x`)).status).toBe(504);
    expect(emitted).toBe(0);
    proxy.on('failure', () => {});
    expect((await send(`${gateway.url}/x`)).status).toBe(504);
    expect(emitted).toBe(2);
  });
});

/** Collects what pino writes, one parsed JSON line each. */
function logLines() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line) lines.push(JSON.parse(line));
      done();
    },
  });
  return { lines, stream };
}

describe('logTo (a structured logger)', () => {
  it('writes one pino line per event, flat fields and the cause as err', async () => {
    upstream = await refusingUpstream();
    gateway = await startGateway({ target: upstream.url, trustRequestId: true }, { record: false });
    const { lines, stream } = logLines();
    const stop = logTo(gateway.proxy, pino({ base: undefined }, stream));
    await send(`${gateway.url}/x?secret=1`, { headers: { 'x-request-id': 'req-9' } });
    await until(() => lines.length === 3, 2000, 'three log lines');
    expect(lines.map((line) => [line.level, line.event, line.msg])).toEqual([
      [40, 'proxy.failure', 'upstream connection_refused (connect); retrying'],
      [30, 'proxy.retry', 'retrying upstream request, attempt 2'],
      [40, 'proxy.failure', 'upstream connection_refused (connect); answered 502'],
    ]);
    expect(lines[2]).toMatchObject({
      requestId: 'req-9',
      method: 'GET',
      path: '/x',
      upstream: upstream.url,
      attempt: 2,
      upgrade: false,
      status: 502,
      errorType: 'connection_refused',
      phase: 'connect',
      code: 'ECONNREFUSED',
      headSent: false,
      willRetry: false,
      stale: false,
      err: { type: 'Error', code: 'ECONNREFUSED' },
    });
    expect(lines[2]?.timings).toMatchObject({ total: expect.any(Number) });
    stop();
    await send(`${gateway.url}/x`);
    expect(lines).toHaveLength(3);
    expect(gateway.proxy.listenerCount('failure')).toBe(0);
  });

  it('logs a mid-body abort, a client abort and (when asked) responses, at the levels given', async () => {
    upstream = await dieMidBodyUpstream();
    gateway = await startGateway({ target: upstream.url }, { record: false });
    const { lines, stream } = logLines();
    logTo(gateway.proxy, pino({ level: 'debug' }, stream), { levels: { failure: 'error', response: 'debug' } });
    await rawExchange(gateway.port, 'GET /x HTTP/1.1\r\nHost: gw\r\n\r\n');
    await until(() => lines.length === 1, 2000, 'the failure line');
    expect(lines[0]).toMatchObject({
      level: 50,
      event: 'proxy.failure',
      errorType: 'http_response_incomplete',
      headSent: true,
      msg: 'upstream http_response_incomplete (response-body); client connection aborted',
    });
    await gateway.close();
    await upstream.close();

    upstream = await echoUpstream();
    gateway = await startGateway({ target: upstream.url }, { record: false });
    lines.length = 0;
    logTo(gateway.proxy, pino({ level: 'debug' }, stream), { levels: { response: 'debug' } });
    await send(`${gateway.url}/ok`);
    await until(() => lines.length === 1, 2000, 'the response line');
    expect(lines[0]).toMatchObject({ level: 20, event: 'proxy.response', status: 200, path: '/ok' });
  });

  it('logs a client that stalled its upload: what it did, and the 408', async () => {
    upstream = await echoUpstream();
    gateway = await startGateway({ target: upstream.url, timeouts: { idle: 200 } }, { record: false });
    const { lines, stream } = logLines();
    logTo(gateway.proxy, pino({ base: undefined }, stream));
    const { bytes } = await rawExchange(gateway.port, 'PUT /x HTTP/1.1\r\nHost: gw\r\nContent-Length: 10\r\n\r\n01234');
    expect(bytes.split('\r\n')[0]).toBe('HTTP/1.1 408 Request Timeout');
    await until(() => lines.length === 1, 2000, 'the abort line');
    expect(lines[0]).toMatchObject({
      level: 30,
      event: 'proxy.abort',
      status: 408,
      phase: 'request',
      headSent: false,
      stalled: 'client-body',
      msg: 'client sent no request body for timeouts.idle; answered 408',
    });
  });

  it('logs a failure a stale copy answered, with stale: true', async () => {
    const site = await siteUpstream();
    upstream = site;
    gateway = await startGateway({ target: site.url, retry: false, staleIfError: true }, { record: false });
    const { lines, stream } = logLines();
    logTo(gateway.proxy, pino({ base: undefined }, stream));
    await send(`${gateway.url}/page`);
    site.down = 'reset';
    expect((await send(`${gateway.url}/page`)).status).toBe(200);
    // (A retry line may come first: the reset met a reused connection, which is sent again once.)
    const failure = () => lines.find((line) => line.event === 'proxy.failure');
    await until(() => failure() !== undefined, 2000, 'the failure line');
    expect(failure()).toMatchObject({
      level: 40,
      event: 'proxy.failure',
      status: 502,
      errorType: 'connection_terminated',
      stale: true,
      msg: 'upstream connection_terminated (response-head); answered with a kept copy',
    });
  });

  it('logs a refused request at info, with its reason; the upstream never hears of it', async () => {
    upstream = await echoUpstream();
    gateway = await startGateway({ target: upstream.url }, { record: false });
    const { lines, stream } = logLines();
    logTo(gateway.proxy, pino({ base: undefined }, stream));
    const { bytes } = await rawExchange(
      gateway.port,
      'GET /a/..%2fadmin HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n',
    );
    expect(bytes.split('\r\n')[0]).toBe('HTTP/1.1 400 Bad Request');
    await until(() => lines.length === 1, 2000, 'the reject line');
    expect(lines[0]).toMatchObject({
      level: 30,
      event: 'proxy.reject',
      method: 'GET',
      status: 400,
      reason: 'unsafe-path',
      msg: "refused a client's request (unsafe-path); answered 400",
    });
    expect(upstream.requests).toBe(0);
  });

  it('logs a circuit opening at warn', async () => {
    upstream = await refusingUpstream();
    gateway = await startGateway(
      { target: upstream.url, retry: false, breaker: { consecutiveFailures: 2, openFor: 60_000, jitter: 0 } },
      { record: false },
    );
    const { lines, stream } = logLines();
    logTo(gateway.proxy, pino({ base: undefined }, stream), { levels: { failure: false, abort: false } });
    await send(`${gateway.url}/a`);
    await send(`${gateway.url}/b`);
    await until(() => lines.length === 1, 2000, 'the breaker line');
    expect(lines[0]).toMatchObject({
      level: 40,
      event: 'proxy.breaker',
      upstream: upstream.url,
      target: 0,
      from: 'closed',
      to: 'open',
      reason: 'consecutive-failures',
      openFor: 60_000,
      msg: 'circuit closed -> open (consecutive-failures)',
    });
  });

  it('refuses a level the logger does not have, or an unknown event, naming the fix', () => {
    const proxy = { on() {}, off() {} } as unknown as GatewayProxy;
    expect(() => logTo(proxy, { info() {} })).toThrow(/routes failure to "warn", but the logger has no warn\(\)/);
    expect(() => logTo(proxy, pino(), { levels: { failures: 'warn' } as object })).toThrow(/no event "failures"/);
    expect(() => logTo(proxy, pino(), { levels: { retry: 'loud' as 'info' } })).toThrow(/levels.retry must be/);
  });
});

describe('the Prometheus recipe in docs/proxy.md', () => {
  it('works as written: counters and a histogram fed by the events', async () => {
    const doc = readFileSync(fileURLToPath(new URL('../../../docs/proxy.md', import.meta.url)), 'utf8');
    const block = /<!-- prometheus-recipe -->\s*```js\n([\s\S]*?)```/.exec(doc)?.[1];
    expect(block).toBeDefined();
    // The recipe's imports are the test's; the rest runs as written, with `client` and `proxy` in scope.
    const code = (block ?? '').replace(/^import .*$/gm, '');
    client.register.clear();
    try {
      upstream = await flakyUpstream({ failures: 1 });
      gateway = await startGateway({ target: upstream.url }, { record: false });
      new Function('client', 'proxy', code)(client, gateway.proxy);
      expect((await send(`${gateway.url}/a`)).status).toBe(200);
      const failures = await client.register.getSingleMetric('gateway_upstream_failures_total')?.get();
      expect(failures?.values).toEqual([
        {
          value: 1,
          labels: {
            upstream: upstream.url,
            type: 'connection_terminated',
            status: 502,
            phase: 'response-head',
            retried: 'true',
            stale: 'false',
          },
        },
      ]);
      const retries = await client.register.getSingleMetric('gateway_upstream_retries_total')?.get();
      expect(retries?.values).toEqual([{ value: 1, labels: { upstream: upstream.url } }]);
      const text = await client.register.metrics();
      expect(text).toContain(
        `gateway_upstream_duration_seconds_count{upstream="${upstream.url}",outcome="response"} 1`,
      );
      expect(text).toContain(`gateway_upstream_duration_seconds_count{upstream="${upstream.url}",outcome="failure"} 1`);
      expect(text).toContain('# TYPE gateway_client_aborts_total counter');
    } finally {
      client.register.clear();
    }
  });
});
