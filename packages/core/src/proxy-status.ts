/**
 * The Proxy-Status response header (RFC 9209): a Structured Field list (RFC 8941) with one member per intermediary,
 * the one nearest the origin first. Ours is appended to any the response already holds.
 */

/** What our member of the list says. */
export interface ProxyStatusEntry {
  /** RFC 9209 §2.1.1 `error`: the error type token. */
  error?: string | undefined;
  /** RFC 9209 §2.1.3 `received-status`: the status the upstream sent. */
  receivedStatus?: number | undefined;
  /** RFC 9209 §2.1.5 `details`: free text, for development only (it can reveal internals). */
  details?: string | undefined;
}

const token = /^[A-Za-z*][A-Za-z0-9:/!#$%&'*+\-.^_`|~]*$/;

/** The name as an sf-token when it can be one, else an sf-string. */
export function serializeProxyName(name: string): string {
  return token.test(name) ? name : serializeString(name);
}

/** An RFC 8941 sf-string: printable ASCII only, with `"` and `\` escaped; anything else becomes `?`. */
export function serializeString(text: string): string {
  return `"${text.replace(/[^\x20-\x7e]/g, '?').replace(/["\\]/g, '\\$&')}"`;
}

/** Our list member, such as `gateway-errors; error=connection_refused`. */
export function formatProxyStatus(name: string, entry: ProxyStatusEntry): string {
  let member = serializeProxyName(name);
  if (entry.error !== undefined) member += `; error=${entry.error}`;
  if (entry.receivedStatus !== undefined) member += `; received-status=${entry.receivedStatus}`;
  if (entry.details !== undefined) member += `; details=${serializeString(entry.details)}`;
  return member;
}

/** Appends our member to an existing Proxy-Status value, or starts the list. */
export function appendProxyStatus(existing: string | number | readonly string[] | undefined, member: string): string {
  const before = Array.isArray(existing) ? existing.join(', ') : existing === undefined ? '' : String(existing);
  return before.trim() === '' ? member : `${before}, ${member}`;
}
