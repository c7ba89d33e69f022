/**
 * What every scenario file needs: upstreams and apps closed after each test, one assertion of a whole generated
 * error response (status, every required header, the body in its format), and a raw-socket client for the cases
 * where only the bytes on the wire tell the truth (a truncated response, a connection never written to again).
 */
import { STATUS_CODES } from 'node:http';
import { connect } from 'node:net';
import type { FailureType, ProxyOptions } from '@gateway-errors/core';
import type { Upstream } from '@gateway-errors/testing';
import type { Response } from 'supertest';
import { afterEach, expect } from 'vitest';
import type { Adapter, AppSpec, RunningApp } from './adapters.js';

/** What browsers send. */
export const htmlAccept = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';
/** What API clients send. */
export const jsonAccept = 'application/json';

export const uuid: RegExp = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

interface Closable {
  close(): Promise<void>;
}

/** Starts upstreams and apps for one adapter, and closes them (apps first) after each test. */
export function harness(adapter: Adapter): {
  upstream<T extends Upstream>(make: () => Promise<T>): Promise<T>;
  app(spec: AppSpec): Promise<RunningApp>;
  gateway(
    make: () => Promise<Upstream>,
    proxy?: Partial<ProxyOptions>,
    spec?: Omit<AppSpec, 'proxy'>,
  ): Promise<RunningApp & { upstream: Upstream }>;
} {
  const open: Closable[] = [];
  afterEach(async () => {
    for (const item of open.splice(0).reverse()) await item.close();
  });
  const h = {
    async upstream<T extends Upstream>(make: () => Promise<T>): Promise<T> {
      const started = await make();
      open.push(started);
      return started;
    },
    async app(spec: AppSpec): Promise<RunningApp> {
      const started = await adapter.start(spec);
      open.push(started);
      return started;
    },
    async gateway(make: () => Promise<Upstream>, proxy: Partial<ProxyOptions> = {}, spec: Omit<AppSpec, 'proxy'> = {}) {
      const upstream = await h.upstream(make);
      const app = await h.app({ ...spec, proxy: { target: upstream.url, ...proxy } });
      return Object.assign(app, { upstream });
    },
  };
  return h;
}

/** What a generated error response must be. */
export interface ExpectedError {
  status: number;
  /** The negotiated format. */
  format: 'html' | 'problem' | 'text';
  /** The RFC 9209 error type in Proxy-Status and problem+json, if one is known. */
  type?: FailureType;
  /** The upstream status in Proxy-Status `received-status`, when an upstream's 5xx was intercepted. */
  receivedStatus?: number;
  /**
   * Retry-After seconds, or `null` for none.
   * @default 5 (the hint)
   */
  retryAfter?: number | null;
  /** The exact request id, when the client sent one we reuse. */
  requestId?: string;
  /**
   * This gateway's name in Proxy-Status.
   * @default 'gateway-errors'
   */
  proxyName?: string;
  /** Strings that must not appear anywhere in the response (upstream ports, internal messages). */
  secrets?: string[];
  /**
   * The page's title after the status.
   * @default the status phrase ('Bad Gateway', ...)
   */
  title?: string;
}

/** Asserts a whole generated error response: status, every required header, and the body in its format. */
export function expectError(res: Response, expected: ExpectedError): void {
  const { status, format, type, receivedStatus } = expected;
  const retryAfter = expected.retryAfter === undefined ? 5 : expected.retryAfter;
  const phrase = STATUS_CODES[status] ?? 'Error';
  const head = res.request.method === 'HEAD';
  const headers = res.headers as Record<string, string | undefined>;

  expect(res.status).toBe(status);
  const mediaType = { html: 'text/html', problem: 'application/problem+json', text: 'text/plain' }[format];
  expect(headers['content-type']).toBe(`${mediaType}; charset=utf-8`);
  expect(headers['cache-control']).toBe('no-store');
  expect(headers.vary?.split(/\s*,\s*/)).toEqual(expect.arrayContaining(['Accept', 'Accept-Language']));
  expect(headers['x-robots-tag']).toBe('noindex');
  expect(headers['content-language']).toBe(format === 'problem' ? undefined : 'en');
  expect(headers['retry-after']).toBe(retryAfter === null ? undefined : String(retryAfter));
  expect(headers.etag).toBeUndefined();
  expect(headers.location).toBeUndefined();
  const requestId = headers['x-request-id'];
  if (expected.requestId === undefined) expect(requestId).toMatch(uuid);
  else expect(requestId).toBe(expected.requestId);
  const proxyName = expected.proxyName ?? 'gateway-errors';
  if (type !== undefined) expect(headers['proxy-status']).toBe(`${proxyName}; error=${type}`);
  else if (receivedStatus !== undefined) {
    expect(headers['proxy-status']).toBe(`${proxyName}; received-status=${receivedStatus}`);
  } else expect(headers['proxy-status']).toBeUndefined();
  const length = Number(headers['content-length']);

  if (head) {
    expect(res.text ?? '').toBe('');
    expect(length).toBeGreaterThan(0);
    return;
  }
  const body = res.text;
  expect(length).toBe(Buffer.byteLength(body));
  for (const secret of ['127.0.0.1', 'ECONN', 'Error:', ...(expected.secrets ?? [])]) {
    expect(body).not.toContain(secret);
  }
  if (format === 'html') {
    expect(body).toMatch(/^<!doctype html>\n<html lang="en"[ >]/);
    // The site name, when there is one, follows the title: "502 Bad Gateway · Acme".
    const title = `<title>${status} ${expected.title ?? phrase}`;
    expect([`${title}</title>`, `${title} · `].some((start) => body.includes(start))).toBe(true);
    expect(body).toContain('<meta name="robots" content="noindex, nofollow">');
    expect(body).toContain(requestId);
    if (retryAfter !== null) expect(body).toContain(retryText(retryAfter));
  } else if (format === 'problem') {
    expect(JSON.parse(body)).toEqual({
      type: 'about:blank',
      title: phrase,
      status,
      detail: expect.any(String),
      ...(type === undefined ? {} : { errorType: type }),
      ...(retryAfter === null ? {} : { retryAfter }),
      requestId,
    });
  } else {
    expect(body.startsWith(`${status} ${phrase}\n\n`)).toBe(true);
    expect(body).toContain(`Reference: ${requestId}\n`);
    if (retryAfter !== null) expect(body).toContain(retryText(retryAfter));
  }
}

function retryText(seconds: number): string {
  return seconds < 90 ? `Please try again in ${seconds} seconds.` : 'Please try again in';
}

/** What a raw client saw. */
export interface Exchange {
  /** Every byte received, as latin1. */
  bytes: string;
  /** How the connection ended: closed (FIN), reset, or still open when we stopped waiting. */
  ending: 'fin' | 'reset' | 'open';
}

/**
 * Sends one raw request over TCP and records every byte that comes back and how the connection ends. Used where a
 * client library would hide the truth: a truncated body, a connection that must not be written to again.
 */
export function rawRequest(port: number, path: string, waitMs = 5000, method = 'GET'): Promise<Exchange> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const socket = connect(port, '127.0.0.1');
    const done = (ending: Exchange['ending']) => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ bytes: Buffer.concat(chunks).toString('latin1'), ending });
    };
    const timer = setTimeout(() => done('open'), waitMs);
    socket.on('connect', () => socket.write(`${method} ${path} HTTP/1.1\r\nHost: gateway\r\nAccept: */*\r\n\r\n`));
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('end', () => done('fin'));
    socket.on('error', () => done('reset'));
  });
}
