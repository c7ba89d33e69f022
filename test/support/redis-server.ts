/**
 * A real Redis for the tests that share state between gateway instances: Debian's `redis-server`, started per test
 * file on a free loopback port, with no persistence, and stopped by its pid. `pnpm test` installs it when missing
 * (scripts/ensure-tools.mjs, as root); outside CI the tests that need it are skipped with a message, in CI they fail.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { quietPort } from './servers.js';

export const redisServerPath = process.env.REDIS_SERVER_PATH ?? '/usr/bin/redis-server';
export const available = existsSync(redisServerPath);
export const inCI = Boolean(process.env.CI);
/** Whether the Redis tests run here: redis-server is installed, or this is CI, where its absence must fail them. */
export const runs = available || inCI;

if (!available && !inCI) {
  console.warn(
    `\n  Redis tests skipped: no redis-server at ${redisServerPath}. Install it (Debian/Ubuntu: sudo apt-get install -y ` +
      'redis-server), or set REDIS_SERVER_PATH. `pnpm test` installs it when run as root; in CI a missing one fails.\n',
  );
}

/** One redis-server process on 127.0.0.1, which a test can kill, pause and start again on the same port. */
export interface RedisServer {
  /** `redis://127.0.0.1:<port>` */
  readonly url: string;
  readonly port: number;
  /** The pid of the running server, or undefined while it is stopped. */
  readonly pid: number | undefined;
  /** Kills the server (SIGKILL, as a crash) and resolves once it exited. */
  kill(): Promise<void>;
  /** Starts it again on the same port, empty, and resolves once it accepts connections. */
  restart(): Promise<void>;
  /** SIGSTOP: the server holds its connections and answers nothing (a Redis that hangs). */
  pause(): void;
  /** SIGCONT after {@link pause}. */
  resume(): void;
  /** Stops it for good; safe to call twice. */
  stop(): Promise<void>;
}

/** Spawns redis-server and resolves once it logged that it accepts connections; rejects if it exits first. */
function spawnRedis(port: number, dir: string): Promise<ChildProcess> {
  if (!available) {
    throw new Error(
      `No redis-server at ${redisServerPath}: the Redis tests are required in CI. Install it with apt-get install -y redis-server (scripts/ensure-tools.mjs does, as root).`,
    );
  }
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir];
  const child = spawn(redisServerPath, [...args, '--logfile', '', '--loglevel', 'notice'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new Promise((resolve, reject) => {
    let output = '';
    const onData = (chunk: Buffer) => {
      output += chunk.toString('utf8');
      if (output.includes('Ready to accept connections')) {
        child.stdout?.off('data', onData);
        child.off('exit', onExit);
        child.stdout?.resume();
        resolve(child);
      }
    };
    const onExit = (code: number | null) => reject(new Error(`redis-server exited with ${code}:\n${output}`));
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8');
    });
    child.once('exit', onExit);
  });
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** Starts a redis-server on a free loopback port. Stop it in `afterAll`. */
export async function startRedis(): Promise<RedisServer> {
  const dir = mkdtempSync(join(tmpdir(), 'gateway-errors-redis-'));
  let port = 0;
  let child: ChildProcess | undefined;
  // Another test file may pick the same free port between our look and redis-server's bind: try another.
  for (let attempt = 0; child === undefined; attempt++) {
    port = await quietPort();
    try {
      child = await spawnRedis(port, dir);
    } catch (error) {
      if (attempt >= 3) throw error;
    }
  }
  let current: ChildProcess | undefined = child;
  const kill = async () => {
    const running = current;
    current = undefined;
    if (running?.pid === undefined) return;
    process.kill(running.pid, 'SIGKILL');
    await exited(running);
  };
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    get pid() {
      return current?.pid;
    },
    kill,
    async restart() {
      await kill();
      current = await spawnRedis(port, dir);
    },
    pause() {
      if (current?.pid !== undefined) process.kill(current.pid, 'SIGSTOP');
    },
    resume() {
      if (current?.pid !== undefined) process.kill(current.pid, 'SIGCONT');
    },
    async stop() {
      const running = current;
      if (running?.pid !== undefined) process.kill(running.pid, 'SIGCONT');
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
