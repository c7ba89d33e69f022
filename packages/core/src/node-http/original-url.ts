import type { IncomingMessage } from 'node:http';

type WithOriginalUrl = IncomingMessage & { originalUrl?: string };

/**
 * The URL the client asked for, before a mount path rewrote `req.url`: Express keeps it in `req.originalUrl`, and an
 * adapter whose framework keeps it elsewhere (Koa's `ctx.originalUrl`) puts it there with {@link keepOriginalUrl}.
 * The gateway's rules about the site's paths read it: maintenance's allowed paths, robots.txt at the site's root.
 */
export function originalUrlOf(req: IncomingMessage): string {
  return (req as WithOriginalUrl).originalUrl ?? req.url ?? '/';
}

/**
 * Keeps `url` as the request's original URL, as Express does, unless one is kept already; returns the request. For
 * an adapter whose framework rewrites `req.url` under a mount path and keeps the full URL elsewhere.
 * @example
 * gate.check(keepOriginalUrl(ctx.req, ctx.originalUrl)); // Koa, under koa-mount
 */
export function keepOriginalUrl(req: IncomingMessage, url: string | undefined): IncomingMessage {
  (req as WithOriginalUrl).originalUrl ??= url;
  return req;
}
