// `pnpm start` (or `node server.js`): the fleet on fixed ports, on the Redis at REDIS_URL. See README.md.
import { startFleet } from './fleet.js';

const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const fleet = await startFleet({ redisUrl, ports: [4000, 3000, 3001] });
const [one, two] = fleet.instances;
for (const instance of fleet.instances) {
  instance.store.on('down', (error) => console.warn(`${instance.name}: Redis unreachable (${error.message})`));
  instance.store.on('up', () => console.log(`${instance.name}: Redis reachable`));
  instance.gate.on('change', ({ enabled, source, by }) =>
    console.log(`${instance.name}: maintenance ${enabled ? 'on' : 'off'} (${source}${by ? `, by ${by}` : ''})`),
  );
  instance.proxy.on('health', ({ healthy }) =>
    console.log(`${instance.name}: upstream ${healthy ? 'healthy' : 'unhealthy'}`),
  );
}
console.log(`Redis: ${redisUrl}
upstream:   ${fleet.upstream.url}
instance 1: ${one.url} (Express)
instance 2: ${two.url} (Koa)

Try:
  curl -i ${one.url}/hello ; curl -i ${two.url}/hello
  curl -X POST '${one.url}/admin/maintenance?on=1'   then both answer 503
  curl -X POST '${two.url}/admin/maintenance?on=0'   then both answer again
  curl -X POST ${fleet.upstream.url}/__down           then one instance's health check marks it down for both
  curl -i ${two.url}/robots.txt                       the last good copy, whichever instance saw it
`);
process.on('SIGINT', async () => {
  await fleet.close();
  process.exit(0);
});
