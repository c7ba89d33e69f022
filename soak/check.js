// The soak's checker: whether one observed answer is one the table (routes.js) allows for its route and request.
import { createHash } from 'node:crypto';
import { largeBody, receivedLine } from '@gateway-errors/testing';
import { largeSize } from './routes.js';

const largeSha256 = createHash('sha256').update(largeBody(largeSize)).digest('hex');

/** What each Accept the load sends must get as an error's Content-Type. */
export const accepts = Object.freeze({
  html: { header: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8', type: 'text/html' },
  json: { header: 'application/json', type: 'application/problem+json' },
  text: { header: '*/*', type: 'text/plain' },
});

/**
 * The label of an answer in the figures ("200", "502 connection_terminated", "200 aborted"), or undefined when it is
 * wrong; and why it is wrong.
 * @param route an entry of routes.js
 * @param request `{ method, accept, body }` as sent (`accept` a key of `accepts`, `body` a Buffer or undefined)
 * @param seen `{ outcome, status, headers, length, sha256, text, code }`: `outcome` is `complete` (the response
 *   ended as its framing says), `aborted` (the connection closed first), `error` (no response: `code`) or `hung`
 *   (still unanswered at the bound); `text` is the body when it is small
 */
export function check(route, request, seen) {
  if (seen.outcome === 'hung') return { wrong: 'no answer within the bound: it hung' };
  if (seen.outcome === 'error') return { wrong: `no response: ${seen.code}` };
  const head = request.method === 'HEAD';
  const allowed = head && route.head !== undefined ? route.head : route.answers;
  const candidates = allowed.filter((answer) => answer.status === seen.status);
  if (candidates.length === 0) {
    return { wrong: `status ${seen.status}, expected ${allowed.map((answer) => answer.status).join(' or ')}` };
  }
  let why;
  for (const answer of candidates) {
    why = mismatch(answer, request, seen, head);
    if (why === undefined) return { label: labelOf(answer, seen) };
  }
  return { wrong: why };
}

function labelOf(answer, seen) {
  if (answer.error !== undefined) return `${seen.status} ${answer.error}`;
  if (answer.aborted) return `${seen.status} aborted`;
  return `${seen.status}`;
}

/** Why `seen` is not `answer`, or undefined when it is. */
function mismatch(answer, request, seen, head) {
  const headers = seen.headers;
  if (answer.aborted) {
    if (head) return 'a HEAD answer has no body to cut';
    // The whole point: a cut body must never end cleanly, or a client takes the first bytes for the whole.
    if (seen.outcome !== 'aborted') return `a cut body ended cleanly (${seen.length} bytes): expected an abort`;
    return undefined;
  }
  if (seen.outcome !== 'complete') return `aborted after ${seen.length} bytes, expected a complete answer`;
  if (answer.error !== undefined) return generatedMismatch(answer, request, seen, head);
  if (headers['proxy-status'] !== undefined) return `Proxy-Status ${headers['proxy-status']} on a passed answer`;
  if (answer.retryAfter !== undefined && headers['retry-after'] !== answer.retryAfter) {
    return `Retry-After ${headers['retry-after']}, expected the upstream's ${answer.retryAfter}`;
  }
  if (head) {
    if (seen.length !== 0) return `a HEAD answer with ${seen.length} body bytes`;
    if (answer.body === 'large' && headers['content-length'] !== String(largeSize)) {
      return `Content-Length ${headers['content-length']} for /large`;
    }
    return undefined;
  }
  if (answer.body === 'large') {
    if (seen.length !== largeSize || seen.sha256 !== largeSha256)
      return `a /large body of ${seen.length} bytes, altered`;
    return undefined;
  }
  const expected =
    answer.body === 'fast' ? (request.body?.length > 0 ? receivedLine(request.body) : 'fast\n') : answer.body;
  if (seen.text !== expected)
    return `body ${JSON.stringify(seen.text?.slice(0, 80))}, expected ${JSON.stringify(expected)}`;
  return undefined;
}

function generatedMismatch(answer, request, seen, head) {
  const headers = seen.headers;
  const status = seen.status;
  if (headers['proxy-status'] !== `gateway-errors; error=${answer.error}`) {
    return `Proxy-Status ${headers['proxy-status']}, expected error=${answer.error}`;
  }
  const [min, max] = answer.retryAfter;
  const retryAfter = headers['retry-after'];
  if (!/^\d+$/.test(retryAfter ?? '') || Number(retryAfter) < min || Number(retryAfter) > max) {
    return `Retry-After ${retryAfter}, expected ${min}-${max}`;
  }
  if (headers['cache-control'] !== 'no-store') return `Cache-Control ${headers['cache-control']}`;
  const type = accepts[request.accept].type;
  if (headers['content-type'] !== `${type}; charset=utf-8`)
    return `Content-Type ${headers['content-type']}, expected ${type}`;
  if (!headers['x-request-id']) return 'no X-Request-Id';
  const length = Number(headers['content-length']);
  if (head)
    return seen.length === 0 && length > 0 ? undefined : `HEAD: ${seen.length} body bytes, Content-Length ${length}`;
  if (length !== seen.length) return `Content-Length ${length}, body ${seen.length} bytes`;
  const text = seen.text ?? '';
  if (request.accept === 'json') {
    let problem;
    try {
      problem = JSON.parse(text);
    } catch {
      return 'problem+json that does not parse';
    }
    if (problem.status !== status || problem.errorType !== answer.error) return `problem ${text.slice(0, 120)}`;
  } else if (request.accept === 'html') {
    if (!text.startsWith('<!doctype html>') || !text.includes(`<title>${status} `)) return 'not the HTML page';
  } else if (!text.startsWith(`${status} `)) {
    return `text ${JSON.stringify(text.slice(0, 40))}`;
  }
  return undefined;
}
