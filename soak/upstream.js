// The soak's upstreams, in a process of their own: the chaos upstream (one fault per route) and a dead target (a
// port where nothing listens). Sends `{ url, dead }` to its parent, and stops when the parent says so or goes away.
import { chaosUpstream, refusingUpstream } from '@gateway-errors/testing';
import { largeSize } from './routes.js';

// A short keep-alive timeout, which the gateway's agent honours (`Keep-Alive: timeout=2`): its idle connections close
// within seconds once the load stops, so the gateway's sockets can be seen back at their baseline.
const upstream = await chaosUpstream({ largeSize, keepAliveTimeout: 2000 });
const dead = await refusingUpstream();
process.send?.({ url: upstream.url, dead: dead.url });
const stop = async () => {
  await upstream.close();
  process.exit(0);
};
process.on('message', (message) => {
  if (message === 'stop') stop();
  else if (message === 'served') process.send?.({ served: upstream.served });
});
process.on('disconnect', stop);
