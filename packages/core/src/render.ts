import { STATUS_CODES } from 'node:http';
import type { GatewayFailure } from './failure.js';
import type { Messages, PageCopy } from './messages.js';
import type { ResponseFormat } from './negotiate.js';
import { formatProxyStatus } from './proxy-status.js';
import { clampRetryAfter, type ResolvedRetryAfterPolicy } from './retry-after.js';
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
  /** A `data:` image URL (a URL elsewhere would be a request from a failing site), shown in the header. */
  logoUrl?: string | undefined;
  /** The home link. */
  homeUrl: string;
  /** An optional link to a status page. */
  statusPageUrl?: string | undefined;
  /** An optional support link (`mailto:` or `https:`). */
  contactUrl?: string | undefined;
}

/** Everything rendering needs that does not change between requests; built once by the responder. */
export interface RenderSettings {
  readonly templates: TemplateSet;
  readonly development: boolean;
  readonly proxyName: string;
  readonly retryAfter: ResolvedRetryAfterPolicy;
  readonly site: Readonly<SiteLocals>;
  readonly locals: Readonly<Record<string, unknown>>;
  readonly messages: ReadonlyMap<string, Messages>;
  readonly problemTypeBase: string | undefined;
}

/** What is known of the client for one response. */
export interface Audience {
  readonly format: ResponseFormat;
  readonly locale: string;
  readonly requestId: string;
}

/** What templates see as `page`. */
export interface PageContext {
  lang: string;
  status: number;
  statusLabel: string;
  /** The failure's type, for templates that want to say more (`connection_refused`, ...). */
  errorType: string | undefined;
  copy: PageCopy;
  t: Messages;
  retry: { seconds: number | undefined; text: string };
  requestId: string;
  site: Readonly<SiteLocals>;
  locals: Readonly<Record<string, unknown>>;
  /** Name/value rows of the development diagnostics panel; absent in production. */
  diagnostics: Array<[string, string]> | undefined;
}

/** The seconds a response's Retry-After carries: the real state when known, else the hint for 502, 503 and 504. */
export function retryAfterFor(failure: GatewayFailure, policy: ResolvedRetryAfterPolicy): number | undefined {
  if (failure.retryAfter !== undefined) return clampRetryAfter(failure.retryAfter, policy);
  return failure.status >= 502 && failure.status <= 504 ? clampRetryAfter(policy.hint, policy) : undefined;
}

function templateFor(status: number): PageTemplate {
  return status === 502 || status === 503 || status === 504 ? (String(status) as PageTemplate) : 'error';
}

function copyFor(failure: GatewayFailure, t: Messages): PageCopy {
  if (failure.type === 'proxy_internal_response') return t.maintenance;
  switch (failure.status) {
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

/** "in 30 seconds", "dans 5 minutes", "2 時間後": the largest unit that keeps the number readable. */
export function relativeTime(seconds: number, locale: string): string {
  let format = relativeTimeFormats.get(locale);
  if (format === undefined) {
    format = new Intl.RelativeTimeFormat(locale, { numeric: 'auto' });
    relativeTimeFormats.set(locale, format);
  }
  if (seconds < 90) return format.format(seconds, 'second');
  if (seconds < 90 * 60) return format.format(Math.round(seconds / 60), 'minute');
  if (seconds < 36 * 3600) return format.format(Math.round(seconds / 3600), 'hour');
  return format.format(Math.round(seconds / 86400), 'day');
}

/** The cause chain as "Name [CODE]: message" lines, for development diagnostics only. */
function causeChain(cause: unknown): string {
  const lines: string[] = [];
  const seen = new Set<unknown>();
  let current = cause;
  while (current !== undefined && current !== null && !seen.has(current) && lines.length < 8) {
    seen.add(current);
    if (typeof current !== 'object') {
      lines.push(String(current));
      break;
    }
    const { name, code, message } = current as { name?: unknown; code?: unknown; message?: unknown };
    lines.push(`${String(name ?? 'Error')}${code === undefined ? '' : ` [${String(code)}]`}: ${String(message ?? '')}`);
    current = (current as { cause?: unknown }).cause;
  }
  return lines.join(' ← ');
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
  return rows
    .filter((row): row is [string, string | number | boolean] => row[1] !== undefined && row[1] !== '')
    .map(([name, value]) => [name, String(value)]);
}

const contentTypes: Readonly<Record<ResponseFormat, string>> = {
  html: 'text/html; charset=utf-8',
  problem: 'application/problem+json; charset=utf-8',
  text: 'text/plain; charset=utf-8',
};

/**
 * Renders a failure for one client: the status, every header our rules require, and the body in the negotiated
 * format and language. Pure: the same inputs give the same bytes.
 */
export function renderFailure(failure: GatewayFailure, audience: Audience, settings: RenderSettings): RenderedError {
  const t = settings.messages.get(audience.locale) ?? (settings.messages.values().next().value as Messages);
  const status = failure.status;
  const seconds = retryAfterFor(failure, settings.retryAfter);
  const copy = copyFor(failure, t);
  const retryText =
    seconds === undefined ? t.retrySoon : t.retryIn.replace('{time}', relativeTime(seconds, audience.locale));
  const diagnostics = settings.development ? diagnosticsOf(failure) : undefined;

  let body: string;
  if (audience.format === 'html') {
    const page: PageContext = {
      lang: audience.locale,
      status,
      statusLabel: t.statusLabel.replace('{status}', String(status)),
      errorType: failure.type,
      copy,
      t,
      retry: { seconds, text: retryText },
      requestId: audience.requestId,
      site: settings.site,
      locals: settings.locals,
      diagnostics,
    };
    body = settings.templates.render(templateFor(status), page);
  } else if (audience.format === 'problem') {
    // RFC 9457 §3.1: with no problem type of our own, `about:blank` and the status phrase as the title.
    const problem: Record<string, unknown> = {
      type:
        failure.type !== undefined && settings.problemTypeBase !== undefined
          ? settings.problemTypeBase + failure.type
          : 'about:blank',
      title: STATUS_CODES[status] ?? 'Error',
      status,
      detail: copy.description,
      errorType: failure.type,
      retryAfter: seconds,
      requestId: audience.requestId,
    };
    if (diagnostics !== undefined) problem.diagnostics = Object.fromEntries(diagnostics);
    body = JSON.stringify(problem);
  } else {
    const lines = [`${status} ${STATUS_CODES[status] ?? 'Error'}`, '', copy.heading, copy.description];
    if (status >= 500) lines.push(t.notYourFault);
    lines.push(retryText, '', `${t.reference}: ${audience.requestId}`);
    if (diagnostics !== undefined) lines.push('', ...diagnostics.map(([name, value]) => `${name}: ${value}`));
    body = `${lines.join('\n')}\n`;
  }

  const headers: Record<string, string> = {
    'content-type': contentTypes[audience.format],
    'content-length': String(Buffer.byteLength(body)),
    'cache-control': 'no-store',
    vary: 'Accept, Accept-Language',
    'x-robots-tag': 'noindex',
    'x-request-id': audience.requestId,
  };
  if (audience.format !== 'problem') headers['content-language'] = audience.locale;
  if (seconds !== undefined) headers['retry-after'] = String(seconds);
  if (failure.type !== undefined || failure.receivedStatus !== undefined) {
    headers['proxy-status'] = formatProxyStatus(settings.proxyName, {
      error: failure.type,
      receivedStatus: failure.receivedStatus,
      details: settings.development && failure.cause !== undefined ? causeChain(failure.cause) : undefined,
    });
  }
  return { status, headers, body };
}
