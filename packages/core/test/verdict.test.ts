import { describe, expect, it } from 'vitest';
import { declaredFailure, failureOf } from '../src/failure/failure.js';
import { type AttemptOutcome, type Verdict, verdictOf } from '../src/resilience/verdict.js';

const intercepted503 = declaredFailure(503, { receivedStatus: 503, phase: 'response-head' });

describe('verdictOf', () => {
  it.each<[string, AttemptOutcome, readonly number[], Verdict]>([
    ['an answer', { kind: 'answered', status: 200 }, [], 'success'],
    ['a 404 answer', { kind: 'answered', status: 404 }, [], 'success'],
    ['a 503 answer, by default', { kind: 'answered', status: 503 }, [], 'success'],
    ['a 503 answer, when 503 counts', { kind: 'answered', status: 503 }, [502, 503], 'failure'],
    ['an intercepted 503, by default', { kind: 'failed', failure: intercepted503 }, [], 'success'],
    ['an intercepted 503, when 503 counts', { kind: 'failed', failure: intercepted503 }, [503], 'failure'],
    ['a refused connection', { kind: 'failed', failure: failureOf('connection_refused') }, [], 'failure'],
    ['a reset', { kind: 'failed', failure: failureOf('connection_terminated') }, [], 'failure'],
    ['a response timeout', { kind: 'failed', failure: failureOf('http_response_timeout') }, [], 'failure'],
    [
      'a body cut after the head',
      { kind: 'failed', failure: failureOf('http_response_incomplete', { phase: 'response-body' }) },
      [],
      'failure',
    ],
    ['a client abort', { kind: 'aborted' }, [], 'neutral'],
    ['an open circuit elsewhere', { kind: 'failed', failure: failureOf('destination_unavailable') }, [], 'neutral'],
    ['the concurrency limit', { kind: 'failed', failure: failureOf('connection_limit_reached') }, [], 'neutral'],
    ['maintenance', { kind: 'failed', failure: failureOf('proxy_internal_response') }, [503], 'neutral'],
  ])('%s is a %s', (_name, result, statuses, verdict) => {
    expect(verdictOf(result, statuses)).toBe(verdict);
  });
});
