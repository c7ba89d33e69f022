/**
 * Properties of the request-target rule (docs/proxy.md): a request's path is forwarded below the target's path
 * exactly as written, or refused with 400; and no reading of a forwarded path, the ways upstreams read paths, ever
 * leaves the target's path (or climbs above `/` for a target without one).
 *
 * The readings are modelled here independently of request-target.ts: decoded 0 to 4 times (a chain of decoders),
 * `\` a separator or not, empty segments merged (nginx) or kept (RFC 3986), a name ending at `;`, `#`, `?` or NUL
 * (Tomcat, Jetty, servers that parse a decoded path again as a URL, C servers) or not, names decoded after splitting
 * (WHATWG URL, routers) or not.
 * Each reading resolves dot segments with a stack (RFC 3986 §5.2.4) and must never pop a segment of the target's.
 */
import { echoUpstream, type Upstream } from '@gateway-errors/testing';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { propertyRuns } from '../../../test/support/property.js';
import { upstreamPath } from '../src/proxy/engine.js';
import { leavesTargetPath } from '../src/proxy/request-target.js';
import { type Gateway, rawExchange, splitHead, startGateway } from './proxy-helpers.js';

function isHex(char: string | undefined): boolean {
  return char !== undefined && /^[0-9A-Fa-f]$/.test(char);
}

/** One percent-decoding pass, character by character (a byte per escape, as latin1). */
function decodeOnce(text: string): string {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '%' && isHex(text[i + 1]) && isHex(text[i + 2])) {
      out += String.fromCharCode(Number.parseInt(text.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      out += text[i];
    }
  }
  return out;
}

/** `text` decoded `times` times (fewer if it stops changing). */
function decoded(text: string, times: number): string {
  let current = text;
  for (let i = 0; i < times; i++) {
    const next = decodeOnce(current);
    if (next === current) break;
    current = next;
  }
  return current;
}

/** How many decodings change `text` (up to 10). */
function decodingDepth(text: string): number {
  let current = text;
  for (let depth = 0; depth < 10; depth++) {
    const next = decodeOnce(current);
    if (next === current) return depth;
    current = next;
  }
  return 10;
}

/** One way an upstream may read a path. */
interface Reading {
  decodings: number;
  backslash: boolean;
  merge: boolean;
  params: boolean;
  decodeNames: boolean;
}

const readings: Reading[] = [];
for (let decodings = 0; decodings <= 4; decodings++) {
  for (const backslash of [false, true]) {
    for (const merge of [false, true]) {
      for (const params of [false, true]) {
        for (const decodeNames of [false, true]) readings.push({ decodings, backslash, merge, params, decodeNames });
      }
    }
  }
}

/** The segment names of an origin-form path (without its query) as `reading` sees them. */
function namesOf(path: string, reading: Reading): string[] {
  const text = decoded(path, reading.decodings);
  let segments = text.split(reading.backslash ? /[/\\]/ : '/').slice(1);
  if (reading.merge) segments = segments.filter((segment) => segment !== '');
  return segments.map((segment) => {
    const name = reading.decodeNames ? decoded(segment, 10) : segment;
    return reading.params ? (name.split(/[;#?\0]/)[0] as string) : name;
  });
}

/** Whether `forwarded`, read as `reading`, resolves without ever popping one of the target path's segments. */
function staysInside(targetPath: string, forwarded: string, reading: Reading): boolean {
  const path = forwarded.split('?')[0] as string;
  const base = namesOf(targetPath === '' ? '/' : targetPath, reading);
  if (base.at(-1) === '') base.pop();
  const names = namesOf(path, reading);
  expect(names.slice(0, base.length)).toEqual(base);
  let depth = base.length;
  for (const name of names.slice(base.length)) {
    if (name === '..') {
      if (depth <= base.length) return false;
      depth--;
    } else if (name !== '.') {
      depth++;
    }
  }
  return true;
}

/** Separators of hostile request-targets, plain and encoded once or twice. */
const separator = fc.constantFrom('/', '/', '//', '\\', '%2f', '%2F', '%5c', '%5C', '%252f', '%255c');
/** Pieces of their segments: dots and their encodings, parameters, fragments, queries, broken escapes. */
const segmentPiece = fc.constantFrom(
  'a',
  '.',
  '.',
  '..',
  '%2e',
  '%2E',
  '%252e',
  '%25',
  '2e',
  '%2',
  'e',
  ';',
  ';x',
  '#',
  '?',
  '%00',
  '%3b',
  '%23',
  '%3f',
  '%20',
  '%C3%A9',
);
/**
 * The same built from escapes alone, nested: without a plain dot, slash or backslash to give them away, they test
 * that the cheap scan of the common path lets none through.
 */
const encodedSeparator = fc.constantFrom('/', '%252f', '%25252f', '%255c', '%25%32%66', '%2%66');
const encodedPiece = fc.constantFrom(
  'a',
  '%25',
  '25',
  '2e',
  '2E',
  '%252e',
  '%2',
  'e',
  '%65',
  '%2%65',
  '%32%65',
  '%20',
  '%253b',
);

function requestTarget(separators: fc.Arbitrary<string>, pieces: fc.Arbitrary<string>): fc.Arbitrary<string> {
  return fc
    .tuple(
      fc.constantFrom('', '', '', 'http://up.example'),
      fc.array(fc.tuple(separators, fc.array(pieces, { maxLength: 3 })), { minLength: 1, maxLength: 6 }),
    )
    .map(([authority, segments]) => {
      const path = segments.map(([sep, names]) => `${sep}${names.join('')}`).join('');
      return `${authority}${path.startsWith('/') ? '' : '/'}${path}`;
    });
}
/** Character soup from the alphabet of escapes, dots and separators: broken and nested escapes of every shape. */
const soup = fc
  .array(fc.constantFrom('%', '%', '2', '5', 'e', 'E', 'f', 'c', '6', '.', '/', '\\', ';', 'a'), { maxLength: 16 })
  .map((chars) => `/${chars.join('')}`);
const hostileTarget = fc.oneof(
  requestTarget(separator, segmentPiece),
  requestTarget(encodedSeparator, encodedPiece),
  soup,
);
const targetPath = fc.constantFrom('', '/public', '/public/', '/a/b', '/b%2Fc', '/x.y');

/** A path no reading gives a `..` segment: names without two dots in a row, and lone `.` segments. */
const ordinaryName = fc
  .array(fc.constantFrom('a', 'b', '%20', '%C3%A9', '%2F', '%5c', '%25', '...', 'a.b', ';x', 'x;', '-', '%2e%2e%2e'), {
    minLength: 1,
    maxLength: 4,
  })
  .map((pieces) => pieces.join(''))
  .filter((name) => !name.includes('..') || name.includes('...'));
const ordinaryPath = fc
  .array(fc.oneof(ordinaryName, fc.constantFrom('.', '%2e', '%2E', '')), { maxLength: 6 })
  .map((segments) => `/${segments.join('/')}`);

describe('the request-target rule, against upstreamPath', () => {
  it('forwards below the target path as written, or refuses; no reading of what is forwarded leaves it', () => {
    fc.assert(
      fc.property(targetPath, hostileTarget, (target, url) => {
        if (leavesTargetPath(url)) return;
        const forwarded = upstreamPath({ path: target === '' ? '/' : target, query: '' }, url);
        const written = url.startsWith('/') ? url : url.slice('http://up.example'.length);
        const base = target === '' ? '' : target.replace(/\/$/, '');
        expect(forwarded).toBe(`${base}${written}`);
        for (const reading of readings)
          expect(staysInside(target, forwarded, reading), JSON.stringify(reading)).toBe(true);
      }),
      propertyRuns(),
    );
  });

  it('refuses exactly the paths with a `..` segment in some decoding, or still changing after four', () => {
    fc.assert(
      fc.property(hostileTarget, (url) => {
        const written = url.startsWith('/') ? url : url.slice('http://up.example'.length);
        const path = written.split('?')[0] as string;
        const dotDot = readings.some(
          (reading) =>
            reading.backslash && reading.params && !reading.decodeNames && namesOf(path, reading).includes('..'),
        );
        expect(leavesTargetPath(url)).toBe(dotDot || decodingDepth(path) > 4);
      }),
      propertyRuns(),
    );
  });

  it('never refuses an ordinary path: escapes, encoded slashes, `.` segments, dots inside names', () => {
    fc.assert(
      fc.property(ordinaryPath, fc.constantFrom('', '?x=1', '?next=/../..'), (path, query) => {
        expect(leavesTargetPath(`${path}${query}`)).toBe(false);
      }),
      propertyRuns(),
    );
  });
});

describe('the request-target rule, over sockets', () => {
  let upstream: Upstream;
  let gateway: Gateway;
  beforeAll(async () => {
    upstream = await echoUpstream();
    gateway = await startGateway({ target: `${upstream.url}/public` });
  });
  afterAll(async () => {
    await gateway.close();
    await upstream.close();
  });

  it('the upstream sees the path below /public as written, never one that leaves it, or the client gets 400', async () => {
    await fc.assert(
      fc.asyncProperty(hostileTarget, async (url) => {
        const before = upstream.requests;
        const { bytes } = await rawExchange(
          gateway.port,
          `GET ${url} HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n`,
        );
        const { head, body } = splitHead(bytes);
        if (head.startsWith('HTTP/1.1 400 ')) {
          expect(upstream.requests).toBe(before);
          return;
        }
        expect(head).toMatch(/^HTTP\/1\.1 200 /);
        const seen = (JSON.parse(body) as { url: string }).url;
        const written = url.startsWith('/') ? url : url.slice('http://up.example'.length);
        expect(seen).toBe(`/public${written}`);
        for (const reading of readings) expect(staysInside('/public', seen, reading)).toBe(true);
      }),
      propertyRuns(0.1),
    );
  });
});
