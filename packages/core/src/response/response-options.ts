import type { IncomingMessage, ServerResponse } from 'node:http';
import { checkOptions, closestName } from '../config/checks.js';
import { configError } from '../config/config-error.js';
import { gatewayWarning } from '../config/warning.js';
import type { GatewayFailure } from '../failure/failure.js';
import { type RetryAfterPolicy, resolveRetryAfterPolicy } from '../failure/retry-after.js';
import { type MessageOverrides, type Messages, resolveMessages } from './messages.js';
import type { ResponseFormat } from './negotiate.js';
import type { RenderedError, RenderSettings, SiteLocals } from './render.js';
import { loadTemplates } from './templates.js';

/** What a render hook is told about the request it answers. */
export interface RenderRequest {
  /** The incoming request. */
  req: IncomingMessage;
  /** The negotiated format. */
  format: ResponseFormat;
  /** The negotiated language. */
  locale: string;
  /** The request id shown as the support reference. */
  requestId: string;
  /** The Retry-After seconds our policy chose, if any. */
  retryAfter: number | undefined;
  /** The CSP nonce for this response (see the `nonce` option), for an inline script or style of your own. */
  nonce: string | undefined;
  /** Our default rendering, to adjust rather than replace. */
  defaultRender(): RenderedError;
}

/**
 * A render hook: return `{ status, headers, body }` to take full control, or `undefined` for the default page.
 * Your headers are laid over ours (`Cache-Control: no-store`, Vary, X-Robots-Tag, X-Request-Id, Retry-After and
 * Proxy-Status stay unless you replace them); Content-Type defaults to the negotiated format's, Content-Length is
 * always computed, and fields about the connection or the framing (Transfer-Encoding, Connection, Keep-Alive, Upgrade,
 * TE, Trailer) are left out, with a process warning once. A status that is not 4xx or 5xx is replaced by the failure's: never a 200 error page, never a
 * redirect. A hook that throws, returns something else, or returns a header Node cannot send (a CR or LF in a value,
 * a name that is not a token) gets the default page, and a process warning once.
 */
export type RenderHook = (
  failure: GatewayFailure,
  request: RenderRequest,
) => { status: number; headers?: Record<string, string | number>; body: string } | undefined;

/**
 * Picks the CSP nonce of a response; see {@link ErrorResponseOptions.nonce}. `res` is absent when the caller
 * renders without a response (`responder.render(failure, req)`).
 */
export type NonceSource = (req: IncomingMessage, res: ServerResponse | undefined) => string | undefined;

/** Options of the error response (`gatewayErrors()` in every adapter). Every field is optional. */
export interface ErrorResponseOptions {
  /**
   * A directory of EJS templates that override the defaults file by file: `502.ejs`, `503.ejs`, `504.ejs`,
   * `error.ejs`, `layout.ejs`, and partials such as `partials/retry.ejs`. Relative to the working directory.
   * @default undefined (the built-in pages)
   */
  templates?: string;
  /**
   * Values for the pages: `siteName`, `logoUrl` (a `data:` URL), `homeUrl`, `statusPageUrl`, `contactUrl`; any other
   * key reaches templates as `page.locals.<key>`.
   * @default { homeUrl: '/' }
   */
  locals?: Partial<SiteLocals> & Record<string, unknown>;
  /**
   * Messages per language (BCP 47 tag): override any built-in message, or add a language.
   * @default {} (English, Spanish, French, German, Portuguese, Japanese and Chinese built in)
   */
  messages?: Record<string, MessageOverrides>;
  /**
   * The language used when the client's Accept-Language matches none of ours.
   * @default 'en'
   */
  defaultLocale?: string;
  /**
   * Development mode: a diagnostics panel (error type, phase, timings, upstream, cause chain) and Proxy-Status
   * `details`. Never turn it on in production: it reveals internal hosts and messages.
   * @default process.env.NODE_ENV === 'development'
   */
  development?: boolean;
  /**
   * This gateway's name in Proxy-Status.
   * @default 'gateway-errors'
   */
  proxyName?: string;
  /**
   * The Retry-After policy: `{ min, max, hint }` in seconds.
   * @default { min: 1, max: 86400, hint: 5 }
   */
  retryAfter?: RetryAfterPolicy;
  /**
   * A base URI for problem+json `type`: the error type is appended (`https://example.com/problems/` gives
   * `https://example.com/problems/connection_refused`).
   * @default undefined (`about:blank`)
   */
  problemTypeBase?: string;
  /**
   * Reuse an incoming X-Request-Id (when it is short and plain) as the support reference.
   * @default true
   */
  trustRequestId?: boolean;
  /**
   * Take full control of rendering; see {@link RenderHook}. For different pages per route, mount several
   * responders, each with its own hook or templates.
   * @default undefined
   */
  render?: RenderHook;
  /**
   * The Content-Security-Policy nonce the page puts on its inline `<style>` and countdown `<script>`, per request,
   * so that they run under a strict CSP (`script-src 'nonce-...'`). Without a nonce a strict CSP blocks the
   * countdown; the page and its retry link still work. A function that throws, or gives something other than
   * base64, means no nonce (and a process warning once).
   * @default the first `'nonce-...'` source in the response's Content-Security-Policy (or -Report-Only) header, as
   * helmet and its kin set it before the error happens
   * @example
   * gatewayErrors({ nonce: (req, res) => res.locals.cspNonce }) // Express, where your middleware keeps the nonce
   */
  nonce?: NonceSource;
  /**
   * Also answer errors that are not gateway failures, with the generic page: status 500, or the error's own 5xx
   * `status`. Errors with a 4xx status still pass on.
   * @default false
   */
  allErrors?: boolean;
}

const optionNames: readonly (keyof ErrorResponseOptions)[] = [
  'templates',
  'locals',
  'messages',
  'defaultLocale',
  'development',
  'proxyName',
  'retryAfter',
  'problemTypeBase',
  'trustRequestId',
  'render',
  'nonce',
  'allErrors',
];

/** The options of an error responder, validated, filled and frozen. */
export interface ResolvedResponseOptions {
  /** What rendering needs: the templates compiled, the messages complete (the default language first). */
  readonly settings: RenderSettings;
  /** The language of clients whose Accept-Language matches none of ours. */
  readonly defaultLocale: string;
  readonly trustRequestId: boolean;
  readonly allErrors: boolean;
  readonly render: RenderHook | undefined;
  /** The user's nonce function, if any (the responder reads the response's policy otherwise). */
  readonly nonce: NonceSource | undefined;
}

/** The values of `locals` the built-in pages show, with an example of each for messages. */
const siteExamples: Readonly<Record<keyof SiteLocals, string>> = {
  siteName: "'Acme'",
  logoUrl: "'data:image/svg+xml;base64,...'",
  homeUrl: "'/'",
  statusPageUrl: "'https://status.example.com'",
  contactUrl: "'mailto:support@example.com'",
};
const siteKeys = Object.keys(siteExamples) as (keyof SiteLocals)[];
const foldedSiteKeys = siteKeys.map((key) => key.toLowerCase());

/**
 * The known page value `key` looks like a misspelling of: the same but for case or separators (`sitename`,
 * `site_name`, `homeURL`), or at most two edits away (`siteNmae`, `logoUri`). A key further from every known one is
 * one of the user's own values for their templates.
 */
function misspeltSiteKey(key: string): keyof SiteLocals | undefined {
  if ((siteKeys as string[]).includes(key)) return undefined;
  const folded = key.toLowerCase().replace(/[-_\s]/g, '');
  const near = closestName(folded, foldedSiteKeys, 2);
  return near === undefined ? undefined : siteKeys[foldedSiteKeys.indexOf(near)];
}

/** An option's value as the user wrote it, when it is short enough to show in a message; the example otherwise. */
function shown(value: unknown, example: string): string {
  return typeof value === 'string' && value.length <= 40 ? JSON.stringify(value) : example;
}

/** Where a page value given beside the options belongs: in `locals`. */
function belongsInLocals(key: string, value: unknown): string | undefined {
  const local = (siteKeys as string[]).includes(key) ? (key as keyof SiteLocals) : misspeltSiteKey(key);
  if (local === undefined) return undefined;
  return ` ${local} is a value for the pages: put it in locals, as gatewayErrors({ locals: { ${local}: ${shown(value, siteExamples[local])} } }).`;
}

function checkUrl(name: string, value: unknown, schemes: RegExp, example: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !schemes.test(value)) {
    throw configError('GATEWAY_ERRORS_UNSAFE_LINK', `locals.${name} must be ${example}, got ${JSON.stringify(value)}.`);
  }
  return value;
}

function resolveSite(locals: unknown): { site: SiteLocals; rest: Record<string, unknown> } {
  if (locals === undefined) return { site: Object.freeze({ homeUrl: '/' }), rest: Object.freeze({}) };
  if (typeof locals !== 'object' || locals === null || Array.isArray(locals)) {
    throw configError(
      'GATEWAY_ERRORS_INVALID_OPTION',
      "locals must be an object, such as { siteName: 'Acme', homeUrl: '/' }.",
    );
  }
  const { siteName, logoUrl, homeUrl, statusPageUrl, contactUrl, ...rest } = locals as Record<string, unknown>;
  for (const key of Object.keys(rest)) {
    const known = misspeltSiteKey(key);
    if (known === undefined) continue;
    // A warning, not an error: the key may be a value of the user's own templates. Once per process and key: the
    // same options give many responders the same mistake (one per route, the preview's re-reads).
    gatewayWarning(
      'GATEWAY_ERRORS_LOCALS',
      `locals.${key} looks like a misspelt ${known}: the built-in pages show locals.${known} and ignore ${key} ` +
        `(templates see it as page.locals.${key}). Rename it to ${known}, as locals: { ${known}: ${shown(rest[key], siteExamples[known])} }.`,
      { reason: `${key}:${known}` },
    );
  }
  if (siteName !== undefined && typeof siteName !== 'string') {
    throw configError('GATEWAY_ERRORS_INVALID_OPTION', 'locals.siteName must be a string.');
  }
  if (logoUrl !== undefined && (typeof logoUrl !== 'string' || !/^data:image\/[a-z0-9.+-]+[;,]/i.test(logoUrl))) {
    throw configError(
      'GATEWAY_ERRORS_UNSAFE_LINK',
      'locals.logoUrl must be a data:image/... URL: an error page must not load anything from a site ' +
        'that is failing, so inline the logo (for example data:image/svg+xml;base64,...; keep it small).',
    );
  }
  // A path or an http(s) URL; never javascript: or data:, which would run in the page.
  const link = /^(?:https?:\/\/|\/|\.{1,2}\/|[^:]*$)/i;
  return {
    site: Object.freeze({
      siteName,
      logoUrl,
      homeUrl: checkUrl('homeUrl', homeUrl, link, 'a path or an http(s) URL') ?? '/',
      statusPageUrl: checkUrl('statusPageUrl', statusPageUrl, link, 'a path or an http(s) URL'),
      contactUrl: checkUrl(
        'contactUrl',
        contactUrl,
        /^(?:https?:\/\/|mailto:|tel:|\/)/i,
        'a mailto:, tel: or http(s) URL, or a path',
      ),
    }),
    rest: Object.freeze(rest),
  };
}

function checkType(name: string, value: unknown, type: 'boolean' | 'function', example: string): void {
  if (value !== undefined && typeof value !== type) {
    throw configError(
      'GATEWAY_ERRORS_INVALID_OPTION',
      `${name} must be a ${type}, such as ${example}; got ${typeof value}.`,
    );
  }
}

/**
 * Validates the options of an error responder once, fills the defaults, loads the templates and freezes the result.
 * Every message names the fix.
 */
export function resolveResponseOptions(options: ErrorResponseOptions = {}): ResolvedResponseOptions {
  checkOptions(options, optionNames, 'gatewayErrors()', belongsInLocals);
  checkType('development', options.development, 'boolean', 'development: true');
  checkType('trustRequestId', options.trustRequestId, 'boolean', 'trustRequestId: false');
  checkType('allErrors', options.allErrors, 'boolean', 'allErrors: true');
  checkType('render', options.render, 'function', '(failure, request) => ({ status, headers, body })');
  checkType('nonce', options.nonce, 'function', '(req, res) => res.locals.cspNonce');
  const development = options.development ?? process.env.NODE_ENV === 'development';
  const messages = resolveMessages(options.messages);
  const defaultLocale = options.defaultLocale ?? 'en';
  if (!messages.has(defaultLocale)) {
    const near = [...messages.keys()].find(
      (key) => key.toLowerCase() === String(defaultLocale).split('-')[0]?.toLowerCase(),
    );
    throw configError(
      'GATEWAY_ERRORS_INVALID_MESSAGES',
      `defaultLocale ${JSON.stringify(defaultLocale)} has no messages.${near === undefined ? '' : ` Did you mean "${near}"?`} ` +
        `Languages: ${[...messages.keys()].join(', ')}; add one with the messages option, such as messages: { ${JSON.stringify(defaultLocale)}: { ... } }.`,
    );
  }
  // The default language first, so that it is the fallback of every lookup.
  const ordered = new Map([[defaultLocale, messages.get(defaultLocale) as Messages], ...messages]);
  const proxyName = options.proxyName ?? 'gateway-errors';
  if (typeof proxyName !== 'string' || proxyName === '') {
    throw configError('GATEWAY_ERRORS_INVALID_OPTION', "proxyName must be a non-empty string, such as 'edge-1'.");
  }
  if (
    options.problemTypeBase !== undefined &&
    (typeof options.problemTypeBase !== 'string' || !/^[a-z][a-z0-9+.-]*:/i.test(options.problemTypeBase))
  ) {
    throw configError(
      'GATEWAY_ERRORS_INVALID_OPTION',
      'problemTypeBase must be an absolute URI, such as "https://example.com/problems/".',
    );
  }
  const { site, rest } = resolveSite(options.locals);
  const settings: RenderSettings = Object.freeze({
    templates: loadTemplates(options.templates),
    development,
    proxyName,
    retryAfter: resolveRetryAfterPolicy(options.retryAfter),
    site,
    locals: rest,
    messages: ordered,
    problemTypeBase: options.problemTypeBase,
  });
  return Object.freeze({
    settings,
    defaultLocale,
    trustRequestId: options.trustRequestId ?? true,
    allErrors: options.allErrors ?? false,
    render: options.render,
    nonce: options.nonce,
  });
}
