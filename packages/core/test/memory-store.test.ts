import { memoryStore } from '@gateway-errors/core';
import { describe, expect, it } from 'vitest';

function clock(start = 1_000_000) {
  const time = { now: start };
  return { time, now: () => time.now };
}

describe('memoryStore', () => {
  it('keeps a value for its time to live, and one without a time to live until it is replaced', async () => {
    const { time, now } = clock();
    const store = memoryStore({ now });
    await store.set('copy', Buffer.from('a'), 1000);
    await store.set('state', Buffer.from('on'));
    time.now += 999;
    expect((await store.get('copy'))?.toString()).toBe('a');
    time.now += 1;
    expect(await store.get('copy')).toBeUndefined();
    time.now += 10 ** 9;
    expect((await store.get('state'))?.toString()).toBe('on');
    await store.set('state', Buffer.from('off'));
    expect((await store.get('state'))?.toString()).toBe('off');
  });

  it('evicts the least recently used entries with a time to live, never one without, to stay within maxBytes', async () => {
    const store = memoryStore({ maxBytes: 10 });
    await store.set('state', Buffer.alloc(4));
    await store.set('a', Buffer.alloc(3), 60_000);
    await store.set('b', Buffer.alloc(3), 60_000);
    await store.get('a'); // a is now the most recently used
    await store.set('c', Buffer.alloc(3), 60_000);
    expect(await store.get('b')).toBeUndefined();
    expect(await store.get('a')).toBeDefined();
    expect(await store.get('c')).toBeDefined();
    expect(await store.get('state')).toBeDefined();
    // Larger than the whole store: not kept, and nothing is evicted for it.
    await store.set('huge', Buffer.alloc(11), 60_000);
    expect(await store.get('huge')).toBeUndefined();
    expect(await store.get('a')).toBeDefined();
  });

  it('gives a lock to one owner until it lapses, and lets the owner extend it', async () => {
    const { time, now } = clock();
    const store = memoryStore({ now });
    expect(await store.lock('health', 'one', 1000)).toBe(true);
    expect(await store.lock('health', 'two', 1000)).toBe(false);
    time.now += 900;
    expect(await store.lock('health', 'one', 1000)).toBe(true);
    time.now += 999;
    expect(await store.lock('health', 'two', 1000)).toBe(false);
    time.now += 1;
    expect(await store.lock('health', 'two', 1000)).toBe(true);
  });

  it('delivers a message to every subscriber of its channel, the publisher included, after the publish call', async () => {
    const store = memoryStore();
    const seen: string[] = [];
    const stop = store.subscribe('maintenance', (message) => seen.push(`1:${message}`));
    store.subscribe('maintenance', (message) => seen.push(`2:${message}`));
    store.subscribe('other', (message) => seen.push(`other:${message}`));
    const published = store.publish('maintenance', 'on');
    expect(seen).toEqual([]);
    await published;
    await Promise.resolve();
    expect(seen).toEqual(['1:on', '2:on']);
    stop();
    await store.publish('maintenance', 'off');
    await Promise.resolve();
    expect(seen).toEqual(['1:on', '2:on', '2:off']);
  });

  it('answers nothing once closed', async () => {
    const store = memoryStore();
    await store.set('a', Buffer.from('a'));
    await store.close();
    expect(await store.get('a')).toBeUndefined();
    expect(await store.lock('a', 'one', 1000)).toBe(false);
    await store.set('b', Buffer.from('b'));
    expect(await store.get('b')).toBeUndefined();
  });

  it('refuses options it does not know, with the fix', () => {
    expect(() => memoryStore({ maxbytes: 1 } as never)).toThrow(/Did you mean "maxBytes"/);
    expect(() => memoryStore({ maxBytes: 0 })).toThrow(/maxBytes must be a whole number/);
    expect(() => memoryStore({ now: 5 } as never)).toThrow(/now must be a function/);
  });
});
