export { certificates, testCA } from './certificates.js';
export {
  type ChaosOptions,
  type ChaosRoute,
  type ChaosUpstream,
  chaosRoutes,
  chaosUpstream,
  largeBody,
  largeByte,
  receivedLine,
} from './chaos.js';
export { parseResponses, type RawExchange, type RawExchangeOptions, type RawResponse, rawExchange } from './client.js';
export { unacceptingUpstream } from './connect.js';
export {
  type EagerOptions,
  type EagerUpstream,
  type EchoOptions,
  eagerUpstream,
  echoUpstream,
  type FlakyOptions,
  flakyUpstream,
  httpUpstream,
  type ReceivedRequest,
  type SlowHeadOptions,
  type StatusOptions,
  slowHeadUpstream,
  statusUpstream,
} from './http.js';
export { type KeepAliveRaceOptions, type KeepAliveRaceUpstream, keepAliveRaceUpstream } from './keep-alive.js';
export {
  type DrippingHeadOptions,
  drippingHeadUpstream,
  type Informational,
  type InformationalOptions,
  informationalUpstream,
  type RefusingUploadOptions,
  type ResetMidUploadOptions,
  refusingUploadUpstream,
  resetMidUploadUpstream,
  type UnsolicitedUpgradeOptions,
  unsolicitedUpgradeUpstream,
} from './protocol.js';
export {
  badHeaderUpstream,
  dieMidBodyUpstream,
  type GarbageOptions,
  garbageUpstream,
  hangingUpstream,
  type MidBodyOptions,
  type OversizedHeadOptions,
  oversizedHeadUpstream,
  refusingUpstream,
  resetAfterRequest,
  resetOnAccept,
  stallMidBodyUpstream,
} from './raw.js';
export { type SiteOutage, type SitePage, type SiteUpstream, siteUpstream } from './site.js';
export { type TlsOptions, tlsUpstream } from './tls.js';
export type { Upstream } from './upstream.js';
export { type Handshake, type WebSocketEchoUpstream, webSocketEchoUpstream } from './websocket.js';
