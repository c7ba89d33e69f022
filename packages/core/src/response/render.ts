import { STATUS_CODES } from 'node:http';
import { gatewayWarning, messageOf } from '../config/warning.js';
import type { GatewayFailure } from '../failure/failure.js';
import { formatProxyStatus } from '../failure/proxy-status.js';
import { type ResolvedRetryAfterPolicy, retryAfterFor } from '../failure/retry-after.js';
import type { Messages, PageCopy } from './messages.js';
import type { ResponseFormat } from './negotiate.js';
import type { PageTemplate, TemplateSet } from './templates.js';

/** A finished error response: what a writer sends, byte for byte. */
export interface RenderedError {
  /** The response status. */
  status: number;
  /** Response headers, lower-case names. `vary` and `proxy-status` are merged with values already on the response. */
  headers: Record<string, string>;
  /** The body (not sent for HEAD). */
  body: string;
}

/** Links and names shown on the page, from the `locals` option. */
export interface SiteLocals {
  /** Shown in the header and the title. */
  siteName?: string | undefined;
  /** A `data:image/...` URL (a URL elsewhere would be a request to a failing site), shown in the header. */
  logoUrl?: string | undefined;
  /** The home link. */
  homeUrl: string;
  /** An optional link to a status page. */
  statusPageUrl?: string | undefined;
  /** An optional support link (`mailto:`, `tel:`, `https:` or a path). */
  contactUrl?: string | undefined;
}

/** Everything rendering needs that does not change between requests; built once by the responder. */
export interface RenderSettings {
  /** The compiled templates. */
  readonly templates: TemplateSet;
  /** Whether diagnostics are shown. */
  readonly development: boolean;
  /** Our name in Proxy-Status. */
  readonly proxyName: string;
  /** The Retry-After policy. */
  readonly retryAfter: ResolvedRetryAfterPolicy;
  /** The site's names and links. */
  readonly site: Readonly<SiteLocals>;
  /** Any other `locals` key, for templates as `page.locals`. */
  readonly locals: Readonly<Record<string, unknown>>;
  /** Complete messages per language, the default language first. */
  readonly messages: ReadonlyMap<string, Messages>;
  /** The base URI of problem+json `type`, if any. */
  readonly problemTypeBase: string | undefined;
}

/** What is known of the client for one response. */
export interface Audience {
  /** The negotiated format. */
  readonly format: ResponseFormat;
  /** The negotiated language, one of the `messages` keys. */
  readonly locale: string;
  /** The support reference, also sent as X-Request-Id. */
  readonly requestId: string;
  /** A Content-Security-Policy nonce for the page's inline style and script, already checked to be plain. */
  readonly nonce?: string | undefined;
}

/** What templates see as `page`. */
export interface PageContext {
  /** The language tag, for `<html lang>`. */
  lang: string;
  /** The writing direction of that language, for `<html dir>`. */
  dir: 'ltr' | 'rtl';
  /** The response status. */
  status: number;
  /** "Error 502", in the page's language. */
  statusLabel: string;
  /** The failure's RFC 9209 type, for templates that want to say more (`connection_refused`, ...). */
  errorType: string | undefined;
  /** Whether this is planned maintenance (503 `proxy_internal_response`). */
  maintenance: boolean;
  /** The title, heading and description of this kind of page. */
  copy: PageCopy;
  /** Every message in the page's language. */
  t: Messages;
  /** When to try again: `seconds` from Retry-After, `text` to show, `ready` once the wait is over. */
  retry: { seconds: number | undefined; text: string; ready: string };
  /** The support reference. */
  requestId: string;
  /** The CSP nonce for inline `<style>` and `<script>`, when one was given. */
  nonce: string | undefined;
  /** The site's names and links. */
  site: Readonly<SiteLocals>;
  /** Any other `locals` key. */
  locals: Readonly<Record<string, unknown>>;
  /** Name/value rows of the development diagnostics panel; absent in production. */
  diagnostics: Array<[string, string]> | undefined;
}

/**
 * The status an error response may carry: an error status, never a 2xx page (a soft error to crawlers) or a 3xx
 * (a redirect to an error URL). Anything else a caller declares becomes 500.
 */
export function errorStatus(status: number): number {
  return Number.isInteger(status) && status >= 400 && status <= 599 ? status : 500;
}

/** The page template of a status. */
export function templateFor(status: number): PageTemplate {
  return status === 502 ? '502' : status === 503 ? '503' : status === 504 ? '504' : 'error';
}

function copyFor(failure: GatewayFailure, status: number, t: Messages): PageCopy {
  if (failure.type === 'proxy_internal_response') return t.maintenance;
  switch (status) {
    case 502:
      return t.badGateway;
    case 503:
      return t.serviceUnavailable;
    case 504:
      return t.gatewayTimeout;
    default:
      return t.error;
  }
}

const relativeTimeFormats = new Map<string, Intl.RelativeTimeFormat>();

/**
 * "in 30 seconds", "dans 5 minutes", "2 時間後": the largest unit that keeps the number readable, rounded up so the
 * page never promises less wait than Retry-After asks for. The page's countdown script counts the same way.
 */
export function relativeTime(seconds: number, locale: string): string {
  let format = relativeTimeFormats.get(locale);
  if (format === undefined) {
    format = new Intl.RelativeTimeFormat(locale, { numeric: 'auto' });
    if (relativeTimeFormats.size < 64) relativeTimeFormats.set(locale, format);
  }
  if (seconds < 90) return format.format(seconds, 'second');
  if (seconds < 90 * 60) return format.format(Math.ceil(seconds / 60), 'minute');
  if (seconds < 36 * 3600) return format.format(Math.ceil(seconds / 3600), 'hour');
  return format.format(Math.ceil(seconds / 86400), 'day');
}

/** Scripts written right to left, by primary language tag (and the Arabic-script forms of a few others). */
const rightToLeft = /^(?:ar|arc|ckb|dv|fa|he|iw|ks|ps|sd|syr|ug|ur|yi|ku-arab|pa-arab)(?:-|$)/i;

/** Strings derived from one language's messages, computed on first use and kept: the same few recur all day. */
interface LocaleText {
  readonly dir: 'ltr' | 'rtl';
  readonly statusLabels: Map<number, string>;
  readonly retryTexts: Map<number, string>;
}
const localeTexts = new WeakMap<Messages, LocaleText>();

function localeTextOf(t: Messages, locale: string): LocaleText {
  let text = localeTexts.get(t);
  if (text === undefined) {
    text = { dir: rightToLeft.test(locale) ? 'rtl' : 'ltr', statusLabels: new Map(), retryTexts: new Map() };
    localeTexts.set(t, text);
  }
  return text;
}

function cached<K>(map: Map<K, string>, key: K, make: () => string): string {
  let value = map.get(key);
  if (value === undefined) {
    value = make();
    if (map.size >= 256) map.clear();
    map.set(key, value);
  }
  return value;
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: matching them is the point.
const unprintable = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;

/**
 * Control characters (and the line breaks that would let a value fake another line of the text format) as visible
 * `\uXXXX` escapes: diagnostics carry messages from the network.
 */
function printable(text: string): string {
  return text.replace(unprintable, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** The cause chain as "Name [CODE]: message" steps, for development diagnostics only. */
function causeChain(cause: unknown): string {
  const steps: string[] = [];
  const seen = new Set<unknown>();
  let current = cause;
  while (current !== undefined && current !== null && !seen.has(current) && steps.length < 8) {
    seen.add(current);
    if (typeof current !== 'object') {
      steps.push(String(current));
      break;
    }
    const { name, code, message } = current as { name?: unknown; code?: unknown; message?: unknown };
    steps.push(`${String(name ?? 'Error')}${code === undefined ? '' : ` [${String(code)}]`}: ${String(message ?? '')}`);
    current = (current as { cause?: unknown }).cause;
  }
  return printable(steps.join(' ← '));
}

function diagnosticsOf(failure: GatewayFailure): Array<[string, string]> {
  const rows: Array<[string, string | number | boolean | undefined]> = [
    ['Error type', failure.type],
    ['Status', failure.status],
    ['Received status', failure.receivedStatus],
    ['Phase', failure.phase],
    ['Code', failure.code],
    ['Upstream', failure.upstream],
    ['May have reached upstream', failure.mayHaveReachedUpstream],
    [
      'Timings (ms)',
      failure.timings === undefined
        ? undefined
        : Object.entries(failure.timings)
            .map(([step, ms]) => `${step} ${Math.round(ms * 10) / 10}`)
            .join(', '),
    ],
    ['Cause', failure.cause === undefined ? undefined : causeChain(failure.cause)],
  ];
  const shown: Array<[string, string]> = [];
  for (const [name, value] of rows) {
    if (value !== undefined && value !== '') shown.push([name, printable(String(value))]);
  }
  return shown;
}

const contentTypes: Readonly<Record<ResponseFormat, string>> = {
  html: 'text/html; charset=utf-8',
  problem: 'application/problem+json; charset=utf-8',
  text: 'text/plain; charset=utf-8',
};

/** The content type of each format, with its charset. */
export function contentTypeOf(format: ResponseFormat): string {
  return contentTypes[format];
}

/**
 * The headers every generated error carries, whatever its body: caching, Vary, robots, request id, Retry-After and
 * Proxy-Status. Content-Type, Content-Language and Content-Length describe a body and are added with it.
 */
export function errorHeaders(
  failure: GatewayFailure,
  audience: Audience,
  settings: RenderSettings,
  seconds: number | undefined,
): Record<string, string> {
  const headers: Record<string, string> = {
    // RFC 9111 §5.2.2.5: no cache, shared or private, may keep an error we generated.
    'cache-control': 'no-store',
    // RFC 9110 §12.5.5: the body depends on Accept (format) and Accept-Language (words).
    vary: 'Accept, Accept-Language',
    'x-robots-tag': 'noindex',
    'x-request-id': audience.requestId,
  };
  // RFC 9110 §10.2.3, delay-seconds only: a delay does not depend on the client's clock.
  if (seconds !== undefined) headers['retry-after'] = String(seconds);
  if (failure.type !== undefined || failure.receivedStatus !== undefined) {
    headers['proxy-status'] = formatProxyStatus(settings.proxyName, {
      error: failure.type,
      receivedStatus: failure.receivedStatus,
      // RFC 9209 §2.1.5 details can reveal internals: development only.
      details: settings.development && failure.cause !== undefined ? causeChain(failure.cause) : undefined,
    });
  }
  return headers;
}

/**
 * A user's template that throws at request time (when construction-time checks passed) must not turn an error page
 * into no page: the built-in page is sent instead, and the error reported once as a process warning.
 */
function renderPage(templates: TemplateSet, name: PageTemplate, page: PageContext): string {
  try {
    return templates.render(name, page);
  } catch (error) {
    if (templates.userDir === undefined) throw error;
    gatewayWarning(
      'GATEWAY_ERRORS_TEMPLATE',
      () =>
        `the ${name} page template in ${templates.userDir} threw, so the built-in page was sent: ${messageOf(error)}`,
      { per: templates },
    );
    return templates.renderDefault(name, page);
  }
}

/**
 * Built-in pages are rendered once per distinct page and kept in parts around what differs per request (the request
 * id, and the CSP nonce when there is one): during an outage every visitor gets the same page but for those, and
 * running the template was most of an error's rendering cost. Not for your own templates (they may print anything,
 * the time for one), development pages (their diagnostics differ per failure), or an id that would need escaping
 * (ours never do: see requestIdOf; a nonce is plain base64 by the time it gets here).
 */
const requestIdMark = 'gatewayErrorsRequestIdMark';
const nonceMark = 'gatewayErrorsNonceMark';
/** Splits a page at the marks, keeping them: text, mark, text, mark, ..., text. */
const marks = new RegExp(`(${requestIdMark}|${nonceMark})`);
const needsEscaping = /[&<>"']/;
const keptPages = new WeakMap<RenderSettings, Map<string, string[]>>();

function builtInPage(failure: GatewayFailure, audience: Audience, settings: RenderSettings, said: Statement): string {
  const name = templateFor(said.status);
  if (settings.templates.userDir !== undefined || settings.development || needsEscaping.test(audience.requestId)) {
    return renderPage(settings.templates, name, pageFrom(failure, audience, settings, said));
  }
  let pages = keptPages.get(settings);
  if (pages === undefined) {
    pages = new Map();
    keptPages.set(settings, pages);
  }
  const { requestId, nonce } = audience;
  // Everything a built-in page shows besides the id and the nonce follows from these (and from the settings).
  const key = `${audience.locale} ${said.status} ${failure.type} ${said.seconds} ${nonce !== undefined}`;
  let parts = pages.get(key);
  if (parts === undefined) {
    const marked = { ...audience, requestId: requestIdMark, nonce: nonce === undefined ? undefined : nonceMark };
    parts = renderPage(settings.templates, name, pageFrom(failure, marked, settings, said)).split(marks);
    if (pages.size >= 256) pages.clear();
    pages.set(key, parts);
  }
  let body = parts[0] as string;
  for (let i = 1; i < parts.length; i += 2)
    body += (parts[i] === requestIdMark ? requestId : nonce) + (parts[i + 1] as string);
  return body;
}

/** What every format says, in the client's language. */
interface Statement {
  readonly t: Messages;
  readonly text: LocaleText;
  readonly status: number;
  readonly seconds: number | undefined;
  readonly copy: PageCopy;
  readonly retryText: string;
  readonly diagnostics: Array<[string, string]> | undefined;
}

function statementOf(failure: GatewayFailure, audience: Audience, settings: RenderSettings): Statement {
  const t = settings.messages.get(audience.locale) ?? (settings.messages.values().next().value as Messages);
  const text = localeTextOf(t, audience.locale);
  const status = errorStatus(failure.status);
  const seconds = retryAfterFor(failure, settings.retryAfter);
  return {
    t,
    text,
    status,
    seconds,
    copy: copyFor(failure, status, t),
    retryText:
      seconds === undefined
        ? t.retrySoon
        : cached(text.retryTexts, seconds, () => t.retryIn.replace('{time}', relativeTime(seconds, audience.locale))),
    diagnostics: settings.development ? diagnosticsOf(failure) : undefined,
  };
}

function pageFrom(failure: GatewayFailure, audience: Audience, settings: RenderSettings, said: Statement): PageContext {
  const { t, text, status } = said;
  return {
    lang: audience.locale,
    dir: text.dir,
    status,
    statusLabel: cached(text.statusLabels, status, () => t.statusLabel.replace('{status}', String(status))),
    errorType: failure.type,
    maintenance: failure.type === 'proxy_internal_response',
    copy: said.copy,
    t,
    retry: { seconds: said.seconds, text: said.retryText, ready: t.retryReady },
    requestId: audience.requestId,
    nonce: audience.nonce,
    site: settings.site,
    locals: settings.locals,
    diagnostics: said.diagnostics,
  };
}

/** The `page` templates see, for one failure and one client. */
export function pageOf(failure: GatewayFailure, audience: Audience, settings: RenderSettings): PageContext {
  return pageFrom(failure, audience, settings, statementOf(failure, audience, settings));
}

/**
 * Renders a failure for one client: the status, every header our rules require, and the body in the negotiated
 * format and language. Pure but for memoised strings: the same inputs give the same bytes.
 */
export function renderFailure(failure: GatewayFailure, audience: Audience, settings: RenderSettings): RenderedError {
  const said = statementOf(failure, audience, settings);
  const { t, status, seconds, copy, retryText, diagnostics } = said;

  let body: string;
  if (audience.format === 'html') {
    body = builtInPage(failure, audience, settings, said);
  } else if (audience.format === 'problem') {
    // RFC 9457 §3.1: `about:blank` and the status phrase as the title when the type means nothing more.
    const problem: Record<string, unknown> = {
      type:
        failure.type !== undefined && settings.problemTypeBase !== undefined
          ? settings.problemTypeBase + failure.type
          : 'about:blank',
      title: STATUS_CODES[status] ?? 'Error',
      status,
      detail: copy.description,
      // RFC 9457 §3.2 extension members.
      errorType: failure.type,
      retryAfter: seconds,
      requestId: audience.requestId,
    };
    if (diagnostics !== undefined) problem.diagnostics = Object.fromEntries(diagnostics);
    body = JSON.stringify(problem);
  } else {
    let lines = `${status} ${STATUS_CODES[status] ?? 'Error'}\n\n${copy.heading}\n${copy.description}\n`;
    if (status >= 500) lines += `${t.notYourFault}\n`;
    lines += `${retryText}\n\n${t.reference}${t.colon}${audience.requestId}\n`;
    if (diagnostics !== undefined) lines += `\n${diagnostics.map(([name, value]) => `${name}: ${value}\n`).join('')}`;
    body = lines;
  }

  const headers = errorHeaders(failure, audience, settings, seconds);
  headers['content-type'] = contentTypes[audience.format];
  headers['content-length'] = String(Buffer.byteLength(body));
  // problem+json is data, its words are not the point; a page and a text are in one language.
  if (audience.format !== 'problem') headers['content-language'] = audience.locale;
  return { status, headers, body };
}
