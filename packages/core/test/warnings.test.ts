import { readFileSync } from 'node:fs';
import { createErrorResponder, gatewayWarning } from '@gateway-errors/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

const docs = 'https://github.com/gateway-errors/gateway-errors/blob/main/docs/warnings.md';

const warnings: { code: string | undefined; message: string }[] = [];
const onWarning = (warning: Error & { code?: string }) =>
  warnings.push({ code: warning.code, message: warning.message });
beforeEach(() => {
  warnings.length = 0;
  process.on('warning', onWarning);
});
afterEach(() => {
  process.off('warning', onWarning);
});

/** The warnings emitted so far: Node emits them on the next tick. */
async function emitted(): Promise<{ code: string | undefined; message: string }[]> {
  await new Promise((resolve) => setImmediate(resolve));
  return warnings;
}

describe('gatewayWarning()', () => {
  it('emits a process warning with its code, and a link to its section of docs/warnings.md', async () => {
    gatewayWarning('GATEWAY_ERRORS_MOUNTING', 'mount it after your routes.', { per: {} });
    expect(await emitted()).toEqual([
      {
        code: 'GATEWAY_ERRORS_MOUNTING',
        message: `gateway-errors: mount it after your routes. See ${docs}#gateway_errors_mounting`,
      },
    ]);
  });

  it('once per reason and thing: again for another thing or another reason, never for the same', async () => {
    const one = {};
    const other = {};
    for (let i = 0; i < 3; i++) {
      gatewayWarning('GATEWAY_ERRORS_RENDER', 'a.', { per: one, reason: 'throw' });
      gatewayWarning('GATEWAY_ERRORS_RENDER', 'b.', { per: one, reason: 'shape' });
      gatewayWarning('GATEWAY_ERRORS_RENDER', 'c.', { per: other, reason: 'throw' });
    }
    expect((await emitted()).map((warning) => warning.message.split(' ')[1])).toEqual(['a.', 'b.', 'c.']);
  });

  it('makes a message given as a function only when it emits it', async () => {
    const per = {};
    let made = 0;
    const message = () => {
      made++;
      return 'made';
    };
    for (let i = 0; i < 3; i++) gatewayWarning('GATEWAY_ERRORS_MOUNTING', message, { per });
    expect(made).toBe(1);
    expect(await emitted()).toHaveLength(1);
  });

  it('puts the link on a line of its own after a message of several lines', async () => {
    gatewayWarning('GATEWAY_ERRORS_TEMPLATE', 'threw:\n >> 1| <%= x %>', { per: {} });
    expect((await emitted())[0]?.message).toBe(
      `gateway-errors: threw:\n >> 1| <%= x %>\nSee ${docs}#gateway_errors_template`,
    );
  });

  it('every code has its section in docs/warnings.md, and every section a code', () => {
    const source = readFileSync(new URL('../src/config/warning.ts', import.meta.url), 'utf8');
    const start = source.indexOf('export type WarningCode');
    const codes = [...source.slice(start, source.indexOf(';', start)).matchAll(/'(GATEWAY_ERRORS_[A-Z_]+)'/g)].map(
      (match) => match[1],
    );
    const page = readFileSync(new URL('../../../docs/warnings.md', import.meta.url), 'utf8');
    const sections = [...page.matchAll(/^## (GATEWAY_ERRORS_[A-Z_]+)$/gm)].map((match) => match[1]);
    expect(codes.length).toBeGreaterThan(3);
    expect(sections).toEqual(codes);
  });
});

describe('locals that look like a misspelt page value', () => {
  it.each([
    ['sitename', 'siteName'],
    ['site_name', 'siteName'],
    ['SiteName', 'siteName'],
    ['siteNmae', 'siteName'],
    ['homeURL', 'homeUrl'],
    ['logoUri', 'logoUrl'],
    ['status_page_url', 'statusPageUrl'],
    ['contactURL', 'contactUrl'],
  ])('%s: one warning naming %s', async (key, known) => {
    const options = { locals: { [key]: 'x' } };
    createErrorResponder(options);
    createErrorResponder(options);
    const found = (await emitted()).filter((warning) => warning.code === 'GATEWAY_ERRORS_LOCALS');
    // Once per process and key: the same options make the same mistake in every responder built from them.
    expect(found).toHaveLength(1);
    expect(found[0]?.message).toBe(
      `gateway-errors: locals.${key} looks like a misspelt ${known}: the built-in pages show locals.${known} and ` +
        `ignore ${key} (templates see it as page.locals.${key}). Rename it to ${known}, as locals: { ${known}: "x" }. ` +
        `See ${docs}#gateway_errors_locals`,
    );
  });

  it('keys far from every known one are the templates’ own values: no warning', async () => {
    createErrorResponder({
      locals: {
        siteName: 'Acme',
        homeUrl: '/',
        supportHours: 'Mon–Fri',
        site: 'acme',
        logo: 'x',
        contact: 'ops',
        statusUrl: '/status',
        brand: 'Acme',
        siteTitle: 'Acme Inc',
      },
    });
    expect(await emitted()).toEqual([]);
  });
});

describe('a warning never fails what it is about', () => {
  it('a message that throws, or a `per` that is no object (an adapter in JavaScript): nothing thrown, nothing emitted', async () => {
    expect(() =>
      gatewayWarning('GATEWAY_ERRORS_RENDER', () => {
        throw new Error('made of a hostile value');
      }),
    ).not.toThrow();
    expect(() => gatewayWarning('GATEWAY_ERRORS_RENDER', 'per a number', { per: 42 as never })).not.toThrow();
    expect(await emitted()).toEqual([]);
  });
});
