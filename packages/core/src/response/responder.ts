import { type IncomingMessage, type ServerResponse, validateHeaderName, validateHeaderValue } from 'node:http';
import { configError, docsLink } from '../config/config-error.js';
import { gatewayWarning, messageOf } from '../config/warning.js';
import { classify, clientWentAway } from '../failure/classify.js';
import { declaredFailure, type GatewayFailure } from '../failure/failure.js';
import { retryAfterFor } from '../failure/retry-after.js';
import { requestIdOf } from '../node-http/request-id.js';
import { localeNegotiator, negotiateFormat, type ResponseFormat } from './negotiate.js';
import { samplePages } from './pages.js';
import {
  type Audience,
  contentTypeOf,
  errorHeaders,
  errorStatus,
  pageOf,
  type RenderedError,
  type RenderSettings,
  renderFailure,
  templateFor,
} from './render.js';
import { type ErrorResponseOptions, type RenderHook, resolveResponseOptions } from './response-options.js';
import { takesError, writeError } from './write-error.js';

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

/**
 * Fields about the connection and the framing of the body (RFC 9110 §7.6.1, RFC 9112 §6), which Node and the responder
 * set. From a render hook, Transfer-Encoding beside the computed Content-Length would frame one page two ways (RFC 9112
 * §6.3: a front proxy may read either, and take the bytes past the page for the next response on its connection), and
 * Connection or Keep-Alive would keep open a connection the client asked to close.
 */
const connectionFields: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

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

/** Warns once per responder and reason: a misbehaving hook must not flood the logs, nor go unnoticed. */
function warner(): (reason: string, message: string) => void {
  const per = {};
  return (reason, message) => gatewayWarning('GATEWAY_ERRORS_RENDER', message, { per, reason });
}

/**
 * Renders one page with the strict path (no fallback to the built-in page), and reports a template that throws as a
 * configuration error naming its file, its line and the language: at start-up, and for each page the preview shows.
 */
export function checkPage(settings: RenderSettings, failure: GatewayFailure, audience: Audience): void {
  const name = templateFor(errorStatus(failure.status));
  try {
    settings.templates.render(name, pageOf(failure, audience, settings));
  } catch (error) {
    throw configError(
      'GATEWAY_ERRORS_INVALID_TEMPLATES',
      `the ${name} page fails to render (language ${audience.locale}, from ${settings.templates.fileOf(name)} ` +
        `in layout ${settings.templates.fileOf('layout')}): ${(error as Error).message}\n` +
        'Templates see `page` (and the layout `content`); guard optional values such as page.site.statusPageUrl ' +
        `and page.retry.seconds (${docsLink('error-pages.md', 'custom-templates')}).`,
      { kind: Error, cause: error },
    );
  }
}

/**
 * Renders every page in every language once, at construction, with the strict path: a template that throws should
 * stop the start-up, not a visitor's request. A 503 declared by a status alone has no Retry-After: templates must
 * guard page.retry.seconds.
 */
function warmUp(settings: RenderSettings): void {
  const failures = [...samplePages.map((sample) => sample.failure), declaredFailure(503)];
  for (const locale of settings.messages.keys()) {
    for (const failure of failures) {
      for (const nonce of [undefined, 'warm-up']) {
        checkPage(settings, failure, { format: 'html', locale, requestId: 'warm-up', nonce });
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
 * What the preview needs of a responder besides its settings: its own rendering (hook and nonce included) for a
 * format and language it chooses, with settings it may refresh (templates re-read). Kept off the public object.
 */
export interface ResponderInternals {
  renderFor(
    failure: GatewayFailure,
    choice: { format: ResponseFormat; locale: string },
    req: IncomingMessage,
    res: ServerResponse | undefined,
    settings: RenderSettings,
  ): RenderedError;
  /** The CSP nonce for a page on `res`, as the responder picks it (its `nonce` option, or the response's policy). */
  nonceFor(req: IncomingMessage, res: ServerResponse | undefined): string | undefined;
}

const internals = new WeakMap<ErrorResponder, ResponderInternals>();

/** The internals of a responder made by {@link createErrorResponder}, if `responder` is one. */
export function internalsOf(responder: ErrorResponder): ResponderInternals | undefined {
  return internals.get(responder);
}

/**
 * Builds the error responder: validates every option once, compiles the templates and renders each page once so a
 * broken template or option fails here, at start-up, not in front of a visitor.
 * @example
 * const errors = createErrorResponder({ locals: { siteName: 'Acme' } });
 * server.on('request', (req, res) => fetchSomething().catch((err) => errors.handle(err, req, res) || crash(err)));
 */
export function createErrorResponder(options: ErrorResponseOptions = {}): ErrorResponder {
  const resolved = resolveResponseOptions(options);
  const settings = resolved.settings;
  const { trustRequestId, allErrors, render: hook } = resolved;
  const negotiateLocale = localeNegotiator([...settings.messages.keys()], resolved.defaultLocale);
  const nonceOf = resolved.nonce ?? nonceFromPolicy;
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

  const renderFor: ResponderInternals['renderFor'] = (failure, { format, locale }, req, res, using) => {
    const audience: Audience = {
      format,
      locale,
      requestId: requestIdOf(req, trustRequestId),
      nonce: format === 'html' || hook !== undefined ? nonceFor(req, res) : undefined,
    };
    if (hook === undefined) return renderFailure(failure, audience, using);
    return renderWithHook(hook, failure, req, audience, using);
  };

  const render = (failure: GatewayFailure, req: IncomingMessage, res?: ServerResponse): RenderedError => {
    const choice = {
      format: negotiateFormat(req.headers.accept),
      locale: negotiateLocale(req.headers['accept-language']),
    };
    return renderFor(failure, choice, req, res, settings);
  };

  const renderWithHook = (
    hook: RenderHook,
    failure: GatewayFailure,
    req: IncomingMessage,
    audience: Audience,
    settings: RenderSettings,
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
    const leftOut: string[] = [];
    try {
      for (const [name, value] of Object.entries(custom.headers ?? {})) {
        const text = String(value);
        // Checked here, where the default page can still be sent: res.setHeader would throw on them (a CR or LF in a
        // value would split the response, RFC 9110 §5.5), with the head half-written and no answer at all.
        validateHeaderName(name);
        validateHeaderValue(name, text);
        if (connectionFields.has(name.toLowerCase())) leftOut.push(name);
        else headers[name.toLowerCase()] = text;
      }
    } catch (error) {
      warn(
        'headers',
        `the render hook returned a header Node cannot send (${messageOf(error)}), so the default page was sent.`,
      );
      return renderFailure(failure, audience, settings);
    }
    if (leftOut.length > 0) {
      warn(
        'connection',
        `the render hook returned ${leftOut.join(', ')}, which only the connection sets; left out, the page went framed by its Content-Length.`,
      );
    }
    headers['content-type'] ??= contentTypeOf(audience.format);
    headers['content-length'] = String(Buffer.byteLength(custom.body));
    return { status: status === custom.status ? status : errorStatus(failure.status), headers, body: custom.body };
  };

  const send = (failure: GatewayFailure, req: IncomingMessage, res: ServerResponse): void => {
    if (takesError(res)) writeError(req, res, render(failure, req, res));
  };

  const responder: ErrorResponder = Object.freeze({
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
  internals.set(responder, { renderFor, nonceFor });
  return responder;
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
