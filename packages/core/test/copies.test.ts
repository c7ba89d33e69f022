import { hash } from 'node:crypto';
import { memoryStore } from '@gateway-errors/core';
import { describe, expect, it, vi } from 'vitest';
import { faultyStore } from '../../../test/support/stores.js';
import { Copies, type CopyParts } from '../src/resilience/copies.js';

// Where copies are kept (resilience/copies.ts), with an injected wall clock: this process's memory, a shared store,
// the write rule, the time to live, and what a read accepts.

const parts = (window: number, age = 0): CopyParts => ({
  status: 200,
  headers: { 'content-type': 'text/plain' },
  age,
  fresh: 0,
  window,
});

/** Lets the fire-and-forget writes of `keep` finish (the memory stores answer at once). */
const settled = () => new Promise((resolve) => setImmediate(resolve));

describe('copies', () => {
  it('keeps a copy until its age reaches its window, then it is gone', async () => {
    let now = 1_000_000;
    const copies = new Copies({ maxBytes: 1 << 20, now: () => now });
    copies.keep('GET /a', parts(10_000, 4000), [Buffer.from('hello '), Buffer.from('world')]);
    await settled();
    const found = await copies.find('GET /a');
    expect(found).toMatchObject({ key: 'GET /a', status: 200, storedAt: now, age: 4000, window: 10_000 });
    expect(found?.body.toString()).toBe('hello world');
    now += 5999;
    expect(await copies.find('GET /a')).toBeDefined();
    now += 1;
    expect(await copies.find('GET /a')).toBeUndefined();
  });

  it('keeps nothing already past its window', async () => {
    const copies = new Copies({ maxBytes: 1 << 20, now: () => 0 });
    copies.keep('GET /old', parts(1000, 1000), [Buffer.from('x')]);
    await settled();
    expect(await copies.find('GET /old')).toBeUndefined();
  });

  it('marks a key kept recently for about a second', () => {
    let now = 0;
    const copies = new Copies({ maxBytes: 1 << 20, now: () => now });
    expect(copies.keptRecently('GET /a')).toBe(false);
    expect(copies.keptRecently('GET /a')).toBe(true);
    expect(copies.keptRecently('GET /b')).toBe(false);
    now += 999;
    expect(copies.keptRecently('GET /a')).toBe(true);
    now += 1;
    expect(copies.keptRecently('GET /a')).toBe(false);
  });

  it('writes the shared store when a copy changed, or a tenth of its time to live passed, not otherwise', async () => {
    let now = 0;
    const store = faultyStore();
    const copies = new Copies({ maxBytes: 1 << 20, store, now: () => now });
    const keep = async (body: string) => {
      copies.keep('GET /a', parts(100_000), [Buffer.from(body)]);
      await settled();
    };
    await keep('v1');
    expect(store.writes).toHaveLength(1);
    now += 5000;
    await keep('v1');
    expect(store.writes).toHaveLength(1);
    await keep('v2');
    expect(store.writes).toHaveLength(2);
    now += 9999;
    await keep('v2');
    expect(store.writes).toHaveLength(2);
    now += 1;
    await keep('v2');
    expect(store.writes).toHaveLength(3);
  });

  it('reads a copy another instance kept, and keeps it in memory for the next read', async () => {
    const store = faultyStore();
    const writer = new Copies({ maxBytes: 1 << 20, store });
    writer.keep('GET /a', parts(60_000), [Buffer.from('shared')]);
    await settled();
    const reader = new Copies({ maxBytes: 1 << 20, store });
    expect((await reader.find('GET /a'))?.body.toString()).toBe('shared');
    store.fault = 'hang';
    expect((await reader.find('GET /a'))?.body.toString()).toBe('shared');
    expect(store.reads).toHaveLength(1);
  });

  it('waits for a shared store as long as the store says it may take, 5 ms when it says nothing', async () => {
    const store = faultyStore();
    const writer = new Copies({ maxBytes: 1 << 20, store });
    writer.keep('GET /a', parts(60_000), [Buffer.from('shared')]);
    await settled();
    store.fault = 'late';
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      const quick = new Copies({ maxBytes: 1 << 20, store }).find('GET /a');
      await vi.advanceTimersByTimeAsync(5);
      expect(await quick).toBeUndefined();
      store.release();

      store.timeout = 1000; // a Redis across a network: redisStore({ timeout: 1000 })
      const patient = new Copies({ maxBytes: 1 << 20, store }).find('GET /a');
      await vi.advanceTimersByTimeAsync(999);
      store.release();
      expect((await patient)?.body.toString()).toBe('shared');

      const tooLate = new Copies({ maxBytes: 1 << 20, store }).find('GET /a');
      await vi.advanceTimersByTimeAsync(1000);
      store.release();
      expect(await tooLate).toBeUndefined();
    } finally {
      vi.useRealTimers();
    }
  });

  it('never takes a value kept under another key for a copy', async () => {
    const shared = memoryStore();
    const writer = new Copies({ maxBytes: 1 << 20, store: shared });
    writer.keep('GET /private', parts(60_000), [Buffer.from('not for /public')]);
    await settled();
    const key = (material: string) => `copy:${hash('sha256', material, 'base64url')}`;
    await shared.set(key('GET /public'), (await shared.get(key('GET /private'))) as Buffer, 60_000);
    const reader = new Copies({ maxBytes: 1 << 20, store: shared });
    expect(await reader.find('GET /public')).toBeUndefined();
    expect((await reader.find('GET /private'))?.body.toString()).toBe('not for /public');
  });

  it('finds the variant a request selects, through the record of the fields it varies by', async () => {
    const copies = new Copies({ maxBytes: 1 << 20 });
    const variants = { key: 'GET /hello', fields: ['accept-language'] };
    copies.keep('GET /hello\naccept-language: fr', parts(60_000), [Buffer.from('bonjour')], variants);
    copies.keep('GET /hello\naccept-language: en', parts(60_000), [Buffer.from('hello')], variants);
    await settled();
    const find = (language: string) =>
      copies.find('GET /hello', (fields) => `GET /hello\n${fields[0]}: ${language}`).then((c) => c?.body.toString());
    expect(await find('fr')).toBe('bonjour');
    expect(await find('en')).toBe('hello');
    expect(await find('de')).toBeUndefined();
    // Without a way to select a variant, none.
    expect(await copies.find('GET /hello')).toBeUndefined();
  });
});
