/**
 * redisStore against a real redis-server (started for this file on a free loopback port): the store contract, and
 * what happens when Redis dies, hangs or answers garbage. Waits are on events, never on the clock.
 */
import { once } from 'node:events';
import { createServer, type Server } from 'node:net';
import type { GatewayStore } from '@gateway-errors/core';
import { redisStore } from '@gateway-errors/redis';
import { createClient } from '@redis/client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type RedisServer, runs, startRedis } from '../../../test/support/redis-server.js';

let redis: RedisServer;
let raw: ReturnType<typeof createClient>;
const stores: GatewayStore[] = [];

/** A store that is up (both connections ready), closed after the test. */
async function upStore(options: Parameters<typeof redisStore>[0] = {}): Promise<GatewayStore> {
  const store = redisStore({ url: redis.url, warn: false, timeout: 1000, ...options });
  stores.push(store);
  await once(store, 'up');
  return store;
}

/** Resolves with the next message on `channel`. */
function nextMessage(store: GatewayStore, channel: string): Promise<string> {
  return new Promise((resolve) => {
    const stop = store.subscribe(channel, (message) => {
      stop();
      resolve(message);
    });
  });
}

describe.runIf(runs)('redisStore', () => {
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis?.stop();
  });
  beforeAll(async () => {
    raw = createClient({ url: redis.url });
    raw.on('error', () => {});
    await raw.connect();
  });
  afterAll(() => {
    raw?.destroy();
  });
  afterEach(async () => {
    await Promise.all(stores.splice(0).map((store) => store.close()));
    if (redis.pid === undefined) await redis.restart();
    if (!raw.isReady) await once(raw, 'ready');
    await raw.flushAll();
  });

  it('keeps bytes under its prefix, with a time to live or without one', async () => {
    const store = await upStore();
    const bytes = Buffer.from([0xff, 0x00, 0x0d, 0x0a, 0x80]);
    await store.set('copy', bytes, 60_000);
    await store.set('state', Buffer.from('on'));
    expect(await store.get('copy')).toEqual(bytes);
    expect((await store.get('state'))?.toString()).toBe('on');
    expect(await store.get('absent')).toBeUndefined();
    const ttl = await raw.pTTL('gateway-errors:copy');
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(60_000);
    expect(await raw.pTTL('gateway-errors:state')).toBe(-1);
    // A time to live of nothing removes the entry, as an expired one.
    await store.set('copy', bytes, 0);
    expect(await raw.exists('gateway-errors:copy')).toBe(0);
  });

  it('keeps two fleets apart by their prefix', async () => {
    const blue = await upStore({ prefix: 'blue:' });
    const green = await upStore({ prefix: 'green:' });
    await blue.set('state', Buffer.from('blue'));
    expect(await green.get('state')).toBeUndefined();
    const heard: string[] = [];
    green.subscribe('maintenance', (message) => heard.push(message));
    const blueHears = nextMessage(blue, 'maintenance');
    await blue.publish('maintenance', 'on');
    expect(await blueHears).toBe('on');
    expect(heard).toEqual([]);
  });

  it('gives a lock to one instance, lets its owner extend it, and lets it lapse', async () => {
    const one = await upStore();
    const two = await upStore();
    expect(await one.lock('health', 'one', 10_000)).toBe(true);
    expect(await two.lock('health', 'two', 10_000)).toBe(false);
    await raw.pExpire('gateway-errors:health', 50);
    expect(await one.lock('health', 'one', 10_000)).toBe(true);
    expect(await raw.pTTL('gateway-errors:health')).toBeGreaterThan(50);
    // The owner's instance died: its lock lapses, and another takes it.
    await raw.del('gateway-errors:health');
    expect(await two.lock('health', 'two', 10_000)).toBe(true);
    expect(await raw.get('gateway-errors:health')).toBe('two');
  });

  it('delivers a message to every instance, the publisher included', async () => {
    const one = await upStore();
    const two = await upStore();
    const oneHears = nextMessage(one, 'maintenance');
    const twoHears = nextMessage(two, 'maintenance');
    await one.publish('maintenance', '{"enabled":true}');
    expect(await Promise.all([oneHears, twoHears])).toEqual(['{"enabled":true}', '{"enabled":true}']);
  });

  it('answers nothing, at once, before it first connected, and says up once it did', async () => {
    const store = redisStore({ url: redis.url, warn: false });
    stores.push(store);
    const up = once(store, 'up');
    expect(await store.get('state')).toBeUndefined();
    expect(await store.lock('health', 'one', 1000)).toBe(false);
    await up;
    await store.set('state', Buffer.from('on'));
    expect((await store.get('state'))?.toString()).toBe('on');
  });

  it('goes on when Redis dies (one down event, reads answer nothing), and resumes, subscribed, when it returns', async () => {
    const one = await upStore();
    const two = await upStore();
    const downs: Error[] = [];
    one.on('down', (error) => downs.push(error));
    const heard: string[] = [];
    one.subscribe('maintenance', (message) => heard.push(message));
    const down = once(one, 'down');
    await redis.kill();
    await down;
    expect(await one.get('state')).toBeUndefined();
    await one.set('state', Buffer.from('on'));
    expect(await one.lock('health', 'one', 1000)).toBe(false);
    await one.publish('maintenance', 'lost');
    expect(downs).toHaveLength(1);
    const up = Promise.all([once(one, 'up'), once(two, 'up')]);
    await redis.restart();
    await up;
    expect(downs).toHaveLength(1);
    const oneHears = nextMessage(one, 'maintenance');
    await two.publish('maintenance', 'back');
    expect(await oneHears).toBe('back');
    expect(heard).toEqual(['back']);
  });

  it('gives up on a Redis that hangs, says down after three commands, and up when it answers again', async () => {
    const store = await upStore({ timeout: 20 });
    const down = once(store, 'down');
    redis.pause();
    try {
      const reads = await Promise.all([store.get('a'), store.get('b'), store.lock('c', 'one', 1000)]);
      expect(reads).toEqual([undefined, undefined, false]);
      await down;
    } finally {
      redis.resume();
    }
    // The connection never dropped: the store's own probe finds it answering again.
    await once(store, 'up');
    await store.set('state', Buffer.from('on'));
    expect((await store.get('state'))?.toString()).toBe('on');
  });

  it('survives a server that answers garbage: reads answer nothing, one down event, no unhandled error', async () => {
    const garbage: Server = createServer((socket) => {
      // What a store pointed at a web server's port gets.
      socket.on('data', () => socket.write('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n'));
      socket.on('error', () => {});
    });
    garbage.listen(0, '127.0.0.1');
    await once(garbage, 'listening');
    const { port } = garbage.address() as { port: number };
    try {
      const store = redisStore({ url: `redis://127.0.0.1:${port}`, warn: false, timeout: 20 });
      stores.push(store);
      const down = once(store, 'down');
      expect(await store.get('state')).toBeUndefined();
      await down;
      expect(await store.get('state')).toBeUndefined();
      expect(await store.lock('health', 'one', 1000)).toBe(false);
      await store.close();
    } finally {
      garbage.close();
    }
  });

  it('warns once per outage with GATEWAY_ERRORS_STORE_DOWN, unless told not to', async () => {
    const store = await upStore({ warn: true });
    const warnings: Error[] = [];
    let warned: () => void = () => {};
    const firstWarning = new Promise<void>((resolve) => {
      warned = resolve;
    });
    const onWarning = (warning: Error & { code?: string }) => {
      if (warning.code !== 'GATEWAY_ERRORS_STORE_DOWN') return;
      warnings.push(warning);
      warned();
    };
    process.on('warning', onWarning);
    try {
      const down = once(store, 'down');
      await redis.kill();
      await down;
      await store.get('a');
      await firstWarning;
      expect(warnings).toHaveLength(1);
      expect(warnings[0]?.message).toContain(`127.0.0.1:${redis.port}`);
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('uses your own client and leaves it open on close()', async () => {
    const client = createClient({ url: redis.url });
    client.on('error', () => {});
    await client.connect();
    try {
      const store = redisStore({ client, warn: false, timeout: 1000 });
      await once(store, 'up');
      await store.set('state', Buffer.from('on'));
      expect(await client.get('gateway-errors:state')).toBe('on');
      await store.close();
      expect(await store.get('state')).toBeUndefined();
      expect(client.isReady).toBe(true);
      expect(await client.get('gateway-errors:state')).toBe('on');
    } finally {
      client.destroy();
    }
  });

  it('checks its options at construction, with messages that name the fix', () => {
    expect(() => redisStore({ url: 'http://127.0.0.1:6379' })).toThrow(/redis:\/\/ or rediss:\/\//);
    expect(() => redisStore({ url: redis.url, client: raw as never })).toThrow(/url or client, not both/);
    expect(() => redisStore({ client: {} as never })).toThrow(/node-redis client/);
    expect(() => redisStore({ timeout: 0 })).toThrow(/timeout must be/);
    expect(() => redisStore({ prefx: 'a' } as never)).toThrow(/no option "prefx"/);
  });
});
