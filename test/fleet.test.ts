/**
 * Many gateway instances on one Redis (a real redis-server, started for this file): one Express app and one Koa app
 * in this process, each with its own redisStore client, as two pods would be. What one instance is told, the other
 * does; when Redis dies both go on serving, and when it returns they agree again. Every wait is on an event or a
 * state, never on the clock.
 */
import { once } from 'node:events';
import { createServer, request, type Server } from 'node:http';
import type {
  GatewayProxy,
  GatewayStore,
  MaintenanceGate,
  ProxyBreakerEvent,
  ProxyOptions,
} from '@gateway-errors/core';
import type { AttemptOutcome } from '@gateway-errors/core/unstable-internals';
import {
  type CircuitBreaker,
  type CircuitSharing,
  createBreaker,
  resolveBreakerOptions,
  shareCircuit,
} from '@gateway-errors/core/unstable-internals';
import * as expressAdapter from '@gateway-errors/express';
import * as koaAdapter from '@gateway-errors/koa';
import { redisStore } from '@gateway-errors/redis';
import { echoUpstream, httpUpstream, type Upstream } from '@gateway-errors/testing';
import { createClient } from '@redis/client';
import express5 from 'express';
import Koa3 from 'koa';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Adapter, type AppSpec, adapters, type RunningApp } from './adapters.js';
import { type RedisServer, runs, startRedis } from './support/redis-server.js';

const express = adapters.find((adapter) => adapter.name === 'Express 5') as Adapter;
const koa = adapters.find((adapter) => adapter.name === 'Koa 3') as Adapter;

let redis: RedisServer;
const open: { close(): Promise<void> }[] = [];

/** A store of its own for one instance, connected. */
async function connectedStore(): Promise<GatewayStore> {
  const store = redisStore({ url: redis.url, warn: false, timeout: 1000 });
  open.push(store);
  await once(store, 'up');
  return store;
}

/** One instance: an app of `adapter` with its own store, given to `spec` by `withStore`. */
async function instance(
  adapter: Adapter,
  withStore: (store: GatewayStore) => AppSpec,
): Promise<RunningApp & { store: GatewayStore }> {
  const store = await connectedStore();
  const app = await adapter.start(withStore(store));
  open.push(app);
  return Object.assign(app, { store });
}

async function upstream(): Promise<Upstream> {
  const started = await echoUpstream();
  open.push(started);
  return started;
}

async function status(app: RunningApp, path = '/api/x'): Promise<{ status: number; retryAfter: string | null }> {
  const res = await fetch(`${app.url}${path}`, { headers: { accept: 'application/json' } });
  await res.arrayBuffer();
  return { status: res.status, retryAfter: res.headers.get('retry-after') };
}

/** A gateway instance built by hand, so that a test listens to its proxy before its first health check ends. */
interface Gateway {
  url: string;
  proxy: GatewayProxy;
}

function serve(handler: Parameters<typeof createServer>[1]): Promise<Server> {
  const server = createServer(handler);
  open.push({ close: () => new Promise<void>((resolve) => server.close(() => resolve())) });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

async function expressGateway(options: ProxyOptions, listen: (proxy: GatewayProxy) => void): Promise<Gateway> {
  const app = express5();
  const proxy = expressAdapter.gatewayProxy(options);
  listen(proxy.proxy);
  open.push({ close: async () => proxy.proxy.close() });
  app.use(proxy);
  app.use(expressAdapter.gatewayErrors());
  const server = await serve(app);
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, proxy: proxy.proxy };
}

async function koaGateway(options: ProxyOptions, listen: (proxy: GatewayProxy) => void): Promise<Gateway> {
  const app = new Koa3();
  app.silent = true;
  const proxy = koaAdapter.gatewayProxy(options);
  listen(proxy.proxy);
  open.push({ close: async () => proxy.proxy.close() });
  app.use(koaAdapter.gatewayErrors());
  app.use(proxy);
  const server = await serve(app.callback());
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, proxy: proxy.proxy };
}

async function get(
  gateway: Gateway | RunningApp,
  path = '/x',
): Promise<{ status: number; proxyStatus: string | null }> {
  const res = await fetch(`${gateway.url}${path}`, { headers: { accept: 'application/json' } });
  await res.arrayBuffer();
  return { status: res.status, proxyStatus: res.headers.get('proxy-status') };
}

/** Resolves with the first event `name` of `proxy` that `test` accepts. */
function eventOf<T>(proxy: GatewayProxy, name: 'health' | 'breaker', test: (event: T) => boolean): Promise<T> {
  return new Promise((resolve) => {
    const listener = (event: T) => {
      if (!test(event)) return;
      proxy.off(name, listener as never);
      resolve(event);
    };
    proxy.on(name, listener as never);
  });
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

describe.runIf(runs)('many instances on one Redis', () => {
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis?.stop();
  });
  afterEach(async () => {
    for (const item of open.splice(0).reverse()) await item.close();
    // Each test starts from an empty Redis (and a running one, after a test that killed it).
    await redis.restart();
  });

  describe('maintenance', () => {
    it('switched on any instance, every instance answers 503 (Retry-After included), and opens again', async () => {
      const { url } = await upstream();
      const one = await instance(express, (store) => ({ proxy: { target: url }, maintenance: { store } }));
      const two = await instance(koa, (store) => ({ proxy: { target: url }, maintenance: { store } }));
      const [gateOne, gateTwo] = [one.gate as MaintenanceGate, two.gate as MaintenanceGate];
      expect(await status(one)).toMatchObject({ status: 200 });
      expect(await status(two)).toMatchObject({ status: 200 });

      gateOne.until = Date.now() + 600_000;
      gateOne.enabled = true;
      await reaches(gateTwo, (gate) => gate.enabled && gate.until !== undefined);
      for (const app of [one, two]) {
        const answer = await status(app);
        expect(answer.status).toBe(503);
        expect(Number(answer.retryAfter)).toBeGreaterThan(590);
      }

      gateTwo.enabled = false;
      await reaches(gateOne, (gate) => !gate.enabled);
      expect(await status(one)).toMatchObject({ status: 200 });
      expect(await status(two)).toMatchObject({ status: 200 });
    });

    it('starts a new instance from the stored state', async () => {
      const { url } = await upstream();
      const one = await instance(express, (store) => ({ proxy: { target: url }, maintenance: { store } }));
      const two = await instance(koa, (store) => ({ proxy: { target: url }, maintenance: { store } }));
      (one.gate as MaintenanceGate).enabled = true;
      // Stored before it is announced: once another instance heard of it, a new one finds it.
      await reaches(two.gate as MaintenanceGate, (gate) => gate.enabled);
      const later = await instance(koa, (store) => ({ proxy: { target: url }, maintenance: { store } }));
      await reaches(later.gate as MaintenanceGate, (gate) => gate.enabled);
      expect(await status(later)).toMatchObject({ status: 503 });
    });

    it('keeps serving when Redis dies, and sends a switch set meanwhile once it returns', async () => {
      const { url } = await upstream();
      // Everything that uses the store at once: maintenance, copies, health checks, a shared breaker.
      const spec = (store: GatewayStore): AppSpec => ({
        proxy: {
          target: url,
          store,
          healthCheck: { path: '/', interval: 60_000, timeout: 2000 },
          breaker: { shared: true },
        },
        maintenance: { store },
      });
      const one = await instance(express, spec);
      const two = await instance(koa, spec);
      const [gateOne, gateTwo] = [one.gate as MaintenanceGate, two.gate as MaintenanceGate];
      const down = Promise.all([once(one.store, 'down'), once(two.store, 'down')]);
      await redis.kill();
      await down;
      expect(await status(one)).toMatchObject({ status: 200 });
      expect(await status(two)).toMatchObject({ status: 200 });

      // Set while Redis is gone: this instance applies it at once; the other cannot know yet.
      gateOne.enabled = true;
      expect(await status(one)).toMatchObject({ status: 503 });
      expect(await status(two)).toMatchObject({ status: 200 });

      await redis.restart();
      await reaches(gateTwo, (gate) => gate.enabled);
      expect(await status(two)).toMatchObject({ status: 503 });
      // And switches propagate again, the other way too.
      gateTwo.enabled = false;
      await reaches(gateOne, (gate) => !gate.enabled);
      expect(await status(one)).toMatchObject({ status: 200 });
    });
  });

  describe('active health checks', () => {
    it('checks a target from one instance per interval, and every instance applies the result', async () => {
      let checks = 0;
      const upstream = await httpUpstream((req, res) => {
        if (req.url === '/health') checks++;
        res.writeHead(req.url === '/health' ? 503 : 200, { 'content-length': '0' });
        res.end();
      });
      open.push(upstream);
      const options = (store: GatewayStore): ProxyOptions => ({
        target: upstream.url,
        store,
        retry: false,
        healthCheck: { path: '/health', interval: 60_000, timeout: 2000 },
      });
      let oneDown: Promise<unknown> = Promise.resolve();
      let twoDown: Promise<unknown> = Promise.resolve();
      const one = await expressGateway(options(await connectedStore()), (proxy) => {
        oneDown = eventOf(proxy, 'health', (event: { healthy: boolean }) => !event.healthy);
      });
      const two = await koaGateway(options(await connectedStore()), (proxy) => {
        twoDown = eventOf(proxy, 'health', (event: { healthy: boolean }) => !event.healthy);
      });
      await Promise.all([oneDown, twoDown]);
      expect(checks).toBe(1);
      for (const gateway of [one, two]) {
        expect(await get(gateway)).toMatchObject({
          status: 503,
          proxyStatus: expect.stringContaining('destination_unavailable'),
        });
      }
      expect(upstream.requests).toBe(1);
    });
  });

  describe('breakers', () => {
    /** An upstream that answers 503, which the breakers below count as failures. */
    async function failing(): Promise<Upstream> {
      const upstream = await httpUpstream((_req, res) => {
        res.writeHead(503, { 'content-length': '0' });
        res.end();
      });
      open.push(upstream);
      return upstream;
    }
    const breaker = { consecutiveFailures: 1, failureStatuses: [503], openFor: 60_000, jitter: 0 };

    it('stay local by default: one instance opening its circuit does not open the others', async () => {
      const upstream = await failing();
      const options = (store: GatewayStore): ProxyOptions => ({ target: upstream.url, store, retry: false, breaker });
      let opened: Promise<unknown> = Promise.resolve();
      const one = await expressGateway(options(await connectedStore()), (proxy) => {
        opened = eventOf(proxy, 'breaker', (event: ProxyBreakerEvent) => event.to === 'open');
      });
      const two = await koaGateway(options(await connectedStore()), () => {});
      expect((await get(one)).status).toBe(503);
      await opened;
      expect(await get(one)).toMatchObject({ proxyStatus: expect.stringContaining('destination_unavailable') });
      // The other instance still asks the upstream: its own network may be fine.
      expect(await get(two)).toMatchObject({ status: 503, proxyStatus: null });
      expect(upstream.requests).toBe(2);
    });

    it('share an open circuit when asked (breaker.shared): every instance fails fast until the same time', async () => {
      const upstream = await failing();
      const options = (store: GatewayStore): ProxyOptions => ({
        target: upstream.url,
        store,
        retry: false,
        breaker: { ...breaker, shared: true },
      });
      let heard: Promise<ProxyBreakerEvent> = Promise.resolve() as never;
      const one = await expressGateway(options(await connectedStore()), () => {});
      const two = await koaGateway(options(await connectedStore()), (proxy) => {
        heard = eventOf(proxy, 'breaker', (event: ProxyBreakerEvent) => event.to === 'open');
      });
      expect((await get(one)).status).toBe(503);
      expect(await heard).toMatchObject({ to: 'open', reason: 'shared' });
      const answer = await get(two);
      expect(answer).toMatchObject({ status: 503, proxyStatus: expect.stringContaining('destination_unavailable') });
      expect(upstream.requests).toBe(1);
    });

    it('let a single instance probe a shared circuit while it is half-open', async () => {
      const options = resolveBreakerOptions({ ...breaker, openFor: 5000, shared: true });
      const instances: { breaker: CircuitBreaker; clock: { time: number } }[] = [];
      for (let i = 0; i < 2; i++) {
        const store = await connectedStore();
        const clock = { time: 1000, now: () => clock.time, random: () => 0 };
        let sharing: CircuitSharing | undefined;
        const created = createBreaker(options, clock, () => sharing?.mayProbe() ?? true);
        sharing = shareCircuit(created, store, 'http://10.0.0.1:4000/', options);
        open.push({ close: async () => sharing?.close() });
        instances.push({ breaker: created, clock });
      }
      const [one, two] = instances as [(typeof instances)[0], (typeof instances)[0]];
      const opened = once(two.breaker, 'state').then(([change]) => change);
      const failed: AttemptOutcome = { kind: 'answered', status: 503 };
      one.breaker.tryAcquire()?.report(failed);
      expect(await opened).toMatchObject({ to: 'open', reason: 'shared' });
      one.clock.time += 5001;
      two.clock.time += 5001;
      expect(two.breaker.tryAcquire()).toBeUndefined();
      const probe = one.breaker.tryAcquire();
      expect(probe?.probe).toBe(true);
      const closed = once(two.breaker, 'state').then(([change]) => change);
      probe?.report({ kind: 'answered', status: 200 });
      expect(await closed).toMatchObject({ from: 'half-open', to: 'closed', reason: 'shared' });
    });
  });

  describe('copies', () => {
    /** GET /robots.txt as a crawler asks it, with the site's Host: the copy is kept for what the upstream saw. */
    function robots(gateway: Gateway): Promise<{ status: number; body: string }> {
      return new Promise((resolve, reject) => {
        const req = request(`${gateway.url}/robots.txt`, { headers: { host: 'www.example.com' } }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        });
        req.on('error', reject);
        req.end();
      });
    }

    it('an instance that never saw robots.txt answers with the last good copy another instance kept', async () => {
      const rules = 'User-agent: *\nDisallow: /private\n';
      let failing = false;
      const upstream = await httpUpstream((_req, res) => {
        if (failing) {
          res.writeHead(503, { 'content-length': '0' });
          res.end();
          return;
        }
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(rules) });
        res.end(rules);
      });
      open.push(upstream);
      const options = (store: GatewayStore): ProxyOptions => ({ target: upstream.url, store, retry: false });
      const one = await expressGateway(options(await connectedStore()), () => {});
      const two = await koaGateway(options(await connectedStore()), () => {});

      // Redis tells when the copy is written (keyspace notifications): it is written after the answer, unawaited.
      const watcher = createClient({ url: redis.url });
      watcher.on('error', () => {});
      await watcher.connect();
      open.push({ close: async () => watcher.destroy() });
      await watcher.configSet('notify-keyspace-events', 'K$');
      const events = watcher.duplicate();
      events.on('error', () => {});
      await events.connect();
      open.push({ close: async () => events.destroy() });
      const written = new Promise<string>((resolve) => {
        void events.pSubscribe('__keyspace@0__:gateway-errors:*', (_event, channel) => resolve(channel));
      });

      expect(await robots(one)).toEqual({ status: 200, body: rules });
      const channel = await written;
      const key = channel.slice('__keyspace@0__:'.length);
      // Bounded: every copy has a time to live in Redis.
      expect(await watcher.pTTL(key)).toBeGreaterThan(0);

      failing = true;
      expect(await robots(two)).toEqual({ status: 200, body: rules });
      expect(upstream.requests).toBe(2);
    });
  });
});
