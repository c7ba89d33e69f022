import { docsLink } from './config-error.js';

/**
 * Stable codes of the process warnings gateway-errors emits: each has a section in docs/warnings.md that says what
 * triggers it and how to fix it. Search the code to land on the fix.
 */
export type WarningCode =
  /** No `gatewayErrors()` is mounted where it sees the failures of a proxy, a gate or the routes: they get default pages. */
  | 'GATEWAY_ERRORS_MOUNTING'
  /** A `locals` key looks like a misspelt known one (`sitename` for `siteName`): the page will not show it. */
  | 'GATEWAY_ERRORS_LOCALS'
  /** A render hook or a `nonce` function misbehaved: the default page, or no nonce, was sent. */
  | 'GATEWAY_ERRORS_RENDER'
  /** One of your templates threw at request time: the built-in page was sent. */
  | 'GATEWAY_ERRORS_TEMPLATE'
  /** The error page preview was mounted where NODE_ENV is not `development`: it answers nothing. */
  | 'GATEWAY_ERRORS_PREVIEW_OFF'
  /** A shared store (Redis) is unreachable: every instance goes on with its last known state. */
  | 'GATEWAY_ERRORS_STORE_DOWN';

/** When a warning is emitted again: never for the same reason about the same thing. */
export interface WarningOnce {
  /** What the warning is about: the same reason warns again for another middleware, responder or template set. */
  readonly per?: object;
  /**
   * Why it is emitted: a warning with the same reason (about the same `per`) is emitted once.
   * @default the code
   */
  readonly reason?: string;
}

/** What each thing has been warned about: weakly held, so a warned middleware can still be collected. */
const warnedAbout = new WeakMap<object, Set<string>>();
/** Reasons that are about the process, not a thing in it (a misspelt key is the same mistake in every responder). */
const processWide = {};

/** What a thrown value says, without trusting it to be an Error (a user's callback or template may throw anything). */
export function messageOf(error: unknown): string {
  try {
    if (error instanceof Error) return String(error.message);
  } catch {
    return 'an Error whose message cannot be read';
  }
  return typeof error === 'string' ? error : `a value of type ${error === null ? 'null' : typeof error}`;
}

/**
 * The one place process warnings are made: `process.emitWarning` with a stable code, a message that names the fix and
 * ends with a link to the code's section of docs/warnings.md, and emitted once per reason and thing (`once`), so a
 * mistake met on every request is reported, never a flood. A `message` function is called only when the warning is
 * emitted: for a message that costs something to make, or reads a value a user's code threw. It never throws: a
 * warning must not fail the request or the start-up it is about. Node prints warnings on stderr; `process.on('warning',
 * ...)` sees each one with its `code`, and `node --disable-warning=<code>` silences one (docs/warnings.md).
 * @example
 * gatewayWarning('GATEWAY_ERRORS_MOUNTING', 'no gatewayErrors() is mounted after this gatewayProxy(): ...', { per: middleware });
 */
export function gatewayWarning(code: WarningCode, message: string | (() => string), once: WarningOnce = {}): void {
  try {
    const per = once.per ?? processWide;
    const reason = once.reason ?? code;
    let reasons = warnedAbout.get(per);
    if (reasons === undefined) {
      reasons = new Set();
      warnedAbout.set(per, reasons);
    }
    if (reasons.has(reason)) return;
    reasons.add(reason);
    const text = typeof message === 'function' ? message() : message;
    // A message that ends with lines of a template gets its link on a line of its own; one that ends with a value a
    // user's code threw gets the full stop it lacks.
    const see = text.includes('\n') ? '\nSee' : /[.!?]$/.test(text) ? ' See' : '. See';
    process.emitWarning(`gateway-errors: ${text}${see} ${docsLink('warnings.md', code.toLowerCase())}`, { code });
  } catch {
    // A warning must never fail the request or the start-up it is about (a `per` that is no object, from an adapter
    // written in JavaScript; a process.emitWarning replaced by an agent that throws): the answer matters more.
  }
}
