import { Agent, request } from 'node:http';
import { type KeepAliveRaceUpstream, keepAliveRaceUpstream } from '@gateway-errors/testing';
import { afterEach, describe, expect, it } from 'vitest';

let upstream: KeepAliveRaceUpstream | undefined;
let agent: Agent | undefined;
afterEach(async () => {
  agent?.destroy();
  await upstream?.close();
  upstream = undefined;
});

interface Seen {
  status?: number;
  body?: string;
  connection?: string;
  keepAlive?: string;
  error?: string;
  message?: string;
  reused: boolean;
}

/** One request through a keep-alive agent, as a pooling client (a gateway) sends it. */
function send(url: string, via: Agent, method = 'GET', body?: string): Promise<Seen> {
  return new Promise((resolve) => {
    const req = request(url, { method, agent: via });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        resolve({
          status: res.statusCode,
          body: Buffer.concat(chunks).toString(),
          connection: res.headers['x-connection'] as string,
          keepAlive: res.headers['keep-alive'] as string,
          reused: req.reusedSocket,
        }),
      );
    });
    req.on('error', (error: NodeJS.ErrnoException) =>
      resolve({ error: error.code, message: error.message, reused: req.reusedSocket }),
    );
    req.end(body);
  });
}

describe('keepAliveRaceUpstream', () => {
  it.each([
    ['fin', 'socket hang up'],
    ['reset', 'read ECONNRESET'],
  ] as const)(
    'answers the first request of a connection, then closes it (%s) once the next head arrived',
    async (close, message) => {
      upstream = await keepAliveRaceUpstream({ close });
      agent = new Agent({ keepAlive: true });
      expect(await send(`${upstream.url}/a`, agent)).toEqual({
        status: 200,
        body: 'ok\n',
        connection: '1',
        keepAlive: 'timeout=5',
        reused: false,
      });
      // The pooled connection is reused, its request head read, and nothing answered.
      expect(await send(`${upstream.url}/b`, agent, 'POST', 'x=1')).toEqual({
        error: 'ECONNRESET',
        message,
        reused: true,
      });
      expect(upstream.closed).toBe(1);
      // A new connection is answered again.
      expect(await send(`${upstream.url}/c`, agent)).toMatchObject({ status: 200, connection: '2', reused: false });
      expect(upstream.requests).toBe(3);
      expect(upstream.connections).toBe(2);
    },
  );

  it('answers `answers` requests of each connection before closing it at the next', async () => {
    upstream = await keepAliveRaceUpstream({ answers: 2, body: 'two\n' });
    agent = new Agent({ keepAlive: true });
    expect(await send(upstream.url, agent)).toMatchObject({ status: 200, body: 'two\n', connection: '1' });
    expect(await send(upstream.url, agent)).toMatchObject({ status: 200, connection: '1', reused: true });
    expect(await send(upstream.url, agent)).toMatchObject({ error: 'ECONNRESET', reused: true });
    expect([upstream.requests, upstream.connections, upstream.closed]).toEqual([3, 1, 1]);
  });
});
