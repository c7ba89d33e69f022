/**
 * response/: how a failure is answered. negotiate.ts picks the format (an HTML page, problem+json, text) and the
 * language; messages.ts holds the words; templates.ts compiles the EJS pages; render.ts turns a failure into status,
 * headers and body; response-options.ts checks the options once; responder.ts answers on a Node response, and
 * write-error.ts writes it in place, keeping the headers that still hold. pages.ts lists the kinds of page, which
 * preview.ts shows in development, each in every language and format.
 */
export {
  builtInMessages,
  englishMessages,
  type MessageOverrides,
  type Messages,
  type PageCopy,
} from './messages.js';
export { localeNegotiator, negotiateFormat, type ResponseFormat } from './negotiate.js';
export { createPreview, type PreviewHandler, type PreviewOptions } from './preview.js';
export {
  type PageContext,
  type RenderedError,
  type RenderSettings,
  relativeTime,
  type SiteLocals,
} from './render.js';
export { createErrorResponder, defaultErrorResponder, type ErrorResponder } from './responder.js';
export type { ErrorResponseOptions, NonceSource, RenderHook, RenderRequest } from './response-options.js';
export { defaultTemplatesDir, escapeHtml, type PageTemplate, type TemplateSet } from './templates.js';
export { abortResponse, mergeVary, takesError, writeError } from './write-error.js';
