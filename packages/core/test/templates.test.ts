import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createErrorResponder, type ErrorResponseOptions, type GatewayFailure } from '@gateway-errors/core';
import { declaredFailure, failureOf } from '@gateway-errors/core/unstable-internals';
import { afterEach, describe, expect, it } from 'vitest';

const browser = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A templates directory holding `files` (name -> EJS text). */
function templates(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'gateway-errors-templates-'));
  dirs.push(dir);
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, name)), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return dir;
}

function page(options: ErrorResponseOptions, failure: GatewayFailure = failureOf('connection_refused'), lang = 'en') {
  return createErrorResponder(options).render(failure, {
    headers: { accept: browser, 'accept-language': lang, 'x-request-id': 'ref-1' },
  } as never).body;
}

describe('a templates directory overrides the defaults file by file', () => {
  it('502.ejs alone: the 502 page is the user’s, inside the default layout; the others stay built in', () => {
    const dir = templates({ '502.ejs': '<h1>Upstream down at <%= page.locals.brand %></h1>' });
    const options = { templates: dir, locals: { brand: 'Acme' } };
    const body = page(options);
    expect(body).toContain('<main>\n<h1>Upstream down at Acme</h1>\n</main>');
    expect(body).toMatch(/^<!doctype html>\n<html lang="en"/);
    expect(body).toContain('<meta name="robots" content="noindex, nofollow">');
    expect(page(options, failureOf('http_response_timeout'))).toContain('took too long to answer');
  });

  it('503.ejs, 504.ejs and error.ejs, each for its status', () => {
    const dir = templates({
      '503.ejs': '<h1>503 <%= page.maintenance ? "maintenance" : "overload" %></h1>',
      '504.ejs': '<h1>504 <%= page.errorType %></h1>',
      'error.ejs': '<h1>Error <%= page.status %></h1>',
    });
    expect(page({ templates: dir }, failureOf('proxy_internal_response'))).toContain('<h1>503 maintenance</h1>');
    expect(page({ templates: dir }, failureOf('destination_unavailable'))).toContain('<h1>503 overload</h1>');
    expect(page({ templates: dir }, failureOf('connection_timeout'))).toContain('<h1>504 connection_timeout</h1>');
    expect(page({ templates: dir }, declaredFailure(500))).toContain('<h1>Error 500</h1>');
    expect(page({ templates: dir }, declaredFailure(507))).toContain('<h1>Error 507</h1>');
    expect(page({ templates: dir })).toContain('We could not reach the service behind this page');
  });

  it('layout.ejs wraps every page, default or not', () => {
    const dir = templates({
      'layout.ejs':
        '<!doctype html><html lang="<%= page.lang %>"><title><%= page.copy.title %></title><body class="acme"><%- content %></body></html>',
    });
    const body = page({ templates: dir }, failureOf('connection_refused'), 'de');
    expect(body).toMatch(/^<!doctype html><html lang="de"><title>Fehlerhaftes Gateway<\/title><body class="acme">/);
    expect(body).toContain('<h1>Wir konnten den Dienst hinter dieser Seite nicht erreichen</h1>');
  });

  it('a partial override reaches the default pages', () => {
    const dir = templates({ 'partials/reference.ejs': '<p class="ref">Ticket: <%= page.requestId %></p>' });
    for (const failure of [failureOf('connection_refused'), failureOf('dns_timeout'), declaredFailure(500)]) {
      const body = page({ templates: dir }, failure);
      expect(body).toContain('<p class="ref">Ticket: ref-1</p>');
      expect(body).not.toContain('class="reference"');
    }
  });

  it('user templates include the default partials, and an override can extend the built-in one', () => {
    const dir = templates({
      '502.ejs': '<h1>Custom</h1>\n<%- include("partials/retry") %>\n<%- include("./partials/links.ejs") %>',
      'partials/links.ejs': '<%- include("default/partials/links") %><p class="extra">Call us</p>',
    });
    const body = page({ templates: dir, locals: { statusPageUrl: '/status' } });
    expect(body).toContain('<h1>Custom</h1>');
    expect(body).toContain('data-retry-after="5"');
    expect(body).toContain('<a href="/status">Check the service status</a>');
    expect(body).toContain('</nav>\n<p class="extra">Call us</p>');
    // The default pages pick the extended partial up too.
    expect(page({ templates: dir }, failureOf('connection_timeout'))).toContain('<p class="extra">Call us</p>');
  });

  it('includes pass data, and relative includes resolve from the including file', () => {
    const dir = templates({
      '502.ejs': '<%- include("blocks/card", { title: "Card title" }) %>',
      'blocks/card.ejs': '<section><h2><%= locals.title %></h2><%- include("./badge") %></section>',
      'blocks/badge.ejs': '<span><%= locals.title %>!</span>',
    });
    expect(page({ templates: dir })).toContain('<section><h2>Card title</h2><span>Card title!</span></section>');
  });

  it('a page that is a whole document is not wrapped in the layout', () => {
    const dir = templates({
      '502.ejs':
        '\n<!DOCTYPE html>\n<html lang="<%= page.lang %>"><title>Own</title><p><%= page.copy.heading %></p></html>',
    });
    const body = page({ templates: dir });
    expect(body).toBe(
      '\n<!DOCTYPE html>\n<html lang="en"><title>Own</title><p>We could not reach the service behind this page</p></html>',
    );
  });

  it('locals reach the templates, escaped', () => {
    const dir = templates({
      'error.ejs':
        '<p><%= page.site.siteName %>|<%= page.site.homeUrl %>|<%= page.site.statusPageUrl %>|<%= page.site.contactUrl %>|<%= page.locals.team %>|<%- page.locals.trusted %></p>',
    });
    const body = page(
      {
        templates: dir,
        locals: {
          siteName: '<Acme>',
          homeUrl: '/home',
          statusPageUrl: 'https://status.example/?a=1&b=2',
          contactUrl: 'mailto:ops@example.com',
          team: '"SRE" <on-call>',
          trusted: '<em>raw, as the template asked</em>',
        },
      },
      declaredFailure(500),
    );
    expect(body).toContain(
      '<p>&lt;Acme&gt;|/home|https://status.example/?a=1&amp;b=2|mailto:ops@example.com|&#34;SRE&#34; &lt;on-call&gt;|<em>raw, as the template asked</em></p>',
    );
  });

  it('are read and compiled once: rendering touches no file', () => {
    const dir = templates({ '502.ejs': '<h1>Compiled once</h1><%- include("partials/reference") %>' });
    const responder = createErrorResponder({ templates: dir });
    rmSync(dir, { recursive: true, force: true });
    const { body } = responder.render(failureOf('connection_refused'), { headers: { accept: browser } } as never);
    expect(body).toContain('<h1>Compiled once</h1>');
    expect(body).toContain('class="reference"');
  });

  it('two responders with different directories do not share templates', () => {
    const a = templates({ '502.ejs': '<h1>A</h1>' });
    const b = templates({ '502.ejs': '<h1>B</h1>' });
    const first = createErrorResponder({ templates: a });
    const second = createErrorResponder({ templates: b });
    const req = { headers: { accept: browser } } as never;
    expect(first.render(failureOf('connection_refused'), req).body).toContain('<h1>A</h1>');
    expect(second.render(failureOf('connection_refused'), req).body).toContain('<h1>B</h1>');
  });
});

describe('a templates directory is checked at construction, with the fix in the message', () => {
  it('a missing directory', () => {
    expect(() => createErrorResponder({ templates: join(tmpdir(), 'gateway-errors-none', 'views') })).toThrow(
      /templates directory ".*gateway-errors-none\/views" not found \(resolved to .* from .*\)\. Give an existing directory holding any of 502\.ejs/,
    );
  });

  it('a file instead of a directory', () => {
    const dir = templates({ '502.ejs': 'x' });
    expect(() => createErrorResponder({ templates: join(dir, '502.ejs') })).toThrow(/not found/);
  });

  it('an empty directory', () => {
    const dir = templates({ 'README.md': 'no templates here' });
    expect(() => createErrorResponder({ templates: dir })).toThrow(
      /holds no \.ejs file\. Add any of 502\.ejs, 503\.ejs, 504\.ejs, error\.ejs, layout\.ejs or partials\/\*\.ejs, or remove the templates option/,
    );
  });

  it('a page for a status we never render on its own', () => {
    const dir = templates({ '500.ejs': '<h1>500</h1>' });
    expect(() => createErrorResponder({ templates: dir })).toThrow(
      /500\.ejs would never be used: pages are 502\.ejs, 503\.ejs, 504\.ejs, and error\.ejs for every other status .* Rename it to error\.ejs/,
    );
  });

  it('a folder named like the built-in prefix', () => {
    const dir = templates({ 'default/502.ejs': 'x' });
    expect(() => createErrorResponder({ templates: dir })).toThrow(/the folder "default\/" is reserved/);
  });

  it('a template that does not compile, naming the file', () => {
    const dir = templates({ 'partials/unused.ejs': '<% if (page.status) { %>never closed' });
    expect(() => createErrorResponder({ templates: dir })).toThrow(
      /cannot compile template .*partials\/unused\.ejs:1: .*\sFix the EJS syntax in that file/s,
    );
    const unclosed = templates({ '502.ejs': '<%= page.status' });
    expect(() => createErrorResponder({ templates: unclosed })).toThrow(/cannot compile template .*502\.ejs:1/);
  });

  /** The message of the configuration error `files` make. */
  function compileError(files: Record<string, string>): string {
    try {
      createErrorResponder({ templates: templates(files) });
    } catch (error) {
      expect((error as { code?: string }).code).toBe('GATEWAY_ERRORS_INVALID_TEMPLATES');
      return (error as Error).message;
    }
    throw new Error('the templates compiled');
  }

  it.each<[string, string, string, number, string]>([
    [
      'a block never closed (EJS says "Unexpected token \'catch\'")',
      '503.ejs',
      '<h1><%= page.copy.heading %></h1>\n<p><%= page.copy.description %></p>\n<% if (page.retry.seconds !== undefined) { %>\n<p><%= page.retry.text %></p>\n<p>Thanks</p>\n',
      3,
      'the block opened on this line is never closed: add <% } %> where it ends.',
    ],
    [
      'the innermost of nested blocks never closed',
      '502.ejs',
      '<ul>\n<% for (const [name] of page.diagnostics ?? []) { %>\n<% if (name) { %>\n<li><%= name %></li>\n<% } %>\n</ul>\n',
      2,
      'the block opened on this line is never closed',
    ],
    [
      'a tag with no %> (EJS says "Could not find matching close tag")',
      'layout.ejs',
      '<!doctype html>\n<title><%= page.copy.title </title>\n<%- content %>\n',
      2,
      'the tag <%= on this line is never closed: end it with %>.',
    ],
    [
      'a } that closes no block (EJS says "Missing catch or finally after try")',
      'partials/links.ejs',
      '<nav>\n<% if (page.site.homeUrl) { %>\n<a href="<%= page.site.homeUrl %>">Home</a>\n<% } } %>\n</nav>\n',
      4,
      'the } on this line closes no block: remove it, or open the block it ends.',
    ],
    [
      'invalid JavaScript in a tag',
      'error.ejs',
      "<% const open = '{', note = `}`; /* { */ %>\n<h1>Error</h1>\n<% if (page.status)) { %>\n<p>x</p>\n<% } %>\n",
      3,
      "Unexpected token ')'.",
    ],
  ])('%s: the file and the line, with the lines around it', (_what, name, text, line, problem) => {
    const message = compileError({ [name]: text });
    expect(message).toContain(`${name}:${line}: ${problem}`);
    const source = text.split('\n')[line - 1] as string;
    expect(message).toContain(` >> ${line}| ${source}\n`);
    expect(message).not.toMatch(/Unexpected token 'catch'|matching close tag|Missing catch/);
  });

  it('a template that fails to render, naming the file and the line', () => {
    const dir = templates({ '503.ejs': '<h1>Down</h1>\n<p><%= page.site.statusPageUrl.toUpperCase() %></p>' });
    expect(() => createErrorResponder({ templates: dir })).toThrow(
      /the 503 page fails to render \(language en, from .*503\.ejs in layout .*layout\.ejs\): .*503\.ejs:2: .*toUpperCase[\s\S]*guard optional values such as page\.site\.statusPageUrl/,
    );
    // Given the local, it renders.
    expect(() => createErrorResponder({ templates: dir, locals: { statusPageUrl: '/status' } })).not.toThrow();
  });

  it('an include of a template that does not exist', () => {
    const dir = templates({ '504.ejs': '<%- include("partials/missing") %>' });
    expect(() => createErrorResponder({ templates: dir })).toThrow(
      /504\.ejs:1: the template include "partials\/missing" names no template \(known: .*partials\/retry/,
    );
  });

  it('a template that only breaks with another language', () => {
    const dir = templates({
      'error.ejs': '<% if (page.lang === "ja") { throw new Error("no Japanese page yet") } %><h1>x</h1>',
    });
    expect(() => createErrorResponder({ templates: dir })).toThrow(/the error page fails to render \(language ja/);
  });
});

describe('a template that throws at request time', () => {
  it('gets the built-in page sent instead, and a warning once', async () => {
    const dir = templates({
      '502.ejs': '<% if (page.errorType === "dns_error") { throw new Error("no DNS page") } %><h1>Custom 502</h1>',
      'partials/links.ejs': '<p>custom links</p>',
    });
    const responder = createErrorResponder({ templates: dir });
    const warnings: string[] = [];
    const listener = (warning: Error) => warnings.push(warning.message);
    process.on('warning', listener);
    try {
      const req = { headers: { accept: browser } } as never;
      expect(responder.render(failureOf('connection_refused'), req).body).toContain('<h1>Custom 502</h1>');
      for (let i = 0; i < 3; i++) {
        const { status, body } = responder.render(failureOf('dns_error'), req);
        expect(status).toBe(502);
        expect(body).toContain('<h1>We could not reach the service behind this page</h1>');
        // Entirely built in: the user's partials are not used by the fallback either.
        expect(body).not.toContain('custom links');
      }
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      process.off('warning', listener);
    }
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(
      /the 502 page template in .* threw, so the built-in page was sent: .*502\.ejs:1: no DNS page/,
    );
  });
});
