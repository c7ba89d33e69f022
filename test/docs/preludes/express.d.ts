// What a snippet in a page marked `<!-- snippets: express -->` may use without declaring it: the Express app it is
// written into and the Express adapter's three middleware. Anything else a snippet uses, it imports or defines, so
// that it runs as pasted into that app.
import type * as adapter from '@gateway-errors/express';
import type { Express } from 'express';

declare global {
  const app: Express;
  const gatewayErrors: typeof adapter.gatewayErrors;
  const gatewayProxy: typeof adapter.gatewayProxy;
  const maintenance: typeof adapter.maintenance;
}
