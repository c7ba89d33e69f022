/**
 * The request-target rule: a request's path is forwarded below the target's path exactly as the client wrote it, or
 * refused. It is refused when it has a `..` segment as written or once decoded, in any of the ways upstreams read
 * paths: such a segment could leave the target's path (or climb above `/` for a target without one), and no client
 * that resolves its URLs (browsers, curl, fetch) ever sends one. The gateway never rewrites a path into another one:
 * it cannot know how the upstream decodes, so it forwards the client's bytes or nothing.
 */

/**
 * The path and query of a request-target, as the client wrote them: origin-form (`/a?x`) as is, the path of an
 * absolute-form (`http://host/a?x`, RFC 9112 §3.2.2; `/` when it has none), and anything else (asterisk-form `*`)
 * after a `/`.
 */
export function originForm(url: string): string {
  if (url.charCodeAt(0) === 47 /* / */) return url;
  const authority = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*/.exec(url);
  const rest = authority === null ? url : url.slice(authority[0].length);
  return rest.charCodeAt(0) === 47 ? rest : `/${rest}`;
}

/** A valid percent-escape. */
const percentEscape = /%([0-9A-Fa-f]{2})/g;
const decodeEscape = (_: string, hex: string) => String.fromCharCode(Number.parseInt(hex, 16));

/**
 * How many times a path is percent-decoded: a chain of servers may each decode once (`%252e` is `%2e` to the first
 * and `.` to the second). A path that still changes after this many is refused: no real path is encoded that deep.
 */
const maxDecodings = 4;

/**
 * A `..` segment: after the start or a separator (`/`, or `\` as Windows servers and some frameworks read it), and
 * before a separator, the end, or where some upstream ends a segment's name: a path parameter (`..;/` is `..` to
 * Tomcat and Jetty), a fragment or a query that decoding revealed (a server that decodes the path and parses it again
 * as a URL reads `/..%3fx` as the path `/..`: Apache's mod_rewrite with [P], CVE-2023-25690), a NUL (C strings). A
 * literal `?` never gets here: the query is cut off before any decoding.
 */
const dotDotSegment = /(?:^|[/\\])\.\.(?:[/\\;#?\0]|$)/;

/**
 * Whether `path` (origin-form) has a `..` segment, as written or once decoded (once, twice, ... until nothing changes).
 * Whether such a segment leaves the target's path depends on how the upstream reads the path, and readings disagree:
 * `/a%252fb/../..` stays inside for a server that decodes twice (`a`, `b`, then two `..`) and leaves it for nginx,
 * which decodes once (`a%2fb`, then two `..`). So none is forwarded: no reading can then climb at all.
 */
function hasDotDotSegment(path: string): boolean {
  const query = path.indexOf('?');
  let reading = query === -1 ? path : path.slice(0, query);
  for (let decodings = 0; ; decodings++) {
    if (dotDotSegment.test(reading)) return true;
    const next = reading.replace(percentEscape, decodeEscape);
    if (next === reading) return false;
    if (decodings === maxDecodings) return true;
    reading = next;
  }
}

/** The value of a hex digit's char code, or -1. */
function hexValue(code: number): number {
  if (code >= 48 && code <= 57) return code - 48;
  const lower = code | 0x20;
  return lower >= 97 && lower <= 102 ? lower - 87 : -1;
}

/**
 * Whether the request-target `url` could leave the target's path: it has a `..` segment, as written or decoded (see
 * `hasDotDotSegment`). The common path (no backslash, no `/..`, no escape that decodes to `%`, `.`, `/`, `\` or NUL)
 * is scanned once, without allocating; only a suspicious one is decoded.
 */
export function leavesTargetPath(url: string): boolean {
  const path = originForm(url);
  for (let i = 0; i < path.length; i++) {
    const code = path.charCodeAt(i);
    if (code === 63 /* ? */) return false;
    if (code === 92 /* \ */) return hasDotDotSegment(path);
    if (code === 46 /* . */ && path.charCodeAt(i - 1) === 47 /* / */ && path.charCodeAt(i + 1) === 46) {
      return hasDotDotSegment(path);
    }
    if (code === 37 /* % */) {
      const high = hexValue(path.charCodeAt(i + 1));
      const low = hexValue(path.charCodeAt(i + 2));
      // An invalid escape (`%2%66` is `%2f` once decoded), or one that decodes to `%`, `.`, `/`, `\` or NUL.
      if (high < 0 || low < 0) return hasDotDotSegment(path);
      const value = high * 16 + low;
      if (value === 0x25 || value === 0x2e || value === 0x2f || value === 0x5c || value === 0) {
        return hasDotDotSegment(path);
      }
      i += 2;
    }
  }
  return false;
}
