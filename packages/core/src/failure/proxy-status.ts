/**
 * The Proxy-Status response header (RFC 9209 §2): a Structured Field list (RFC 8941 §3.1) with one member per
 * intermediary, the one nearest the origin first and the one nearest the client last. Ours is appended to any the
 * response already holds.
 */

/** What our member of the list says. */
export interface ProxyStatusEntry {
  /** RFC 9209 §2.1.1 `error`: the proxy error type, an sf-token (dropped if it is not one). */
  error?: string | undefined;
  /** RFC 9209 §2.1.4 `received-status`: the status the upstream sent, an integer 100-999 (dropped otherwise). */
  receivedStatus?: number | undefined;
  /**
   * RFC 9209 §2.1.5 `details`: free text, serialised as an sf-string. For development only: it can reveal internals
   * (hosts, ports, messages), and RFC 9209 §6 warns against exposing them.
   */
  details?: string | undefined;
}

// RFC 8941 §3.3.4: sf-token = ( ALPHA / "*" ) *( tchar / ":" / "/" ).
const token = /^[A-Za-z*][A-Za-z0-9:/!#$%&'*+\-.^_`|~]*$/;

/** Whether `text` can be written as an RFC 8941 sf-token. */
export function isToken(text: string): boolean {
  return token.test(text);
}

/**
 * The intermediary's name as RFC 9209 §2 allows it, a Token or a String: an sf-token when it can be one
 * (`gateway-errors`), else an sf-string (`"edge 1"`).
 */
export function serializeProxyName(name: string): string {
  return isToken(name) ? name : serializeString(name);
}

/**
 * An RFC 8941 §3.3.3 sf-string: printable ASCII only (0x20-0x7E), with `"` and `\` escaped. A character it cannot
 * hold (a control character, anything beyond ASCII) becomes `?`: the field must stay valid, and `details` is a
 * diagnostic, not data.
 */
export function serializeString(text: string): string {
  return `"${text.replace(/[^\x20-\x7e]/gu, '?').replace(/["\\]/g, '\\$&')}"`;
}

/**
 * Our list member, such as `gateway-errors; error=connection_refused` or
 * `gateway-errors; received-status=503`. Parameters appear in the RFC's order, each only when given and valid.
 */
export function formatProxyStatus(name: string, entry: ProxyStatusEntry): string {
  let member = serializeProxyName(name);
  // `; ` as in RFC 9209's own examples; RFC 8941 §4.2.3.2 parsers skip the space after the semicolon.
  if (entry.error !== undefined && isToken(entry.error)) member += `; error=${entry.error}`;
  const status = entry.receivedStatus;
  if (status !== undefined && Number.isInteger(status) && status >= 100 && status <= 999) {
    member += `; received-status=${status}`;
  }
  if (entry.details !== undefined) member += `; details=${serializeString(entry.details)}`;
  return member;
}

/**
 * Appends our member to the Proxy-Status value a response already holds (from the upstream, or from earlier
 * middleware), or starts the list. Several header lines are one list (RFC 8941 §3.1: lines are joined with a comma);
 * empty members and stray trailing commas are dropped, so the result stays a valid list.
 */
export function appendProxyStatus(existing: string | number | readonly string[] | undefined, member: string): string {
  const lines = existing === undefined ? [] : Array.isArray(existing) ? existing : [String(existing)];
  const before = lines.map((line: string) => line.trim().replace(/^[\s,]+|[\s,]+$/g, '')).filter((line) => line !== '');
  return [...before, member].join(', ');
}
