import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { classify, createErrorResponder, type GatewayFailure } from '@gateway-errors/core';
import {
  badHeaderUpstream,
  garbageUpstream,
  hangingUpstream,
  oversizedHeadUpstream,
  refusingUpstream,
  resetAfterRequest,
  resetOnAccept,
  testCA,
  tlsUpstream,
  type Upstream,
} from '@gateway-errors/testing';
import httpProxy from 'http-proxy';
import { ProxyServer } from 'http-proxy-3';
import { afterEach, describe, expect, it } from 'vitest';
import { send } from './proxy-helpers.js';

/** What a user's own proxy instance looks like to us: `web(req, res, options, callback)`. */
interface BareProxy {
  web(req: IncomingMessage, res: ServerResponse, options: object, callback: (error: Error) => void): void;
  close?(): void;
}

const engines: Array<{ name: string; create: () => BareProxy }> = [
  { name: 'http-proxy', create: () => httpProxy.createProxyServer({}) as unknown as BareProxy },
  { name: 'http-proxy-3', create: () => new ProxyServer({}) as unknown as BareProxy },
];

/** Each row: an upstream, the options the user passes, and the failure classify() must make of the error. */
const rows: Array<[string, () => Promise<Upstream>, object, number, string, Partial<GatewayFailure>]> = [
  ['refused', refusingUpstream, {}, 502, 'connection_refused', { phase: 'connect', mayHaveReachedUpstream: false }],
  ['reset on accept', resetOnAccept, {}, 502, 'connection_terminated', { code: 'ECONNRESET' }],
  ['reset after the request', resetAfterRequest, {}, 502, 'connection_terminated', { code: 'ECONNRESET' }],
  ['garbage', garbageUpstream, {}, 502, 'http_protocol_error', { code: 'HPE_INVALID_CONSTANT' }],
  ['a bad header byte', badHeaderUpstream, {}, 502, 'http_protocol_error', { code: 'HPE_INVALID_HEADER_TOKEN' }],
  [
    'an oversized head',
    oversizedHeadUpstream,
    {},
    502,
    'http_response_header_section_size',
    { code: 'HPE_HEADER_OVERFLOW' },
  ],
  [
    'a self-signed certificate',
    () => tlsUpstream(),
    {},
    502,
    'tls_certificate_error',
    { phase: 'tls', code: 'DEPTH_ZERO_SELF_SIGNED_CERT' },
  ],
  [
    'an expired certificate',
    () => tlsUpstream({ certificate: 'expired' }),
    { ca: testCA },
    502,
    'tls_certificate_error',
    { code: 'CERT_HAS_EXPIRED' },
  ],
  // Their own `proxyTimeout` destroys the request: the error is a generic reset, indistinguishable from a real
  // one. Our proxy's timers exist for this (see proxy-timeouts.test.ts).
  [
    'a hang cut by proxyTimeout',
    hangingUpstream,
    { proxyTimeout: 200 },
    502,
    'connection_terminated',
    { code: 'ECONNRESET' },
  ],
];

let upstream: Upstream | undefined;
let server: Server | undefined;
afterEach(async () => {
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server?.closeAllConnections();
  await upstream?.close();
  server = upstream = undefined;
});

describe.each(engines)('a bare $name instance: classify() reads its errors', ({ create }) => {
  it.each(rows)('%s', async (_name, make, options, status, type, details) => {
    upstream = await make();
    const proxy = create();
    const responder = createErrorResponder();
    const errors: Error[] = [];
    server = createServer((req, res) => {
      proxy.web(req, res, { target: upstream?.url, ...options }, (error) => {
        errors.push(error);
        if (!responder.handle(error, req, res)) {
          res.statusCode = 500;
          res.end('not a gateway failure');
        }
      });
    });
    await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const reply = await send(`http://127.0.0.1:${port}/x`);
    expect(reply.status).toBe(status);
    expect(reply.headers['proxy-status']).toBe(`gateway-errors; error=${type}`);
    expect(errors.length).toBeGreaterThanOrEqual(1);
    expect(classify(errors[0])).toMatchObject({ type, status, ...details });
    proxy.close?.();
  });
});
