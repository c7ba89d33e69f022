import type { IncomingHttpHeaders } from 'node:http';
import {
  initialAge,
  type KeepRules,
  keepable,
  type NotKept,
  parseCacheControl,
  varyFields,
} from '@gateway-errors/core/unstable-internals';
import { describe, expect, it } from 'vitest';

// What a shared cache may keep (RFC 9111 §3, read as a shared cache, with our stricter rules for cookies), and for how
// long a copy may stand in for a failure (RFC 5861 §4). Each row: the request's headers, the response's status and
// headers, and what happens to it.

const rules: KeepRules = { statuses: new Set([200, 404]), maxAge: 86400 };
const sized = { 'content-length': '10' };
const date = 'Sun, 06 Nov 1994 08:49:37 GMT';
const inAnHour = 'Sun, 06 Nov 1994 09:49:37 GMT';

type Row = [
  name: string,
  request: IncomingHttpHeaders,
  status: number,
  response: IncomingHttpHeaders,
  expected: { fresh: number; window: number } | NotKept,
];

const rows: Row[] = [
  ['a plain 200 (heuristically cacheable)', {}, 200, sized, { fresh: 0, window: 86400 }],
  ['a 200 with max-age', {}, 200, { ...sized, 'cache-control': 'max-age=60' }, { fresh: 60, window: 86400 }],
  ['a 200 with public', {}, 200, { ...sized, 'cache-control': 'public' }, { fresh: 0, window: 86400 }],
  ['a status of the list (404)', {}, 404, sized, { fresh: 0, window: 86400 }],
  ['a status not in the list', {}, 301, sized, 'status'],
  ['a 206', {}, 206, sized, 'status'],
  ['a chunked body', {}, 200, { 'transfer-encoding': 'chunked' }, { fresh: 0, window: 86400 }],
  ['a body only a close ends', {}, 200, {}, 'unframed'],
  ['a body only a close ends, Transfer-Encoding not chunked', {}, 200, { 'transfer-encoding': 'gzip' }, 'unframed'],
  // RFC 5861 §4: stale-if-error counts from when the response became stale, and wins over everything else.
  [
    'stale-if-error',
    {},
    200,
    { ...sized, 'cache-control': 'max-age=60, stale-if-error=600' },
    { fresh: 60, window: 660 },
  ],
  [
    'stale-if-error over maxAge',
    {},
    200,
    { ...sized, 'cache-control': 'stale-if-error=999999' },
    { fresh: 0, window: 999999 },
  ],
  [
    'stale-if-error shorter than maxAge',
    {},
    200,
    { ...sized, 'cache-control': 'stale-if-error=5' },
    { fresh: 0, window: 5 },
  ],
  [
    'an invalid stale-if-error: as if absent',
    {},
    200,
    { ...sized, 'cache-control': 'stale-if-error=soon' },
    { fresh: 0, window: 86400 },
  ],
  [
    'stale-if-error with must-revalidate',
    {},
    200,
    { ...sized, 'cache-control': 'max-age=10, must-revalidate, stale-if-error=30' },
    { fresh: 10, window: 40 },
  ],
  // RFC 9111 §4.2.4: must-revalidate, proxy-revalidate and s-maxage forbid serving stale without revalidation.
  [
    'must-revalidate, fresh for a minute',
    {},
    200,
    { ...sized, 'cache-control': 'max-age=60, must-revalidate' },
    { fresh: 60, window: 60 },
  ],
  ['must-revalidate, stale at once', {}, 200, { ...sized, 'cache-control': 'must-revalidate' }, 'revalidate'],
  [
    'proxy-revalidate',
    {},
    200,
    { ...sized, 'cache-control': 'max-age=30, proxy-revalidate' },
    { fresh: 30, window: 30 },
  ],
  [
    's-maxage (implies proxy-revalidate)',
    {},
    200,
    { ...sized, 'cache-control': 'max-age=5, s-maxage=20' },
    { fresh: 20, window: 20 },
  ],
  ['s-maxage=0', {}, 200, { ...sized, 'cache-control': 's-maxage=0' }, 'revalidate'],
  ['Expires minus Date', {}, 200, { ...sized, date, expires: inAnHour }, { fresh: 3600, window: 86400 }],
  [
    'max-age over Expires',
    {},
    200,
    { ...sized, date, expires: inAnHour, 'cache-control': 'max-age=5' },
    { fresh: 5, window: 86400 },
  ],
  ['an invalid Expires: stale', {}, 200, { ...sized, date, expires: '0' }, { fresh: 0, window: 86400 }],
  ['an invalid max-age: stale', {}, 200, { ...sized, 'cache-control': 'max-age=soon' }, { fresh: 0, window: 86400 }],
  // Never kept.
  ['no-store', {}, 200, { ...sized, 'cache-control': 'no-store' }, 'no-store'],
  [
    'No-Store among others, any case',
    {},
    200,
    { ...sized, 'cache-control': 'public, max-age=60, No-Store' },
    'no-store',
  ],
  ['a request with no-store', { 'cache-control': 'no-store' }, 200, sized, 'no-store'],
  ['private', {}, 200, { ...sized, 'cache-control': 'private, max-age=60' }, 'private'],
  ['private naming a field', {}, 200, { ...sized, 'cache-control': 'private="set-cookie"' }, 'private'],
  ['no-cache', {}, 200, { ...sized, 'cache-control': 'no-cache' }, 'no-cache'],
  ['no-cache with stale-if-error', {}, 200, { ...sized, 'cache-control': 'no-cache, stale-if-error=60' }, 'no-cache'],
  ['Set-Cookie', {}, 200, { ...sized, 'set-cookie': ['sid=1'] }, 'set-cookie'],
  [
    'Set-Cookie even when public',
    {},
    200,
    { ...sized, 'set-cookie': ['a=1'], 'cache-control': 'public' },
    'set-cookie',
  ],
  ['Vary: *', {}, 200, { ...sized, vary: '*' }, 'vary'],
  ['Vary: Accept, *', {}, 200, { ...sized, vary: 'Accept, *' }, 'vary'],
  ['Vary: Accept-Encoding', {}, 200, { ...sized, vary: 'Accept-Encoding' }, { fresh: 0, window: 86400 }],
  // RFC 9111 §3.5: Authorization only when the response allows a shared cache explicitly.
  ['an authorized request', { authorization: 'Bearer x' }, 200, sized, 'authorization'],
  [
    'an authorized request, max-age only',
    { authorization: 'Bearer x' },
    200,
    { ...sized, 'cache-control': 'max-age=60' },
    'authorization',
  ],
  [
    'an authorized request, public',
    { authorization: 'Bearer x' },
    200,
    { ...sized, 'cache-control': 'public' },
    { fresh: 0, window: 86400 },
  ],
  [
    'an authorized request, s-maxage',
    { authorization: 'Bearer x' },
    200,
    { ...sized, 'cache-control': 's-maxage=60' },
    { fresh: 60, window: 60 },
  ],
  [
    'an authorized request, must-revalidate',
    { authorization: 'Bearer x' },
    200,
    { ...sized, 'cache-control': 'max-age=60, must-revalidate' },
    { fresh: 60, window: 60 },
  ],
  // Ours, stricter than RFC 9111: a page made for a signed-in visitor, with no caching headers, is theirs.
  ['a request with a cookie', { cookie: 'sid=1' }, 200, sized, 'cookie'],
  [
    'a request with a cookie, max-age',
    { cookie: 'sid=1' },
    200,
    { ...sized, 'cache-control': 'max-age=60' },
    { fresh: 60, window: 86400 },
  ],
  [
    'a request with a cookie, public',
    { cookie: 'sid=1' },
    200,
    { ...sized, 'cache-control': 'public' },
    { fresh: 0, window: 86400 },
  ],
  [
    'a request with a cookie, Expires',
    { cookie: 'sid=1' },
    200,
    { ...sized, date, expires: inAnHour },
    { fresh: 3600, window: 86400 },
  ],
];

describe('what a shared cache may keep, and how long it may stand in', () => {
  it.each(rows)('%s', (_name, request, status, response, expected) => {
    const verdict = keepable({ method: 'GET', headers: request }, { statusCode: status, headers: response }, rules);
    if (typeof expected === 'string') expect(verdict).toEqual({ kept: false, reason: expected });
    else expect(verdict).toEqual({ kept: true, ...expected });
  });

  it.each(['HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS'])('a %s answer is never kept', (method) => {
    expect(keepable({ method, headers: {} }, { statusCode: 200, headers: sized }, rules)).toEqual({
      kept: false,
      reason: 'method',
    });
  });
});

describe('Cache-Control', () => {
  it.each<[string, Record<string, string | true>]>([
    ['max-age=60', { 'max-age': '60' }],
    ['Public, MAX-AGE=60', { public: true, 'max-age': '60' }],
    [' no-cache ,  max-age = 5 ', { 'no-cache': true, 'max-age': '5' }],
    ['private="set-cookie, x-user", max-age=1', { private: 'set-cookie, x-user', 'max-age': '1' }],
    ['ext="a \\"quoted\\" value"', { ext: 'a "quoted" value' }],
    ['max-age=1, max-age=99', { 'max-age': '1' }],
    ['=junk, no-store', { 'no-store': true }],
    ['', {}],
  ])('%j', (value, expected) => {
    expect(Object.fromEntries(parseCacheControl(value))).toEqual(expected);
  });

  it('joins several lines', () => {
    expect(Object.fromEntries(parseCacheControl(['public', 'max-age=3']))).toEqual({ public: true, 'max-age': '3' });
  });
});

describe('Vary', () => {
  it.each<[string | undefined, readonly string[] | undefined]>([
    [undefined, []],
    ['', []],
    ['Accept-Encoding', ['accept-encoding']],
    ['Accept-Language, accept-encoding, Accept-Encoding', ['accept-encoding', 'accept-language']],
    ['*', undefined],
    ['Accept, *', undefined],
  ])('%j', (value, expected) => {
    expect(varyFields(value)).toEqual(expected);
  });
});

describe('initial age (RFC 9111 §4.2.3)', () => {
  const now = Date.parse(date);
  it.each<[string, IncomingHttpHeaders, number]>([
    ['no Age, no Date', {}, 0],
    ['Age alone', { age: '30' }, 30],
    ['Date 10 s ago', { date: 'Sun, 06 Nov 1994 08:49:27 GMT' }, 10],
    ['the larger of the two', { age: '5', date: 'Sun, 06 Nov 1994 08:49:27 GMT' }, 10],
    ['a Date in the future: 0', { date: 'Sun, 06 Nov 1994 09:00:00 GMT' }, 0],
    ['an invalid Age: ignored', { age: 'old' }, 0],
  ])('%s', (_name, headers, expected) => {
    expect(initialAge(headers, now)).toBe(expected);
  });
});
