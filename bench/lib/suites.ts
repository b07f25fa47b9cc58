import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { measureHttp } from './http.js';
import { freePort, spawnServer, type ServerHandle } from './server.js';
import type { Row, Suite } from './suite.js';

export const OPERATIONS = {
  bare: 'bare fastify GET /hello',
  live: 'GET /health/live',
  ready: 'GET /health/ready (DB round-trip)',
} as const;

const READY_LINE = /serving at (http:\/\/\S+)/;
const START_TIMEOUT_MS = 60_000;

/** The baseline: a Fastify hello-world in its own process, stopped before IRIS starts. */
export function bareFastifySuite(root: string): Suite {
  return {
    name: 'bare fastify',
    async run(ctx) {
      const server = await spawnServer({
        name: 'bare fastify',
        args: ['--import', 'tsx', join(root, 'bench', 'bare-fastify.ts')],
        cwd: root,
        env: { PATH: process.env.PATH, PORT: '0' },
        logFile: join(ctx.tmpDir, 'bare-fastify.log'),
        ready: READY_LINE,
        startTimeoutMs: START_TIMEOUT_MS,
      });
      try {
        return [await measureHttp(OPERATIONS.bare, server, '/hello', ctx.settings)];
      } finally {
        await server.stop();
      }
    },
  };
}

export const platformSuite: Suite = {
  name: 'platform',
  async run(ctx) {
    const iris = await ctx.iris();
    return [
      await measureHttp(OPERATIONS.live, iris, '/health/live', ctx.settings),
      await measureHttp(OPERATIONS.ready, iris, '/health/ready', ctx.settings),
    ];
  },
};

/** Node's flags in `npm start` and in the image (NODE_OPTIONS in the Dockerfile). */
export const DEPLOYED_NODE_ARGS = ['--max-old-space-size=384', '--max-semi-space-size=32'];

/**
 * The IRIS server from dist/ as deployed (or `script`, the node arguments that start it another
 * way): default (info) logging, written to a file rather than dropped.
 */
export async function startIris(
  root: string,
  tmpDir: string,
  name = 'iris',
  extraEnv: NodeJS.ProcessEnv = {},
  script: string[] = [join(root, 'dist', 'main.js')],
): Promise<ServerHandle> {
  const env: NodeJS.ProcessEnv = {
    ...extraEnv,
    PATH: process.env.PATH,
    NODE_ENV: 'development',
    HOST: '127.0.0.1',
    PORT: String(await freePort()),
    IRIS_DATA_DIR: join(tmpDir, `${name}-data`),
    // The default 600/min per IP would turn the run into a 429 benchmark.
    RATE_LIMIT_MAX: '100000000',
  };
  for (const name of ['DATABASE_URL', 'REDIS_URL', 'DATABASE_POOL_MAX']) {
    if (process.env[name]) env[name] = process.env[name];
  }
  return spawnServer({
    name: 'iris',
    // The heap ceiling `npm start` and the image give the server; BENCH_SERVER_NODE_ARGS adds
    // to it (a later --max-old-space-size wins), e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof".
    args: [
      ...DEPLOYED_NODE_ARGS,
      ...(process.env.BENCH_SERVER_NODE_ARGS?.split(' ').filter(Boolean) ?? []),
      ...script,
    ],
    cwd: root,
    env,
    logFile: join(tmpDir, `${name}.log`),
    ready: READY_LINE,
    startTimeoutMs: START_TIMEOUT_MS,
  });
}

/** `iris worker` from dist/ on the environment of a running server (its database and keys). */
export function startWorker(root: string, tmpDir: string, env: NodeJS.ProcessEnv): Promise<ServerHandle> {
  return spawnServer({
    name: 'iris worker',
    args: [...DEPLOYED_NODE_ARGS, join(root, 'dist', 'iris.js'), 'worker'],
    cwd: root,
    env,
    logFile: join(tmpDir, 'iris-worker.log'),
    // The handle's url is the worker's id: a worker serves no HTTP.
    ready: /iris worker (\S+) running/,
    startTimeoutMs: START_TIMEOUT_MS,
  });
}

/**
 * A module's own bench, measured in this process: `bench/<file>` exporting `<exportName>()`
 * that resolves to table rows.
 */
export function moduleSuite(root: string, name: string, file: string, exportName: string): Suite {
  const path = join(root, 'bench', file);
  return {
    name,
    async run() {
      const loaded = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
      const bench = loaded[exportName];
      if (typeof bench !== 'function') throw new Error(`${path} does not export ${exportName}()`);
      return (await bench()) as Row[];
    },
  };
}
