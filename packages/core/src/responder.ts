import type { IncomingMessage, ServerResponse } from 'node:http';
import { classify, clientWentAway } from './classify.js';
import { declaredFailure, failureOf, type GatewayFailure } from './failure.js';
import { builtInMessages, englishMessages, type MessageOverrides, type Messages, mergeMessages } from './messages.js';
import { localeNegotiator, negotiateFormat, type ResponseFormat } from './negotiate.js';
import { checkOptions } from './options.js';
import { type RenderedError, type RenderSettings, renderFailure, retryAfterFor, type SiteLocals } from './render.js';
import { requestIdOf } from './request-id.js';
import { abortResponse, writeError } from './respond.js';
import { type RetryAfterPolicy, resolveRetryAfterPolicy } from './retry-after.js';
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
  /** Our default rendering, to adjust rather than replace. */
  defaultRender(): RenderedError;
}

/**
 * A render hook: return a response to take full control (its headers are laid over ours: `Cache-Control: no-store`,
 * Retry-After, Proxy-Status, X-Request-Id stay unless you replace them), or `undefined` for the default.
 */
export type RenderHook = (failure: GatewayFailure, request: RenderRequest) => RenderedError | undefined;

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
   * Take full control of rendering; see {@link RenderHook}.
   * @default undefined
   */
  render?: RenderHook;
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
  'allErrors',
];

/** Answers gateway failures on a Node response. Built once per `gatewayErrors()`. */
export interface ErrorResponder {
  /**
   * Answers `error` if it is a gateway failure (or any error, with `allErrors`), and returns `true`; returns `false`
   * and touches nothing otherwise, so the caller passes the error on. When the client went away, or the response
   * head is already out, "answering" means no response or an aborted connection.
   */
  handle(error: unknown, req: IncomingMessage, res: ServerResponse): boolean;
  /** Answers a known failure. */
  send(failure: GatewayFailure, req: IncomingMessage, res: ServerResponse): void;
  /** Renders without writing: for tests, previews, or a framework that writes its own way. */
  render(failure: GatewayFailure, req: IncomingMessage): RenderedError;
  /** The options, resolved and frozen. */
  readonly settings: RenderSettings;
}

function checkUrl(name: string, value: unknown, schemes: RegExp): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !schemes.test(value)) {
    throw new TypeError(
      `gateway-errors: locals.${name} must be a string URL matching ${schemes}, got ${JSON.stringify(value)}.`,
    );
  }
  return value;
}

function resolveSite(locals: ErrorResponseOptions['locals'] = {}): { site: SiteLocals; rest: Record<string, unknown> } {
  const { siteName, logoUrl, homeUrl, statusPageUrl, contactUrl, ...rest } = locals;
  if (siteName !== undefined && typeof siteName !== 'string') {
    throw new TypeError('gateway-errors: locals.siteName must be a string.');
  }
  if (logoUrl !== undefined && (typeof logoUrl !== 'string' || !/^data:image\//.test(logoUrl))) {
    throw new TypeError(
      'gateway-errors: locals.logoUrl must be a data:image/... URL. An error page must not load anything from a site that is failing; inline the logo.',
    );
  }
  // A relative or http(s) link; never javascript: or data:, which would run in the page.
  const link = /^(?:https?:\/\/|\/|\.{0,2}\/|[^:]*$)/;
  return {
    site: Object.freeze({
      siteName,
      logoUrl,
      homeUrl: checkUrl('homeUrl', homeUrl, link) ?? '/',
      statusPageUrl: checkUrl('statusPageUrl', statusPageUrl, link),
      contactUrl: checkUrl('contactUrl', contactUrl, /^(?:https?:\/\/|mailto:|\/)/),
    }),
    rest: Object.freeze(rest),
  };
}

function resolveMessages(overrides: ErrorResponseOptions['messages'] = {}): Map<string, Messages> {
  const byLocale = new Map<string, Messages>();
  const locales = new Set([...Object.keys(builtInMessages), ...Object.keys(overrides)]);
  for (const locale of locales) {
    if (!/^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*$/.test(locale)) {
      throw new TypeError(
        `gateway-errors: messages key "${locale}" is not a BCP 47 language tag such as "en" or "pt-BR".`,
      );
    }
    const builtIn = mergeMessages(englishMessages, builtInMessages[locale.split('-')[0] ?? '']);
    byLocale.set(locale, Object.freeze(mergeMessages(builtIn, overrides[locale])));
  }
  return byLocale;
}

/**
 * Builds the error responder: validates every option once, compiles the templates and renders each page once so a
 * broken template fails here, at start-up, not in front of a visitor.
 * @example
 * const errors = createErrorResponder({ locals: { siteName: 'Acme' } });
 * server.on('request', (req, res) => fetchSomething().catch((err) => errors.handle(err, req, res) || crash(err)));
 */
export function createErrorResponder(options: ErrorResponseOptions = {}): ErrorResponder {
  checkOptions(options, optionNames, 'gatewayErrors()');
  const development = options.development ?? process.env.NODE_ENV === 'development';
  const messages = resolveMessages(options.messages);
  const defaultLocale = options.defaultLocale ?? 'en';
  if (!messages.has(defaultLocale)) {
    throw new TypeError(
      `gateway-errors: defaultLocale "${defaultLocale}" has no messages. Built in: ${[...messages.keys()].join(', ')}; add others with the messages option.`,
    );
  }
  // The default language first, so that it is the fallback of every lookup.
  const ordered = new Map([[defaultLocale, messages.get(defaultLocale) as Messages], ...messages]);
  const proxyName = options.proxyName ?? 'gateway-errors';
  if (typeof proxyName !== 'string' || proxyName === '') {
    throw new TypeError('gateway-errors: proxyName must be a non-empty string.');
  }
  if (options.render !== undefined && typeof options.render !== 'function') {
    throw new TypeError('gateway-errors: render must be a function (failure, request) => response | undefined.');
  }
  if (options.problemTypeBase !== undefined && !/^[a-z][a-z0-9+.-]*:/i.test(options.problemTypeBase)) {
    throw new TypeError(
      'gateway-errors: problemTypeBase must be an absolute URI, such as "https://example.com/problems/".',
    );
  }
  const { site, rest } = resolveSite(options.locals);
  const settings: RenderSettings = Object.freeze({
    templates: loadTemplates(options.templates, development),
    development,
    proxyName,
    retryAfter: resolveRetryAfterPolicy(options.retryAfter),
    site,
    locals: rest,
    messages: ordered,
    problemTypeBase: options.problemTypeBase,
  });
  const trustRequestId = options.trustRequestId ?? true;
  const negotiateLocale = localeNegotiator([...ordered.keys()], defaultLocale);
  const hook = options.render;
  const allErrors = options.allErrors ?? false;

  // Render every page once now: a template that throws should stop the start-up, not a visitor's request.
  for (const status of [502, 503, 504, 500]) {
    renderFailure(declaredFailure(status), { format: 'html', locale: defaultLocale, requestId: 'warm-up' }, settings);
  }
  renderFailure(
    failureOf('proxy_internal_response'),
    { format: 'html', locale: defaultLocale, requestId: 'warm-up' },
    settings,
  );

  const render = (failure: GatewayFailure, req: IncomingMessage): RenderedError => {
    const audience = {
      format: negotiateFormat(req.headers.accept),
      locale: negotiateLocale(req.headers['accept-language']),
      requestId: requestIdOf(req, trustRequestId),
    };
    const defaultRender = () => renderFailure(failure, audience, settings);
    if (hook === undefined) return defaultRender();
    const custom = hook(failure, {
      req,
      ...audience,
      retryAfter: retryAfterFor(failure, settings.retryAfter),
      defaultRender,
    });
    if (custom === undefined) return defaultRender();
    const base = defaultRender().headers;
    delete base['content-type'];
    delete base['content-language'];
    const headers: Record<string, string> = { ...base };
    for (const [name, value] of Object.entries(custom.headers ?? {})) headers[name.toLowerCase()] = String(value);
    headers['content-length'] = String(Buffer.byteLength(custom.body));
    return { status: custom.status, headers, body: custom.body };
  };

  const send = (failure: GatewayFailure, req: IncomingMessage, res: ServerResponse): void => {
    if (res.headersSent) {
      abortResponse(res);
      return;
    }
    writeError(req, res, render(failure, req));
  };

  return Object.freeze({
    settings,
    render,
    send,
    handle(error: unknown, req: IncomingMessage, res: ServerResponse): boolean {
      const failure = classify(error) ?? (allErrors ? internalFailure(error) : undefined);
      if (failure === undefined) return false;
      if (clientWentAway(req)) return true;
      send(failure, req, res);
      return true;
    },
  });
}

/** A non-gateway error answered under `allErrors`: its own 5xx status, or 500. 4xx errors are the app's to answer. */
function internalFailure(error: unknown): GatewayFailure | undefined {
  const { status, statusCode } = (typeof error === 'object' && error !== null ? error : {}) as Record<string, unknown>;
  const declared = Number(status ?? statusCode);
  if (Number.isInteger(declared) && declared >= 400 && declared < 500) return undefined;
  return declaredFailure(Number.isInteger(declared) && declared >= 500 && declared <= 599 ? declared : 500, {
    cause: error,
    mayHaveReachedUpstream: false,
  });
}

let defaultResponder: ErrorResponder | undefined;

/** The responder with every default, built on first use: what a proxy answers with when no `gatewayErrors()` is mounted. */
export function defaultErrorResponder(): ErrorResponder {
  defaultResponder ??= createErrorResponder();
  return defaultResponder;
}
