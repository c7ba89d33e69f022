import Negotiator from 'negotiator';

/** What a client gets: an HTML page, RFC 9457 problem+json, or plain text. */
export type ResponseFormat = 'html' | 'problem' | 'text';

/**
 * Offered in this order, so that a bare `*\/*` (curl, most HTTP libraries) gets plain text: browsers always name
 * text/html, and API clients name JSON.
 */
const offered = ['text/plain', 'text/html', 'application/problem+json', 'application/json', 'application/xhtml+xml'];
const formatOf: Readonly<Record<string, ResponseFormat>> = {
  'text/plain': 'text',
  'text/html': 'html',
  'application/problem+json': 'problem',
  'application/json': 'problem',
  // A client that names XHTML alone reads HTML too; we answer text/html rather than nothing useful.
  'application/xhtml+xml': 'html',
};

/** Few distinct Accept headers exist in practice; remember the answers, within a bound. */
const cache = new Map<string, ResponseFormat>();
const cacheLimit = 256;

function remember<T>(map: Map<string, T>, key: string, value: T): T {
  if (map.size >= cacheLimit) map.clear();
  map.set(key, value);
  return value;
}

/**
 * The format for an Accept header (RFC 9110 §12.5.1), by the client's own preferences and their order. Never "not
 * acceptable": RFC 9110 §12.5.1 lets a server ignore Accept rather than answer 406, and an error page is better than
 * a second error, so a client that accepts none of ours (or sends no Accept) gets text.
 */
export function negotiateFormat(accept: string | undefined): ResponseFormat {
  if (accept === undefined || accept === '') return 'text';
  const known = cache.get(accept);
  if (known !== undefined) return known;
  const best = new Negotiator({ headers: { accept } }).mediaType(offered);
  return remember(cache, accept, (best !== undefined && formatOf[best]) || 'text');
}

/**
 * A language negotiator over `available` (BCP 47 tags), falling back to `fallback`, with its own bounded memory of
 * the Accept-Language headers it has seen.
 */
export function localeNegotiator(available: readonly string[], fallback: string): (acceptLanguage?: string) => string {
  const offeredLocales = [...available];
  const seen = new Map<string, string>();
  return (acceptLanguage) => {
    if (acceptLanguage === undefined || acceptLanguage === '') return fallback;
    const known = seen.get(acceptLanguage);
    if (known !== undefined) return known;
    const best = new Negotiator({ headers: { 'accept-language': acceptLanguage } }).language(offeredLocales);
    return remember(seen, acceptLanguage, best ?? fallback);
  };
}
