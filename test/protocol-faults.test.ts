import { request } from 'node:http';
import type { ProxyFailureEvent } from '@gateway-errors/core';
import {
  drippingHeadUpstream,
  echoUpstream,
  httpUpstream,
  informationalUpstream,
  rawExchange,
  refusingUploadUpstream,
  refusingUpstream,
  resetMidUploadUpstream,
  unsolicitedUpgradeUpstream,
} from '@gateway-errors/testing';
import request_ from 'supertest';
import { describe, expect, it } from 'vitest';
import { adapters } from './adapters.js';
import { expectError, harness } from './harness.js';

// The faults of HTTP/1.1's own framing (issue 15, item 4): a head that drips in, interim answers, a protocol switch
// nobody asked for, an upload refused or cut half-way, HTTP/1.0 clients, pipelined requests. Each runs through
// gatewayProxy() in every adapter, over real sockets, and is checked byte by byte where bytes matter.

const get = (path: string, extra = '') => `GET ${path} HTTP/1.1\r\nHost: gateway\r\n${extra}\r\n`;

/** What a client that sends `Expect: 100-continue` and waits for the 100 before its body sees (Node's client). */
function uploadExpectingContinue(
  url: string,
  body: Buffer,
): Promise<{ continues: number; status?: number; headers?: Record<string, unknown>; body?: string; error?: string }> {
  return new Promise((resolve) => {
    let continues = 0;
    const req = request(url, {
      method: 'POST',
      agent: false,
      headers: { Expect: '100-continue', 'Content-Length': body.length, 'Content-Type': 'application/octet-stream' },
    });
    req.on('continue', () => {
      continues++;
      req.end(body);
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        resolve({ continues, status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString() }),
      );
      res.on('error', (error: NodeJS.ErrnoException) =>
        resolve({ continues, status: res.statusCode, error: error.code }),
      );
    });
    req.on('error', (error: NodeJS.ErrnoException) => resolve({ continues, error: error.code }));
    req.flushHeaders();
  });
}

describe.each(adapters)('$name: protocol faults', (adapter) => {
  const h = harness(adapter);

  /** The failure events of a proxy, for the type and the timer that ended an attempt. */
  function failures(app: { proxy?: { on(event: 'failure', listener: (event: ProxyFailureEvent) => void): unknown } }) {
    const seen: ProxyFailureEvent[] = [];
    app.proxy?.on('failure', (event) => seen.push(event));
    return seen;
  }

  describe('a head that drips in byte by byte', () => {
    it('is passed through when the whole head arrives within the response timeout', async () => {
      const { url } = await h.gateway(() => drippingHeadUpstream({ interval: 2 }), { timeouts: { response: 10_000 } });
      const res = await request_(url).get('/api/x');
      expect(res.status).toBe(200);
      expect(res.text).toBe('dripped\n');
    });

    it('the response timeout decides, never the idle timeout between its bytes: 504 http_response_timeout', async () => {
      // Every gap (20 ms) is longer than idle (5 ms); the head (over 10 KB at one byte per gap) never completes.
      const app = await h.gateway(() => drippingHeadUpstream({ interval: 20, padding: 10_000 }), {
        timeouts: { response: 300, idle: 5 },
        retry: false,
      });
      const seen = failures(app);
      const res = await request_(app.url).get('/api/x');
      expectError(res, { status: 504, format: 'text', type: 'http_response_timeout' });
      expect(seen.map((event) => [event.failure.type, event.timeout])).toEqual([['http_response_timeout', 'response']]);
    });
  });

  describe('informational (1xx) answers', () => {
    it('103 Early Hints is relayed to an HTTP/1.1 client before the final answer, Link only', async () => {
      const { port } = await h.gateway(() =>
        informationalUpstream({
          informational: [{ status: 103, headers: { Link: '</app.css>; rel=preload; as=style', 'X-Internal': 'no' } }],
        }),
      );
      const { responses } = await rawExchange(port, get('/api/page'));
      expect(responses).toHaveLength(1);
      expect(responses[0]).toMatchObject({ status: 200, body: 'final answer\n', complete: true });
      expect(responses[0]?.informational).toEqual([
        { status: 103, headers: { link: ['</app.css>; rel=preload; as=style'] } },
      ]);
    });

    it('a comma-separated Link list is relayed whole', async () => {
      const { port } = await h.gateway(() =>
        informationalUpstream({
          informational: [{ status: 103, headers: { Link: '</a.css>; rel=preload; as=style, </b.js>; rel=preload' } }],
        }),
      );
      const { responses } = await rawExchange(port, get('/api/page'));
      expect(responses[0]?.informational).toEqual([
        { status: 103, headers: { link: ['</a.css>; rel=preload; as=style, </b.js>; rel=preload'] } },
      ]);
      expect(responses[0]?.status).toBe(200);
    });

    it('a 103 whose Link is malformed is dropped; the final answer goes through', async () => {
      const { port } = await h.gateway(() =>
        informationalUpstream({ informational: [{ status: 103, headers: { Link: 'no angle brackets' } }] }),
      );
      const { responses } = await rawExchange(port, get('/api/page'));
      expect(responses).toMatchObject([{ status: 200, body: 'final answer\n', informational: [] }]);
    });

    it('a 103 is never taken for the final answer: one with no answer after it ends in 504', async () => {
      const app = await h.gateway(() => informationalUpstream({ final: false }), {
        timeouts: { response: 300 },
        retry: false,
      });
      const { responses } = await rawExchange(app.port, get('/api/page', 'Accept: application/json\r\n'));
      expect(responses).toHaveLength(1);
      expect(responses[0]).toMatchObject({ status: 504, complete: true });
      expect(responses[0]?.headers['proxy-status']).toEqual(['gateway-errors; error=http_response_timeout']);
      expect(responses[0]?.informational.map((answer) => answer.status)).toEqual([103]);
    });

    it('an HTTP/1.0 client gets no 103 (RFC 9110 §15.2), only the final answer', async () => {
      const { port } = await h.gateway(() => informationalUpstream());
      const { responses } = await rawExchange(port, 'GET /api/page HTTP/1.0\r\n\r\n');
      expect(responses).toMatchObject([{ status: 200, body: 'final answer\n', informational: [] }]);
    });

    it("an upstream's own 100 Continue (and 102) is not relayed; the final answer is", async () => {
      const { port } = await h.gateway(() =>
        informationalUpstream({ informational: [{ status: 100 }, { status: 102 }], status: 201, body: 'made\n' }),
      );
      const { responses } = await rawExchange(port, get('/api/page'));
      expect(responses).toMatchObject([{ status: 201, body: 'made\n', informational: [] }]);
    });
  });

  describe('a 101 the client never asked for (RFC 9110 §15.2.2)', () => {
    it.each([
      ['with Upgrade: websocket', 'websocket'],
      ['bare', false],
    ] as const)('%s: 502 http_protocol_error at once, and no byte of the other protocol', async (_name, upgrade) => {
      const app = await h.gateway(() => unsolicitedUpgradeUpstream({ upgrade }), {
        timeouts: { response: 5000 },
        retry: false,
      });
      const seen = failures(app);
      const res = await request_(app.url).get('/api/x').set('Accept', 'application/json');
      expectError(res, { status: 502, format: 'problem', type: 'http_protocol_error' });
      expect(seen.map((event) => [event.failure.type, event.timeout])).toEqual([['http_protocol_error', undefined]]);
      // A GET may be retried like any protocol error; it meets the same 101.
      const raw = await rawExchange(app.port, get('/api/x'));
      expect(raw.responses.map((response) => response.status)).toEqual([502]);
      expect(raw.bytes).not.toContain('\x81\x02hi');
    });
  });

  describe('Expect: 100-continue', () => {
    it('the gateway sends the 100 itself; an upstream that refuses with 417 gets its 417 through', async () => {
      const app = await h.gateway(refusingUploadUpstream);
      const seen = await uploadExpectingContinue(`${app.url}/api/upload`, Buffer.from('small body'));
      expect(seen).toMatchObject({ continues: 1, status: 417, body: 'upload refused\n' });
      expect(app.upstream.requests).toBe(1);
    });

    it('a large upload refused before its body (413): the answer goes through and nothing is retried', async () => {
      const app = await h.gateway(() => refusingUploadUpstream({ status: 413, body: 'too large\n' }));
      const seen = await uploadExpectingContinue(`${app.url}/api/upload`, Buffer.alloc(300_000, 'u'));
      expect(seen).toMatchObject({ continues: 1, status: 413, body: 'too large\n' });
      expect(app.upstream.requests).toBe(1);
    });

    it('after an early refusal the rest of the body is read and dropped: the connection carries the next request', async () => {
      const app = await h.gateway(() => refusingUploadUpstream({ status: 413, body: 'too large\n' }));
      const body = 'u'.repeat(2_000_000);
      const { responses, ending } = await rawExchange(
        app.port,
        `POST /api/upload HTTP/1.1\r\nHost: gateway\r\nContent-Length: ${body.length}\r\n\r\n${body}${get('/elsewhere')}`,
        { methods: ['POST', 'GET'] },
      );
      expect(responses.map((response) => response.status)).toEqual([413, 404]);
      expect(responses[0]?.body).toBe('too large\n');
      expect(ending).toBe('done');
      expect(app.upstream.requests).toBe(1);
    });
  });

  describe('a large streamed upload the upstream resets half-way', () => {
    it('502 connection_terminated, never retried, and the connection carries the next request', async () => {
      const app = await h.gateway(() => resetMidUploadUpstream({ after: 100_000 }), { timeouts: { response: 5000 } });
      const seen = failures(app);
      const body = 'u'.repeat(2_000_000);
      const { responses, ending } = await rawExchange(
        app.port,
        `PUT /api/file HTTP/1.1\r\nHost: gateway\r\nAccept: application/json\r\nContent-Length: ${body.length}\r\n\r\n` +
          `${body}${get('/elsewhere')}`,
        { methods: ['PUT', 'GET'] },
      );
      expect(responses.map((response) => response.status)).toEqual([502, 404]);
      expect(responses[0]?.headers['proxy-status']).toEqual(['gateway-errors; error=connection_terminated']);
      expect(ending).toBe('done');
      expect(app.upstream.requests).toBe(1);
      expect(seen.map((event) => [event.failure.type, event.willRetry])).toEqual([['connection_terminated', false]]);
    });

    it('a chunked upload of unknown length: the same', async () => {
      const app = await h.gateway(() => resetMidUploadUpstream({ after: 10_000 }), { timeouts: { response: 5000 } });
      const chunk = 'c'.repeat(50_000);
      const chunks = `${(50_000).toString(16)}\r\n${chunk}\r\n`.repeat(40);
      const { responses } = await rawExchange(
        app.port,
        `POST /api/file HTTP/1.1\r\nHost: gateway\r\nTransfer-Encoding: chunked\r\n\r\n${chunks}0\r\n\r\n${get('/elsewhere')}`,
        { methods: ['POST', 'GET'] },
      );
      expect(responses.map((response) => response.status)).toEqual([502, 404]);
      expect(app.upstream.requests).toBe(1);
    });
  });

  describe('HTTP/1.0 clients', () => {
    it('a body the upstream sends chunked reaches them unchunked, delimited by the close', async () => {
      const { port } = await h.gateway(() =>
        httpUpstream((_req, res) => {
          res.write('first, ');
          res.end('second\n');
        }),
      );
      const { responses, ending, bytes } = await rawExchange(port, 'GET /api/x HTTP/1.0\r\n\r\n');
      expect(ending).toBe('fin');
      expect(bytes).not.toMatch(/transfer-encoding/i);
      expect(responses).toMatchObject([{ status: 200, body: 'first, second\n', complete: true }]);
    });

    it('an error page with its Content-Length, then the close', async () => {
      const { port } = await h.gateway(refusingUpstream);
      const { responses, ending } = await rawExchange(port, 'GET /api/x HTTP/1.0\r\nAccept: text/plain\r\n\r\n', {
        // Not done at the first answer: wait for the close.
        responses: 2,
      });
      expect(ending).toBe('fin');
      expect(responses).toHaveLength(1);
      expect(responses[0]).toMatchObject({ status: 502, complete: true });
      expect(Number(responses[0]?.headers['content-length']?.[0])).toBe(responses[0]?.body.length);
      expect(responses[0]?.body.startsWith('502 Bad Gateway\n')).toBe(true);
    });

    it('keep-alive when they ask for it: two requests on one connection', async () => {
      const { port } = await h.gateway(echoUpstream);
      const { responses } = await rawExchange(
        port,
        'GET /api/one HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /api/two HTTP/1.0\r\n\r\n',
        { methods: ['GET', 'GET'] },
      );
      expect(responses.map((response) => JSON.parse(response.body).url)).toEqual(['/one', '/two']);
    });
  });

  describe('pipelined requests', () => {
    it('are each answered, in order, whatever each one meets', async () => {
      const { port } = await h.gateway(() =>
        httpUpstream((req, res) => {
          const answer = () => {
            if (req.url === '/reset') {
              req.socket.resetAndDestroy();
              return;
            }
            const status = req.url === '/500' ? 500 : 200;
            const body = `${req.method} ${req.url}\n`;
            res.writeHead(status, { 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(body) });
            res.end(req.method === 'HEAD' ? undefined : body);
          };
          req.resume();
          // The first request is the slowest: the later answers wait for it.
          req.on('end', () => (req.url === '/slow' ? setTimeout(answer, 50) : answer()));
        }),
      );
      const { responses, ending } = await rawExchange(
        port,
        get('/api/slow') +
          'POST /api/post HTTP/1.1\r\nHost: gateway\r\nContent-Length: 3\r\n\r\nabc' +
          'HEAD /api/head HTTP/1.1\r\nHost: gateway\r\n\r\n' +
          get('/api/reset', 'Accept: text/plain\r\n') +
          get('/api/500') +
          get('/api/last'),
        { methods: ['GET', 'POST', 'HEAD', 'GET', 'GET', 'GET'] },
      );
      expect(ending).toBe('done');
      expect(responses.map((response) => [response.status, response.body.split('\n')[0]])).toEqual([
        [200, 'GET /slow'],
        [200, 'POST /post'],
        [200, ''],
        [502, '502 Bad Gateway'],
        [500, 'GET /500'],
        [200, 'GET /last'],
      ]);
    });
  });
});
