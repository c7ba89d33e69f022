/**
 * store/: state that gateway instances share. store.ts is the contract (small, and nothing in it rejects, so a store
 * is never in a request's way); memory-store.ts is the default, this process's memory, bounded by bytes. A shared
 * store (`redisStore()` from `@gateway-errors/redis`) implements the same contract.
 */
export { type MemoryStoreOptions, memoryStore } from './memory-store.js';
export type { GatewayStore, GatewayStoreEvents } from './store.js';
