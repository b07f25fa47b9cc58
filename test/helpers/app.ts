import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/app.js';
import { loadConfig, type Config } from '../../src/config.js';
import { createLogger } from '../../src/platform/observability/logger.js';
import { openRuntime, type Runtime, type RuntimeOptions } from '../../src/runtime.js';
import { testDatabase } from './db.js';

export interface TestApp {
  app: FastifyInstance;
  runtime: Runtime;
  config: Config;
  /** Every log line the app wrote, parsed. */
  logs: Array<Record<string, unknown>>;
  close(): Promise<void>;
}

/** The full app on an isolated database and a temporary data dir, for `inject` tests. */
export async function testApp(
  env: Record<string, string> = {},
  extraRoutes?: (app: FastifyInstance) => void,
  options: Pick<RuntimeOptions, 'recordInto'> = {},
): Promise<TestApp> {
  const dataDir = await mkdtemp(join(tmpdir(), 'iris-test-'));
  const config = loadConfig({
    NODE_ENV: 'test',
    IRIS_DATA_DIR: dataDir,
    LOG_LEVEL: 'info',
    ...(process.env.REDIS_URL ? { REDIS_URL: process.env.REDIS_URL } : {}),
    ...env,
  });
  const logs: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n'))
        if (line) logs.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  const logger = createLogger(config.logLevel, sink);
  const runtime = await openRuntime(config, logger, {
    ...options,
    server: true,
    migrate: true,
    database: await testDatabase(),
  });
  const app = await buildApp(runtime);
  extraRoutes?.(app);
  await app.ready();
  // As the server does after listening: this process delivers events and runs jobs.
  await runtime.ctx.events.start('embedded');
  return {
    app,
    runtime,
    config,
    logs,
    async close() {
      await app.close();
      await runtime.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
