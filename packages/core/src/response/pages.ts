import { declaredFailure, failureOf, type GatewayFailure } from '../failure/failure.js';

/** One kind of page a responder shows, with a failure that brings it up. */
export interface SamplePage {
  /** Its name in the preview's `page` parameter. */
  readonly id: string;
  /** What brings it up, in a few words. */
  readonly label: string;
  /** A failure of that kind, with what development diagnostics show (an upstream, a code, timings, a cause). */
  readonly failure: GatewayFailure;
}

const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:4000'), { code: 'ECONNREFUSED' });

/**
 * Every kind of page a responder shows: one per template, and maintenance, which shares 503.ejs but says other
 * words. The start-up check renders each of them in every language; the preview lists them.
 */
export const samplePages: readonly SamplePage[] = Object.freeze([
  {
    id: '502',
    label: 'upstream refused the connection (every 502)',
    failure: failureOf('connection_refused', {
      upstream: 'http://127.0.0.1:4000',
      code: 'ECONNREFUSED',
      cause: refused,
      timings: { connect: 1.2, total: 1.3 },
    }),
  },
  {
    id: '503',
    label: 'circuit open, or overloaded',
    failure: failureOf('destination_unavailable', { upstream: 'http://127.0.0.1:4000', retryAfter: 30 }),
  },
  {
    id: 'maintenance',
    label: 'planned maintenance (503)',
    failure: failureOf('proxy_internal_response', { retryAfter: 3600 }),
  },
  {
    id: '504',
    label: 'upstream took too long (every 504)',
    failure: failureOf('http_response_timeout', {
      upstream: 'http://127.0.0.1:4000',
      timings: { connect: 1.1, total: 15000 },
    }),
  },
  {
    id: '500',
    label: 'any other error (allErrors, a declared status)',
    failure: declaredFailure(500, { cause: new Error('an error thrown by a route'), mayHaveReachedUpstream: false }),
  },
]);
