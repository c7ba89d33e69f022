import { describe, expect, it } from 'vitest';
import {
  clampRetryAfter,
  defaultRetryAfterPolicy,
  parseHttpDate,
  parseRetryAfter,
  resolveRetryAfterPolicy,
} from '../src/failure/retry-after.js';

/** "Wed, 21 Oct 2015 07:28:00 GMT": the clock of these tests. */
const now = Date.UTC(2015, 9, 21, 7, 28, 0);

describe('parseRetryAfter(): delay-seconds', () => {
  it.each([
    ['0', 0],
    ['120', 120],
    ['007', 7],
    [' 120 ', 120], // RFC 9110 §5.5: optional whitespace around a field value is not part of it
    ['\t7', 7],
    ['9007199254740991', 9007199254740991], // the largest exact integer: clamped later, not refused
  ])('%j is %i seconds', (value, seconds) => {
    expect(parseRetryAfter(value, undefined, now)).toBe(seconds);
  });
});

describe('parseRetryAfter(): HTTP-date, in its three forms (RFC 9110 §5.6.7)', () => {
  it.each([
    ['IMF-fixdate', 'Wed, 21 Oct 2015 07:28:10 GMT'],
    ['RFC 850', 'Wednesday, 21-Oct-15 07:28:10 GMT'],
    ['asctime', 'Wed Oct 21 07:28:10 2015'],
  ])('%s is seconds from now', (_form, value) => {
    expect(parseRetryAfter(value, undefined, now)).toBe(10);
  });

  it('reads asctime with a one-digit day padded by a space', () => {
    expect(parseRetryAfter('Thu Oct  1 00:01:00 2015', undefined, Date.UTC(2015, 9, 1))).toBe(60);
  });

  it('rounds a partial second up: retrying early is the harm, waiting a little longer is not', () => {
    expect(parseRetryAfter('Wed, 21 Oct 2015 07:28:10 GMT', undefined, now + 500)).toBe(10);
    expect(parseRetryAfter('Wed, 21 Oct 2015 07:28:10 GMT', undefined, now + 1)).toBe(10);
  });

  it('is never negative: a date in the past means now', () => {
    expect(parseRetryAfter('Sun, 06 Nov 1994 08:49:37 GMT', undefined, now)).toBe(0);
  });

  it("is taken relative to the response's own Date, so a skewed upstream clock does not shift it", () => {
    const muchLater = Date.UTC(2030, 0, 1);
    expect(parseRetryAfter('Wed, 21 Oct 2015 07:30:00 GMT', 'Wed, 21 Oct 2015 07:28:00 GMT', muchLater)).toBe(120);
    expect(parseRetryAfter('Wed, 21 Oct 2015 07:30:00 GMT', 'Wednesday, 21-Oct-15 07:28:00 GMT', muchLater)).toBe(120);
  });

  it('falls back to our clock when the Date header is absent, invalid or repeated', () => {
    const value = 'Wed, 21 Oct 2015 07:28:30 GMT';
    expect(parseRetryAfter(value, 'yesterday', now)).toBe(30);
    expect(parseRetryAfter(value, ['Wed, 21 Oct 2015 07:28:00 GMT', 'x'], now)).toBe(30);
    expect(parseRetryAfter(value, '', now)).toBe(30);
  });

  it('accepts the leap second 23:59:60', () => {
    expect(parseHttpDate('Wed, 21 Oct 2015 23:59:60 GMT')).toBe(Date.UTC(2015, 9, 22, 0, 0, 0));
  });

  it('reads an RFC 850 two-digit year as the most recent past year with those digits when it looks 50+ years ahead', () => {
    const in2026 = Date.UTC(2026, 0, 1);
    expect(parseHttpDate('Sunday, 06-Nov-94 08:49:37 GMT', in2026)).toBe(Date.UTC(1994, 10, 6, 8, 49, 37));
    expect(parseHttpDate('Tuesday, 06-Nov-30 08:49:37 GMT', in2026)).toBe(Date.UTC(2030, 10, 6, 8, 49, 37));
    expect(parseHttpDate('Saturday, 06-Nov-76 08:49:37 GMT', in2026)).toBe(Date.UTC(2076, 10, 6, 8, 49, 37));
    expect(parseHttpDate('Sunday, 06-Nov-77 08:49:37 GMT', in2026)).toBe(Date.UTC(1977, 10, 6, 8, 49, 37));
  });
});

describe('parseRetryAfter(): anything else is dropped, never copied into a header or a timer', () => {
  it.each([
    ['absent', undefined],
    ['empty', ''],
    ['blank', '   '],
    ['negative', '-5'],
    ['signed', '+5'],
    ['decimal', '1.5'],
    ['with a unit', '5s'],
    ['with a spaced unit', '5 s'],
    ['exponent', '1e3'],
    ['hexadecimal', '0x10'],
    ['Infinity', 'Infinity'],
    ['huge (beyond exact integers)', '9007199254740992'],
    ['huge (20 digits)', '99999999999999999999'],
    ['two values, comma-joined', '5, 10'],
    ['two values, repeated header', ['5', '10']],
    ['one value in an array (a repeated-header shape)', ['5']],
    ['two dates', 'Wed, 21 Oct 2015 07:28:10 GMT, Wed, 21 Oct 2015 07:28:20 GMT'],
    ['a date without a weekday', '21 Oct 2015 07:28:10 GMT'],
    ['a date without GMT', 'Wed, 21 Oct 2015 07:28:10'],
    ['a date in UTC', 'Wed, 21 Oct 2015 07:28:10 UTC'],
    ['a date with an offset', 'Wed, 21 Oct 2015 07:28:10 +0000'],
    ['a lower-case weekday (names are case-sensitive)', 'wed, 21 Oct 2015 07:28:10 GMT'],
    ['a lower-case month', 'Wed, 21 oct 2015 07:28:10 GMT'],
    ['a one-digit day in IMF-fixdate', 'Wed, 1 Oct 2015 07:28:10 GMT'],
    ['a long weekday in IMF-fixdate', 'Wednesday, 21 Oct 2015 07:28:10 GMT'],
    ['a short weekday in RFC 850', 'Wed, 21-Oct-15 07:28:10 GMT'],
    ['a double space', 'Wed,  21 Oct 2015 07:28:10 GMT'],
    ['31 February', 'Sat, 31 Feb 2015 07:28:10 GMT'],
    ['day 0', 'Wed, 00 Oct 2015 07:28:10 GMT'],
    ['hour 24', 'Wed, 21 Oct 2015 24:00:00 GMT'],
    ['minute 60', 'Wed, 21 Oct 2015 07:60:00 GMT'],
    ['second 61', 'Wed, 21 Oct 2015 07:28:61 GMT'],
    ['ISO 8601', '2015-10-21T07:28:10Z'],
    ['a word', 'tomorrow'],
    ['a control character', 'Wed, 21 Oct 2015 07:28:10 GMT\r\nX: y'],
  ])('%s: %j', (_what, value) => {
    expect(parseRetryAfter(value as string | string[] | undefined, undefined, now)).toBeUndefined();
  });
});

describe('clampRetryAfter(): whole seconds, never negative, within the policy', () => {
  it.each([
    [0, 1],
    [0.2, 1],
    [1.2, 2],
    [5, 5],
    [86400, 86400],
    [86401, 86400],
    [-10, 1],
    [Number.POSITIVE_INFINITY, 86400],
    [Number.NEGATIVE_INFINITY, 1],
    [Number.NaN, 5], // not a number: the hint
  ])('%d s is sent as %i with the default policy', (seconds, sent) => {
    expect(clampRetryAfter(seconds, defaultRetryAfterPolicy)).toBe(sent);
  });

  it('follows a custom range, 0 included', () => {
    const policy = resolveRetryAfterPolicy({ min: 0, max: 60, hint: 3 });
    expect(clampRetryAfter(0, policy)).toBe(0);
    expect(clampRetryAfter(-3, policy)).toBe(0);
    expect(clampRetryAfter(3600, policy)).toBe(60);
  });
});

describe('resolveRetryAfterPolicy(): validated once, defaults documented', () => {
  it('defaults to at least 1 s, at most a day, a 5 s hint; frozen', () => {
    expect(defaultRetryAfterPolicy).toEqual({ min: 1, max: 86400, hint: 5 });
    expect(resolveRetryAfterPolicy()).toEqual({ min: 1, max: 86400, hint: 5 });
    expect(Object.isFrozen(resolveRetryAfterPolicy({}))).toBe(true);
  });

  it('fills what is not given, and moves the default hint into a narrower range', () => {
    expect(resolveRetryAfterPolicy({ max: 3 })).toEqual({ min: 1, max: 3, hint: 3 });
    expect(resolveRetryAfterPolicy({ min: 10 })).toEqual({ min: 10, max: 86400, hint: 10 });
    expect(resolveRetryAfterPolicy({ hint: 30, max: 600 })).toEqual({ min: 1, max: 600, hint: 30 });
  });

  it.each([
    [{ min: -1 }, TypeError, 'retryAfter.min must be a whole number of seconds, 0 or more, got -1.'],
    [{ max: 1.5 }, TypeError, 'retryAfter.max must be a whole number of seconds, 0 or more, got 1.5.'],
    [{ hint: '5' }, TypeError, 'retryAfter.hint must be a whole number of seconds, 0 or more, got "5".'],
    [{ min: Number.NaN }, TypeError, 'got NaN'],
    [{ max: Number.POSITIVE_INFINITY }, TypeError, 'got Infinity'],
    [{ min: 10, max: 5 }, RangeError, 'retryAfter.min (10) is larger than retryAfter.max (5); lower min or raise max.'],
    [
      { hint: 100, max: 60 },
      RangeError,
      'retryAfter.hint (100) must lie between retryAfter.min (1) and retryAfter.max (60).',
    ],
    [{ hints: 5 }, TypeError, 'retryAfter has no option "hints". Known options: min, max, hint.'],
    [5, TypeError, 'retryAfter takes a policy object such as { min: 1, max: 86400, hint: 5 }, got number.'],
    [null, TypeError, 'got null'],
  ])('refuses %j with a message that names the fix', (policy, ErrorClass, message) => {
    const resolve = () => resolveRetryAfterPolicy(policy as never);
    expect(resolve).toThrow(ErrorClass);
    expect(resolve).toThrow(message);
  });
});
