import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import type { RequestListener } from 'node:http';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as core from '@gateway-errors/core';
import {
  BadGatewayError,
  classify,
  GatewayError,
  GatewayTimeoutError,
  isGatewayError,
  ServiceUnavailableError,
} from '@gateway-errors/core';
import { declaredFailure, errorOf, failureOf } from '@gateway-errors/core/unstable-internals';
// biome-ignore lint/style/noRestrictedImports: a test that real Express answers our errors; the core itself never imports it.
import express from 'express';
// biome-ignore lint/style/noRestrictedImports: a test that real Koa answers our errors; the core itself never imports it.
import Koa from 'koa';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { testServers } from '../../../test/support/servers.js';

describe('error classes', () => {
  const cause = Object.assign(new Error('connect ECONNREFUSED 10.0.0.9:443'), { code: 'ECONNREFUSED' });

  it.each([
    [BadGatewayError, 502, 'ERR_BAD_GATEWAY', 'Bad Gateway'],
    [ServiceUnavailableError, 503, 'ERR_SERVICE_UNAVAILABLE', 'Service Unavailable'],
    [GatewayTimeoutError, 504, 'ERR_GATEWAY_TIMEOUT', 'Gateway Timeout'],
  ] as const)('%o has the http-errors shape: %i, %s', (ErrorClass, status, code, text) => {
    const error = new ErrorClass({ cause });
    expect(error).toBeInstanceOf(Error);
    expect(error).toBeInstanceOf(GatewayError);
    expect(error.name).toBe(ErrorClass.name);
    expect(error.status).toBe(status);
    expect(error.statusCode).toBe(status);
    expect(error.code).toBe(code);
    expect(error.expose).toBe(false);
    expect(error.cause).toBe(cause);
    expect(error.message).toBe(text);
    // Every 502, 503 and 504 tells a default handler when to come back: the default hint, 5 seconds.
    expect(error.headers).toEqual({ 'Retry-After': '5' });
    expect(Object.isFrozen(error.headers)).toBe(true);
    expect(error.failure).toMatchObject({ status, type: undefined, retryAfter: undefined, cause });
    expect(isGatewayError(error)).toBe(true);
  });

  it('keeps a given retryAfter, rounded up, in the failure and in Retry-After', () => {
    const error = new ServiceUnavailableError({ retryAfter: 119.2 });
    expect(error.failure.retryAfter).toBe(120);
    expect(error.headers).toEqual({ 'Retry-After': '120' });
  });

  it('clamps Retry-After to the default policy: at least 1 second, at most a day', () => {
    expect(new ServiceUnavailableError({ retryAfter: 0 }).headers['Retry-After']).toBe('1');
    expect(new ServiceUnavailableError({ retryAfter: 10 * 86400 }).headers['Retry-After']).toBe('86400');
  });

  it('takes a known RFC 9209 type of its status, and names it in the message', () => {
    const error = new GatewayTimeoutError({ type: 'connection_timeout', message: undefined });
    expect(error.failure).toMatchObject({ type: 'connection_timeout', status: 504, phase: 'connect' });
    expect(error.message).toBe('Gateway Timeout (connection_timeout)');
    expect(new BadGatewayError({ message: 'db-1 refused' }).message).toBe('db-1 refused');
  });

  it.each([
    [() => new BadGatewayError({ type: 'connection_timeout' }), /belongs to status 504: throw a GatewayTimeoutError/],
    [() => new GatewayTimeoutError({ type: 'destination_unavailable' }), /belongs to status 503/],
    [() => new BadGatewayError({ type: 'connection_refusd' as never }), /"connection_refusd" is not an RFC 9209/],
    [() => new ServiceUnavailableError({ retryAfter: -1 }), /retryAfter must be a number of seconds, 0 or more/],
    [() => new ServiceUnavailableError({ retryAfter: Number.NaN }), /got NaN/],
    [() => new ServiceUnavailableError({ retryAfter: '120' as never }), /got 120/],
    [() => new ServiceUnavailableError(null as never), /takes an options object/],
  ])('refuses wrong options with a message that names the fix (%#)', (make, message) => {
    expect(make).toThrow(TypeError);
    expect(make).toThrow(message);
  });

  it('errorOf() picks the class of the status and keeps the failure as is', () => {
    for (const [status, ErrorClass] of [
      [502, BadGatewayError],
      [503, ServiceUnavailableError],
      [504, GatewayTimeoutError],
    ] as const) {
      const failure = declaredFailure(status, { retryAfter: 30 });
      const error = errorOf(failure);
      expect(error).toBeInstanceOf(ErrorClass);
      expect(error.name).toBe(ErrorClass.name);
      expect(error.failure).toBe(failure);
      expect(classify(error)).toBe(failure);
    }
    const refused = failureOf('connection_refused', { cause });
    expect(errorOf(refused)).toMatchObject({ name: 'BadGatewayError', code: 'ERR_BAD_GATEWAY', cause });
  });

  it("errorOf() of an upstream's own 500 is a plain GatewayError with the family code ERR_GATEWAY", () => {
    const error = errorOf(declaredFailure(500, { receivedStatus: 500 }));
    expect(error).toMatchObject({ name: 'GatewayError', status: 500, code: 'ERR_GATEWAY', expose: false });
    // Not a gateway status: no Retry-After unless the failure knows one.
    expect(error.headers).toEqual({});
    expect(errorOf(declaredFailure(500, { retryAfter: 60 })).headers).toEqual({ 'Retry-After': '60' });
  });

  it('is recognised by its brand, not by its look', () => {
    const lookalike = Object.assign(new Error('x'), { status: 502, statusCode: 502, expose: false, failure: {} });
    expect(isGatewayError(lookalike)).toBe(false);
    expect(isGatewayError(null)).toBe(false);
    expect(isGatewayError('BadGatewayError')).toBe(false);
    // Symbol.for: the same key in every copy of the package; on the prototype and not enumerable, so logs and
    // spreads do not carry it.
    const error = new BadGatewayError();
    expect((error as unknown as Record<symbol, unknown>)[Symbol.for('gateway-errors.error')]).toBe(true);
    expect(Object.getOwnPropertySymbols(error)).toEqual([]);
  });
});

describe('two copies of the package in one process', () => {
  it('a fresh module instance (vitest module isolation): no instanceof, but the brand holds', async () => {
    vi.resetModules();
    const other = (await import('@gateway-errors/core')) as typeof core;
    expect(other.ServiceUnavailableError).not.toBe(core.ServiceUnavailableError);
    const theirs = new other.ServiceUnavailableError({ retryAfter: 120 });
    expect(theirs).not.toBeInstanceOf(core.GatewayError);
    expect(core.isGatewayError(theirs)).toBe(true);
    expect(core.classify(theirs)).toMatchObject({ status: 503, retryAfter: 120 });
    expect(other.classify(new core.BadGatewayError({ type: 'connection_refused' }))).toMatchObject({
      status: 502,
      type: 'connection_refused',
    });
  });

  describe('the built package copied elsewhere, as a second node_modules copy would be', () => {
    const coreDir = fileURLToPath(new URL('..', import.meta.url));
    let copyDir = '';
    let copy: typeof core;

    beforeAll(async () => {
      if (!existsSync(join(coreDir, 'dist', 'index.js'))) {
        // The suite normally runs after `pnpm build`; build once if it did not.
        const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
        execFileSync(process.execPath, [tsc, '-b', coreDir], { stdio: 'inherit', timeout: 120_000 });
      }
      copyDir = mkdtempSync(join(tmpdir(), 'gateway-errors-copy-'));
      cpSync(join(coreDir, 'dist'), join(copyDir, 'dist'), { recursive: true });
      // What the published tarball holds ("files": dist, src, templates).
      for (const dir of ['src', 'templates']) cpSync(join(coreDir, dir), join(copyDir, dir), { recursive: true });
      writeFileSync(
        join(copyDir, 'package.json'),
        JSON.stringify({ name: '@gateway-errors/core', type: 'module', exports: './dist/index.js' }),
      );
      symlinkSync(join(coreDir, 'node_modules'), join(copyDir, 'node_modules'), 'dir');
      copy = (await import(pathToFileURL(join(copyDir, 'dist', 'index.js')).href)) as typeof core;
    }, 150_000);

    afterAll(() => {
      if (copyDir !== '') rmSync(copyDir, { recursive: true, force: true });
    });

    it('is another module: its classes are not ours', () => {
      expect(copy.GatewayError).not.toBe(core.GatewayError);
      expect(new copy.BadGatewayError()).not.toBeInstanceOf(core.GatewayError);
    });

    it("our isGatewayError() and classify() recognise the copy's errors, even wrapped", () => {
      const theirs = new copy.ServiceUnavailableError({ retryAfter: 120 });
      expect(core.isGatewayError(theirs)).toBe(true);
      expect(core.classify(theirs)).toMatchObject({ status: 503, retryAfter: 120 });
      const wrapped = new TypeError('fetch failed', { cause: new copy.GatewayTimeoutError({ type: 'dns_timeout' }) });
      expect(core.classify(wrapped)).toMatchObject({ status: 504, type: 'dns_timeout', phase: 'dns' });
    });

    it("the copy's isGatewayError() and classify() recognise ours", () => {
      const ours = new core.BadGatewayError({ type: 'tls_certificate_error', retryAfter: 30 });
      expect(copy.isGatewayError(ours)).toBe(true);
      expect(copy.classify(ours)).toMatchObject({ status: 502, type: 'tls_certificate_error', retryAfter: 30 });
    });
  });
});

describe('framework default handlers answer our errors correctly, with nothing of ours mounted', () => {
  const servers = testServers();
  const serve = (handler: RequestListener): Promise<string> => servers.serve(handler);
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it("Express's finalhandler: status, Retry-After, and no internal message", async () => {
    const app = express();
    app.set('env', 'production');
    app.get('/', () => {
      throw new ServiceUnavailableError({ retryAfter: 120, message: 'db-1.internal:5432 refused' });
    });
    // Express logs the error outside the test env, after answering; keep the output clean (restored in afterEach).
    const log = vi.spyOn(console, 'error').mockImplementation(() => {});
    const res = await fetch(await serve(app));
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('120');
    const body = await res.text();
    expect(body).toContain('Service Unavailable');
    expect(body).not.toContain('db-1.internal');
    await vi.waitFor(() => expect(log).toHaveBeenCalledOnce());
  });

  it("Koa's ctx.onerror: status, Retry-After, and the status text as the body (expose is false)", async () => {
    const app = new Koa();
    app.silent = true;
    app.use(() => {
      throw new GatewayTimeoutError({ type: 'http_response_timeout', message: 'api.internal took 30 s' });
    });
    const res = await fetch(await serve(app.callback()));
    expect(res.status).toBe(504);
    expect(res.headers.get('retry-after')).toBe('5');
    expect(await res.text()).toBe('Gateway Timeout');
  });
});
