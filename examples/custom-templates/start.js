// Starts the bookshop in front of a catalogue that is down (refusingUpstream() from @gateway-errors/testing), so that
// every path shows its error page.
import { createServer } from 'node:http';
import { refusingUpstream } from '@gateway-errors/testing';
import { createApp } from './app.js';

const catalogue = await refusingUpstream();
const app = createApp({ catalogueUrl: catalogue.url });

const port = Number(process.env.PORT ?? 3000);
const server = createServer(app).listen(port, '127.0.0.1', () => {
  const base = `http://127.0.0.1:${server.address().port}`;
  console.log(`The bookshop on ${base}/ (Ctrl-C to stop); its catalogue is down. Open in a browser:
  ${base}/locals/books      1. locals: name, logo and links in the built-in page
  ${base}/messages/books    2. messages: another heading; with Accept-Language: nl, Dutch
  ${base}/partial/books     3. one partial: the links, extended
  ${base}/template/books    4. whole templates: the brand's layout and 502 page`);
});
server.on('error', (error) => {
  console.error(error.code === 'EADDRINUSE' ? `Port ${port} is taken: try PORT=3100 pnpm start` : error);
  process.exit(1);
});
