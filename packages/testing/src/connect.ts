import { connect, type Socket } from 'node:net';
import { Worker } from 'node:worker_threads';
import type { Upstream } from './upstream.js';

/**
 * A port where a TCP connect hangs: the SYN is never answered, so a client's connect timeout is what ends it. The
 * only reliable way on loopback (a non-routable address is answered or refused at once on most machines, sandboxes
 * included): a listener with a backlog of 1 in a worker thread whose event loop is blocked, so it never accepts;
 * two connections fill its accept queue, and from then on the kernel drops every SYN (Linux retries it for minutes).
 * `requests` is always 0. `close()` wakes and ends the worker.
 */
export async function unacceptingUpstream(): Promise<Upstream> {
  const wake = new Int32Array(new SharedArrayBuffer(4));
  const worker = new Worker(
    `const { parentPort, workerData } = require('node:worker_threads');
    const server = require('node:net').createServer();
    server.listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => {
      parentPort.postMessage(server.address().port);
      // Block this thread's event loop: nothing is accepted until close() wakes it (60 s at most).
      setImmediate(() => Atomics.wait(workerData, 0, 0, 60000));
    });`,
    { eval: true, workerData: wake },
  );
  worker.unref();
  const port = await new Promise<number>((resolve) => worker.once('message', resolve));
  // Let the worker reach Atomics.wait before the queue is filled.
  await new Promise((resolve) => setTimeout(resolve, 50));
  const fillers: Socket[] = [];
  for (let i = 0; i < 2; i++) {
    const socket = connect(port, '127.0.0.1');
    socket.on('error', () => {});
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    fillers.push(socket);
  }
  let closing: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests: 0,
    close() {
      closing ??= (async () => {
        for (const socket of fillers) socket.destroy();
        Atomics.store(wake, 0, 1);
        Atomics.notify(wake, 0);
        await worker.terminate();
      })();
      return closing;
    },
  };
}
