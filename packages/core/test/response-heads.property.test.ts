/**
 * Properties of the response heads an upstream controls, through a real gateway over sockets: whatever status line,
 * header names and values (odd bytes, folded lines, CR, LF and NUL, duplicate Content-Length, Content-Length with
 * Transfer-Encoding), the client gets exactly one response, well framed: our 502 (with Proxy-Status), or the
 * upstream's status relayed, complete or visibly cut; never a second response (a split), and the process never gets
 * an uncaught exception or an unhandled rejection.
 */
import { garbageUpstream, type Upstream } from '@gateway-errors/testing';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { propertyRuns } from '../../../test/support/property.js';
import { type Gateway, rawExchange, startGateway } from './proxy-helpers.js';

/** Bytes for odd places: letters, separators, controls (CR, LF, NUL, DEL, tab), obs-text, a folded line. */
const oddUnit = fc.constantFrom(
  'a',
  'Z',
  '0',
  ' ',
  '\t',
  ':',
  ';',
  ',',
  '"',
  '\r',
  '\n',
  '\0',
  '\x7f',
  '\x01',
  'é',
  '\xff',
);
const odd = fc.string({ unit: oddUnit, maxLength: 6 });

const statusLine = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(200, 204, 206, 301, 304, 404, 500, 502, 503).map((s) => `HTTP/1.1 ${s} X`) },
  fc
    .tuple(
      fc.constantFrom('HTTP/1.1', 'HTTP/1.0', 'HTTP/2', 'HTTP/1.1 ', 'ICY', 'http/1.1'),
      fc.integer({ min: 0, max: 1200 }),
      odd,
    )
    .map(([version, status, reason]) => `${version} ${status} ${reason}`),
  fc.constantFrom(
    'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK',
    'HTTP/1.1 101 Switching Protocols',
    'HTTP/1.1 200',
    'HTTP/1.1 099 X',
    'HTTP/1.1 000 X',
    'HTTP/1.1 1000 X',
    'HTTP/1.1 199 X',
  ),
);

const headerName = fc.oneof(
  fc.constantFrom(
    'Content-Type',
    'X-A',
    'Set-Cookie',
    'Content-Length',
    'Transfer-Encoding',
    'Connection',
    'Keep-Alive',
    'Retry-After',
    'Proxy-Status',
    'Location',
    'Trailer',
    'Upgrade',
  ),
  odd.map((name) => `X${name}`),
);
const headerValue = fc.oneof(
  odd,
  fc.constantFrom(
    '5',
    '0',
    '-1',
    '5, 5',
    '0x5',
    ' 5',
    '99999999999999999999',
    'chunked',
    'gzip, chunked',
    'close',
    'x',
  ),
);
const headerLine = fc.oneof(
  { weight: 5, arbitrary: fc.tuple(headerName, headerValue).map(([name, value]) => `${name}: ${value}`) },
  // obs-fold (RFC 9112 §5.2), a line without a colon, a space before the colon.
  fc.tuple(headerName, headerValue, odd).map(([name, value, more]) => `${name}: ${value}\r\n ${more}`),
  headerName.map((name) => name),
  fc.tuple(headerName, headerValue).map(([name, value]) => `${name} : ${value}`),
);

/** A body, framed as the head announces it, or not. */
const framing = fc.constantFrom('content-length', 'chunked', 'none', 'too-short', 'double-length');
const answer = fc
  .record({
    status: statusLine,
    lines: fc.array(headerLine, { maxLength: 6 }),
    framing,
    body: fc.string({ unit: oddUnit, maxLength: 20 }),
    newline: fc.constantFrom('\r\n', '\r\n', '\n'),
  })
  .map(({ status, lines, framing, body, newline }) => {
    const head = [status, ...lines];
    let rest = body;
    if (framing === 'content-length') head.push(`Content-Length: ${Buffer.byteLength(body, 'latin1')}`);
    if (framing === 'too-short') head.push(`Content-Length: ${Buffer.byteLength(body, 'latin1') + 10}`);
    if (framing === 'double-length') head.push('Content-Length: 1', `Content-Length: ${body.length}`);
    if (framing === 'chunked') {
      head.push('Transfer-Encoding: chunked');
      rest = body === '' ? '0\r\n\r\n' : `${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`;
    }
    return `${head.join(newline)}${newline}${newline}${rest}`;
  });

/** A response as a strict HTTP/1.1 client reads it, or why it is not one. */
interface Parsed {
  status: number;
  headers: Map<string, string[]>;
  /** Whether the body ended as its framing says (false: the connection ended first, a visibly cut response). */
  complete: boolean;
  /** Bytes after the end of the body: another response, if any. */
  after: string;
}

const token = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** Reads exactly one response from `bytes` (latin1), strictly; throws if the head is not well formed. */
function parseResponse(bytes: string, method = 'GET'): Parsed {
  const end = bytes.indexOf('\r\n\r\n');
  if (end === -1) throw new Error(`no complete head: ${JSON.stringify(bytes.slice(0, 200))}`);
  const [statusLine, ...lines] = bytes.slice(0, end).split('\r\n');
  const match = /^HTTP\/1\.1 (\d{3}) [\t\x20-\x7e\x80-\xff]*$/.exec(statusLine ?? '');
  if (match === null) throw new Error(`bad status line ${JSON.stringify(statusLine)}`);
  const headers = new Map<string, string[]>();
  for (const line of lines) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (colon <= 0 || !token.test(name)) throw new Error(`bad header name in ${JSON.stringify(line)}`);
    if (!/^[\t\x20-\x7e\x80-\xff]*$/.test(value)) throw new Error(`bad header value in ${JSON.stringify(line)}`);
    headers.set(name, [...(headers.get(name) ?? []), value]);
  }
  const status = Number(match[1]);
  let body = bytes.slice(end + 4);
  const lengths = headers.get('content-length');
  const codings = headers.get('transfer-encoding');
  if (lengths !== undefined && codings !== undefined) throw new Error('both Content-Length and Transfer-Encoding');
  if (method === 'HEAD' || status === 204 || status === 304 || (status >= 100 && status < 200)) {
    return { status, headers, complete: true, after: body };
  }
  if (codings !== undefined) {
    if (codings.join(',').toLowerCase() !== 'chunked') throw new Error(`transfer coding ${codings.join(',')}`);
    for (;;) {
      const line = body.indexOf('\r\n');
      if (line === -1) return { status, headers, complete: false, after: '' };
      const size = Number.parseInt(body.slice(0, line), 16);
      if (!/^[0-9a-fA-F]+$/.test(body.slice(0, line))) throw new Error(`bad chunk size ${body.slice(0, line)}`);
      if (size === 0) {
        const trailerEnd = body.indexOf('\r\n\r\n', line);
        if (trailerEnd === -1 && body.slice(line, line + 4) !== '\r\n\r\n') {
          return { status, headers, complete: false, after: '' };
        }
        const close = body.slice(line, line + 4) === '\r\n\r\n' ? line + 4 : trailerEnd + 4;
        return { status, headers, complete: true, after: body.slice(close) };
      }
      if (body.length < line + 2 + size + 2) return { status, headers, complete: false, after: '' };
      if (body.slice(line + 2 + size, line + 4 + size) !== '\r\n') throw new Error('chunk not followed by CRLF');
      body = body.slice(line + 4 + size);
    }
  }
  if (lengths !== undefined) {
    if (lengths.length !== 1 || !/^\d+$/.test(lengths[0] as string)) throw new Error(`Content-Length ${lengths}`);
    const length = Number(lengths[0]);
    if (body.length < length) return { status, headers, complete: false, after: '' };
    return { status, headers, complete: true, after: body.slice(length) };
  }
  // Delimited by the end of the connection.
  return { status, headers, complete: true, after: '' };
}

/**
 * The status a relayed answer must keep: the final one in the upstream's status lines (after any 1xx but 101).
 * `undefined` when there is none to relay: a 101 to a request that asked for no upgrade is no answer (RFC 9110
 * §15.2.2), and relayed it would pass an interim status off as the final one.
 */
function statusIn(answer: string): number | undefined {
  let rest = answer;
  for (;;) {
    const match = /^HTTP\/1\.[01] (\d{3})[ \r\n]/.exec(rest);
    if (match === null) return undefined;
    const status = Number(match[1]);
    const end = rest.indexOf('\r\n\r\n');
    if (status === 101) return undefined;
    if (status >= 200 || status < 100 || end === -1) return status;
    rest = rest.slice(end + 4);
  }
}

describe('upstream response heads, over sockets', () => {
  const crashes: unknown[] = [];
  const onCrash = (error: unknown) => crashes.push(error);
  beforeAll(() => {
    process.on('uncaughtException', onCrash);
    process.on('unhandledRejection', onCrash);
  });
  afterAll(() => {
    process.off('uncaughtException', onCrash);
    process.off('unhandledRejection', onCrash);
  });

  it('the client gets one well-framed response: our 502, or the upstream status relayed; never a split or a crash', async () => {
    await fc.assert(
      fc.asyncProperty(answer, async (bytes) => {
        let upstream: Upstream | undefined;
        let gateway: Gateway | undefined;
        try {
          upstream = await garbageUpstream({ bytes: Buffer.from(bytes, 'latin1') });
          gateway = await startGateway({ target: upstream.url, retry: false, timeouts: { response: 2000 } });
          const { bytes: received, ending } = await rawExchange(
            gateway.port,
            'GET /x HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n',
          );
          expect(ending).not.toBe('open');
          if (received === '') {
            // The upstream's head was taken (its status relayed) and its body failed before our head was flushed:
            // the connection is cut with nothing in it, never a response that looks whole.
            expect(statusIn(bytes)).toBeDefined();
            return;
          }
          const response = parseResponse(received);
          expect(response.after).toBe('');
          const ours = response.headers.get('proxy-status')?.[0]?.startsWith('gateway-errors; error=') === true;
          if (ours) {
            expect(response.status).toBe(502);
            expect(response.complete).toBe(true);
          } else {
            expect(response.status).toBe(statusIn(bytes));
            for (const name of ['connection', 'keep-alive', 'upgrade', 'trailer', 'proxy-authenticate']) {
              if (name !== 'connection') expect(response.headers.get(name), name).toBeUndefined();
            }
          }
          // A cut response is only ever the upstream's own, cut where the upstream stopped.
          if (!response.complete) expect(ending).not.toBe('open');
        } finally {
          await gateway?.close();
          await upstream?.close();
          expect(crashes).toEqual([]);
        }
      }),
      propertyRuns(0.1),
    );
  });
});
