/**
 * WebSocket handshakes on an app wired as the README says (`server.on('upgrade', middleware.upgrade)`), over raw
 * sockets: only the bytes on the wire say whether a handshake was refused, proxied, or answered by the app.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import {
  eagerUpstream,
  echoUpstream,
  refusingUpstream,
  statusUpstream,
  webSocketEchoUpstream,
} from '@gateway-errors/testing';
import { describe, expect, it } from 'vitest';
import { adapters, unauthorizedBody } from './adapters.js';
import { harness } from './harness.js';

const handshake = (path: string, extra = '') =>
  `GET ${path} HTTP/1.1\r\nHost: gateway\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
  `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`;

/** What a raw client saw: every byte (latin1) and how the connection ended. */
interface Exchange {
  bytes: string;
  ending: 'fin' | 'reset' | 'open';
}

/** Writes `text` on a new connection and records everything until the connection ends (or `waitMs` passed). */
function exchange(port: number, text: string, waitMs = 5000): Promise<Exchange> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const socket = connect(port, '127.0.0.1');
    const done = (ending: Exchange['ending']) => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ bytes: Buffer.concat(chunks).toString('latin1'), ending });
    };
    const timer = setTimeout(() => done('open'), waitMs);
    socket.on('connect', () => socket.write(text));
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('end', () => done('fin'));
    socket.on('error', () => done('reset'));
  });
}

/**
 * Sends a handshake and resolves once a 101 head arrived (the socket is then a tunnel, left open) or once the
 * connection ended (an answer that is not a 101).
 */
function openHandshake(port: number, path: string, extra = ''): Promise<{ bytes: string; socket: Socket }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let bytes = '';
    const timer = setTimeout(() => reject(new Error(`no answer to the handshake: ${JSON.stringify(bytes)}`)), 5000);
    const done = () => {
      clearTimeout(timer);
      resolve({ bytes, socket });
    };
    socket.on('error', () => {});
    socket.on('connect', () => socket.write(handshake(path, extra)));
    socket.on('data', (chunk: Buffer) => {
      bytes += chunk.toString('latin1');
      if (bytes.startsWith('HTTP/1.1 101 ') && bytes.includes('\r\n\r\n')) done();
    });
    socket.on('close', done);
  });
}

/** Writes `text` on an open tunnel and resolves with what comes back first. */
function echoOf(socket: Socket, text: string): Promise<string> {
  const echoed = new Promise<string>((resolve) => socket.once('data', (chunk: Buffer) => resolve(String(chunk))));
  socket.write(text);
  return echoed;
}

function statusLine(bytes: string): string | undefined {
  return bytes.split('\r\n')[0];
}

/** The value of a header in raw response bytes (case-insensitive name). */
function headerOf(bytes: string, name: string): string | undefined {
  const head = bytes.slice(0, bytes.indexOf('\r\n\r\n'));
  for (const line of head.split('\r\n').slice(1)) {
    const colon = line.indexOf(':');
    if (line.slice(0, colon).toLowerCase() === name) return line.slice(colon + 1).trim();
  }
  return undefined;
}

function bodyOf(bytes: string): string {
  return bytes.slice(bytes.indexOf('\r\n\r\n') + 4);
}

describe.each(adapters)('$name: WebSocket handshakes', (adapter) => {
  const h = harness(adapter);

  describe('a handshake cannot smuggle a body (issue 13, item 1)', () => {
    it.each([
      ['Content-Length', 'Content-Length: 40\r\n'],
      ['Transfer-Encoding', 'Transfer-Encoding: chunked\r\n'],
    ])('answers one with %s 400 and a close, and never forwards it', async (_name, framing) => {
      const upstream = await h.upstream(eagerUpstream);
      const app = await h.app({ proxy: { target: upstream.url }, websocket: true });
      const { bytes, ending } = await exchange(app.port, handshake('/api/ws', framing));
      expect(ending).toBe('fin');
      expect(statusLine(bytes)).toBe('HTTP/1.1 400 Bad Request');
      expect(bytes.toLowerCase()).toContain('\r\nconnection: close\r\n');
      expect(bytes.endsWith('\r\n\r\nBad Request: a WebSocket handshake has no body\n')).toBe(true);
      expect(upstream.requests).toBe(0);
    });

    it('still answers one when a reject listener throws, and the process goes on (no uncaught exception)', async () => {
      const crashes: unknown[] = [];
      const onCrash = (error: unknown) => crashes.push(error);
      process.on('uncaughtException', onCrash);
      try {
        const upstream = await h.upstream(eagerUpstream);
        const app = await h.app({ proxy: { target: upstream.url }, websocket: true });
        app.proxy?.on('reject', () => {
          throw new Error('listener broke');
        });
        const { bytes, ending } = await exchange(app.port, handshake('/api/ws', 'Content-Length: 40\r\n'));
        expect(ending).toBe('fin');
        expect(statusLine(bytes)).toBe('HTTP/1.1 400 Bad Request');
        expect(bodyOf(bytes)).toBe('Bad Request: a WebSocket handshake has no body\n');
        expect(upstream.requests).toBe(0);
        // An uncaught exception surfaces on a later turn of the event loop: the next exchange comes after it.
        const next = await exchange(app.port, handshake('/admin'));
        expect(statusLine(next.bytes)).toBe('HTTP/1.1 404 Not Found');
        expect(crashes).toEqual([]);
      } finally {
        process.off('uncaughtException', onCrash);
      }
    });
  });

  describe('a handshake meets the app like any request (issue 13, item 2)', () => {
    it.each([
      ['mounted with app.use / koa-mount', 'mount' as const, '/ws?room=1'],
      ['mounted as a route / @koa/router', 'route' as const, '/api/ws?room=1'],
    ])(
      '%s: only a handshake under the mount path is proxied, with the path a request would have',
      async (_name, mount, forwarded) => {
        const upstream = await h.upstream(webSocketEchoUpstream);
        const app = await h.app({ proxy: { target: upstream.url }, mount, websocket: true });
        for (const path of ['/admin', '/apix/ws', '/']) {
          const { bytes, ending } = await exchange(app.port, handshake(path));
          expect(statusLine(bytes), path).toBe('HTTP/1.1 404 Not Found');
          expect(ending, path).toBe('fin');
        }
        expect(upstream.requests).toBe(0);
        const { bytes, socket } = await openHandshake(app.port, '/api/ws?room=1');
        expect(statusLine(bytes)).toBe('HTTP/1.1 101 Switching Protocols');
        expect(await echoOf(socket, 'ping')).toBe('ping');
        socket.destroy();
        expect(upstream.handshakes.map((seen) => seen.url)).toEqual([forwarded]);
      },
    );

    it('maintenance() answers a handshake 503 and never reaches the upstream', async () => {
      const upstream = await h.upstream(webSocketEchoUpstream);
      const app = await h.app({ proxy: { target: upstream.url }, websocket: true, maintenance: {} });
      const { bytes, ending } = await exchange(app.port, handshake('/api/ws'));
      expect(ending).toBe('fin');
      expect(statusLine(bytes)).toBe('HTTP/1.1 503 Service Unavailable');
      expect(headerOf(bytes, 'proxy-status')).toBe('gateway-errors; error=proxy_internal_response');
      expect(headerOf(bytes, 'connection')).toBe('close');
      expect(upstream.requests).toBe(0);
    });

    it('an auth middleware before the proxy answers a handshake that does not pass it', async () => {
      const upstream = await h.upstream(webSocketEchoUpstream);
      const app = await h.app({ proxy: { target: upstream.url }, websocket: true, auth: 'Bearer let-me-in' });
      const refused = await exchange(app.port, handshake('/api/ws'));
      expect(statusLine(refused.bytes)).toBe('HTTP/1.1 401 Unauthorized');
      expect(bodyOf(refused.bytes)).toBe(unauthorizedBody);
      expect(refused.ending).toBe('fin');
      expect(upstream.requests).toBe(0);
      const { bytes, socket } = await openHandshake(app.port, '/api/ws', 'Authorization: Bearer let-me-in\r\n');
      expect(statusLine(bytes)).toBe('HTTP/1.1 101 Switching Protocols');
      socket.destroy();
    });

    it("a failed handshake is answered by the app's gatewayErrors(), with its options", async () => {
      const upstream = await h.upstream(refusingUpstream);
      const app = await h.app({ proxy: { target: upstream.url }, websocket: true, errors: { proxyName: 'acme-edge' } });
      const { bytes, ending } = await exchange(app.port, handshake('/api/ws'));
      expect(ending).toBe('fin');
      expect(statusLine(bytes)).toBe('HTTP/1.1 502 Bad Gateway');
      expect(headerOf(bytes, 'proxy-status')).toBe('acme-edge; error=connection_refused');
      expect(headerOf(bytes, 'retry-after')).toBe('5');
      expect(headerOf(bytes, 'connection')).toBe('close');
      expect(bodyOf(bytes)).toContain('502 Bad Gateway');
      expect(Number(headerOf(bytes, 'content-length'))).toBe(Buffer.byteLength(bodyOf(bytes), 'latin1'));
    });

    it("an upstream's plain answer to a handshake is relayed like a response, with the app's headers, then closed", async () => {
      const upstream = await h.upstream(() => statusUpstream({ status: 503, retryAfter: '7' }));
      const app = await h.app({
        proxy: { target: upstream.url },
        websocket: true,
        earlyHeaders: { 'X-Frame-Options': 'DENY' },
      });
      const { bytes, ending } = await exchange(app.port, handshake('/api/ws'));
      expect(ending).toBe('fin');
      expect(statusLine(bytes)).toBe('HTTP/1.1 503 Service Unavailable');
      expect(headerOf(bytes, 'retry-after')).toBe('7');
      expect(headerOf(bytes, 'x-frame-options')).toBe('DENY');
      expect(headerOf(bytes, 'connection')).toBe('close');
      expect(bodyOf(bytes)).toBe('upstream says 503\n');
    });

    it('an upgrade that is not a WebSocket one is answered as a plain request (RFC 9110 §7.8)', async () => {
      const upstream = await h.upstream(echoUpstream);
      const app = await h.app({ proxy: { target: upstream.url }, websocket: true });
      const h2c = 'GET /api/x HTTP/1.1\r\nHost: gateway\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n\r\n';
      const { bytes, ending } = await exchange(app.port, h2c);
      expect(ending).toBe('fin');
      expect(statusLine(bytes)).toBe('HTTP/1.1 200 OK');
      expect(headerOf(bytes, 'connection')).toBe('close');
      const seen = JSON.parse(bodyOf(bytes)) as { url: string; headers: Record<string, string> };
      expect(seen.url).toBe('/x');
      expect(seen.headers.upgrade).toBeUndefined();
      const outside = await exchange(app.port, h2c.replace('/api/x', '/admin'));
      expect(statusLine(outside.bytes)).toBe('HTTP/1.1 404 Not Found');
      expect(upstream.requests).toBe(1);
    });

    it('leaves a handshake outside its path to the other upgrade listeners of the server', async () => {
      const upstream = await h.upstream(webSocketEchoUpstream);
      const app = await h.app({ proxy: { target: upstream.url }, websocket: true });
      // Another library on the same server: it answers every handshake outside /api/, but only once the app is done
      // with it (the app runs every handshake), so that anything the app wrote on the socket would come first.
      const teapot = "HTTP/1.1 418 I'm a teapot\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
      const theirs = new Set<Duplex>();
      app.server.on('upgrade', (req: IncomingMessage, socket: Duplex) => {
        if (!req.url?.startsWith('/api/')) theirs.add(socket);
      });
      app.server.on('request', (req: IncomingMessage, res: ServerResponse) => {
        const socket = req.socket;
        if (theirs.has(socket)) res.once('finish', () => socket.end(teapot));
      });
      const other = await exchange(app.port, handshake('/chat'));
      expect(other.bytes).toBe(teapot);
      const { bytes, socket } = await openHandshake(app.port, '/api/ws');
      expect(statusLine(bytes)).toBe('HTTP/1.1 101 Switching Protocols');
      expect(await echoOf(socket, 'ping')).toBe('ping');
      socket.destroy();
      expect(upstream.requests).toBe(1);
    });
  });
});
