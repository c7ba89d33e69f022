/**
 * The example's smoke test: the fleet starts on a real Redis, both instances proxy, and maintenance switched on one
 * instance reaches the other, both ways.
 */
import type { MaintenanceGate } from '@gateway-errors/express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RedisServer, runs, startRedis } from '../../../test/support/redis-server.js';
import { startFleet } from '../fleet.js';

interface Instance {
  name: string;
  url: string;
  gate: MaintenanceGate;
}

function reaches(gate: MaintenanceGate, enabled: boolean): Promise<void> {
  return new Promise((resolve) => {
    if (gate.enabled === enabled) return resolve();
    const onChange = () => {
      if (gate.enabled !== enabled) return;
      gate.off('change', onChange);
      resolve();
    };
    gate.on('change', onChange);
  });
}

describe.runIf(runs)('example: redis-fleet', () => {
  let redis: RedisServer;
  let fleet: { instances: Instance[]; close(): Promise<void> };
  beforeAll(async () => {
    redis = await startRedis();
    fleet = await startFleet({ redisUrl: redis.url });
  });
  afterAll(async () => {
    await fleet?.close();
    await redis?.stop();
  });

  it('proxies on both instances, and shares the maintenance switch both ways', async () => {
    const [one, two] = fleet.instances as [Instance, Instance];
    for (const instance of [one, two]) {
      const res = await fetch(`${instance.url}/hello`);
      expect(res.status).toBe(200);
      expect(await res.text()).toBe('hello from the upstream: GET /hello\n');
    }
    const on = await fetch(`${one.url}/admin/maintenance?on=1`, { method: 'POST' });
    expect(await on.text()).toBe('maintenance on\n');
    await reaches(two.gate, true);
    const closed = await fetch(`${two.url}/hello`, { headers: { accept: 'application/json' } });
    expect(closed.status).toBe(503);
    expect(await closed.json()).toMatchObject({ status: 503, errorType: 'proxy_internal_response' });

    await fetch(`${two.url}/admin/maintenance?on=0`, { method: 'POST' });
    await reaches(one.gate, false);
    expect((await fetch(`${one.url}/hello`)).status).toBe(200);
  });
});
