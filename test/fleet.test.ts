/**
 * Many gateway instances on one Redis (a real redis-server, started for this file): one Express app and one Koa app
 * in this process, each with its own redisStore client, as two pods would be. What one instance is told, the other
 * does; when Redis dies both go on serving, and when it returns they agree again. Every wait is on an event or a
 * state, never on the clock.
 */
import { once } from 'node:events';
import type { GatewayStore, MaintenanceGate } from '@gateway-errors/core';
import { redisStore } from '@gateway-errors/redis';
import { echoUpstream, type Upstream } from '@gateway-errors/testing';
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
      const one = await instance(express, (store) => ({ proxy: { target: url }, maintenance: { store } }));
      const two = await instance(koa, (store) => ({ proxy: { target: url }, maintenance: { store } }));
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
});
