import { Agent } from 'node:http';
import { logTo, type ProxyOptions } from '@gateway-errors/core';
import { type KeepAliveRaceUpstream, keepAliveRaceUpstream } from '@gateway-errors/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { type Gateway, send, startGateway } from './proxy-helpers.js';

// The keep-alive race: the upstream closes an idle pooled connection just as the gateway reuses it. keepAliveRaceUpstream
// makes it deterministic: it answers the first request of each connection, then reads the next request's head on that
// connection and closes it (a FIN or a RST) without a byte of answer.

let upstream: KeepAliveRaceUpstream | undefined;
let gateway: Gateway | undefined;
let agent: Agent | undefined;
afterEach(async () => {
  await gateway?.close();
  agent?.destroy();
  await upstream?.close();
  gateway = upstream = agent = undefined;
});

/** A gateway whose pool holds one connection the upstream will close at the next request. */
async function warmed(close: 'fin' | 'reset', options: Omit<ProxyOptions, 'target'> = {}): Promise<Gateway> {
  upstream = await keepAliveRaceUpstream({ close });
  gateway = await startGateway({ target: upstream.url, ...options });
  const first = await send(`${gateway.url}/first`);
  expect([first.status, first.headers['x-connection']]).toEqual([200, '1']);
  return gateway;
}

describe.each(['fin', 'reset'] as const)('a reused connection the upstream closes (%s) before any answer', (close) => {
  it('sends an idempotent request again at once on a new connection, outside the retry count and budget', async () => {
    // retry: false: no retry at all, and no budget; the resend is not a retry.
    const { url, events } = await warmed(close, { retry: false, breaker: { consecutiveFailures: 1 } });
    const res = await send(`${url}/again`);
    expect([res.status, res.headers['x-connection'], res.body]).toEqual([200, '2', 'ok\n']);
    expect(upstream?.requests).toBe(3);
    expect(upstream?.connections).toBe(2);
    expect(upstream?.closed).toBe(1);
    // Not a failure of the upstream's: no failure event, and the breaker (open at one failure) stays closed.
    expect(events.failure).toEqual([]);
    expect(events.retry).toHaveLength(1);
    expect(events.retry[0]).toMatchObject({
      attempt: 1,
      resend: true,
      path: '/again',
      failure: { type: 'connection_terminated', code: 'ECONNRESET' },
    });
    expect(events.response.map((event) => [event.path, event.attempt, event.status])).toEqual([
      ['/first', 1, 200],
      ['/again', 1, 200],
    ]);
    expect((await send(`${url}/after`)).status).toBe(200);
  });

  it('sends a PUT with a buffered body again, with a retry budget that has no room', async () => {
    const { url, events } = await warmed(close, { retry: { retries: 1, budget: { ratio: 0, minPerSecond: 0 } } });
    const res = await send(`${url}/put`, { method: 'PUT', body: 'x=1' });
    expect([res.status, res.headers['x-connection']]).toEqual([200, '2']);
    expect(upstream?.requests).toBe(3);
    expect(events.retry.map((event) => [event.attempt, event.resend])).toEqual([[1, true]]);
  });

  it('never sends a POST again: the upstream may have read it (RFC 9110 §9.2.2)', async () => {
    const { url, events } = await warmed(close);
    const res = await send(`${url}/post`, { method: 'POST', body: 'x=1' });
    expect(res.status).toBe(502);
    expect(res.headers['proxy-status']).toBe('gateway-errors; error=connection_terminated');
    expect(upstream?.requests).toBe(2);
    expect(events.retry).toEqual([]);
    expect(events.failure.map((event) => [event.path, event.failure.type, event.willRetry])).toEqual([
      ['/post', 'connection_terminated', false],
    ]);
  });

  it('never sends a streamed body again: it was read from the client as it went', async () => {
    // Larger than maxBufferedBody: streamed, so not replayable, whatever the method.
    const { url, events } = await warmed(close, { retry: { maxBufferedBody: 2 } });
    const res = await send(`${url}/put`, { method: 'PUT', body: 'x=1' });
    expect(res.status).toBe(502);
    expect(upstream?.requests).toBe(2);
    expect(events.retry).toEqual([]);
  });
});

it("closes the pool's other idle connections to that upstream: older than the one that failed, they are as likely closed", async () => {
  upstream = await keepAliveRaceUpstream();
  // Your own agent gets the same treatment.
  agent = new Agent({ keepAlive: true, timeout: 4000 });
  gateway = await startGateway({ target: upstream.url, agent });
  // Two requests at once: two connections, both idle in the pool afterwards.
  const warm = await Promise.all([send(`${gateway.url}/a`), send(`${gateway.url}/b`)]);
  expect(warm.map((res) => res.headers['x-connection']).sort()).toEqual(['1', '2']);
  expect(Object.values(agent.freeSockets).flat()).toHaveLength(2);
  const res = await send(`${gateway.url}/c`);
  expect([res.status, res.headers['x-connection']]).toEqual([200, '3']);
  // Left in the pool: the new connection only.
  expect(Object.values(agent.freeSockets).flat()).toHaveLength(1);
  expect(upstream.requests).toBe(4);
});

it('logTo() logs a resend as such, at the retry level', async () => {
  const lines: Array<[Record<string, unknown>, string]> = [];
  const { url, proxy } = await warmed('fin');
  logTo(
    proxy,
    { info: (object, message) => lines.push([object, message]) },
    { levels: { failure: false, breaker: false, health: false } },
  );
  expect((await send(`${url}/again`)).status).toBe(200);
  expect(lines).toEqual([
    [
      expect.objectContaining({ event: 'proxy.retry', attempt: 1, resend: true, errorType: 'connection_terminated' }),
      'upstream closed a reused connection unanswered; sending again on a new one',
    ],
  ]);
});
