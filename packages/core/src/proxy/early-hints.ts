import type { IncomingMessage, InformationEvent, ServerResponse } from 'node:http';

const nextLink = /,\s*(?=<)/;

/**
 * Relays an upstream's 103 Early Hints (RFC 8297) to the client ahead of the final answer, so that a browser can
 * start fetching what the page will need while the upstream still works on it. Only its Link fields go (the preload
 * and preconnect hints browsers act on; anything else an upstream puts in an interim answer stays with us), and only:
 *
 * - to an HTTP/1.1 client: RFC 9110 §15.2, a server must not send a 1xx response to an HTTP/1.0 client;
 * - before the final answer's head, which is the only answer that counts (a 103 is never taken for it);
 * - when Node accepts the links as valid (`writeEarlyHints` refuses a malformed Link): a hint is never required,
 *   so one that cannot be relayed as it is, is dropped.
 *
 * Other interim answers are not relayed: a 100 Continue belongs to the hop it answers (Node answers a client's own
 * `Expect: 100-continue` on our side), and 102 Processing is deprecated (RFC 9110 §15.2).
 */
export function relayEarlyHints(req: IncomingMessage, res: ServerResponse, info: InformationEvent): void {
  if (info.statusCode !== 103 || res.headersSent || req.httpVersionMajor !== 1 || req.httpVersionMinor === 0) return;
  const links: string[] = [];
  const raw = info.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    // Node validates each link alone: a list in one field is split where the next `<uri>` starts.
    if ((raw[i] as string).toLowerCase() === 'link') links.push(...(raw[i + 1] as string).split(nextLink));
  }
  if (links.length === 0) return;
  try {
    res.writeEarlyHints({ link: links });
  } catch {
    // A Link Node will not write as it is (ERR_INVALID_ARG_VALUE): the hint is dropped, the answer is unaffected.
  }
}
