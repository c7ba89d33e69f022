import type { IncomingMessage, ServerResponse } from 'node:http';
import { checkOptions } from '../config/checks.js';
import { configError } from '../config/config-error.js';
import { gatewayWarning } from '../config/warning.js';
import type { ResponseFormat } from './negotiate.js';
import { type SamplePage, samplePages } from './pages.js';
import type { RenderSettings } from './render.js';
import { checkPage, type ErrorResponder, internalsOf, type ResponderInternals } from './responder.js';
import { escapeHtml, loadTemplates } from './templates.js';

/** Options of the error page preview. */
export interface PreviewOptions {
  /**
   * Where the preview answers, relative to where it is mounted: `app.use(errors.preview())` answers at `/_errors`,
   * `app.use('/admin', errors.preview())` (Express) at `/admin/_errors`. Only this path (with or without a trailing
   * slash) is the preview's; every other request goes on.
   * @default '/_errors'
   */
  path?: string;
}

/**
 * Answers a request for the preview and returns `true`; returns `false` and touches nothing when the request is for
 * another path, or when the preview is off (NODE_ENV is not `development`), so that the caller passes it on.
 */
export type PreviewHandler = (req: IncomingMessage, res: ServerResponse) => boolean;

/** The preview's query: which page, in which language and format. */
const formats: Readonly<Record<string, ResponseFormat>> = { html: 'html', json: 'problem', text: 'text' };
const parameters = ['page', 'lang', 'format'];

/** A path of plain segments, no `.` or `..` segment, no query: `/_errors`, `/admin/errors`, `/`. */
const plainPath = /^(?:\/(?!\.{1,2}(?:\/|$))[\w.~-]+)*\/?$/;

function resolvePath(path: unknown): string {
  if (path === undefined) return '/_errors';
  if (typeof path !== 'string' || !path.startsWith('/') || !plainPath.test(path)) {
    throw configError(
      'GATEWAY_ERRORS_INVALID_OPTION',
      `preview() path must be a plain path starting with /, such as '/_errors'; got ${JSON.stringify(path)}.`,
    );
  }
  return path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
}

/**
 * Off anywhere but development, and said once per responder: a preview left mounted in production must answer
 * nothing, and its owner should know why it does not answer on a machine where NODE_ENV is not set.
 */
function warnOff(responder: ErrorResponder, path: string): void {
  const environment = process.env.NODE_ENV;
  gatewayWarning(
    'GATEWAY_ERRORS_PREVIEW_OFF',
    () =>
      `the error page preview at ${path} is off: it answers only when NODE_ENV is "development" ` +
      `(here NODE_ENV is ${environment === undefined ? 'not set' : JSON.stringify(environment)}). Requests to it go ` +
      'on to your app as if it were not mounted.',
    { per: responder },
  );
}

/** A preview answer, before the headers every one carries. */
interface PreviewAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Writes an answer with what every one carries: never cached, never indexed, never sniffed into another type. */
function writePreview(req: IncomingMessage, res: ServerResponse, answer: PreviewAnswer): void {
  res.statusCode = answer.status;
  for (const [name, value] of Object.entries(answer.headers)) res.setHeader(name, value);
  res.setHeader('cache-control', 'no-store');
  res.setHeader('x-robots-tag', 'noindex, nofollow');
  res.setHeader('x-content-type-options', 'nosniff');
  res.setHeader('content-length', String(Buffer.byteLength(answer.body)));
  res.end(req.method === 'HEAD' ? undefined : answer.body);
}

const html: Readonly<Record<string, string>> = { 'content-type': 'text/html; charset=utf-8' };

const style = `:root{color-scheme:light dark;--fg:#1f2328;--bg:#fff;--muted:#57606a;--line:#d0d7de;--accent:#0b57d0}
@media (prefers-color-scheme:dark){:root{--fg:#e6edf3;--bg:#0d1117;--muted:#9da7b3;--line:#30363d;--accent:#58a6ff}}
body{margin:0 auto;max-width:72rem;padding:1.25rem;font:1rem/1.5 system-ui,sans-serif;color:var(--fg);background:var(--bg)}
a{color:var(--accent)}table{border-collapse:collapse;margin:1rem 0}th,td{border:1px solid var(--line);padding:.375rem .625rem;text-align:left;vertical-align:top}
pre{white-space:pre-wrap;overflow-wrap:anywhere}
.scheme-dark{display:none}@media (prefers-color-scheme:dark){.scheme-dark{display:inline}.scheme-light{display:none}}
.frames{display:flex;flex-wrap:wrap;gap:1rem}figure{margin:0}iframe{width:22rem;height:26rem;border:1px solid var(--line)}`;

/** A small page of the preview's own: the index, or why a preview request could not be answered. */
function previewDocument(title: string, body: string, nonce: string | undefined): string {
  const nonceAttribute = nonce === undefined ? '' : ` nonce="${escapeHtml(nonce)}"`;
  return (
    `<!doctype html>\n<html lang="en"><head><meta charset="utf-8">` +
    '<meta name="viewport" content="width=device-width, initial-scale=1">' +
    '<meta name="robots" content="noindex, nofollow"><meta name="color-scheme" content="light dark">' +
    `<title>${escapeHtml(title)}</title><link rel="icon" href="data:,"><style${nonceAttribute}>${style}</style></head>\n` +
    `<body><main>${body}</main></body></html>\n`
  );
}

/** A link to one page of the preview: a query alone, so it resolves against wherever the preview is mounted. */
function variantHref(page: SamplePage, locale: string, format: string): string {
  return escapeHtml(`?page=${encodeURIComponent(page.id)}&lang=${encodeURIComponent(locale)}&format=${format}`);
}

/** A value echoed back, escaped, and cut short: a query is the client's to fill. */
function echo(value: string): string {
  return escapeHtml(JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value));
}

/**
 * The preview of every page a responder shows, as a Node handler for an adapter to mount: an index at `path` lists
 * each kind of page (502, 503, maintenance, 504, any other status) in each language and format, rendered by the
 * responder itself (its templates, locals, messages, render hook and nonce), so the preview cannot drift from the real
 * handler. Your templates are re-read on every preview request (the responder compiled them once, at start-up), so an
 * edit shows on reload; a template that fails is shown with its file and line.
 *
 * Off unless NODE_ENV is `development`: anywhere else it answers nothing (the request goes on, to your app's 404) and
 * says so once, as a process warning. A preview page answers 200, not the status it carries for real (the index
 * shows that), with `X-Robots-Tag: noindex` and `Cache-Control: no-store`.
 * @example
 * const errors = createErrorResponder({ templates: './views/errors' });
 * const preview = createPreview(errors);
 * createServer((req, res) => preview(req, res) || app(req, res));
 */
export function createPreview(responder: ErrorResponder, options: PreviewOptions = {}): PreviewHandler {
  checkOptions(options, ['path'], 'preview()');
  const path = resolvePath(options.path);
  const internals = internalsOf(responder);
  if (internals === undefined) {
    throw configError(
      'GATEWAY_ERRORS_INVALID_OPTION',
      'createPreview() takes a responder made by createErrorResponder(), the one your error handler answers with.',
    );
  }
  if (process.env.NODE_ENV !== 'development') {
    warnOff(responder, path);
    return () => false;
  }
  const ownPaths = new Set([path, path === '/' ? '/' : `${path}/`]);
  return (req, res) => {
    const url = req.url ?? '/';
    const at = url.indexOf('?');
    if (!ownPaths.has(at === -1 ? url : url.slice(0, at))) return false;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      const headers = { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' };
      writePreview(req, res, { status: 405, headers, body: 'The error page preview answers GET and HEAD.\n' });
      return true;
    }
    writePreview(req, res, answer(responder.settings, internals, req, res, at === -1 ? '' : url.slice(at + 1)));
    return true;
  };
}

/** The answer to one preview request: the index, a page, or a 400 that says which parameter is wrong. */
function answer(
  settings: RenderSettings,
  internals: ResponderInternals,
  req: IncomingMessage,
  res: ServerResponse,
  query: string,
): PreviewAnswer {
  const nonce = internals.nonceFor(req, res);
  const refuse = (message: string): PreviewAnswer => ({
    status: 400,
    headers: html,
    body: previewDocument(
      'Preview: bad request',
      `<h1>Bad request</h1><p>${message}</p><p><a href="?">Every page</a></p>`,
      nonce,
    ),
  });
  const params = new URLSearchParams(query);
  for (const name of new Set(params.keys())) {
    if (!parameters.includes(name)) {
      return refuse(`The preview has no parameter ${echo(name)}: it takes page, lang and format.`);
    }
    if (params.getAll(name).length > 1) return refuse(`Give ${escapeHtml(name)} once.`);
  }
  if (params.size === 0) return { status: 200, headers: html, body: index(settings, internals, req, nonce) };

  const locales = [...settings.messages.keys()];
  const pageId = params.get('page');
  const page = samplePages.find((sample) => sample.id === pageId);
  if (page === undefined) {
    const given = pageId === null ? 'no page' : `the page ${echo(pageId)}`;
    return refuse(`The preview has ${given}: give page=${samplePages.map((sample) => sample.id).join(', ')}.`);
  }
  const lang = params.get('lang') ?? (locales[0] as string);
  const locale = locales.find((key) => key.toLowerCase() === lang.toLowerCase());
  if (locale === undefined) {
    return refuse(
      `This app has no messages in the language ${echo(lang)}: give lang=${escapeHtml(locales.join(', '))}, ` +
        'or add it with the messages option.',
    );
  }
  const formatName = params.get('format') ?? 'html';
  // Own keys only: "__proto__" or "constructor" name no format.
  const format = Object.hasOwn(formats, formatName) ? formats[formatName] : undefined;
  if (format === undefined) {
    return refuse(`The preview has no format ${echo(formatName)}: give format=html, json or text.`);
  }

  let current: RenderSettings;
  try {
    current = reread(settings);
    // The real handler would fall back to the built-in page and warn; the preview is where to see why.
    if (format === 'html') checkPage(current, page.failure, { format, locale, requestId: 'preview', nonce });
  } catch (error) {
    const body = `<h1>This page does not render</h1><pre>${escapeHtml((error as Error).message)}</pre><p><a href="?">Every page</a></p>`;
    return { status: 500, headers: html, body: previewDocument('Preview: template error', body, nonce) };
  }
  const rendered = internals.renderFor(page.failure, { format, locale }, req, res, current);
  // What describes the body; the rest (Retry-After, Proxy-Status, Vary) is about an error this answer is not.
  const headers: Record<string, string> = {};
  for (const name of ['content-type', 'content-language']) {
    const value = rendered.headers[name];
    if (value !== undefined) headers[name] = value;
  }
  return { status: 200, headers, body: rendered.body };
}

/** The settings with the user's templates read again from disk: edits show without a restart. */
function reread(settings: RenderSettings): RenderSettings {
  const dir = settings.templates.userDir;
  return dir === undefined ? settings : { ...settings, templates: loadTemplates(dir) };
}

/** The index: what the pages are rendered with, the status each carries for real, and a link to each variant. */
function index(
  settings: RenderSettings,
  internals: ResponderInternals,
  req: IncomingMessage,
  nonce: string | undefined,
): string {
  const locales = [...settings.messages.keys()];
  const first = locales[0] as string;
  const dir = settings.templates.userDir;
  const rows = samplePages.map((page) => {
    const real = internals.renderFor(page.failure, { format: 'text', locale: first }, req, undefined, settings);
    const retry = real.headers['retry-after'];
    const links = locales.map(
      (locale) =>
        `<td>${['html', 'json', 'text']
          .map(
            (format) =>
              `<a href="${variantHref(page, locale, format)}">${format === 'html' ? 'HTML' : format === 'json' ? 'JSON' : 'text'}</a>`,
          )
          .join(' · ')}</td>`,
    );
    return (
      `<tr><th scope="row">${escapeHtml(page.id)}</th><td>${escapeHtml(page.label)}</td>` +
      `<td>${real.status}${retry === undefined ? '' : `, Retry-After: ${escapeHtml(retry)}`}</td>${links.join('')}</tr>`
    );
  });
  const frames = samplePages.map(
    (page) =>
      `<figure><iframe src="${variantHref(page, first, 'html')}" title="${escapeHtml(`${page.id} page, ${first}`)}" loading="lazy"></iframe>` +
      `<figcaption>${escapeHtml(page.id)}: ${escapeHtml(page.label)}</figcaption></figure>`,
  );
  const body =
    `<h1>Error pages${settings.site.siteName === undefined ? '' : ` of ${escapeHtml(settings.site.siteName)}`}</h1>` +
    '<p>Every page this app shows, rendered by its own error handler: its templates, locals, messages and render hook. ' +
    `Templates: ${dir === undefined ? 'built in' : `<code>${escapeHtml(dir)}</code>, read again on every preview request: edit, then reload`}. ` +
    `Diagnostics panel: ${settings.development ? 'on (development mode)' : 'off, as in production'}.</p>` +
    '<p>Each page answers here with 200 and noindex; the status it carries for real is in the table. ' +
    'Light and dark: the pages follow your browser’s colour scheme (<code>prefers-color-scheme</code>), as they do ' +
    'for a visitor, and a server cannot choose it. You are seeing them <strong><span class="scheme-light">light</span>' +
    '<span class="scheme-dark">dark</span></strong>; for the other, switch your system’s appearance, or in ' +
    'Chromium’s DevTools open Rendering and emulate <code>prefers-color-scheme</code>.</p>' +
    `<table><thead><tr><th scope="col">Page</th><th scope="col">When</th><th scope="col">Real status</th>${locales
      .map((locale) => `<th scope="col" lang="${escapeHtml(locale)}">${escapeHtml(locale)}</th>`)
      .join('')}</tr></thead><tbody>${rows.join('')}</tbody></table>` +
    `<h2>In ${escapeHtml(first)}</h2><div class="frames">${frames.join('')}</div>`;
  return previewDocument('Error pages preview', body, nonce);
}
