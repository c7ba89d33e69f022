import { type IncomingMessage, type ServerResponse, validateHeaderName, validateHeaderValue } from 'node:http';
import { checkOptions } from '../config/checks.js';
import { configError } from '../config/config-error.js';
import { classify, clientWentAway } from '../failure/classify.js';
import { declaredFailure, failureOf, type GatewayFailure } from '../failure/failure.js';
import { type RetryAfterPolicy, resolveRetryAfterPolicy, retryAfterFor } from '../failure/retry-after.js';
import { requestIdOf } from '../node-http/request-id.js';
import { type MessageOverrides, type Messages, resolveMessages } from './messages.js';
import { localeNegotiator, negotiateFormat, type ResponseFormat } from './negotiate.js';
import {
  type Audience,
  contentTypeOf,
  errorHeaders,
  errorStatus,
  pageOf,
  type RenderedError,
  type RenderSettings,
  renderFailure,
  type SiteLocals,
  templateFor,
} from './render.js';
import { loadTemplates } from './templates.js';
import { takesError, writeError } from './write-error.js';

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
 * always computed. A status that is not 4xx or 5xx is replaced by the failure's: never a 200 error page, never a
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
  /**
   * Renders without writing: for tests, previews, or a framework that writes its own way. Give `res` when there is
   * one: the default `nonce` is read from its Content-Security-Policy.
   */
  render(failure: GatewayFailure, req: IncomingMessage, res?: ServerResponse): RenderedError;
  /** The options, resolved and frozen. */
  readonly settings: RenderSettings;
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

/** A CSP nonce as RFC 9110-safe base64 (CSP3 nonce-source: base64 or base64url): anything else is not echoed. */
const plainNonce = /^[A-Za-z0-9+/_-]{1,256}={0,2}$/;
const nonceSource = /'nonce-([A-Za-z0-9+/_-]+={0,2})'/;

/** The first nonce source of the response's policy: the one helmet and its kin put in script-src and style-src. */
function nonceFromPolicy(_req: IncomingMessage, res: ServerResponse | undefined): string | undefined {
  if (res === undefined || typeof res.getHeader !== 'function') return undefined;
  for (const name of ['content-security-policy', 'content-security-policy-report-only']) {
    const policy = res.getHeader(name);
    if (policy === undefined) continue;
    const found = nonceSource.exec(Array.isArray(policy) ? policy.join(', ') : String(policy));
    if (found !== null) return found[1];
  }
  return undefined;
}

/** What a thrown value says, without trusting it to be an Error (a user's callback may throw anything). */
function messageOf(error: unknown): string {
  if (error instanceof Error) return error.message;
  return typeof error === 'string' ? error : `a value of type ${typeof error}`;
}

/** Warns once per responder and reason: a misbehaving hook must not flood the logs, nor go unnoticed. */
function warner(): (reason: string, message: string) => void {
  const warned = new Set<string>();
  return (reason, message) => {
    if (warned.has(reason)) return;
    warned.add(reason);
    process.emitWarning(`gateway-errors: ${message}`, { code: 'GATEWAY_ERRORS_RENDER' });
  };
}

/**
 * Renders every page in every language once, at construction, with the strict path (no fallback): a template that
 * throws should stop the start-up, not a visitor's request.
 */
function warmUp(settings: RenderSettings): void {
  const cause = Object.assign(new Error('warm-up'), { code: 'ECONNREFUSED' });
  const failures: GatewayFailure[] = [
    failureOf('connection_refused', {
      upstream: 'http://127.0.0.1:1',
      code: 'ECONNREFUSED',
      cause,
      timings: { connect: 1 },
    }),
    failureOf('destination_unavailable', { retryAfter: 30 }),
    failureOf('proxy_internal_response', { retryAfter: 3600 }),
    failureOf('http_response_timeout'),
    declaredFailure(503),
    declaredFailure(500, { cause }),
  ];
  for (const locale of settings.messages.keys()) {
    for (const failure of failures) {
      for (const nonce of [undefined, 'warm-up']) {
        const audience: Audience = { format: 'html', locale, requestId: 'warm-up', nonce };
        const name = templateFor(errorStatus(failure.status));
        try {
          settings.templates.render(name, pageOf(failure, audience, settings));
        } catch (error) {
          throw configError(
            'GATEWAY_ERRORS_INVALID_TEMPLATES',
            `the ${name} page fails to render (language ${locale}, from ${settings.templates.fileOf(name)} ` +
              `in layout ${settings.templates.fileOf('layout')}): ${(error as Error).message}\n` +
              'Templates see `page` (and the layout `content`); guard optional values such as page.site.statusPageUrl ' +
              'and page.retry.seconds. See docs/error-pages.md.',
            { kind: Error, cause: error },
          );
        }
      }
    }
  }
  for (const format of ['problem', 'text'] as const) {
    renderFailure(
      failures[0] as GatewayFailure,
      { format, locale: settings.messages.keys().next().value as string, requestId: 'warm-up' },
      settings,
    );
  }
}

/**
 * Builds the error responder: validates every option once, compiles the templates and renders each page once so a
 * broken template or option fails here, at start-up, not in front of a visitor.
 * @example
 * const errors = createErrorResponder({ locals: { siteName: 'Acme' } });
 * server.on('request', (req, res) => fetchSomething().catch((err) => errors.handle(err, req, res) || crash(err)));
 */
export function createErrorResponder(options: ErrorResponseOptions = {}): ErrorResponder {
  checkOptions(options, optionNames, 'gatewayErrors()');
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
  const trustRequestId = options.trustRequestId ?? true;
  const negotiateLocale = localeNegotiator([...ordered.keys()], defaultLocale);
  const hook = options.render;
  const nonceOf = options.nonce ?? nonceFromPolicy;
  const allErrors = options.allErrors ?? false;
  const warn = warner();
  warmUp(settings);

  /** The nonce the user's function (or the response's policy) gives, when it is plain base64; it never throws. */
  const nonceFor = (req: IncomingMessage, res: ServerResponse | undefined): string | undefined => {
    let given: unknown;
    try {
      given = nonceOf(req, res);
    } catch (error) {
      warn('nonce-throw', `the nonce function threw, so the page carries no nonce: ${messageOf(error)}`);
      return undefined;
    }
    if (given === undefined || given === '') return undefined;
    if (typeof given === 'string' && plainNonce.test(given)) return given;
    const shown = typeof given === 'string' ? JSON.stringify(given).slice(0, 80) : `of type ${typeof given}`;
    warn('nonce', `the nonce ${shown} is not base64, so the page does not carry it.`);
    return undefined;
  };

  const render = (failure: GatewayFailure, req: IncomingMessage, res?: ServerResponse): RenderedError => {
    const format = negotiateFormat(req.headers.accept);
    const audience: Audience = {
      format,
      locale: negotiateLocale(req.headers['accept-language']),
      requestId: requestIdOf(req, trustRequestId),
      nonce: format === 'html' || hook !== undefined ? nonceFor(req, res) : undefined,
    };
    if (hook === undefined) return renderFailure(failure, audience, settings);
    return renderWithHook(hook, failure, req, audience);
  };

  const renderWithHook = (
    hook: RenderHook,
    failure: GatewayFailure,
    req: IncomingMessage,
    audience: Audience,
  ): RenderedError => {
    const retryAfter = retryAfterFor(failure, settings.retryAfter);
    let custom: ReturnType<RenderHook>;
    try {
      custom = hook(failure, {
        req,
        format: audience.format,
        locale: audience.locale,
        requestId: audience.requestId,
        retryAfter,
        nonce: audience.nonce,
        defaultRender: () => renderFailure(failure, audience, settings),
      });
    } catch (error) {
      warn('throw', `the render hook threw, so the default page was sent: ${messageOf(error)}`);
      return renderFailure(failure, audience, settings);
    }
    if (custom === undefined) return renderFailure(failure, audience, settings);
    if (
      typeof custom !== 'object' ||
      custom === null ||
      typeof custom.body !== 'string' ||
      (custom.headers !== undefined && (typeof custom.headers !== 'object' || custom.headers === null))
    ) {
      warn(
        'shape',
        'the render hook must return { status, headers, body } with a string body (synchronously), or undefined; the default page was sent.',
      );
      return renderFailure(failure, audience, settings);
    }
    const status = errorStatus(custom.status);
    if (status !== custom.status) {
      warn(
        'status',
        `the render hook returned status ${custom.status}; an error response keeps an error status, so ${failure.status} was sent.`,
      );
    }
    const headers = errorHeaders(failure, audience, settings, retryAfter);
    try {
      for (const [name, value] of Object.entries(custom.headers ?? {})) {
        const text = String(value);
        // Checked here, where the default page can still be sent: res.setHeader would throw on them (a CR or LF in a
        // value would split the response, RFC 9110 §5.5), with the head half-written and no answer at all.
        validateHeaderName(name);
        validateHeaderValue(name, text);
        headers[name.toLowerCase()] = text;
      }
    } catch (error) {
      warn(
        'headers',
        `the render hook returned a header Node cannot send (${messageOf(error)}), so the default page was sent.`,
      );
      return renderFailure(failure, audience, settings);
    }
    headers['content-type'] ??= contentTypeOf(audience.format);
    headers['content-length'] = String(Buffer.byteLength(custom.body));
    return { status: status === custom.status ? status : errorStatus(failure.status), headers, body: custom.body };
  };

  const send = (failure: GatewayFailure, req: IncomingMessage, res: ServerResponse): void => {
    if (takesError(res)) writeError(req, res, render(failure, req, res));
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
