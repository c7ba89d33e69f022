/**
 * node-http/: the layer over Node's request and response that the proxy and the adapters stand on. What the gateway
 * keeps on a request (its id, the URL before a mount path rewrote it), the plain answer to a request it refuses,
 * WebSocket handshakes given to the app as requests (upgrade.ts), and what an adapter builds its middleware from
 * (middleware.ts: finding the gatewayErrors() that answers, answering with it or the default, the proxy's and the
 * gate's parts). An adapter keeps only what its framework needs.
 */
export {
  answerFailure,
  type MaintenanceMiddlewareParts,
  markResponder,
  named,
  type ProxyMiddlewareParts,
  responderOf,
  withGate,
  withProxy,
} from './middleware.js';
export { keepOriginalUrl, originalUrlOf } from './original-url.js';
export { rejection, writeRejection } from './reject.js';
export { requestIdOf } from './request-id.js';
export type { UpgradeListener } from './upgrade.js';
