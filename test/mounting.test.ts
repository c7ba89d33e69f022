import { createHash } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { echoUpstream, httpUpstream, refusingUpstream } from '@gateway-errors/testing';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { adapters } from './adapters.js';
import { expectError, harness, jsonAccept } from './harness.js';

// Where the proxy sits in the app, and how the upstream's answer travels through it.
describe.each(adapters)('$name: mounting and streaming', (adapter) => {
  const h = harness(adapter);
  const mountName = adapter.framework === 'express' ? "app.use('/api', ...)" : "koa-mount('/api', ...)";
  const routeName = adapter.framework === 'express' ? "app.all('/api/*', ...)" : "@koa/router all('/api/{*rest}')";

  it(`${mountName} strips the mount path and forwards the rest, query and body included`, async () => {
    const { url } = await h.gateway(echoUpstream, {}, { mount: 'mount' });
    const res = await request(url).post('/api/v1/items?sort=asc').set('Content-Type', 'text/plain').send('hello');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ method: 'POST', url: '/v1/items?sort=asc', body: 'hello' });
    expect(res.body.headers['content-type']).toBe('text/plain');
  });

  it(`${routeName} forwards the full path`, async () => {
    const { url } = await h.gateway(echoUpstream, {}, { mount: 'route' });
    const res = await request(url).get('/api/v1/items?sort=asc');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ method: 'GET', url: '/api/v1/items?sort=asc' });
  });

  it(`${routeName}: a failure is answered like any other`, async () => {
    const { url } = await h.gateway(refusingUpstream, {}, { mount: 'route' });
    const res = await request(url).get('/api/v1/items').set('Accept', jsonAccept);
    expectError(res, { status: 502, format: 'problem', type: 'connection_refused' });
  });

  it('prefixes the target path', async () => {
    const upstream = await h.upstream(echoUpstream);
    const { url } = await h.app({ proxy: { target: `${upstream.url}/base` } });
    const res = await request(url).get('/api/x');
    expect(res.status).toBe(200);
    expect(res.body.url).toBe('/base/x');
  });

  it('streams a slow body through as it comes, without buffering it', async () => {
    // The upstream sends its second chunk only once the client has received the first: a gateway that buffered
    // the body would never let the first chunk through, and the client would see the fallback text instead.
    let firstReceived: () => void = () => {};
    const clientHasFirst = new Promise<void>((resolve) => {
      firstReceived = resolve;
    });
    const upstream = await h.upstream(() =>
      httpUpstream((req, res) => {
        req.resume();
        res.writeHead(200, { 'Content-Type': 'text/plain' });
        res.write('first|');
        const fallback = setTimeout(() => res.end('buffered!'), 3000);
        clientHasFirst.then(() => {
          clearTimeout(fallback);
          res.end('second');
        });
      }),
    );
    const { port } = await h.app({ proxy: { target: upstream.url } });
    const chunks: string[] = [];
    const status = await new Promise<number | undefined>((resolve, reject) => {
      httpRequest({ host: '127.0.0.1', port, path: '/api/stream' }, (res) => {
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          chunks.push(chunk);
          if (chunks.join('') === 'first|') firstReceived();
        });
        res.on('end', () => resolve(res.statusCode));
      })
        .on('error', reject)
        .end();
    });
    expect(status).toBe(200);
    expect(chunks.join('')).toBe('first|second');
  });

  it('streams a large body through byte for byte', async () => {
    const chunk = Buffer.alloc(64 * 1024, 'gateway-errors ');
    const count = 128; // 8 MiB
    const expected = createHash('sha256');
    for (let i = 0; i < count; i++) expected.update(chunk);
    const upstream = await h.upstream(() =>
      httpUpstream(async (req, res) => {
        req.resume();
        res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': chunk.length * count });
        for (let i = 0; i < count; i++) {
          if (!res.write(chunk)) await new Promise((resolve) => res.once('drain', resolve));
        }
        res.end();
      }),
    );
    const { port } = await h.app({ proxy: { target: upstream.url } });
    const { status, length, digest } = await new Promise<{ status?: number; length: number; digest: string }>(
      (resolve, reject) => {
        httpRequest({ host: '127.0.0.1', port, path: '/api/big' }, (res) => {
          const hash = createHash('sha256');
          let length = 0;
          res.on('data', (data: Buffer) => {
            length += data.length;
            hash.update(data);
          });
          res.on('end', () => resolve({ status: res.statusCode, length, digest: hash.digest('hex') }));
        })
          .on('error', reject)
          .end();
      },
    );
    expect(status).toBe(200);
    expect(length).toBe(chunk.length * count);
    expect(digest).toBe(expected.digest('hex'));
  });
});
