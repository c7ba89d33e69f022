import { describe, expect, it } from 'vitest';
import { declaredFailure, failureOf } from '../src/failure/failure.js';
import { type AttemptResult, type Verdict, verdictOf } from '../src/resilience/verdict.js';

const intercepted503 = declaredFailure(503, { receivedStatus: 503, phase: 'response-head' });

describe('verdictOf', () => {
  it.each<[string, AttemptResult, readonly number[], Verdict]>([
    ['an answer', { status: 200 }, [], 'success'],
    ['a 404 answer', { status: 404 }, [], 'success'],
    ['a 503 answer, by default', { status: 503 }, [], 'success'],
    ['a 503 answer, when 503 counts', { status: 503 }, [502, 503], 'failure'],
    ['an intercepted 503, by default', { failure: intercepted503 }, [], 'success'],
    ['an intercepted 503, when 503 counts', { failure: intercepted503 }, [503], 'failure'],
    ['a refused connection', { failure: failureOf('connection_refused') }, [], 'failure'],
    ['a reset', { failure: failureOf('connection_terminated') }, [], 'failure'],
    ['a response timeout', { failure: failureOf('http_response_timeout') }, [], 'failure'],
    [
      'a body cut after the head',
      { failure: failureOf('http_response_incomplete', { phase: 'response-body' }) },
      [],
      'failure',
    ],
    ['a client abort', { aborted: true }, [], 'neutral'],
    ['an open circuit elsewhere', { failure: failureOf('destination_unavailable') }, [], 'neutral'],
    ['the concurrency limit', { failure: failureOf('connection_limit_reached') }, [], 'neutral'],
    ['maintenance', { failure: failureOf('proxy_internal_response') }, [503], 'neutral'],
  ])('%s is a %s', (_name, result, statuses, verdict) => {
    expect(verdictOf(result, statuses)).toBe(verdict);
  });
});
