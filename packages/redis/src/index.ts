/**
 * @gateway-errors/redis: a Redis store for gateway-errors, so that many gateway instances share their maintenance
 * switch, their good copies (robots.txt, stale-if-error) and their health results. docs/fleet.md says what is
 * shared, what stays local and why, and what happens when Redis is gone.
 *
 * @packageDocumentation
 */
export { type RedisClientLike, type RedisStoreOptions, redisStore } from './redis-store.js';
