import { createErrorResponder } from '@gateway-errors/core';
import { failureOf, localeNegotiator, negotiateFormat } from '@gateway-errors/core/unstable-internals';
import axios from 'axios';
import got from 'got';
import nodeFetch from 'node-fetch';
import { request as undiciRequest } from 'undici';
import { describe, expect, it } from 'vitest';
import { testServers } from '../../../test/support/servers.js';

// node-fetch 2 is installed under an alias that has no type declarations; it is called as fetch() is.
const nodeFetch2 = (await import('node-fetch2' as string)).default as typeof fetch;

const chrome =
  'text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7';
const firefox = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';
const safari = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';
const oldFirefox = 'text/html,application/xhtml+xml,application/xml;q=0.9,image/webp,*/*;q=0.8';

describe('negotiateFormat', () => {
  it.each([
    ['Chrome / Edge navigation', chrome, 'html'],
    ['Firefox navigation', firefox, 'html'],
    ['Safari navigation', safari, 'html'],
    ['older Firefox navigation', oldFirefox, 'html'],
    ['curl, wget, fetch(), undici, node-fetch (*/*)', '*/*', 'text'],
    ['axios', 'application/json, text/plain, */*', 'problem'],
    ['jQuery getJSON', 'application/json, text/javascript, */*; q=0.01', 'problem'],
    ['JSON only', 'application/json', 'problem'],
    ['problem+json', 'application/problem+json', 'problem'],
    ['any application type', 'application/*', 'problem'],
    ['plain text', 'text/plain', 'text'],
    ['any text type', 'text/*', 'text'],
    ['HTML preferred over JSON by q', 'application/json;q=0.5, text/html', 'html'],
    ['JSON preferred over HTML by q', 'text/html;q=0.5, application/json', 'problem'],
    ['equal q: the client’s order decides', 'application/json, text/html', 'problem'],
    ['XHTML alone', 'application/xhtml+xml', 'html'],
    ['nothing we offer: text, never 406', 'image/png', 'text'],
    ['everything refused: text, never 406', '*/*;q=0', 'text'],
    ['HTML refused', 'text/html;q=0', 'text'],
    ['no Accept', undefined, 'text'],
    ['empty Accept', '', 'text'],
    ['garbage', ';;,,=q==;', 'text'],
  ])('%s', (_name, accept, format) => {
    expect(negotiateFormat(accept)).toBe(format);
    // The second answer comes from the memo and must agree.
    expect(negotiateFormat(accept)).toBe(format);
  });

  it('stays right past the memo’s bound', () => {
    for (let i = 0; i < 600; i++)
      expect(negotiateFormat(`application/json;q=0.${(i % 9) + 1}, x/${i}`)).toBe('problem');
    expect(negotiateFormat(chrome)).toBe('html');
  });
});

describe('localeNegotiator', () => {
  const languages = ['en', 'es', 'fr', 'de', 'pt', 'ja', 'zh'];
  const pick = localeNegotiator(languages, 'en');

  it.each([
    ['fr-CA', 'fr'],
    ['fr-CA,fr;q=0.9,en;q=0.8', 'fr'],
    ['zh-TW', 'zh'],
    ['zh-Hant-TW,zh;q=0.9', 'zh'],
    ['zh-CN,zh;q=0.9,en;q=0.8', 'zh'],
    ['pt-BR,pt;q=0.9,en-US;q=0.8,en;q=0.7', 'pt'],
    ['de;q=0.5, fr;q=0.8', 'fr'],
    ['en;q=0.1, ja;q=0.9', 'ja'],
    ['es-419', 'es'],
    ['FR', 'fr'],
    ['en-US,en;q=0.9', 'en'],
    ['nl-NL, nl;q=0.9', 'en'],
    ['xx', 'en'],
    ['*', 'en'],
    ['', 'en'],
    [undefined, 'en'],
    ['garbage;;q=', 'en'],
  ])('%s -> %s', (header, locale) => {
    expect(pick(header)).toBe(locale);
    expect(pick(header)).toBe(locale);
  });

  it('falls back to the default language given, and prefers an exact regional match when one is offered', () => {
    expect(localeNegotiator(languages, 'de')('nl')).toBe('de');
    const withTaiwan = localeNegotiator([...languages, 'zh-TW'], 'en');
    expect(withTaiwan('zh-TW,zh;q=0.9')).toBe('zh-TW');
    expect(withTaiwan('zh-CN')).toBe('zh');
  });
});

describe('real clients get the right format', () => {
  const servers = testServers();

  async function start(): Promise<string> {
    const responder = createErrorResponder();
    return `${await servers.serve((req, res) => responder.send(failureOf('connection_refused'), req, res))}/`;
  }

  it.each([
    ['fetch()', (url: string) => fetch(url).then((r) => r.headers.get('content-type')), 'text/plain'],
    [
      'undici.request',
      async (url: string) => {
        const { body, headers } = await undiciRequest(url);
        await body.dump();
        return headers['content-type'];
      },
      'text/plain',
    ],
    ['node-fetch 3', (url: string) => nodeFetch(url).then((r) => r.headers.get('content-type')), 'text/plain'],
    ['node-fetch 2', (url: string) => nodeFetch2(url).then((r) => r.headers.get('content-type')), 'text/plain'],
    [
      'axios',
      (url: string) => axios.get(url, { validateStatus: () => true }).then((r) => String(r.headers['content-type'])),
      'application/problem+json',
    ],
    [
      'got (JSON)',
      (url: string) =>
        got(url, { throwHttpErrors: false, retry: { limit: 0 }, responseType: 'json' }).then(
          (r) => r.headers['content-type'],
        ),
      'application/problem+json',
    ],
    [
      'got (default)',
      (url: string) => got(url, { throwHttpErrors: false, retry: { limit: 0 } }).then((r) => r.headers['content-type']),
      'text/plain',
    ],
    [
      'a browser',
      (url: string) => fetch(url, { headers: { accept: chrome } }).then((r) => r.headers.get('content-type')),
      'text/html',
    ],
  ])('%s', async (_name, call, type) => {
    const url = await start();
    expect(await call(url)).toBe(`${type}; charset=utf-8`);
  });
});
