import assert from 'node:assert/strict';
import { mkdtemp, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { freePort, runEntry, spawnEntry, waitFor, type Spawned } from '../helpers/process.js';

// A new user's path: start on embedded defaults, use the CLI beside the server, stop, restart.
describe('server process on embedded defaults', () => {
  let dataDir: string;
  let port: number;
  let env: Record<string, string>;

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'iris-e2e-'));
    port = await freePort();
    env = { IRIS_DATA_DIR: dataDir, PORT: String(port), LOG_LEVEL: 'warn' };
  });

  async function start(): Promise<Spawned> {
    const server = spawnEntry('src/main.ts', [], env);
    await waitFor(
      () => server.stdout().includes('serving at') || server.child.exitCode !== null,
      60_000,
      'the server',
    );
    assert.equal(server.child.exitCode, null, server.stderr());
    return server;
  }

  async function stop(server: Spawned): Promise<void> {
    const t0 = Date.now();
    server.child.kill('SIGTERM');
    assert.equal(await server.exited, 0, server.stderr());
    assert.ok(Date.now() - t0 < 10_000, 'stopped within 10 s');
  }

  let server: Spawned;
  after(() => {
    server?.child.kill('SIGKILL');
  });

  test('starts, prints its URLs and is ready', async () => {
    server = await start();
    assert.match(server.stdout(), new RegExp(`serving at http://127\\.0\\.0\\.1:${port}`));
    assert.match(server.stdout(), new RegExp(`http://127\\.0\\.0\\.1:${port}/docs`));
    const ready = await fetch(`http://127.0.0.1:${port}/health/ready`);
    assert.equal(ready.status, 200);
    const body = (await ready.json()) as { checks: Record<string, { status: string }> };
    assert.deepEqual(Object.keys(body.checks).sort(), ['audit', 'database', 'disk', 'events', 'storage']);
    // First development start: one administrator, its one-time password printed once.
    assert.match(server.stdout(), /First administrator created: admin@iris\.local/);
    assert.match(
      server.stdout(),
      /One-time password \(shown only now; change it at first sign-in\): \S{12,}/,
    );
    const keys = await readdir(join(dataDir, 'keys'));
    assert.deepEqual(keys.sort(), ['audit-signing', 'blind-index', 'data-encryption', 'token-signing']);
  });

  test('local commands share the running server database through its socket', async () => {
    const socketDir = dataDir;
    const client = new pg.Client({ host: socketDir, port: 5432, user: 'postgres', database: 'postgres' });
    await client.connect();
    await client.query('CREATE TABLE e2e_probe (id int PRIMARY KEY, note text)');
    await client.query("INSERT INTO e2e_probe VALUES (1, 'kept across restarts')");
    await client.end();
    const status = await runEntry('src/iris.ts', ['migrate'], env);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /database is up to date/);
  });

  test('a second server on the same data dir is refused', async () => {
    const other = await runEntry('src/main.ts', [], { ...env, PORT: String(await freePort()) });
    assert.equal(other.code, 1);
    assert.match(other.stderr, /data directory is in use by process \d+/);
  });

  test('backup refuses while the server holds the data dir', async () => {
    const result = await runEntry('src/iris.ts', ['backup', join(dataDir, '..', 'x.tgz')], env);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /in use by process/);
  });

  test('SIGTERM stops it cleanly and a restart reuses the data', async () => {
    await stop(server);
    server = await start();
    assert.doesNotMatch(server.stdout(), /First administrator created/, 'no second administrator');
    const client = new pg.Client({ host: dataDir, port: 5432, user: 'postgres', database: 'postgres' });
    await client.connect();
    const { rows } = await client.query('SELECT note FROM e2e_probe WHERE id = 1');
    await client.end();
    assert.equal(rows[0].note, 'kept across restarts');
    await stop(server);
  });

  test('a bad PORT exits 2 with one line naming it', async () => {
    const result = await runEntry('src/main.ts', [], { ...env, PORT: 'http' });
    assert.equal(result.code, 2);
    assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
    assert.equal(result.stderr.trim(), 'iris: PORT must be a whole number from 1 to 65535 (got "http")');
  });
});
