// What a snippet in a page marked `<!-- snippets: proxy -->` may use without declaring it: an Express app, the
// Express adapter's middleware, and `proxy`, the event emitter of a gatewayProxy() (`middleware.proxy`) or
// createProxy().
import type { GatewayProxy } from '@gateway-errors/core';
import type * as adapter from '@gateway-errors/express';
import type { Express } from 'express';

declare global {
  const app: Express;
  const proxy: GatewayProxy;
  const gatewayErrors: typeof adapter.gatewayErrors;
  const gatewayProxy: typeof adapter.gatewayProxy;
  const maintenance: typeof adapter.maintenance;
}
