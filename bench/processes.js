// What bench/run.js and bench/ab.js share: starting contenders as child processes, asking them over IPC, a port
// where nothing listens, the median, and a Redis for the store-backed contenders.
import { fork, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';

/** Starts a child process and waits for its first IPC message (its port). */
export function start(file, args = [], execArgv = []) {
  const child = fork(file, args, { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    child.once('message', (message) => resolve({ child, port: message.port }));
    child.once('exit', (code) => reject(new Error(`${file} ${args.join(' ')} exited with ${code}`)));
  });
}

/** Sends `question` to a contender and resolves with its answer. */
export function ask(child, question) {
  return new Promise((resolve) => {
    child.once('message', resolve);
    child.send(question);
  });
}

/** A port where nothing listens: the "upstream down" of the error path. */
export async function refusedPort() {
  const server = createServer().listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
};

/**
 * Starts Debian's redis-server on a free loopback port (no persistence) for the store-backed contenders, and resolves
 * with its URL and a stop(); `undefined` when there is none (REDIS_SERVER_PATH, default /usr/bin/redis-server).
 */
export async function startRedis() {
  const path = process.env.REDIS_SERVER_PATH ?? '/usr/bin/redis-server';
  if (!existsSync(path)) return undefined;
  const port = await refusedPort();
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--logfile', ''];
  const child = spawn(path, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise((resolve, reject) => {
    let output = '';
    child.stdout.on('data', (chunk) => {
      output += chunk;
      if (output.includes('Ready to accept connections')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`redis-server exited with ${code}`)));
  });
  child.stdout.resume();
  return { url: `redis://127.0.0.1:${port}`, stop: () => child.kill('SIGKILL') };
}
