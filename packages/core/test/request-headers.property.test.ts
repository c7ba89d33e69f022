/**
 * Properties of the request headers a client controls, through a real gateway over sockets to a keep-alive upstream
 * that answers before reading the body: whatever the header lines, their case, duplicates and the Connection tokens,
 * the upstream parses exactly one request per client request, with its body whole; Host, framing and what the proxy
 * writes are never lost; a header the application set before the proxy is never removed; a client's claims about
 * its address never pass; and a field named by Connection is removed exactly when the client sent it itself.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { type EagerUpstream, eagerUpstream } from '@gateway-errors/testing';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { propertyRuns } from '../../../test/support/property.js';
import { type Gateway, rawExchange, splitHead, startGateway } from './proxy-helpers.js';

/** RFC 9110 §7.6.1 hop-by-hop fields, and Expect (Node answers it on our side). */
const hopByHop = ['connection', 'keep-alive', 'proxy-connection', 'proxy-authorization', 'te', 'trailer', 'upgrade'];
/** The client-address fields the proxy drops without `trustForwarded` (headers.ts), those the generator uses. */
const claims = ['forwarded', 'x-forwarded-for', 'x-forwarded-host', 'x-real-ip', 'true-client-ip', 'cf-connecting-ip'];
/** What the application's middleware sets before the proxy: one it adds, one it overwrites. */
const appSets = { 'x-app-auth': 'secret', 'x-role': 'reader' };

const names = fc.constantFrom(
  'x-a',
  'x-b',
  'x-role',
  'x-app-auth',
  'content-type',
  'cookie',
  'authorization',
  'accept',
  'x-request-id',
  ...claims,
  'keep-alive',
  'te',
  'trailer',
  'proxy-connection',
  'proxy-authorization',
);
/** A name as a client may spell it: any case. */
const spelt = (name: string) =>
  fc
    .array(fc.boolean(), { minLength: name.length, maxLength: name.length })
    .map((upper) => [...name].map((c, i) => (upper[i] ? c.toUpperCase() : c)).join(''));
/** Values Node's parser accepts: visible ASCII, spaces and tabs inside (it trims the ends). */
const value = fc
  .string({ unit: fc.constantFrom('a', 'b', '1', '=', ';', ',', ' ', '\t', '"', 'é'), minLength: 1, maxLength: 8 })
  .map((text) => `v${text}v`);
const header = names.chain((name) => fc.tuple(spelt(name), value));
/** Connection tokens: the names above, `host`, framing, `close` and `keep-alive`, any case, odd separators. */
const connection = fc
  .array(fc.oneof(names, fc.constantFrom('host', 'content-length', 'transfer-encoding', 'close', 'keep-alive', '')), {
    maxLength: 6,
  })
  .chain((tokens) => fc.tuple(...tokens.map(spelt)))
  .chain((tokens) => fc.constantFrom(', ', ',', ' , ', ',,').map((separator) => tokens.join(separator)));
/** A body that is itself a request, so that a framing mistake shows up as a second request at the upstream. */
const body = fc.oneof(
  fc.constant(''),
  fc.constant('GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n'),
  fc.string({ unit: fc.constantFrom('a', '\r', '\n', '0', ' '), maxLength: 40 }),
);
const request = fc.record({
  method: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'OPTIONS'),
  host: fc.constantFrom('shop.example', 'SHOP.example:8080', '127.0.0.1'),
  headers: fc.array(header, { maxLength: 10 }),
  connection: fc.option(connection, { nil: undefined }),
  body,
  chunked: fc.boolean(),
});
type Request = typeof request extends fc.Arbitrary<infer T> ? T : never;

/** The raw request: its head, then its body, framed by Content-Length or in chunks of 7 bytes. */
function bytesOf(id: number, request: Request): string {
  let head = `${request.method} /p/${id} HTTP/1.1\r\nHost: ${request.host}\r\n`;
  for (const [name, text] of request.headers) head += `${name}: ${text}\r\n`;
  if (request.connection !== undefined) head += `Connection: ${request.connection}\r\n`;
  if (request.body === '') return `${head}Connection: close\r\n\r\n`;
  if (!request.chunked)
    return `${head}Connection: close\r\nContent-Length: ${request.body.length}\r\n\r\n${request.body}`;
  let chunks = '';
  for (let i = 0; i < request.body.length; i += 7) {
    const chunk = request.body.slice(i, i + 7);
    chunks += `${chunk.length.toString(16)}\r\n${chunk}\r\n`;
  }
  return `${head}Connection: close\r\nTransfer-Encoding: chunked\r\n\r\n${chunks}0\r\n\r\n`;
}

describe('request headers and Connection tokens, over sockets', () => {
  let upstream: EagerUpstream;
  let gateway: Gateway;
  /** `req.headers` as the application left them, by request path: what the proxy was given. */
  const given = new Map<string, IncomingHttpHeaders>();
  beforeAll(async () => {
    upstream = await eagerUpstream();
    gateway = await startGateway(
      { target: upstream.url },
      {
        before(req) {
          Object.assign(req.headers, appSets);
          given.set(req.url ?? '', { ...req.headers });
        },
      },
    );
  });
  afterAll(async () => {
    await gateway.close();
    await upstream.close();
  });

  let id = 0;
  it('one request reaches the upstream, whole; Host, framing, proxy and app headers stay; claims never pass', async () => {
    await fc.assert(
      fc.asyncProperty(request, async (request) => {
        const path = `/p/${++id}`;
        const before = upstream.received.length;
        const { bytes } = await rawExchange(gateway.port, bytesOf(id, request));
        expect(splitHead(bytes).head).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
        // Exactly one request, with the whole body, and nothing parsed after it.
        await expect.poll(() => upstream.received[before]?.ended).toBe(true);
        expect(upstream.received.length).toBe(before + 1);
        const seen = upstream.received[before] as (typeof upstream.received)[number];
        expect(seen).toMatchObject({ method: request.method, url: path, body: request.body });
        if (request.body !== '') {
          const framing = request.chunked ? 'transfer-encoding' : 'content-length';
          expect(seen.headers[framing]).toBe(request.chunked ? 'chunked' : String(request.body.length));
        }

        const app = given.get(path) as IncomingHttpHeaders;
        expect(seen.headers.host).toBe(request.host);
        expect(seen.headers['x-forwarded-for']).toBe('127.0.0.1');
        expect(seen.headers['x-forwarded-proto']).toBe('http');
        expect(seen.headers['x-forwarded-host']).toBe(request.host);
        expect(seen.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
        for (const [name, text] of Object.entries(appSets)) expect(seen.headers[name]).toBe(text);
        for (const name of ['forwarded', 'x-real-ip', 'true-client-ip', 'cf-connecting-ip', ...hopByHop]) {
          if (name !== 'connection') expect(seen.headers[name], name).toBeUndefined();
        }

        // A field named by Connection goes exactly when the client sent it itself; every other one stays as given.
        const sent = new Set(request.headers.map(([name]) => name.toLowerCase()));
        const tokens = new Set(
          (request.connection ?? '')
            .toLowerCase()
            .split(',')
            .map((token) => token.trim()),
        );
        for (const [name, text] of Object.entries(app)) {
          if (hopByHop.includes(name) || claims.includes(name) || ['x-request-id', 'host'].includes(name)) {
            continue;
          }
          if (['content-length', 'transfer-encoding'].includes(name)) continue;
          const removed = tokens.has(name) && sent.has(name) && !(name in appSets);
          expect(seen.headers[name], name).toBe(removed ? undefined : text);
        }
      }),
      propertyRuns(0.1),
    );
  });
});
