import { hash } from 'node:crypto';
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { validateHeaderName, validateHeaderValue } from 'node:http';
import { crc32 } from 'node:zlib';
import { memoryStore } from '../store/memory-store.js';
import type { GatewayStore } from '../store/store.js';

/**
 * Good copies of upstream answers, kept to stand in for failures: robots.txt's last good copy (robots.ts) and
 * stale-if-error's (stale.ts). One mechanism for both: a body is collected as it streams to the client (listening
 * only), kept in this process's memory (a byte-bounded store, least recently used first) and, with a shared store,
 * there too; on a failure it is read back, validated, and written in place of the error.
 */

/** What the upstream served a copy for: the proxy's targets and the Host header it was asked with. */
export interface CopySource {
  /**
   * The proxy's targets, as one string: they are replicas of one site, so a copy of any of them stands for all, and
   * another gateway with the same targets shares its copies through a shared store.
   */
  readonly upstream: string;
  /**
   * The Host sent upstream, lower-case: the client's, or `''` when the upstream was asked under its own name
   * (`changeOrigin`, or a client that sent none), so that one copy stands for every Host.
   */
  readonly host: string;
}

/** The source of the answer to `req`: see {@link CopySource}. */
export function copySource(req: IncomingMessage, upstream: string, changeOrigin: boolean): CopySource {
  return { upstream, host: changeOrigin ? '' : (req.headers.host ?? '').toLowerCase() };
}

/** A kept answer. Times are wall-clock milliseconds, so that instances sharing a store agree on them. */
export interface Copy {
  /** What it is a copy of (see {@link Copies.keep}); checked on every read. */
  readonly key: string;
  readonly status: number;
  /** The response headers, hop-by-hop fields left out. */
  readonly headers: Readonly<OutgoingHttpHeaders>;
  readonly body: Buffer;
  /** When it was kept. */
  readonly storedAt: number;
  /** Its age when it was kept (RFC 9111 §4.2.3, `corrected_initial_age`). */
  readonly age: number;
  /** Its freshness lifetime (RFC 9111 §4.2.1). */
  readonly fresh: number;
  /** The largest age at which it may still stand in for a failure. */
  readonly window: number;
}

/** What {@link Copies.keep} is given: a copy but for what it adds. */
export type CopyParts = Omit<Copy, 'key' | 'storedAt' | 'body'>;

/** A response that answers a failed request instead of an error. */
export interface StandIn {
  /** A kept copy (a `failure` event says `stale: true`); `false` for robots.txt's fallback, which was never seen. */
  readonly copy: boolean;
  /** Writes it; `false` (and nothing written) when the response head already went out. */
  write(req: IncomingMessage, res: ServerResponse): boolean;
}

/**
 * How long a failed request waits at most for a shared store's answer, in milliseconds, each time it reads one (once;
 * twice for an answer that varies by request fields), when the store does not give its own bound (its `timeout`: the
 * store knows where it is, and a Redis across a network may need more). A copy in this process's memory is read at
 * once. Then the failure is answered as usual: an error page a few milliseconds late costs less than a request held
 * by a store that does not answer.
 */
export const sharedReadWait = 5;

/** Age of the copy at `now`: its age when kept, plus the time since (never negative, whatever another clock said). */
export function ageOf(copy: Copy, now: number): number {
  return copy.age + Math.max(0, now - copy.storedAt);
}

// The stored form: `GEC1`, the length of the meta (u32), the meta as JSON, the body, and a CRC-32 of everything
// before the body (u32). The meta holds the body's length and CRC-32, so a value cut short, another version's, or
// one a shared store garbled is told from a copy, and never served.
const magic = Buffer.from('GEC1');
const frame = magic.length + 4 + 4;

interface Meta extends Omit<Copy, 'body'> {
  /** A copy, or the list of request fields its variants differ by (a response with Vary). */
  readonly kind: 'copy' | 'vary';
  readonly vary?: readonly string[] | undefined;
  /** When it was last written to the shared store (kept for the write rule of {@link Copies.keep}). */
  readonly sharedAt: number;
  readonly length: number;
  readonly crc: number;
  /** When a store may drop it. */
  readonly expiresAt: number;
}

function encode(meta: Meta, chunks: readonly Buffer[]): Buffer {
  const json = Buffer.from(JSON.stringify(meta));
  // Not from Node's pool: a small copy would hold a whole 8 KiB slab for as long as it is kept.
  const value = Buffer.allocUnsafeSlow(frame + json.length + meta.length);
  magic.copy(value, 0);
  value.writeUInt32BE(json.length, magic.length);
  json.copy(value, magic.length + 4);
  let at = magic.length + 4 + json.length;
  for (const chunk of chunks) at += chunk.copy(value, at);
  value.writeUInt32BE(crc32(value.subarray(0, magic.length + 4 + json.length)), at);
  return value;
}

const finite = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value);

/** Whether every header of `headers` is one Node would write: a garbled copy must not throw in `writeHead`. */
function validHeaders(headers: unknown): headers is OutgoingHttpHeaders {
  if (typeof headers !== 'object' || headers === null || Array.isArray(headers)) return false;
  try {
    for (const [name, value] of Object.entries(headers)) {
      validateHeaderName(name);
      if (name !== name.toLowerCase()) return false;
      const values: unknown[] = Array.isArray(value) ? value : [value];
      for (const one of values) {
        if (typeof one !== 'string') return false;
        validateHeaderValue(name, one);
      }
    }
    return true;
  } catch {
    return false;
  }
}

/** The meta of a stored value, if it is one of ours; without checking the body. */
function metaOf(value: Buffer | undefined): Meta | undefined {
  if (value === undefined || value.length < frame || !value.subarray(0, magic.length).equals(magic)) return undefined;
  const size = value.readUInt32BE(magic.length);
  const end = magic.length + 4 + size;
  if (end + 4 > value.length) return undefined;
  if (crc32(value.subarray(0, end)) !== value.readUInt32BE(value.length - 4)) return undefined;
  try {
    const meta: unknown = JSON.parse(value.toString('utf8', magic.length + 4, end));
    return typeof meta === 'object' && meta !== null ? (meta as Meta) : undefined;
  } catch {
    return undefined;
  }
}

/** A stored value, decoded. */
type Decoded = Meta & { readonly body: Buffer };

/**
 * The copy (or list of varying fields) stored in `value` for `key`, validated from end to end; `undefined` for
 * anything else: another key's value, another version's, one cut short or garbled. Whether it expired is the
 * caller's to check: this does not depend on the time, so that its answer can be kept.
 */
function decode(value: Buffer | undefined, key: string): Decoded | undefined {
  const meta = metaOf(value);
  if (meta === undefined || value === undefined || meta.key !== key) return undefined;
  const start = value.length - 4 - meta.length;
  if (!Number.isInteger(meta.length) || meta.length < 0 || start !== frame - 4 + value.readUInt32BE(magic.length)) {
    return undefined;
  }
  const body = value.subarray(start, value.length - 4);
  if (crc32(body) !== meta.crc) return undefined;
  if (![meta.storedAt, meta.age, meta.fresh, meta.window, meta.sharedAt, meta.expiresAt].every(finite))
    return undefined;
  if (meta.age < 0 || meta.fresh < 0) return undefined;
  if (meta.kind === 'vary') {
    const names = meta.vary;
    return Array.isArray(names) && names.every((name) => typeof name === 'string') ? { ...meta, body } : undefined;
  }
  if (meta.kind !== 'copy' || !Number.isInteger(meta.status) || meta.status < 200 || meta.status > 599)
    return undefined;
  return validHeaders(meta.headers) ? { ...meta, body } : undefined;
}

/** `promise`'s value, or `undefined` when it takes longer than `ms`, rejects, or throws. */
function within<T>(read: () => Promise<T>, ms: number): Promise<T | undefined> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms, undefined);
    timer.unref();
    const settle = (value: T | undefined) => {
      clearTimeout(timer);
      resolve(value);
    };
    try {
      read().then(settle, () => settle(undefined));
    } catch {
      settle(undefined);
    }
  });
}

/** The key a copy is kept under in a store: a digest, so that a long URL costs no memory the byte bound misses. */
function storeKey(key: string): string {
  return `copy:${hash('sha256', key, 'base64url')}`;
}

/** Answers that differ by request fields (a response's Vary): what they are answers to, and which fields. */
export interface Variants {
  readonly key: string;
  /** Lower-case field names. */
  readonly fields: readonly string[];
}

/** How many keys {@link Copies.keptRecently} remembers in one second: past that, copies are kept as they come. */
const recentLimit = 4096;

/** Options of {@link Copies}. */
export interface CopiesOptions {
  /** Bytes of copies kept in this process. */
  readonly maxBytes: number;
  /** A shared store, also written and read. */
  readonly store?: GatewayStore | undefined;
  /** Wall-clock milliseconds. */
  readonly now?: (() => number) | undefined;
}

/**
 * Where copies are kept: this process's memory (a {@link memoryStore} of `maxBytes`, least recently used first), read
 * first, and a shared store when there is one.
 *
 * A request never waits for a store when all is well: copies are kept after the response ended, and written to the
 * shared store without waiting. A hot URL is not kept again for every request: at most about once a second in
 * memory ({@link keptRecently}), and in the shared store only when its body changed or a tenth of its time to live
 * passed since this instance last wrote it. A failed request waits at most {@link sharedReadWait} for the shared
 * store.
 */
export class Copies {
  readonly #local: GatewayStore;
  readonly #shared: GatewayStore | undefined;
  readonly #now: () => number;
  /**
   * Values read, decoded: a store hands back the value it holds, so a copy that answers many failures is decoded
   * once. Weak: it goes with the value.
   */
  readonly #decoded = new WeakMap<Buffer, Decoded>();
  /** The keys kept (or being collected) since `#recentSince`. */
  #recent = new Set<string>();
  #recentSince = 0;

  constructor(options: CopiesOptions) {
    this.#now = options.now ?? Date.now;
    this.#local = memoryStore({ maxBytes: options.maxBytes, now: this.#now });
    this.#shared = options.store;
  }

  /**
   * Whether a copy for `key` was kept (or is being collected) within about the last second; if not, it is marked as
   * being kept now. Synchronous and cheap: asked of every response that may be kept.
   */
  keptRecently(key: string): boolean {
    const now = this.#now();
    if (now - this.#recentSince >= 1000 || now < this.#recentSince) {
      this.#recent.clear();
      this.#recentSince = now;
    }
    if (this.#recent.has(key)) return true;
    if (this.#recent.size < recentLimit) this.#recent.add(key);
    return false;
  }

  /**
   * Keeps a copy of what `key` names (a method, the upstream, a Host, a URL: whatever tells its answers apart) until
   * its age reaches its window. With `variantOf`, the answers to `variantOf.key` vary by the request fields
   * `variantOf.fields` (RFC 9111 §4.1): `key` names this variant (those fields' values included), and `variantOf.key`
   * records the fields, for {@link find}. Never rejects.
   */
  keep(key: string, parts: CopyParts, body: readonly Buffer[], variantOf?: Variants): void {
    this.#keep(key, parts, body, variantOf).catch(() => {});
  }

  async #keep(key: string, parts: CopyParts, body: readonly Buffer[], variantOf: Variants | undefined): Promise<void> {
    const now = this.#now();
    const ttl = parts.window - parts.age;
    if (ttl <= 0) return;
    let length = 0;
    let crc = 0;
    for (const chunk of body) {
      length += chunk.length;
      crc = crc32(chunk, crc);
    }
    const stored = storeKey(key);
    const previous = metaOf(await this.#local.get(stored));
    // The shared store is written when the copy changed, or when a tenth of its time passed since it last was.
    const share =
      this.#shared !== undefined &&
      (previous === undefined || previous.crc !== crc || now - previous.sharedAt >= Math.max(1000, ttl / 10));
    const sharedAt = share ? now : (previous?.sharedAt ?? 0);
    const meta: Meta = { kind: 'copy', key, ...parts, storedAt: now, sharedAt, length, crc, expiresAt: now + ttl };
    const value = encode(meta, body);
    await this.#write(stored, value, ttl, share);
    if (variantOf !== undefined) {
      const record: Meta = {
        kind: 'vary',
        key: variantOf.key,
        vary: variantOf.fields,
        status: 0,
        headers: {},
        storedAt: now,
        age: 0,
        fresh: 0,
        window: ttl,
        sharedAt,
        length: 0,
        crc: 0,
        expiresAt: now + ttl,
      };
      await this.#write(storeKey(variantOf.key), encode(record, []), ttl, share);
    }
  }

  async #write(key: string, value: Buffer, ttl: number, share: boolean): Promise<void> {
    await this.#local.set(key, value, ttl);
    // Not awaited: a shared store is never in a request's way. Its contract says nothing rejects; ours does not
    // trust a store of the user's own to keep it.
    if (share) {
      try {
        this.#shared?.set(key, value, ttl).catch(() => {});
      } catch {}
    }
  }

  /**
   * The copy kept under `key`, from this process's memory or else from the shared store (within
   * {@link sharedReadWait} a read), validated; `undefined` when there is none, or none usable. When the answer varies
   * (see {@link keep}), `variantKey` gives the key of the variant the request selects, from the fields recorded.
   */
  async find(key: string, variantKey?: (fields: readonly string[]) => string): Promise<Copy | undefined> {
    let found = await this.#read(key);
    if (found?.kind === 'vary') {
      if (variantKey === undefined || found.vary === undefined) return undefined;
      found = await this.#read(variantKey(found.vary));
    }
    return found?.kind === 'copy' ? found : undefined;
  }

  async #read(key: string): Promise<Decoded | undefined> {
    const stored = storeKey(key);
    const local = this.#decode(await this.#local.get(stored), key);
    if (local !== undefined || this.#shared === undefined) return local;
    const shared = this.#shared;
    const value = await within(() => shared.get(stored), shared.timeout ?? sharedReadWait);
    const found = this.#decode(value, key);
    // Kept here too, so that the next failure does not wait for the shared store again.
    if (found !== undefined && value !== undefined) await this.#local.set(stored, value, found.expiresAt - this.#now());
    return found;
  }

  /** `value` decoded for `key` (see `decode`), once per value; `undefined` as well once it expired. */
  #decode(value: Buffer | undefined, key: string): Decoded | undefined {
    if (value === undefined) return undefined;
    let decoded = this.#decoded.get(value);
    if (decoded === undefined) {
      decoded = decode(value, key);
      if (decoded === undefined) return undefined;
      this.#decoded.set(value, decoded);
    }
    return decoded.key === key && decoded.expiresAt > this.#now() ? decoded : undefined;
  }

  /** Drops every copy in this process's memory (the shared store is left alone). */
  close(): void {
    this.#local.close().catch(() => {});
  }
}

/**
 * Collects the body of `response` as it streams to the client, and calls `done` with its chunks once it ended
 * complete: never for a body cut short or aborted, nor one over `maxBytes`. It only listens: call it once the
 * response is being relayed; it takes nothing from the client, delays no byte, and reads nothing twice.
 */
export function collectBody(
  response: IncomingMessage,
  maxBytes: number,
  done: (chunks: readonly Buffer[], size: number) => void,
): void {
  const declared = Number(response.headers['content-length']);
  if (declared > maxBytes) return;
  const chunks: Buffer[] = [];
  let size = 0;
  const onData = (chunk: Buffer) => {
    size += chunk.length;
    if (size > maxBytes) {
      response.off('data', onData);
      chunks.length = 0;
      return;
    }
    chunks.push(chunk);
  };
  response.on('data', onData);
  response.once('end', () => {
    if (size <= maxBytes && response.complete) done(chunks, size);
  });
}
