import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { Agent } from 'node:http';
import {
  type ConfigErrorCode,
  createErrorResponder,
  createMaintenance,
  createProxy,
  logTo,
  ServiceUnavailableError,
} from '@gateway-errors/core';
import { describe, expect, it } from 'vitest';

const docs = 'https://github.com/gateway-errors/gateway-errors/blob/main/docs/configuration-errors.md';
const target = 'http://127.0.0.1:1';
const logger = { warn() {}, info() {} };

/** What `make` throws. */
function thrown(make: () => unknown): Error & { code?: unknown } {
  try {
    make();
  } catch (error) {
    return error as Error & { code?: unknown };
  }
  throw new Error('nothing was thrown');
}

describe('configuration errors', () => {
  it.each<[string, () => unknown, ConfigErrorCode, ErrorConstructor]>([
    [
      'a misspelt proxy option',
      () => createProxy({ target, timeout: 5 } as never),
      'GATEWAY_ERRORS_UNKNOWN_OPTION',
      TypeError,
    ],
    [
      'a logTo() level for no event',
      () => logTo(new EventEmitter(), logger, { levels: { fail: 'warn' } as never }),
      'GATEWAY_ERRORS_UNKNOWN_OPTION',
      TypeError,
    ],
    [
      'a negative timeout',
      () => createProxy({ target, timeouts: { connect: -1 } }),
      'GATEWAY_ERRORS_INVALID_OPTION',
      TypeError,
    ],
    [
      'a flag that is not one',
      () => createMaintenance({ allow: { robotsTxt: 'no' as never } }),
      'GATEWAY_ERRORS_INVALID_OPTION',
      TypeError,
    ],
    [
      'options that are not an object',
      () => createErrorResponder(5 as never),
      'GATEWAY_ERRORS_INVALID_OPTION',
      TypeError,
    ],
    [
      'a cap below the base',
      () => createProxy({ target, retry: { backoff: { base: 100, cap: 10 } } }),
      'GATEWAY_ERRORS_CONFLICTING_OPTIONS',
      RangeError,
    ],
    [
      'agent and tls together',
      () => createProxy({ target, agent: new Agent(), tls: {} }),
      'GATEWAY_ERRORS_CONFLICTING_OPTIONS',
      TypeError,
    ],
    [
      'a target without a scheme',
      () => createProxy({ target: '127.0.0.1:4000' }),
      'GATEWAY_ERRORS_INVALID_TARGET',
      TypeError,
    ],
    [
      'a logo fetched from the site',
      () => createErrorResponder({ locals: { logoUrl: 'https://example.com/logo.png' } }),
      'GATEWAY_ERRORS_UNSAFE_LINK',
      TypeError,
    ],
    [
      'a misspelt message',
      () => createErrorResponder({ messages: { fr: { retryNo: 'x' } as never } }),
      'GATEWAY_ERRORS_INVALID_MESSAGES',
      TypeError,
    ],
    [
      'a missing templates directory',
      () => createErrorResponder({ templates: '/nonexistent/errors' }),
      'GATEWAY_ERRORS_INVALID_TEMPLATES',
      Error,
    ],
    [
      'an error class given a number',
      () => new ServiceUnavailableError(30 as never),
      'GATEWAY_ERRORS_INVALID_ERROR_OPTIONS',
      TypeError,
    ],
  ])('%s', (_what, make, code, Kind) => {
    const error = thrown(make);
    expect(error).toBeInstanceOf(Kind);
    expect(error.code).toBe(code);
    expect(error.message).toMatch(/^gateway-errors: /);
    expect(error.message.endsWith(` See ${docs}#${code.toLowerCase()}`)).toBe(true);
    // As Node shows its own ERR_* codes: in the stack's first line, while `name` stays the class's.
    expect(error.stack?.split('\n')[0]).toBe(`${Kind.name} [${code}]: ${error.message.split('\n')[0]}`);
    expect(error.name).toBe(Kind.name);
  });

  it.each<[unknown, string]>([
    ['localhost:4000', 'http://localhost:4000'],
    ['127.0.0.1:4000', 'http://127.0.0.1:4000'],
    ['api.internal:8080/v1', 'http://api.internal:8080/v1'],
    ['api.internal', 'http://api.internal'],
    ['//127.0.0.1:4000', 'http://127.0.0.1:4000'],
    ['http//localhost:4000', 'http://localhost:4000'],
    ['https//api.internal', 'https://api.internal'],
    ['[::1]:4000', 'http://[::1]:4000'],
    ['4000', 'http://127.0.0.1:4000'],
    [':4000', 'http://127.0.0.1:4000'],
    [4000, 'http://127.0.0.1:4000'],
  ])('a target without a scheme, %j, is told the URL it meant: %s', (given, meant) => {
    const error = thrown(() => createProxy({ target: given as never }));
    expect(error.code).toBe('GATEWAY_ERRORS_INVALID_TARGET');
    expect(error.message).toContain(`${JSON.stringify(given)} has no scheme. Did you mean "${meant}"?`);
    expect(error.message).not.toMatch(/got [a-z0-9.]+:(?: |$)/);
    // The URL it suggests is one the proxy takes.
    createProxy({ target: meant }).close();
  });

  it.each<[unknown, string]>([
    ['ftp://files.internal', 'each target must use http: or https:, got ftp: in ftp://files.internal'],
    ['mailto:ops@example.com', 'each target must use http: or https:, got mailto:'],
    ['99999', 'such as "http://127.0.0.1:4000", got "99999"'],
    ['not a url', 'such as "http://127.0.0.1:4000", got "not a url"'],
  ])('a target that is no host, %j, gets no made-up suggestion', (given, message) => {
    const error = thrown(() => createProxy({ target: given as never }));
    expect(error.code).toBe('GATEWAY_ERRORS_INVALID_TARGET');
    expect(error.message).toContain(message);
    expect(error.message).not.toContain('Did you mean');
  });

  it.each<[Record<string, unknown>, string]>([
    [
      { siteName: 'Acme' },
      `no option "siteName". siteName is a value for the pages: put it in locals, as gatewayErrors({ locals: { siteName: "Acme" } }).`,
    ],
    [{ statusPageUrl: 'https://status.acme.example' }, 'locals: { statusPageUrl: "https://status.acme.example" }'],
    [
      { sitename: 'Acme' },
      'no option "sitename". siteName is a value for the pages: put it in locals, as gatewayErrors({ locals: { siteName: "Acme" } }).',
    ],
    [
      { logoUrl: `data:image/svg+xml;base64,${'A'.repeat(200)}` },
      `locals: { logoUrl: 'data:image/svg+xml;base64,...' } }`,
    ],
  ])('a page value beside the options, %j, belongs in locals', (options, message) => {
    const error = thrown(() => createErrorResponder(options as never));
    expect(error.code).toBe('GATEWAY_ERRORS_UNKNOWN_OPTION');
    expect(error.message).toContain(message);
  });

  it('every code has its section in docs/configuration-errors.md, and every section a code', () => {
    const source = readFileSync(new URL('../src/config/config-error.ts', import.meta.url), 'utf8');
    const union = source.slice(
      source.indexOf('export type ConfigErrorCode'),
      source.indexOf(';', source.indexOf('export type ConfigErrorCode')),
    );
    const codes = [...union.matchAll(/'(GATEWAY_ERRORS_[A-Z_]+)'/g)].map((match) => match[1]);
    const page = readFileSync(new URL('../../../docs/configuration-errors.md', import.meta.url), 'utf8');
    const sections = [...page.matchAll(/^## (GATEWAY_ERRORS_[A-Z_]+)$/gm)].map((match) => match[1]);
    expect(codes.length).toBeGreaterThan(5);
    expect(sections).toEqual(codes);
  });
});
