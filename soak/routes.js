// The one table of the soak: every route of the gateway under test, what the upstream behind it does, and every
// answer a client may get. The checker (check.js) reads it, and docs/reliability.md shows it as markdownTable()
// prints it (a test keeps the two equal).

/** The gateway's timeouts in the soak: the defaults' shape, shorter, so faults resolve quickly. */
export const timeouts = Object.freeze({ connect: 1000, response: 1000, idle: 2000 });

/** Bytes of the chaos upstream's /large body. */
export const largeSize = 1048576;

/**
 * The chaos routes run without a circuit breaker: with the default one, each fault would open its route's circuit
 * after five failures and be answered with a fast 503 for most of the run, and the faults themselves would hardly be
 * exercised. The dead target keeps the default breaker, so its open circuit is soaked too: while it is open (after 5
 * consecutive failures, or half of 20 or more in 10 s), the proxy fails fast with 503 and the remaining open time as
 * Retry-After (5 s doubling up to 60 s, with jitter).
 */
export const breakerOn = (route) => route.route === 'dead';

const circuitOpen = Object.freeze({ status: 503, error: 'destination_unavailable', retryAfter: [1, 90] });

/** A generated error with the hint as Retry-After (`retryAfter.hint`, 5 s by default). */
const generated = (status, error) => Object.freeze({ status, error, retryAfter: [5, 5] });

/**
 * Each route: its path on the gateway, what its upstream does, how often the load draws it (`weight`, 1 unless
 * said), and the answers allowed for GET and POST (`answers`) and for HEAD (`head`, when they differ). An answer is
 * one of:
 * - `{ status, body }`: the upstream's answer, passed through complete (`body`: 'fast', 'large' or the exact text);
 *   `retryAfter` a string: the upstream's own Retry-After, passed on; no Proxy-Status;
 * - `{ status, error, retryAfter: [min, max] }`: a generated error: Proxy-Status `gateway-errors; error=<error>`,
 *   Retry-After in seconds within [min, max], Cache-Control no-store, the negotiated format, Content-Length;
 * - `{ status, aborted: true }`: the upstream's head, then the connection cut before the body is complete, never a
 *   clean end of a short body.
 */
export const routes = Object.freeze([
  {
    route: 'fast',
    path: '/c/fast',
    upstream: '200 `fast`; to a body, its length and SHA-256',
    answers: [{ status: 200, body: 'fast' }],
  },
  {
    route: 'large',
    path: '/c/large',
    upstream: '200, 1 MiB',
    answers: [{ status: 200, body: 'large' }],
  },
  {
    route: 'slow',
    path: '/c/slow',
    upstream: '200 after 50 ms',
    answers: [{ status: 200, body: 'slow\n' }],
  },
  {
    route: '500',
    path: '/c/500',
    upstream: 'its own 500',
    answers: [{ status: 500, body: 'upstream says 500\n' }],
  },
  {
    route: '503',
    path: '/c/503',
    upstream: 'its own 503, `Retry-After: 7`',
    answers: [{ status: 503, body: 'upstream says 503\n', retryAfter: '7' }],
  },
  {
    route: 'reset',
    path: '/c/reset',
    upstream: 'TCP RST after the request',
    answers: [generated(502, 'connection_terminated')],
  },
  {
    route: 'garbage',
    path: '/c/garbage',
    upstream: 'an SSH banner, then FIN',
    answers: [generated(502, 'http_protocol_error')],
  },
  {
    route: 'die',
    path: '/c/die',
    upstream: '200 announcing 100000 bytes, 13 sent, then FIN',
    answers: [{ status: 200, aborted: true }],
    head: [{ status: 200, body: '' }],
  },
  {
    route: 'hang',
    path: '/c/hang',
    // Drawn a quarter as often as the others: each takes the response timeout (a GET twice: it is retried once), and
    // at the same weight hanging requests would hold most clients most of the time.
    weight: 0.25,
    upstream: 'never answers (a GET waits twice: it is retried once)',
    answers: [generated(504, 'http_response_timeout')],
  },
  {
    route: 'dead',
    path: '/dead',
    upstream: 'nothing listens (a dead target)',
    answers: [generated(502, 'connection_refused'), circuitOpen],
  },
]);

/** One answer as the table's cell says it. */
function describe(answer, head) {
  if (answer.error !== undefined) {
    const [min, max] = answer.retryAfter;
    const retry = min === max ? `Retry-After: ${min}` : `Retry-After ${min}-${max}`;
    const circuit = answer.error === 'destination_unavailable' ? ' (circuit open)' : '';
    return `${answer.status} generated, \`${answer.error}\`${circuit}, ${retry}`;
  }
  if (answer.aborted) return `${answer.status} head, then the connection cut (aborted, never a clean short end)`;
  const retry = answer.retryAfter === undefined ? '' : `, \`Retry-After: ${answer.retryAfter}\``;
  const what = head ? 'no body' : answer.body === 'large' ? '1 MiB, checked by SHA-256' : 'its body exactly';
  return `${answer.status} passed through, ${what}${retry}`;
}

/**
 * The table as markdown, for docs/reliability.md: route, upstream behaviour, allowed answers to GET and POST, and to
 * HEAD.
 */
export function markdownTable() {
  const lines = ['| route | upstream | GET and POST | HEAD |', '| --- | --- | --- | --- |'];
  for (const route of routes) {
    const body = route.answers.map((answer) => describe(answer, false)).join('; or ');
    const head = (route.head ?? route.answers).map((answer) => describe(answer, true)).join('; or ');
    lines.push(`| \`${route.path}\` | ${route.upstream} | ${body} | ${head} |`);
  }
  return `${lines.join('\n')}\n`;
}
