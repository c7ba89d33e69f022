// Starts the gateway in front of a news site, a stand-in from @gateway-errors/testing (siteUpstream()) whose pages
// are set here and which can be taken down at will. `POST /site/down` (`?how=reset`, the default, or `?how=503`) and
// `POST /site/up` switch it: they are this script's, answered before the app, not part of the gateway.
import { createServer } from 'node:http';
import { siteUpstream } from '@gateway-errors/testing';
import { createApp } from './app.js';

const site = await siteUpstream();
const page = (title) =>
  `<!doctype html><title>${title}</title><h1>${title}</h1><p>Served at ${new Date().toISOString()}</p>\n`;
site.pages.set('/', () => ({ headers: { 'cache-control': 'max-age=10', etag: '"home-1"' }, body: page('Acme News') }));
site.pages.set('/news/1', () => ({
  headers: { 'cache-control': 'max-age=10, stale-if-error=60' },
  body: page('Story 1'),
}));
site.pages.set('/account', () => ({ headers: { 'cache-control': 'private' }, body: page('Your account') }));

const app = createApp({ siteUrl: site.url, timeout: 2000 }).callback();
const port = Number(process.env.PORT ?? 3000);
const server = createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://gateway');
  if (req.method === 'POST' && (url.pathname === '/site/down' || url.pathname === '/site/up')) {
    site.down = url.pathname === '/site/up' ? false : url.searchParams.get('how') === '503' ? 503 : 'reset';
    res.end(`the site is ${site.down === false ? 'up' : `down (${site.down})`}\n`);
    return;
  }
  app(req, res);
}).listen(port, '127.0.0.1', () => {
  const base = `http://127.0.0.1:${server.address().port}`;
  console.log(`Gateway on ${base}/ (Ctrl-C to stop), in front of a news site. Try:
  curl -i ${base}/                   200 from the site: a good copy is kept
  curl -X POST ${base}/site/down     the site resets every connection (?how=503: answers its own 503)
  curl -i ${base}/                   200: the copy, with Age and Cache-Status
  curl -i ${base}/account            502: a private page is never kept
  curl -X POST ${base}/site/up       the site is back`);
});
server.on('error', (error) => {
  console.error(error.code === 'EADDRINUSE' ? `Port ${port} is taken: try PORT=3100 pnpm start` : error);
  process.exit(1);
});
