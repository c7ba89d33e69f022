/**
 * WebSocket handshakes on an app wired as the README says (`server.on('upgrade', middleware.upgrade)`), over raw
 * sockets: only the bytes on the wire say whether a handshake was refused, proxied, or answered by the app.
 */
import { connect } from 'node:net';
import { eagerUpstream } from '@gateway-errors/testing';
import { describe, expect, it } from 'vitest';
import { adapters } from './adapters.js';
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

function statusLine(bytes: string): string | undefined {
  return bytes.split('\r\n')[0];
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
  });
});
