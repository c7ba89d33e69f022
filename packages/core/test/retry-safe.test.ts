import type { FailureType, GatewayFailure } from '@gateway-errors/core';
import {
  declaredFailure,
  failureOf,
  failureRules,
  isRetrySafe,
  receivedFailure,
} from '@gateway-errors/core/unstable-internals';
import { describe, expect, it } from 'vitest';

// isRetrySafe() is the one rule for sending a failed request again: the proxy's retries and its resend after the
// keep-alive race both ask it (proxy-resilience and proxy-keep-alive tests show the proxy following it over sockets).

const none = { replayable: true }; // no body, or one held in memory
const streamed = { replayable: false };

const refused = failureOf('connection_refused');
const reset = failureOf('connection_terminated');
const resetOnConnect = failureOf('connection_terminated', { phase: 'connect', mayHaveReachedUpstream: false });
const headTimeout = failureOf('http_response_timeout');
const upstream503 = receivedFailure(503, '1', undefined);

const rows: Array<[string, GatewayFailure, string, { replayable: boolean }, boolean]> = [
  // Never reached the upstream: any method, if the body can be sent again.
  ['refused POST, buffered', refused, 'POST', none, true],
  ['refused PATCH, buffered', refused, 'PATCH', none, true],
  ['reset while connecting, POST', resetOnConnect, 'POST', none, true],
  // The review's finding: a streamed body is gone, even when the upstream never saw it.
  ['refused POST, streamed', refused, 'POST', streamed, false],
  ['refused GET, streamed', refused, 'GET', streamed, false],
  // May have reached it: idempotent methods only (RFC 9110 §9.2.2).
  ['reset GET', reset, 'GET', none, true],
  ['reset HEAD', reset, 'HEAD', none, true],
  ['reset OPTIONS', reset, 'OPTIONS', none, true],
  ['reset TRACE', reset, 'TRACE', none, true],
  ['reset PUT, buffered', reset, 'PUT', none, true],
  ['reset DELETE', reset, 'DELETE', none, true],
  ['reset POST, buffered', reset, 'POST', none, false],
  ['reset PATCH, buffered', reset, 'PATCH', none, false],
  ['reset CONNECT', reset, 'CONNECT', none, false],
  ['reset PUT, streamed', reset, 'PUT', streamed, false],
  ['no head in time, GET', headTimeout, 'GET', none, true],
  ['no head in time, POST', headTimeout, 'POST', none, false],
  // The upstream answered: it did get the request.
  ["the upstream's own 503, GET", upstream503, 'GET', none, true],
  ["the upstream's own 503, POST", upstream503, 'POST', none, false],
  // A method is compared as Node gives it, upper case: anything else is not known to be idempotent.
  ['reset get (lower case)', reset, 'get', none, false],
];

describe('isRetrySafe(): the one rule for sending a failed request again', () => {
  it.each(rows)('%s', (_name, failure, method, body, safe) => {
    expect(isRetrySafe(failure, { method, ...body })).toBe(safe);
  });

  it('for every failure type of the table: a POST only when it never reached the upstream, a GET always', () => {
    for (const type of Object.keys(failureRules) as FailureType[]) {
      const failure = failureOf(type);
      expect(isRetrySafe(failure, { method: 'POST', replayable: true })).toBe(!failure.mayHaveReachedUpstream);
      expect(isRetrySafe(failure, { method: 'GET', replayable: true })).toBe(true);
      expect(isRetrySafe(failure, { method: 'GET', replayable: false })).toBe(false);
    }
  });

  it('a failure declared by its status alone may have reached the upstream when a status was received', () => {
    expect(isRetrySafe(declaredFailure(503), { method: 'POST', replayable: true })).toBe(true);
    expect(isRetrySafe(declaredFailure(503, { receivedStatus: 503 }), { method: 'POST', replayable: true })).toBe(
      false,
    );
  });
});
