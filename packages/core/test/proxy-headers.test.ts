import type { IncomingMessage } from 'node:http';
import { gzipSync } from 'node:zlib';
import {
  eagerUpstream,
  echoUpstream,
  garbageUpstream,
  httpUpstream,
  type ReceivedRequest,
  refusingUpstream,
  type Upstream,
} from '@gateway-errors/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { forwardedElement } from '../src/proxy/headers.js';
import {
  type Gateway,
  type GatewaySetup,
  headerIn,
  rawExchange,
  rawReply,
  send,
  splitHead,
  startGateway,
  until,
} from './proxy-helpers.js';

let upstream: Upstream | undefined;
let gateway: Gateway | undefined;
afterEach(async () => {
  await gateway?.close();
  await upstream?.close();
  gateway = upstream = undefined;
});

interface Echo {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: string;
}

async function echoGateway(options: object = {}, setup: GatewaySetup = {}): Promise<Gateway> {
  upstream = await echoUpstream();
  gateway = await startGateway({ target: upstream.url, ...options }, setup);
  return gateway;
}

/** Reads the whole body, as a body parser does. */
async function consume(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

describe('request headers (RFC 9110 §7.6.1)', () => {
  it('drops hop-by-hop fields and the fields Connection names', async () => {
    const { port } = await echoGateway();
    const { bytes } = await rawExchange(
      port,
      'GET /h HTTP/1.1\r\nHost: gw\r\nConnection: keep-alive, X-Hop-Secret, close\r\nX-Hop-Secret: 1\r\n' +
        'Keep-Alive: timeout=5\r\nTE: trailers\r\nTrailer: X-Checksum\r\nProxy-Authorization: Basic Zm9vOmJhcg==\r\n' +
        'Proxy-Connection: keep-alive\r\nUpgrade: foo/1\r\nExpect: 100-continue\r\nX-End-To-End: kept\r\n\r\n',
    );
    // Node answered the Expect itself, on our side of the hop.
    expect(bytes.startsWith('HTTP/1.1 100 Continue\r\n\r\n')).toBe(true);
    const seen = JSON.parse(splitHead(bytes.slice(25)).body) as Echo;
    for (const name of [
      'x-hop-secret',
      'keep-alive',
      'te',
      'trailer',
      'proxy-authorization',
      'proxy-connection',
      'upgrade',
      'expect',
    ]) {
      expect(seen.headers[name], name).toBeUndefined();
    }
    expect(seen.headers['x-end-to-end']).toBe('kept');
    // Our own hop: the agent's keep-alive connection, whatever the client asked of its own.
    expect(seen.headers.connection).toBe('keep-alive');
  });

  it('sets X-Forwarded-For/-Proto/-Host and X-Request-Id, replacing what the client claimed', async () => {
    const { url } = await echoGateway({ trustRequestId: true });
    const reply = await send(`${url}/h`, {
      headers: {
        host: 'shop.example',
        'x-forwarded-for': '6.6.6.6',
        'x-forwarded-proto': 'https',
        'x-forwarded-host': 'evil.example',
        'x-forwarded-port': '1',
        'x-real-ip': '6.6.6.6',
        forwarded: 'for=6.6.6.6',
        'x-request-id': 'ticket-42',
      },
    });
    const seen = JSON.parse(reply.body) as Echo;
    expect(seen.headers).toMatchObject({
      host: 'shop.example',
      'x-forwarded-for': '127.0.0.1',
      'x-forwarded-proto': 'http',
      'x-forwarded-host': 'shop.example',
      'x-request-id': 'ticket-42',
    });
    expect(seen.headers['x-forwarded-port']).toBeUndefined();
    expect(seen.headers['x-real-ip']).toBeUndefined();
    expect(seen.headers.forwarded).toBeUndefined();
  });

  it('appends to the client chain with trustForwarded', async () => {
    const { url } = await echoGateway({ trustForwarded: true });
    const reply = await send(`${url}/h`, {
      headers: {
        'x-forwarded-for': '203.0.113.7',
        'x-forwarded-proto': 'https',
        'x-forwarded-host': 'shop.example',
        forwarded: 'for=203.0.113.7;proto=https',
      },
    });
    const seen = JSON.parse(reply.body) as Echo;
    expect(seen.headers).toMatchObject({
      'x-forwarded-for': '203.0.113.7, 127.0.0.1',
      'x-forwarded-proto': 'https',
      'x-forwarded-host': 'shop.example',
    });
    expect(seen.headers.forwarded).toMatch(
      /^for=203\.0\.113\.7;proto=https, for=127\.0\.0\.1;host="127\.0\.0\.1:\d+";proto=http$/,
    );
  });

  it('generates a request id when the client sent none or an unsafe one', async () => {
    const { url, events } = await echoGateway({ trustRequestId: true });
    const plain = JSON.parse((await send(`${url}/h`)).body) as Echo;
    expect(plain.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    const unsafe = JSON.parse((await send(`${url}/h`, { headers: { 'x-request-id': '<script>' } })).body) as Echo;
    expect(unsafe.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(events.response.map((event) => event.requestId)).toEqual([
      plain.headers['x-request-id'],
      unsafe.headers['x-request-id'],
    ]);
  });

  it('sends Host as the target with changeOrigin', async () => {
    const { url } = await echoGateway({ changeOrigin: true });
    const seen = JSON.parse((await send(`${url}/h`, { headers: { host: 'shop.example' } })).body) as Echo;
    expect(seen.headers.host).toBe(`127.0.0.1:${upstream?.port}`);
  });
});

/** One raw request on a keep-alive connection to an upstream that answers before reading the body: what it saw. */
async function seenByEager(options: object, request: string, setup: GatewaySetup = {}) {
  const eager = await eagerUpstream();
  upstream = eager;
  gateway = await startGateway({ target: eager.url, ...options }, setup);
  expect(await rawReply(gateway.port, request)).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\nok\n$/);
  expect(eager.requests).toBe(1);
  return eager.received[0] as ReceivedRequest;
}

describe('Connection tokens cannot remove what the client did not send (issue 13, item 5)', () => {
  it("never removes Host: the upstream gets the client's, not the target's", async () => {
    const seen = await seenByEager(
      {},
      'GET /h HTTP/1.1\r\nHost: shop.example\r\nConnection: keep-alive, host\r\nX-Hop: 1\r\n\r\n',
    );
    expect(seen.headers.host).toBe('shop.example');
  });

  it('never removes framing or what the proxy writes', async () => {
    const seen = await seenByEager(
      { trustRequestId: true },
      'POST /h HTTP/1.1\r\nHost: shop.example\r\nContent-Length: 4\r\n' +
        'Connection: close, Host, content-length, X-Forwarded-For, x-forwarded-proto, x-forwarded-host, x-request-id\r\n' +
        'X-Request-Id: ticket-42\r\n\r\nbody',
    );
    expect(seen.headers).toMatchObject({
      host: 'shop.example',
      'content-length': '4',
      'x-forwarded-for': '127.0.0.1',
      'x-forwarded-proto': 'http',
      'x-forwarded-host': 'shop.example',
      'x-request-id': 'ticket-42',
    });
  });

  it('never removes a header the app added or changed; removes one the client sent as the app left it', async () => {
    const seen = await seenByEager(
      {},
      'GET /h HTTP/1.1\r\nHost: gw\r\nConnection: x-user, X-Role, x-hop, x-tags\r\n' +
        'X-Role: admin\r\nX-Hop: secret\r\nX-Tags: a\r\nX-Tags: b\r\n\r\n',
      {
        before(req) {
          // An authentication middleware: who the user is, and the role it may act as.
          req.headers['x-user'] = 'alice';
          req.headers['x-role'] = 'reader';
        },
      },
    );
    expect(seen.headers['x-user']).toBe('alice');
    expect(seen.headers['x-role']).toBe('reader');
    // Genuinely the client's own: its Connection may name them.
    expect(seen.headers['x-hop']).toBeUndefined();
    expect(seen.headers['x-tags']).toBeUndefined();
  });

  it('with trustForwarded, the chain from the trusted edge cannot be removed either', async () => {
    const seen = await seenByEager(
      { trustForwarded: true },
      'GET /h HTTP/1.1\r\nHost: gw\r\nConnection: x-forwarded-for, forwarded, true-client-ip\r\n' +
        'X-Forwarded-For: 203.0.113.7\r\nForwarded: for=203.0.113.7\r\nTrue-Client-IP: 203.0.113.7\r\n\r\n',
    );
    expect(seen.headers['x-forwarded-for']).toBe('203.0.113.7, 127.0.0.1');
    expect(seen.headers.forwarded).toMatch(/^for=203\.0\.113\.7, /);
    expect(seen.headers['true-client-ip']).toBe('203.0.113.7');
  });
});

/** Every header a client may use to claim another address, scheme, host or port. */
const claimed = {
  'X-Forwarded-For': '6.6.6.6',
  'X-Forwarded-Proto': 'https',
  'X-Forwarded-Host': 'evil.example',
  'X-Forwarded-Port': '1',
  'X-Forwarded-Prefix': '/evil',
  'X-Forwarded-Scheme': 'https',
  'X-Forwarded-Ssl': 'on',
  'X-Forwarded': 'for=6.6.6.6',
  'Forwarded-For': '6.6.6.6',
  Forwarded: 'for=6.6.6.6;proto=https',
  'X-Real-IP': '6.6.6.6',
  'True-Client-IP': '6.6.6.6',
  'X-Client-IP': '6.6.6.6',
  'CF-Connecting-IP': '6.6.6.6',
  'CF-Connecting-IPv6': '2001:db8::6',
  'CF-Pseudo-IPv4': '6.6.6.6',
  'Fastly-Client-IP': '6.6.6.6',
  'X-Cluster-Client-IP': '6.6.6.6',
  'X-AppEngine-User-IP': '6.6.6.6',
  'X-Original-Forwarded-For': '6.6.6.6',
  'X-Envoy-External-Address': '6.6.6.6',
  'X-Azure-ClientIP': '6.6.6.6',
  'X-Azure-SocketIP': '6.6.6.6',
  'Client-IP': '6.6.6.6',
  // A TLS client certificate the client claims to have presented (RFC 9440 §2.4: a TLS-terminating proxy must remove
  // these from incoming requests; Envoy's X-Forwarded-Client-Cert; Jetty's ForwardedRequestCustomizer, which
  // believes any sender, reads Proxy-auth-cert and Proxy-ssl-id, and X-Proxied-Https and X-Forwarded-Server too).
  'Client-Cert': ':MIIBqDCCAU6gAwIBAgIBBzAKBggqhkjOPQQDAjA6:',
  'Client-Cert-Chain': ':MIIB5jCCAYugAwIBAgIBFjAKBggqhkjOPQQDAjBW:',
  'X-Forwarded-Client-Cert': 'By=spiffe://example/admin;Hash=0;Subject="CN=admin"',
  'Proxy-auth-cert': 'TLS_AES_128_GCM_SHA256',
  'Proxy-ssl-id': '6c1a',
  'X-Proxied-Https': 'on',
  'X-Forwarded-Server': 'evil.example',
  // The URL the client claims it asked for before an earlier hop rewrote it: IIS's URL Rewrite sets them, and
  // frameworks that read them (Symfony and Zend before CVE-2018-14773) route by them instead of the request-target.
  'X-Original-URL': '/admin',
  'X-Rewrite-URL': '/admin',
};
const claimedHead = Object.entries(claimed)
  .map(([name, value]) => `${name}: ${value}\r\n`)
  .join('');

describe('client addresses (issue 13, item 6)', () => {
  it('drops every address, scheme, host, port, client certificate or earlier URL a client claims, and sets its own X-Forwarded-*', async () => {
    const seen = await seenByEager({}, `GET /h HTTP/1.1\r\nHost: shop.example\r\n${claimedHead}\r\n`);
    for (const name of Object.keys(claimed)) {
      if (/^x-forwarded-(for|proto|host)$/i.test(name)) continue;
      expect(seen.headers[name.toLowerCase()], name).toBeUndefined();
    }
    expect(seen.headers).toMatchObject({
      'x-forwarded-for': '127.0.0.1',
      'x-forwarded-proto': 'http',
      'x-forwarded-host': 'shop.example',
    });
  });

  it('with trustForwarded, keeps them and extends X-Forwarded-For and Forwarded with this hop (RFC 7239 §4)', async () => {
    const seen = await seenByEager(
      { trustForwarded: true },
      `GET /h HTTP/1.1\r\nHost: shop.example\r\n${claimedHead}\r\n`,
    );
    for (const [name, value] of Object.entries(claimed)) {
      if (/^(x-forwarded-for|forwarded)$/i.test(name)) continue;
      expect(seen.headers[name.toLowerCase()], name).toBe(value);
    }
    expect(seen.headers['x-forwarded-for']).toBe('6.6.6.6, 127.0.0.1');
    expect(seen.headers.forwarded).toBe('for=6.6.6.6;proto=https, for=127.0.0.1;host=shop.example;proto=http');
  });

  it('with trustForwarded, adds no Forwarded when the edge sent none (it would name the edge as the client)', async () => {
    const seen = await seenByEager(
      { trustForwarded: true },
      'GET /h HTTP/1.1\r\nHost: shop.example\r\nX-Forwarded-For: 203.0.113.7\r\nX-Forwarded-Proto: https\r\n\r\n',
    );
    expect(seen.headers.forwarded).toBeUndefined();
    expect(seen.headers['x-forwarded-for']).toBe('203.0.113.7, 127.0.0.1');
    expect(seen.headers['x-forwarded-proto']).toBe('https');
  });

  it.each([
    ['127.0.0.1', 'shop.example', 'http', 'for=127.0.0.1;host=shop.example;proto=http'],
    ['::1', 'shop.example:8443', 'https', 'for="[::1]";host="shop.example:8443";proto=https'],
    ['::ffff:10.0.0.1', '', 'http', 'for="[::ffff:10.0.0.1]";proto=http'],
    ['', 'a"b\\c', 'http', 'for=unknown;host="a\\"b\\\\c";proto=http'],
  ])("this hop's Forwarded element: for %j, host %j, proto %s", (address, host, proto, element) => {
    expect(forwardedElement(address, host, proto)).toBe(element);
  });
});

describe('X-Request-Id from a client (issue 13, item 9)', () => {
  it('is not passed upstream by default: the id other systems log is ours, the same upstream, on the page and in events', async () => {
    const seen = await seenByEager(
      {},
      'GET /h HTTP/1.1\r\nHost: gw\r\nX-Request-Id: victim-1234\r\nConnection: close\r\n\r\n',
    );
    expect(seen.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(gateway?.events.response[0]?.requestId).toBe(seen.headers['x-request-id']);

    const nobody = await refusingUpstream();
    const refused = await startGateway({ target: nobody.url, retry: false });
    try {
      const reply = await send(`${refused.url}/h`, { headers: { 'x-request-id': 'victim-1234' } });
      expect(reply.status).toBe(502);
      expect(reply.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
      expect(reply.body).toContain(`Reference: ${reply.headers['x-request-id']}`);
      expect(refused.events.failure[0]?.requestId).toBe(reply.headers['x-request-id']);
    } finally {
      await refused.close();
    }
  });

  it('is passed upstream with trustRequestId: true (an edge you run sets it)', async () => {
    const seen = await seenByEager(
      { trustRequestId: true },
      'GET /h HTTP/1.1\r\nHost: gw\r\nX-Request-Id: edge-5678\r\nConnection: close\r\n\r\n',
    );
    expect(seen.headers['x-request-id']).toBe('edge-5678');
  });
});

describe('request bodies', () => {
  it.each(['DELETE', 'GET', 'OPTIONS', 'POST'])(
    're-frames a chunked %s body as chunked, so it cannot smuggle a request',
    async (method) => {
      const { port } = await echoGateway({ retry: false });
      const smuggled = 'GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n';
      const { bytes } = await rawExchange(
        port,
        `${method} /h HTTP/1.1\r\nHost: gw\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n` +
          `${smuggled.length.toString(16)}\r\n${smuggled}\r\n0\r\n\r\n`,
      );
      const seen = JSON.parse(splitHead(bytes).body) as Echo;
      expect(seen).toMatchObject({ method, url: '/h', body: smuggled });
      expect(seen.headers['transfer-encoding']).toBe('chunked');
      expect(upstream?.requests).toBe(1);
    },
  );

  it.each([
    ['gzip, chunked', 'Transfer-Encoding: gzip, chunked\r\n'],
    ['identity, chunked', 'Transfer-Encoding: identity, chunked\r\n'],
    ['gzip then chunked, on two lines', 'Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n'],
  ])('answers 501 to a transfer coding other than chunked alone (%s), never forwarded', async (_, coding) => {
    const eager = await eagerUpstream();
    upstream = eager;
    gateway = await startGateway({ target: eager.url });
    const zipped = gzipSync('GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n');
    const { bytes, ending } = await rawExchange(
      gateway.port,
      Buffer.concat([
        Buffer.from(`POST /h HTTP/1.1\r\nHost: gw\r\n${coding}\r\n${zipped.length.toString(16)}\r\n`),
        zipped,
        Buffer.from('\r\n0\r\n\r\nGET /next HTTP/1.1\r\nHost: gw\r\n\r\n'),
      ]),
    );
    const { head, body } = splitHead(bytes);
    expect(head).toMatch(/^HTTP\/1\.1 501 Not Implemented\r\n/);
    expect(headerIn(head, 'connection')).toBe('close');
    expect(headerIn(head, 'cache-control')).toBe('no-store');
    expect(body).toBe('Not Implemented: the only Transfer-Encoding accepted is chunked\n');
    expect(ending).toBe('fin');
    expect(eager.requests).toBe(0);
    expect(gateway.events.reject).toMatchObject([{ status: 501, reason: 'unsupported-transfer-coding' }]);
  });

  it('forwards chunked in any case as chunked, to an upstream that answers before reading the body', async () => {
    const eager = await eagerUpstream();
    upstream = eager;
    gateway = await startGateway({ target: eager.url, retry: false });
    const smuggled = 'GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n';
    const { bytes } = await rawExchange(
      gateway.port,
      `POST /h HTTP/1.1\r\nHost: gw\r\nConnection: close\r\nTransfer-Encoding:  Chunked \r\n\r\n` +
        `${smuggled.length.toString(16)}\r\n${smuggled}\r\n0\r\n\r\n`,
    );
    expect(bytes).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    await until(() => eager.received[0]?.ended === true);
    expect(eager.received).toMatchObject([{ url: '/h', body: smuggled }]);
    expect(eager.received[0]?.headers['transfer-encoding']).toBe('chunked');
  });

  it('keeps Content-Length even when the client names it in Connection', async () => {
    const { port } = await echoGateway({ retry: false });
    const smuggled = 'GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n';
    const { bytes } = await rawExchange(
      port,
      `DELETE /h HTTP/1.1\r\nHost: gw\r\nConnection: close, content-length\r\nContent-Length: ${smuggled.length}\r\n\r\n${smuggled}`,
    );
    expect((JSON.parse(splitHead(bytes).body) as Echo).body).toBe(smuggled);
    expect(upstream?.requests).toBe(1);
  });

  it('forwards a Content-Length body, buffered for a retry or streamed', async () => {
    const { url } = await echoGateway();
    const small = JSON.parse((await send(`${url}/h`, { method: 'PUT', body: 'small body' })).body) as Echo;
    expect(small).toMatchObject({ method: 'PUT', body: 'small body' });
    const large = 'x'.repeat(200_000);
    const big = JSON.parse((await send(`${url}/h`, { method: 'PUT', body: large })).body) as Echo;
    expect(big.body).toBe(large);
  });

  it('rejects forward() clearly when a body parser consumed the body, and sends nothing upstream', async () => {
    const { url, results } = await echoGateway(
      {},
      {
        async before(req) {
          (req as IncomingMessage & { body?: unknown }).body = JSON.parse((await consume(req)).toString());
        },
      },
    );
    const reply = await send(`${url}/h`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"a":1}',
    });
    expect(reply.status).toBe(500);
    expect(reply.body).toContain('Mount the proxy before body parsers');
    expect(results[0]).toMatchObject({ name: 'ConsumedBodyError', code: 'ERR_GATEWAY_BODY_CONSUMED' });
    expect(upstream?.requests).toBe(0);
  });

  it('forwards req.body when a parser left the bytes (a Buffer or a string)', async () => {
    let mode: 'buffer' | 'string' = 'buffer';
    const { url } = await echoGateway(
      {},
      {
        async before(req) {
          const bytes = await consume(req);
          (req as IncomingMessage & { body?: unknown }).body = mode === 'buffer' ? bytes : bytes.toString('utf8');
        },
      },
    );
    const raw = JSON.parse((await send(`${url}/h`, { method: 'POST', body: 'raw bytes é' })).body) as Echo;
    expect(raw.body).toBe('raw bytes é');
    expect(raw.headers['content-length']).toBe(String(Buffer.byteLength('raw bytes é')));
    mode = 'string';
    const text = JSON.parse(
      (await send(`${url}/h`, { method: 'POST', headers: { 'transfer-encoding': 'chunked' }, body: 'text body' })).body,
    ) as Echo;
    expect(text.body).toBe('text body');
    expect(text.headers['content-length']).toBe('9');
    expect(text.headers['transfer-encoding']).toBeUndefined();
  });

  it('rejects a parsed body whose Content-Encoding the parser decoded', async () => {
    const { url, results } = await echoGateway(
      {},
      {
        async before(req) {
          (req as IncomingMessage & { body?: unknown }).body = await consume(req);
        },
      },
    );
    const reply = await send(`${url}/h`, {
      method: 'POST',
      headers: { 'content-encoding': 'gzip' },
      body: gzipSync('zipped'),
    });
    expect(reply.status).toBe(500);
    expect(results[0]).toMatchObject({ code: 'ERR_GATEWAY_BODY_CONSUMED' });
    expect(String((results[0] as Error).message)).toContain('Content-Encoding (gzip)');
  });
});

describe('response headers', () => {
  it('drops hop-by-hop fields from the upstream, keeps end-to-end ones and Proxy-Status', async () => {
    upstream = await httpUpstream((req, res) => {
      req.resume();
      res.writeHead(200, {
        Connection: 'X-Upstream-Hop',
        'X-Upstream-Hop': 'secret',
        'Keep-Alive': 'timeout=99',
        'Proxy-Authenticate': 'Basic realm="upstream"',
        Upgrade: 'foo/2',
        Trailer: 'X-Checksum',
        'Transfer-Encoding': 'chunked',
        'Proxy-Status': 'origin-cache; hit',
        'X-End-To-End': 'kept',
      });
      res.end('body');
    });
    gateway = await startGateway({ target: upstream.url });
    const { bytes } = await rawExchange(gateway.port, 'GET /h HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n');
    const { head, body } = splitHead(bytes);
    expect(headerIn(head, 'x-upstream-hop')).toBeUndefined();
    expect(headerIn(head, 'proxy-authenticate')).toBeUndefined();
    expect(headerIn(head, 'upgrade')).toBeUndefined();
    expect(headerIn(head, 'trailer')).toBeUndefined();
    expect(headerIn(head, 'keep-alive')).toBeUndefined();
    expect(headerIn(head, 'connection')).toBe('close');
    expect(headerIn(head, 'proxy-status')).toBe('origin-cache; hit');
    expect(headerIn(head, 'x-end-to-end')).toBe('kept');
    // Node frames the body for our hop itself.
    expect(headerIn(head, 'transfer-encoding')).toBe('chunked');
    expect(body).toBe('4\r\nbody\r\n0\r\n\r\n');
  });

  it('keeps headers that earlier middleware set, the upstream winning a clash, cookies from both', async () => {
    upstream = await httpUpstream((req, res) => {
      req.resume();
      res.writeHead(200, { 'Set-Cookie': 'up=2', 'X-Frame-Options': 'SAMEORIGIN', 'Content-Type': 'text/plain' });
      res.end('ok');
    });
    gateway = await startGateway(
      { target: upstream.url },
      {
        before(_req, res) {
          res.setHeader('Access-Control-Allow-Origin', '*');
          res.setHeader('Strict-Transport-Security', 'max-age=63072000');
          res.setHeader('X-Frame-Options', 'DENY');
          res.setHeader('Set-Cookie', 'session=1');
        },
      },
    );
    const reply = await send(`${gateway.url}/h`);
    expect(reply.status).toBe(200);
    expect(reply.body).toBe('ok');
    expect(reply.headers['access-control-allow-origin']).toBe('*');
    expect(reply.headers['strict-transport-security']).toBe('max-age=63072000');
    expect(reply.headers['x-frame-options']).toBe('SAMEORIGIN');
    expect(reply.headers['set-cookie']).toEqual(['session=1', 'up=2']);
  });

  it.each([
    ['GET', 'HTTP/1.1 304 Not Modified\r\nETag: "v1"\r\nContent-Length: 5\r\n\r\nhello', 304],
    ['GET', 'HTTP/1.1 204 No Content\r\n\r\nstray bytes', 204],
    ['HEAD', 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello', 200],
  ])(
    'relays a whole answer to %s that the upstream followed with bytes it should not send (%j)',
    async (method, answer, status) => {
      upstream = await garbageUpstream({ bytes: answer });
      gateway = await startGateway({ target: upstream.url, retry: false });
      const { bytes, ending } = await rawExchange(
        gateway.port,
        `${method} /h HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n`,
      );
      const { head, body } = splitHead(bytes);
      expect(head).toMatch(new RegExp(`^HTTP/1\\.1 ${status} `));
      expect(body).toBe('');
      expect(ending).toBe('fin');
      expect(gateway.events.response).toMatchObject([{ status }]);
      expect(gateway.events.failure).toEqual([]);
    },
  );

  it('does not forward the upstream reason phrase (Node would refuse some bytes a parser accepts)', async () => {
    upstream = await httpUpstream((req, res) => {
      req.resume();
      res.writeHead(200, 'Fine \u00e9', { 'content-length': 2 });
      res.end('ok');
    });
    gateway = await startGateway({ target: upstream.url });
    const { bytes } = await rawExchange(gateway.port, 'GET /h HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n');
    expect(bytes.split('\r\n')[0]).toBe('HTTP/1.1 200 OK');
  });
});
