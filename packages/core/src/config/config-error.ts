/**
 * Stable codes of configuration errors: each has a section in docs/configuration-errors.md that says what triggers
 * it and how to fix it. Search the code to land on the fix.
 */
export type ConfigErrorCode =
  /** An options object has a key no option has: a typo such as `timeout` for `timeouts`. */
  | 'GATEWAY_ERRORS_UNKNOWN_OPTION'
  /** An option has a value of the wrong type, shape or range, or an options argument is not an object. */
  | 'GATEWAY_ERRORS_INVALID_OPTION'
  /** Two options contradict each other: a minimum above its maximum, `agent` and `tls` together. */
  | 'GATEWAY_ERRORS_CONFLICTING_OPTIONS'
  /** The proxy's `target` is missing, not an absolute http(s) URL, or a list that mixes protocols or repeats one. */
  | 'GATEWAY_ERRORS_INVALID_TARGET'
  /** A link of `locals` could make the error page load from the failing site, or run a script. */
  | 'GATEWAY_ERRORS_UNSAFE_LINK'
  /** The `messages` or `defaultLocale` option of the error pages. */
  | 'GATEWAY_ERRORS_INVALID_MESSAGES'
  /** A `templates` directory that cannot be used, or a template that does not compile or render. */
  | 'GATEWAY_ERRORS_INVALID_TEMPLATES'
  /** The options of an error class you throw (`new ServiceUnavailableError({ ... })`). */
  | 'GATEWAY_ERRORS_INVALID_ERROR_OPTIONS';

/** Where the docs are: an installed package has no docs folder, so messages link the repository's by URL. */
const docsBase = 'https://github.com/gateway-errors/gateway-errors/blob/main/docs/';

/** The URL of a page of the docs (`error-pages.md`), and of one of its sections when `section` is given. */
export function docsLink(page: string, section?: string): string {
  return `${docsBase}${page}${section === undefined ? '' : `#${section}`}`;
}

/** A configuration error, as {@link configError} makes it. */
export type ConfigError = Error & { readonly code: ConfigErrorCode };

/**
 * The one place configuration errors are made. Like Node's own argument errors, each is a `TypeError` (a value of
 * the wrong type or shape), or a `RangeError` (values that contradict each other), or a plain `Error` (a templates
 * directory), with a stable `code`, shown in the first line of its stack (`TypeError [GATEWAY_ERRORS_UNKNOWN_OPTION]:
 * ...`). The message says what is wrong and how to fix it, then links the section of docs/configuration-errors.md
 * that explains the code. Thrown at construction, never per request.
 * @example
 * throw configError('GATEWAY_ERRORS_INVALID_OPTION', 'emitError must be true or false.');
 */
export function configError(
  code: ConfigErrorCode,
  message: string,
  options: { readonly kind?: ErrorConstructor; readonly cause?: unknown } = {},
): ConfigError {
  const Kind = options.kind ?? TypeError;
  const text = `gateway-errors: ${message} See ${docsLink('configuration-errors.md', code.toLowerCase())}`;
  const error = new Kind(text, 'cause' in options ? { cause: options.cause } : undefined) as Error & { code: string };
  error.code = code;
  // Node's trick for its ERR_* errors: the stack is formatted on first read, with the name as it is then.
  error.name = `${Kind.name} [${code}]`;
  void error.stack;
  delete (error as { name?: string }).name;
  return error as ConfigError;
}
