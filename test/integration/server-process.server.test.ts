import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { freePort, runEntry, spawnEntry, waitFor, type Spawned } from '../helpers/process.js';

// Integration only: the real server process on DATABASE_URL and REDIS_URL.
describe('server process on PostgreSQL and Redis', () => {
  let server: Spawned | undefined;
  after(() => {
    server?.child.kill('SIGKILL');
  });

  test('migrates, serves, reports both backends ready and stops on SIGTERM', async () => {
    assert.ok(
      process.env.DATABASE_URL && process.env.REDIS_URL,
      'this suite needs DATABASE_URL and REDIS_URL',
    );
    const port = await freePort();
    const env = {
      IRIS_DATA_DIR: await mkdtemp(join(tmpdir(), 'iris-int-')),
      PORT: String(port),
      LOG_LEVEL: 'warn',
      DATABASE_URL: process.env.DATABASE_URL,
      REDIS_URL: process.env.REDIS_URL,
    };
    const migrate = await runEntry('src/iris.ts', ['migrate'], env);
    assert.equal(migrate.code, 0, migrate.stderr);
    server = spawnEntry('src/main.ts', [], env);
    await waitFor(
      () => server!.stdout().includes('serving at') || server!.child.exitCode !== null,
      60_000,
      'the server',
    );
    const res = await fetch(`http://127.0.0.1:${port}/health/ready`);
    const body = (await res.json()) as { checks: Record<string, { status: string; detail?: string }> };
    assert.equal(res.status, 200, JSON.stringify(body));
    assert.equal(body.checks.database?.detail, 'postgres');
    assert.equal(body.checks.redis?.status, 'up');
    server.child.kill('SIGTERM');
    assert.equal(await server.exited, 0, server.stderr());
  });
});
