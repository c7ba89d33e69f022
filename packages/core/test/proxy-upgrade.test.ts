import { createServer, type IncomingMessage } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { connect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { createErrorResponder, createProxy } from '@gateway-errors/core';
import {
  certificates,
  eagerUpstream,
  garbageUpstream,
  hangingUpstream,
  httpUpstream,
  refusingUpstream,
  resetAfterRequest,
  stallMidBodyUpstream,
  statusUpstream,
  testCA,
  type Upstream,
  unacceptingUpstream,
  webSocketEchoUpstream,
} from '@gateway-errors/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { type Gateway, headerIn, rawExchange, send, splitHead, startGateway, until } from './proxy-helpers.js';

let upstream: Upstream | undefined;
let gateway: Gateway | undefined;
afterEach(async () => {
  await gateway?.close();
  await upstream?.close();
  gateway = upstream = undefined;
});

const key = 'dGhlIHNhbXBsZSBub25jZQ==';
const handshake = (path = '/ws', extra = '') =>
  `GET ${path} HTTP/1.1\r\nHost: gw\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
  `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`;

describe('a successful upgrade', () => {
  it('tunnels bytes both ways to a WebSocket upstream', async () => {
    const echo = await webSocketEchoUpstream();
    upstream = echo;
    gateway = await startGateway({ target: echo.url });
    const socket = connect(gateway.port, '127.0.0.1');
    socket.on('error', () => {});
    let received = '';
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1');
    });
    socket.write(handshake('/ws?room=1', 'X-Forwarded-For: 6.6.6.6\r\n'));
    await until(() => received.includes('\r\n\r\n'), 5000, 'the 101');
    const { head } = splitHead(received);
    expect(head.split('\r\n')[0]).toBe('HTTP/1.1 101 Switching Protocols');
    expect(headerIn(head, 'sec-websocket-accept')).toBe('s3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
    socket.write('hello through the tunnel');
    await until(() => received.endsWith('hello through the tunnel'), 5000, 'the echo');
    expect(echo.handshakes[0]?.headers).toMatchObject({
      upgrade: 'websocket',
      connection: 'upgrade',
      'x-forwarded-for': '127.0.0.1',
      'x-forwarded-proto': 'http',
    });
    expect(echo.handshakes[0]?.headers?.['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(gateway.events.response).toMatchObject([{ status: 101, upgrade: true, path: '/ws', method: 'GET' }]);
    socket.destroy();
    await until(() => echo.openTunnels() === 0, 5000, 'the upstream side of the tunnel to close');
    expect(gateway.events.failure).toHaveLength(0);
  });

  it('upgrades towards a wss target by its own host name, whatever Host the client sent', async () => {
    const server = createHttpsServer(certificates.valid, (_req, res) => res.writeHead(426).end());
    server.on('upgrade', (_req, socket: Socket) => {
      socket.on('error', () => {});
      socket.end('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    upstream = {
      url: `https://localhost:${port}`,
      port,
      requests: 0,
      close: () => new Promise<void>((resolve) => server.close(() => resolve())),
    } as Upstream;
    gateway = await startGateway({ target: upstream.url, tls: { ca: testCA } });
    const { bytes } = await rawExchange(gateway.port, handshake());
    expect(bytes.split('\r\n')[0]).toBe('HTTP/1.1 101 Switching Protocols');
  });

  it("relays the 101's header bytes as the upstream wrote them, obs-text included", async () => {
    // RFC 9110 §5.5: a field value may carry obs-text (bytes 0x80-0xFF), which Node's parser keeps one char per byte.
    upstream = await garbageUpstream({
      bytes: Buffer.from(
        'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nX-Name: caf\xe9\r\n\r\n',
        'latin1',
      ),
    });
    gateway = await startGateway({ target: upstream.url });
    const socket = connect(gateway.port, '127.0.0.1');
    socket.on('error', () => {});
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.write(handshake());
    await until(() => Buffer.concat(chunks).includes('\r\n\r\n'), 5000, 'the 101');
    const head = Buffer.concat(chunks);
    expect(head.subarray(head.indexOf('X-Name: '), head.indexOf('\r\n\r\n'))).toEqual(
      Buffer.from('X-Name: caf\xe9', 'latin1'),
    );
    socket.destroy();
  });

  it('closes the client side when the upstream side of the tunnel is reset', async () => {
    const echo = await webSocketEchoUpstream();
    upstream = echo;
    gateway = await startGateway({ target: echo.url });
    const socket = connect(gateway.port, '127.0.0.1');
    let received = '';
    let ended = false;
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1');
    });
    socket.on('close', () => {
      ended = true;
    });
    socket.on('error', () => {});
    socket.write(handshake());
    await until(() => received.includes('\r\n\r\n'), 5000, 'the 101');
    await echo.close();
    await until(() => ended, 5000, 'the client connection to close');
  });

  it('lets the client side go after idle once the upstream closed the tunnel, though the client never closes it', async () => {
    const echo = await webSocketEchoUpstream();
    upstream = echo;
    gateway = await startGateway({ target: echo.url, timeouts: { idle: 200 } });
    // A client that keeps its side open (half-open) and says nothing: without a timer it would hold the gateway's
    // socket forever, one per tunnel the upstream ended, until the process runs out of descriptors.
    const socket = connect({ port: gateway.port, host: '127.0.0.1', allowHalfOpen: true });
    let received = '';
    let finned = false;
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1');
    });
    socket.on('end', () => {
      finned = true;
    });
    socket.on('error', () => {});
    socket.write(handshake());
    await until(() => received.includes('\r\n\r\n'), 5000, 'the 101');
    await echo.close();
    await until(() => finned, 5000, "the gateway's FIN");
    await until(() => gateway?.openConnections() === 0, 5000, 'the gateway to let the half-open connection go');
    socket.destroy();
  });

  it('lets the upstream go when the client leaves during a relayed answer', async () => {
    let upstreamClosed = false;
    upstream = await httpUpstream((req, res) => {
      req.resume();
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      res.write('first chunk of a body that never ends\n');
      res.on('close', () => {
        upstreamClosed = true;
      });
    });
    gateway = await startGateway({ target: upstream.url });
    const socket = connect(gateway.port, '127.0.0.1');
    socket.on('error', () => {});
    let received = '';
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1');
    });
    socket.write(handshake());
    await until(() => received.includes('first chunk'), 5000, 'the relayed head and first chunk');
    expect(received.split('\r\n')[0]).toBe('HTTP/1.1 200 OK');
    socket.destroy();
    await until(() => upstreamClosed, 5000, 'the upstream response to be let go');
  });

  it('relays an upstream that answers the handshake with a plain 503', async () => {
    upstream = await statusUpstream({ status: 503, retryAfter: '7' });
    gateway = await startGateway({ target: upstream.url });
    const { bytes, ending } = await rawExchange(gateway.port, handshake());
    expect(ending).not.toBe('open');
    const { head, body } = splitHead(bytes);
    expect(head.split('\r\n')[0]).toBe('HTTP/1.1 503 Service Unavailable');
    expect(body).toBe('upstream says 503\n');
    expect(gateway.events.response).toMatchObject([{ status: 503, upgrade: true }]);
  });
});

describe('a failing upgrade is answered with an HTTP error on the raw socket, then closed', () => {
  const rows: Array<[string, number, string, () => Promise<Upstream>, object]> = [
    ['refused', 502, 'connection_refused', refusingUpstream, {}],
    ['reset', 502, 'connection_terminated', resetAfterRequest, {}],
    ['garbage', 502, 'http_protocol_error', garbageUpstream, {}],
    // A 101 that names no protocol (no Upgrade): not a switch to WebSocket, and never an answer to relay (RFC 9110
    // §15.2.2); the client would take the connection for switched.
    [
      'a 101 without Upgrade',
      502,
      'http_protocol_error',
      () => garbageUpstream({ bytes: 'HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n\r\n' }),
      {},
    ],
    ['hanging', 504, 'http_response_timeout', hangingUpstream, { response: 300 }],
    ['never accepting', 504, 'connection_timeout', unacceptingUpstream, { connect: 300 }],
  ];

  it.each(rows)('%s: %i %s', async (_name, status, type, make, timeouts) => {
    upstream = await make();
    gateway = await startGateway({ target: upstream.url, timeouts });
    const { bytes, ending } = await rawExchange(gateway.port, handshake());
    expect(ending).toBe('fin');
    const { head, body } = splitHead(bytes);
    expect(head.split('\r\n')[0]).toBe(`HTTP/1.1 ${status} ${status === 502 ? 'Bad Gateway' : 'Gateway Timeout'}`);
    expect(headerIn(head, 'proxy-status')).toBe(`gateway-errors; error=${type}`);
    expect(headerIn(head, 'retry-after')).toBe('5');
    expect(headerIn(head, 'connection')).toBe('close');
    expect(headerIn(head, 'cache-control')).toBe('no-store');
    expect(headerIn(head, 'content-type')).toBe('text/plain; charset=utf-8');
    expect(Number(headerIn(head, 'content-length'))).toBe(Buffer.byteLength(body, 'latin1'));
    expect(body).toContain(`${status} `);
    // Tried twice, as any GET whose failure allows a retry.
    expect(gateway.events.failure).toMatchObject([
      { upgrade: true, attempt: 1, willRetry: true, failure: { type, status } },
      { upgrade: true, attempt: 2, willRetry: false, failure: { type, status } },
    ]);
  });

  it.each([
    ['h2c', 'GET /h2 HTTP/1.1\r\nHost: gw\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n'],
    ['a WebSocket over HTTP/1.0', handshake().replace('HTTP/1.1', 'HTTP/1.0')],
  ])('answers an upgrade that is not a WebSocket handshake (%s) with 400 and a close', async (_name, text) => {
    upstream = await hangingUpstream();
    gateway = await startGateway({ target: upstream.url });
    const { bytes, ending } = await rawExchange(gateway.port, text);
    expect(ending).toBe('fin');
    expect(bytes.split('\r\n')[0]).toBe('HTTP/1.1 400 Bad Request');
    expect(upstream.requests).toBe(0);
    expect(gateway.events.reject).toMatchObject([{ status: 400, reason: 'not-a-websocket' }]);
  });

  it('stops the upstream handshake when the client leaves, with a 499 event', async () => {
    upstream = await hangingUpstream();
    gateway = await startGateway({ target: upstream.url, timeouts: { response: 10_000 } });
    const socket = connect(gateway.port, '127.0.0.1');
    socket.on('error', () => {});
    socket.write(handshake());
    await until(() => upstream?.requests === 1, 5000, 'the handshake to reach the upstream');
    socket.destroy();
    await until(() => gateway?.events.abort.length === 1, 2000, 'the abort event');
    expect(gateway.events.abort[0]).toMatchObject({ status: 499, upgrade: true, phase: 'response-head' });
    expect(gateway.events.failure).toHaveLength(0);
  });
});

describe('a handshake cannot smuggle a request or leave a connection owing bytes (issue 13, item 1)', () => {
  /** A request whose body is a whole request: read as one more request if the connection is owed body bytes. */
  const smuggled = 'GET /admin/secret HTTP/1.1\r\nHost: admin.internal\r\nX-Forwarded-For: 10.0.0.1\r\n\r\n';
  const post = { method: 'POST', headers: { 'x-request-id': 'same-every-time' }, body: smuggled };

  it.each([
    ['Content-Length', 'Content-Length: 5\r\n'],
    ['Transfer-Encoding', 'Transfer-Encoding: chunked\r\n'],
    ['a zero Content-Length', 'Content-Length: 0\r\n'],
  ])('answers a handshake with %s 400 and never forwards it', async (_name, framing) => {
    const eager = await eagerUpstream();
    upstream = eager;
    gateway = await startGateway({ target: eager.url });
    const { bytes, ending } = await rawExchange(gateway.port, handshake('/ws', framing));
    expect(ending).toBe('fin');
    const { head, body } = splitHead(bytes);
    expect(head.split('\r\n')[0]).toBe('HTTP/1.1 400 Bad Request');
    expect(headerIn(head, 'connection')).toBe('close');
    expect(headerIn(head, 'cache-control')).toBe('no-store');
    expect(headerIn(head, 'content-type')).toBe('text/plain; charset=utf-8');
    expect(body).toBe('Bad Request: a WebSocket handshake has no body\n');
    expect(eager.requests).toBe(0);
    expect(gateway.events.reject).toMatchObject([{ status: 400, reason: 'upgrade-with-body', upgrade: true }]);
  });

  it('a handshake announcing the length of the next request cannot make the upstream read that request as a body', async () => {
    const eager = await eagerUpstream({ status: 404 });
    upstream = eager;
    gateway = await startGateway({ target: eager.url });
    // Once, to learn how long the head of this POST is when the gateway forwards it.
    expect((await send(`${gateway.url}/x`, post)).status).toBe(404);
    const [first] = eager.received;
    let length = Buffer.byteLength(`POST /x HTTP/1.1\r\n\r\n`);
    for (let i = 0; i + 1 < (first?.rawHeaders.length ?? 0); i += 2) {
      length += Buffer.byteLength(`${first?.rawHeaders[i]}: ${first?.rawHeaders[i + 1]}\r\n`);
    }
    // The handshake announces that many body bytes and sends none. Forwarded, the upstream answers at once (before
    // the body), the connection goes back to the pool owing that body, and the next request's head is read as it: its
    // body, a whole request, comes next (nginx parses it as one; Node's parser stops there, after an upgrade).
    await rawExchange(gateway.port, handshake('/ws', `Content-Length: ${length}\r\n`));
    expect((await send(`${gateway.url}/x`, post)).status).toBe(404);
    await until(() => eager.received.every((request) => request.ended), 5000, 'every body the upstream expects');
    expect(eager.received.map((request) => `${request.method} ${request.url}`)).toEqual(['POST /x', 'POST /x']);
    expect(eager.received.map((request) => request.body)).toEqual([smuggled, smuggled]);
  });

  it('never returns the connection of a handshake the upstream answered without a 101 to the pool', async () => {
    const eager = await eagerUpstream({ status: 404 });
    upstream = eager;
    gateway = await startGateway({ target: eager.url });
    const { bytes } = await rawExchange(gateway.port, handshake('/ws'));
    expect(bytes.split('\r\n')[0]).toBe('HTTP/1.1 404 Not Found');
    expect((await send(`${gateway.url}/next`)).status).toBe(404);
    expect(eager.received.map((request) => request.url)).toEqual(['/ws', '/next']);
    // The request after the handshake went out on a connection of its own.
    expect(eager.connections).toBe(2);
  });
});

describe('a handshake is held to the limits of a request until its 101 (issue 13, item 2)', () => {
  /** Writes a handshake on a new connection and keeps what comes back; the connection is left open. */
  function startHandshake(port: number): { socket: Socket; received: () => string } {
    const socket = connect(port, '127.0.0.1');
    socket.on('error', () => {});
    let received = '';
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1');
    });
    socket.write(handshake());
    return { socket, received: () => received };
  }

  it("relays a plain answer under the idle timer: an upstream that stops mid-body has the client's connection closed", async () => {
    upstream = await stallMidBodyUpstream({ headers: { 'Content-Type': 'text/plain' } });
    gateway = await startGateway({ target: upstream.url, timeouts: { idle: 200 } });
    const { bytes, ending } = await rawExchange(gateway.port, handshake());
    expect(ending).not.toBe('open');
    const { head, body } = splitHead(bytes);
    expect(head.split('\r\n')[0]).toBe('HTTP/1.1 200 OK');
    expect(headerIn(head, 'content-length')).toBe('1000');
    expect(body).toBe('partial body\n');
    expect(gateway.events.failure).toMatchObject([
      { upgrade: true, timeout: 'idle', headSent: true, failure: { type: 'connection_read_timeout' } },
    ]);
  });

  it('holds a concurrency slot while it waits for the answer', async () => {
    upstream = await hangingUpstream();
    gateway = await startGateway({ target: upstream.url, concurrency: { max: 1, queue: 0 } });
    const waiting = startHandshake(gateway.port);
    await until(() => upstream?.requests === 1, 5000, 'the handshake to reach the upstream');
    const reply = await send(`${gateway.url}/x`);
    expect(reply.status).toBe(503);
    expect(reply.headers['proxy-status']).toBe('gateway-errors; error=connection_limit_reached');
    waiting.socket.destroy();
  });

  it('holds a concurrency slot while a plain answer is relayed', async () => {
    upstream = await stallMidBodyUpstream();
    gateway = await startGateway({ target: upstream.url, concurrency: { max: 1, queue: 0 } });
    const relaying = startHandshake(gateway.port);
    await until(() => relaying.received().includes('partial body'), 5000, 'the start of the relayed answer');
    const reply = await send(`${gateway.url}/x`);
    expect(reply.status).toBe(503);
    expect(reply.headers['proxy-status']).toBe('gateway-errors; error=connection_limit_reached');
    relaying.socket.destroy();
  });

  it('gives its slot back once the tunnel is open: a tunnel is not counted', async () => {
    const echo = await webSocketEchoUpstream();
    upstream = echo;
    gateway = await startGateway({ target: echo.url, concurrency: { max: 1, queue: 0 } });
    const tunnel = startHandshake(gateway.port);
    await until(() => tunnel.received().includes('\r\n\r\n'), 5000, 'the 101');
    expect(tunnel.received().split('\r\n')[0]).toBe('HTTP/1.1 101 Switching Protocols');
    // The echo upstream answers a plain request 426: it got through.
    expect((await send(`${gateway.url}/x`)).status).toBe(426);
    tunnel.socket.destroy();
  });

  it('fails over to another target when the first refuses the handshake', async () => {
    const echo = await webSocketEchoUpstream();
    upstream = echo;
    const refusing = await refusingUpstream();
    gateway = await startGateway({ target: [refusing.url, echo.url] });
    for (let i = 0; i < 2; i++) {
      const tunnel = startHandshake(gateway.port);
      await until(() => tunnel.received().includes('\r\n\r\n'), 5000, 'the 101');
      expect(tunnel.received().split('\r\n')[0]).toBe('HTTP/1.1 101 Switching Protocols');
      tunnel.socket.destroy();
    }
    expect(echo.requests).toBe(2);
  });
});

describe("proxy.routeUpgrade: handshakes routed through the server's own request handler (issue 13, item 2)", () => {
  it('proxies only what the handler forwards, and the handler answers the rest', async () => {
    const echo = await webSocketEchoUpstream();
    upstream = echo;
    const proxy = createProxy({ target: echo.url });
    const errors = createErrorResponder();
    const server = createServer(async (req, res) => {
      if (!req.url?.startsWith('/api/')) {
        res.writeHead(404, { 'Content-Type': 'text/plain', 'Content-Length': '9' }).end('not here\n');
        return;
      }
      const error = await proxy.forward(req, res);
      if (error) errors.send(error.failure, req, res);
    });
    server.on('upgrade', proxy.routeUpgrade);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    try {
      const outside = await rawExchange(port, handshake('/admin'));
      expect(outside.ending).toBe('fin');
      expect(outside.bytes.split('\r\n')[0]).toBe('HTTP/1.1 404 Not Found');
      expect(splitHead(outside.bytes).body).toBe('not here\n');
      expect(echo.requests).toBe(0);
      const socket = connect(port, '127.0.0.1');
      socket.on('error', () => {});
      let received = '';
      socket.on('data', (chunk: Buffer) => {
        received += chunk.toString('latin1');
      });
      socket.write(handshake('/api/ws'));
      await until(() => received.includes('\r\n\r\n'), 5000, 'the 101');
      expect(received.split('\r\n')[0]).toBe('HTTP/1.1 101 Switching Protocols');
      expect(echo.handshakes.map((seen) => seen.url)).toEqual(['/api/ws']);
      socket.destroy();
    } finally {
      proxy.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('routes each handshake once, to whichever proxy the handler forwards it to, with its early bytes', async () => {
    const [a, b] = [await webSocketEchoUpstream(), await webSocketEchoUpstream()];
    const proxies = [createProxy({ target: a.url }), createProxy({ target: b.url })] as const;
    const server = createServer(async (req, res) => {
      const error = await proxies[req.url?.startsWith('/b/') ? 1 : 0].forward(req, res);
      if (error) res.destroy();
    });
    // Both proxies' listeners: each handshake is still given to the app once.
    for (const proxy of proxies) server.on('upgrade', proxy.routeUpgrade);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    try {
      const socket = connect(port, '127.0.0.1');
      socket.on('error', () => {});
      let received = '';
      socket.on('data', (chunk: Buffer) => {
        received += chunk.toString('latin1');
      });
      // Bytes sent right behind the head, before any answer: the first of the tunnel.
      socket.write(`${handshake('/b/ws')}early bytes`);
      await until(() => received.endsWith('early bytes'), 5000, 'the early bytes echoed');
      expect(received.split('\r\n')[0]).toBe('HTTP/1.1 101 Switching Protocols');
      expect([a.requests, b.requests]).toEqual([0, 1]);
      socket.destroy();
    } finally {
      for (const proxy of proxies) proxy.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await a.close();
      await b.close();
    }
  });

  it('leaves a handshake another upgrade listener already took to it, even when the handler forwards every path (security review)', async () => {
    const status = await statusUpstream({ status: 404 });
    upstream = status;
    const proxy = createProxy({ target: status.url });
    let handled: () => void = () => {};
    const forwarded = new Promise<void>((resolve) => {
      handled = resolve;
    });
    // A proxy for every path, as `app.use(proxy)` mounts it, beside a WebSocket server of the app's own on /chat
    // (ws with noServer, socket.io) that accepts at once and echoes.
    const server = createServer(async (req, res) => {
      const error = await proxy.forward(req, res);
      if (error) res.destroy();
      handled();
    });
    server.on('upgrade', (req: IncomingMessage, socket: Duplex) => {
      if (req.url !== '/chat') return;
      socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
      socket.pipe(socket);
    });
    server.on('upgrade', proxy.routeUpgrade);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    try {
      const socket = connect(port, '127.0.0.1');
      socket.on('error', () => {});
      let received = '';
      socket.on('data', (chunk: Buffer) => {
        received += chunk.toString('latin1');
      });
      socket.write(handshake('/chat'));
      await forwarded;
      // The other listener's WebSocket stays its own: no handshake to the upstream, no answer of its written into the
      // open WebSocket, no close; every WebSocket of the app's own server would break.
      expect(status.requests).toBe(0);
      socket.write('ping');
      await until(() => received.endsWith('\r\n\r\nping'), 5000, "the other listener's echo");
      expect(received).toBe(
        'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nping',
      );
      socket.destroy();
    } finally {
      proxy.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it.each([
    [
      'refuses it and closes it',
      // As ws's abortHandshake does (a verifyClient that says no).
      (socket: Duplex) => {
        socket.once('finish', () => socket.destroy());
        socket.end('HTTP/1.1 401 Unauthorized\r\nConnection: close\r\n\r\n');
      },
      'HTTP/1.1 401 Unauthorized\r\nConnection: close\r\n\r\n',
    ],
    [
      'reads it before it answers',
      (socket: Duplex) => {
        socket.once('data', () => {
          socket.once('finish', () => socket.destroy());
          socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
        });
      },
      'HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n',
    ],
  ] as const)(
    'leaves a handshake to another upgrade listener that %s, and forwards nothing (security review)',
    async (_what, other, answer) => {
      const status = await statusUpstream({ status: 404 });
      upstream = status;
      const proxy = createProxy({ target: status.url });
      const results: unknown[] = [];
      let handled: () => void = () => {};
      const forwarded = new Promise<void>((resolve) => {
        handled = resolve;
      });
      const server = createServer(async (req, res) => {
        results.push(await proxy.forward(req, res));
        handled();
      });
      server.on('upgrade', (req: IncomingMessage, socket: Duplex) => {
        if (req.url === '/chat') other(socket);
      });
      server.on('upgrade', proxy.routeUpgrade);
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const { port } = server.address() as { port: number };
      try {
        const socket = connect(port, '127.0.0.1');
        socket.on('error', () => {});
        let received = '';
        socket.on('data', (chunk: Buffer) => {
          received += chunk.toString('latin1');
        });
        const closed = new Promise((resolve) => socket.once('close', resolve));
        socket.write(handshake('/chat'));
        await forwarded;
        // forward() did not send it on, not even as a plain request, and has nothing to answer.
        expect(status.requests).toBe(0);
        expect(results).toEqual([undefined]);
        socket.write('ping');
        await closed;
        expect(received).toBe(answer);
      } finally {
        proxy.close();
        server.closeAllConnections();
        await new Promise((resolve) => server.close(resolve));
      }
    },
  );

  it('answers 404 and closes when the server has no request handler', async () => {
    const echo = await webSocketEchoUpstream();
    upstream = echo;
    const proxy = createProxy({ target: echo.url });
    const server = createServer();
    server.on('upgrade', proxy.routeUpgrade);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    try {
      const { bytes, ending } = await rawExchange(port, handshake('/ws'));
      expect(ending).toBe('fin');
      expect(bytes.split('\r\n')[0]).toBe('HTTP/1.1 404 Not Found');
      expect(echo.requests).toBe(0);
    } finally {
      proxy.close();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
