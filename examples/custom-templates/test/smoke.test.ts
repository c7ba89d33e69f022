import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { refusingUpstream, type Upstream } from '@gateway-errors/testing';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { createApp } from '../app.js';

let server: Server;
let catalogue: Upstream;
let base: string;

beforeEach(async () => {
  catalogue = await refusingUpstream();
  server = createServer(createApp({ catalogueUrl: catalogue.url }));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterEach(async () => {
  server.closeAllConnections();
  server.close();
  await catalogue.close();
});

async function page(path: string, language = 'en') {
  const res = await fetch(`${base}${path}`, { headers: { accept: 'text/html', 'accept-language': language } });
  return { res, html: await res.text() };
}

it('1. locals: the site name, logo and links in the built-in page', async () => {
  const { res, html } = await page('/locals/books');
  expect(res.status).toBe(502);
  expect(res.headers.get('proxy-status')).toBe('gateway-errors; error=connection_refused');
  expect(html).toContain('<title>502 Bad Gateway · Acme Books</title>');
  expect(html).toMatch(
    /<header>\n<a href="\/"><img src="data:image\/svg\+xml;base64,[A-Za-z0-9+/=]+" alt=""><span>Acme Books<\/span>/,
  );
  expect(html).toContain('<a href="https://status.acme.example">Check the service status</a>');
  expect(html).toContain('<a href="mailto:help@acme.example">Contact support</a>');
  expect(html).toContain('<h1>We could not reach the service behind this page</h1>');
});

// Each test has its own app: a few requests to the dead catalogue open the proxy's circuit breaker, after which the
// page is the 503 one (the catalogue is paused), in the same words and language.
it('2. messages: a heading changed in English only', async () => {
  const english = await page('/messages/books');
  expect(english.res.status).toBe(502);
  expect(english.html).toContain('<h1>Our bookshop is catching its breath</h1>');
  expect(english.html).toContain('Our server asked another service for this page'); // the rest stays built in

  const french = await page('/messages/books', 'fr-CA,fr;q=0.9');
  expect(french.res.status).toBe(502);
  expect(french.res.headers.get('content-language')).toBe('fr');
  expect(french.html).toContain('<h1>Nous n’avons pas pu joindre le service de cette page</h1>');
});

it('2. messages: a language of our own, for pages and problem+json', async () => {
  const dutch = await page('/messages/books', 'nl-BE,nl;q=0.9,en;q=0.5');
  expect(dutch.res.status).toBe(502);
  expect(dutch.res.headers.get('content-language')).toBe('nl');
  expect(dutch.html).toContain('<html lang="nl" dir="ltr">');
  expect(dutch.html).toContain('<h1>We konden de dienst achter deze pagina niet bereiken</h1>');
  expect(dutch.html).toContain('Probeer het over 5 seconden opnieuw.');
  expect(dutch.html).toContain('>Opnieuw proberen</a>');

  const problem = await fetch(`${base}/messages/books`, {
    headers: { accept: 'application/json', 'accept-language': 'nl' },
  });
  expect(problem.status).toBe(502);
  expect(await problem.json()).toMatchObject({
    status: 502,
    detail:
      'Onze server vroeg een andere dienst om deze pagina, maar kreeg geen goed antwoord. Dit is meestal tijdelijk.',
  });
});

it('3. one partial: the built-in links, then a line of our own', async () => {
  const { res, html } = await page('/partial/books');
  expect(res.status).toBe(502);
  expect(html).toContain('<li><a href="/">Go to the home page</a></li>');
  expect(html).toContain('<p>Our team answers Monday to Friday, 9:00 to 17:00 CET.</p>');
  expect(html).toContain('<h1>We could not reach the service behind this page</h1>'); // everything else built in
});

it("4. whole templates: the brand's layout and 502 page, still in the visitor's language", async () => {
  const { res, html } = await page('/template/books', 'de');
  expect(res.status).toBe(502);
  expect(res.headers.get('cache-control')).toBe('no-store');
  expect(html).toMatch(/^<!doctype html>\n<html lang="de" dir="ltr">/);
  expect(html).toContain('<title>Fehlerhaftes Gateway · Acme Books</title>');
  expect(html).toContain('--accent:#8a3b12');
  expect(html).toContain('<p class="eyebrow">Fehler 502</p>');
  expect(html).toContain(res.headers.get('x-request-id') as string);
  expect(html).toContain('<meta name="robots" content="noindex, nofollow">');
  expect(html).not.toMatch(/(src|href)="(https?:)?\/\/(?!status\.acme\.example)/); // nothing loaded from elsewhere
});
