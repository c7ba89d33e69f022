/**
 * Properties of the values a client or an upstream controls outright: Retry-After from an upstream, Accept and
 * Accept-Language and a conditional GET's validators from a client. Whatever the bytes, the answer is well formed.
 */
import type { IncomingMessage } from 'node:http';
import { createErrorResponder } from '@gateway-errors/core';
import { defaultRetryAfterPolicy, parseRetryAfter } from '@gateway-errors/core/unstable-internals';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { propertyRuns } from '../../../test/support/property.js';
import { failureOf } from '../src/failure/failure.js';
import { retryAfterFor } from '../src/failure/retry-after.js';
import { notModified } from '../src/resilience/conditional.js';

/** Header values as Node's parser can deliver them: latin1 bytes other than CR, LF and NUL, trimmed or not. */
const headerValue = fc.string({ unit: fc.integer({ min: 0x20, max: 0xff }).map((c) => String.fromCharCode(c)) });
const retryAfterLike = fc.oneof(
  headerValue,
  fc.bigInt({ min: -(10n ** 30n), max: 10n ** 30n }).map(String),
  fc.date({ noInvalidDate: true }).map((d) => d.toUTCString()),
  fc.tuple(fc.nat(99999), fc.constantFrom(' ', '\t', '', '.5', 'e3', ',1')).map(([n, tail]) => `${n}${tail}`),
);

describe('Retry-After from an upstream', () => {
  it('parses to whole non-negative seconds or nothing, never throws', () => {
    fc.assert(
      fc.property(retryAfterLike, fc.option(headerValue, { nil: undefined }), (value, date) => {
        const seconds = parseRetryAfter(value, date);
        if (seconds !== undefined) {
          expect(Number.isSafeInteger(seconds)).toBe(true);
          expect(seconds).toBeGreaterThanOrEqual(0);
        }
      }),
      propertyRuns(),
    );
  });

  it('becomes a header value within the policy, for any parsed value', () => {
    fc.assert(
      fc.property(retryAfterLike, (value) => {
        const failure = failureOf('connection_refused', { retryAfter: parseRetryAfter(value) });
        const seconds = retryAfterFor(failure, defaultRetryAfterPolicy) as number;
        expect(String(seconds)).toMatch(/^[0-9]+$/);
        expect(seconds).toBeGreaterThanOrEqual(defaultRetryAfterPolicy.min);
        expect(seconds).toBeLessThanOrEqual(defaultRetryAfterPolicy.max);
      }),
      propertyRuns(),
    );
  });
});

describe('Accept and Accept-Language from a client', () => {
  const responder = createErrorResponder();
  const failure = failureOf('connection_refused');
  const acceptLike = fc.oneof(
    headerValue,
    fc
      .array(
        fc.tuple(
          fc.constantFrom(
            'text/html',
            'application/json',
            'application/problem+json',
            '*/*',
            'text/*',
            'image/png',
            'x',
          ),
          fc.option(fc.double({ min: -1, max: 2, noNaN: false }), { nil: undefined }),
        ),
        { maxLength: 6 },
      )
      .map((parts) => parts.map(([type, q]) => (q === undefined ? type : `${type};q=${q}`)).join(', ')),
  );
  const languageLike = fc.oneof(
    headerValue,
    fc
      .array(
        fc.tuple(
          fc.constantFrom('en', 'fr-CA', 'de', 'ja', 'zh-Hans', 'xx', '*', ''),
          fc.option(fc.double(), { nil: undefined }),
        ),
        {
          maxLength: 6,
        },
      )
      .map((parts) => parts.map(([tag, q]) => (q === undefined ? tag : `${tag};q=${q}`)).join(',')),
  );

  it('always renders a complete response with the failure status and a known content type', () => {
    fc.assert(
      fc.property(acceptLike, languageLike, (accept, language) => {
        const req = { headers: { accept, 'accept-language': language } } as unknown as IncomingMessage;
        const rendered = responder.render(failure, req);
        expect(rendered.status).toBe(502);
        expect(rendered.headers['content-type']).toMatch(
          /^(text\/html|text\/plain|application\/problem\+json); charset=utf-8$/,
        );
        expect(rendered.headers['content-length']).toBe(String(Buffer.byteLength(rendered.body)));
        for (const value of Object.values(rendered.headers)) expect(String(value)).not.toMatch(/[\r\n]/);
        if (rendered.headers['content-type']?.startsWith('application/problem+json')) {
          expect(JSON.parse(rendered.body).status).toBe(502);
        }
      }),
      propertyRuns(),
    );
  });
});

describe('a conditional GET against a kept copy', () => {
  // etagc (RFC 9110 §8.8.3): no space, no DQUOTE; a comma and obs-text are allowed.
  const opaque = fc.string({ unit: fc.constantFrom('a', 'b', ',', 'W', '/', '\\', '\xe9') }).map((t) => `"${t}"`);
  const tagList = fc
    .array(fc.tuple(fc.boolean(), opaque), { minLength: 1, maxLength: 5 })
    .map((tags) => tags.map(([weak, tag]) => `${weak ? 'W/' : ''}${tag}`).join(', '));

  it('never throws, and a 304 needs the copy’s tag in the list (weakly) or *', () => {
    fc.assert(
      fc.property(fc.oneof(headerValue, tagList), fc.oneof(opaque, headerValue), (ifNoneMatch, etag) => {
        const answer = notModified({ 'if-none-match': ifNoneMatch }, { etag });
        if (answer && ifNoneMatch.trim() !== '*') expect(ifNoneMatch).toContain(etag.replace(/^W\//, ''));
      }),
      propertyRuns(),
    );
  });

  it('finds the copy’s tag wherever it stands in a list, weak or strong on either side', () => {
    const cases = fc.tuple(fc.array(opaque, { maxLength: 4 }), opaque, fc.nat(4), fc.boolean(), fc.boolean());
    fc.assert(
      fc.property(cases, ([others, tag, at, weakInList, weakCopy]) => {
        const list = others.filter((other) => other !== tag);
        list.splice(at, 0, `${weakInList ? 'W/' : ''}${tag}`);
        const copy = { etag: `${weakCopy ? 'W/' : ''}${tag}` };
        expect(notModified({ 'if-none-match': list.join(' ,\t') }, copy)).toBe(true);
        expect(notModified({ 'if-none-match': others.filter((o) => o !== tag).join(', ') || '"-"' }, copy)).toBe(
          tag === '"-"',
        );
      }),
      propertyRuns(),
    );
  });
});
