import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { openDatabase, type DatabaseHandle } from '../../../src/platform/db/open.js';

describe('sharing the embedded database over its socket', () => {
  let dataDir: string;
  let server: DatabaseHandle;
  let cli: DatabaseHandle;

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'iris-share-'));
    server = await openDatabase({ dataDir, poolMax: 1 }, { share: true });
    cli = await openDatabase({ dataDir, poolMax: 1 }, { share: false });
    await server.db.exec('CREATE TABLE shared_probe (id int PRIMARY KEY, who text NOT NULL)');
  });
  after(async () => {
    await cli.close();
    await server.close();
  });

  test('a command opened while the server holds the data dir goes through the socket', () => {
    assert.equal(server.mode, 'embedded');
    assert.equal(cli.mode, 'embedded-shared');
  });

  test('a second holder of the data dir is refused', async () => {
    await assert.rejects(
      openDatabase({ dataDir, poolMax: 1 }, { share: true }),
      /data directory is in use by process/,
    );
  });

  test("the server's statements never run inside a socket client's open transaction", async () => {
    let serverWrote = false;
    const clientTx = cli.db.transaction(async (tx) => {
      await tx.query(`INSERT INTO shared_probe VALUES (1, 'client')`);
      // While the client's transaction is open, the server issues its own write.
      const serverWrite = server.db.query(`INSERT INTO shared_probe VALUES (2, 'server')`).then(() => {
        serverWrote = true;
      });
      await new Promise((r) => setTimeout(r, 150));
      assert.equal(serverWrote, false, 'the server write waits for the client transaction');
      await tx.query(`INSERT INTO shared_probe VALUES (3, 'client')`);
      throw Object.assign(new Error('client rolls back'), { serverWrite });
    });
    const error = (await clientTx.catch((e: unknown) => e)) as Error & { serverWrite: Promise<void> };
    assert.equal(error.message, 'client rolls back');
    await error.serverWrite;
    const { rows } = await server.db.query<{ id: number; who: string }>(
      'SELECT id, who FROM shared_probe ORDER BY id',
    );
    // The client's rollback removed only its own rows; the server's write survived.
    assert.deepEqual(rows, [{ id: 2, who: 'server' }]);
  });

  test('a client that leaves while the server is busy does not keep the database from everybody', async () => {
    const client = new pg.Client({ host: dataDir, port: 5432, user: 'postgres', database: 'postgres' });
    await client.connect();
    // The server holds the session, so the client's goodbye (Terminate) waits at the gate and
    // its socket closes before that message runs.
    const busy = server.db.transaction(async (tx) => {
      await tx.query('SELECT 1');
      await new Promise((resolve) => setTimeout(resolve, 300));
    });
    await client.end();
    await busy;
    const { rows } = await Promise.race([
      server.db.query<{ v: number }>('SELECT 7 AS v'),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('the server hangs')), 3000)),
    ]);
    assert.equal(rows[0]?.v, 7);
    const again = await cli.db.query<{ v: number }>('SELECT 8 AS v');
    assert.equal(again.rows[0]?.v, 8);
  });

  test("settings a socket client changes in the shared session are set again for the server's next statement", async () => {
    const kind = "SELECT current_setting('iris.scope_kind', true) AS v";
    const settings = { 'iris.scope_kind': 'organizations' };
    const read = async () => (await server.db.query<{ v: string }>(kind, [], { settings })).rows[0]?.v;
    assert.equal(await read(), 'organizations');
    await cli.db.query("SELECT set_config('iris.scope_kind', 'none', false)");
    assert.equal(await read(), 'organizations');
  });

  test('parameterised queries from both sides interleave correctly under load', async () => {
    await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        (i % 2 === 0 ? server : cli).db.query('INSERT INTO shared_probe VALUES ($1, $2)', [
          100 + i,
          i % 2 === 0 ? 'server' : 'client',
        ]),
      ),
    );
    const { rows } = await cli.db.query<{ who: string; n: number }>(
      'SELECT who, count(*)::int8 AS n FROM shared_probe WHERE id >= 100 GROUP BY who ORDER BY who',
    );
    assert.deepEqual(rows, [
      { who: 'client', n: 20 },
      { who: 'server', n: 20 },
    ]);
  });

  test('successive commands may run the same named statement through the shared session', async () => {
    // Each `iris` command is a new socket client of the one PGlite session; a statement name
    // prepared by an earlier command must not collide with the next one's.
    for (const who of ['first', 'second']) {
      const command = await openDatabase({ dataDir, poolMax: 1 }, { share: false });
      try {
        await command.db.query(
          'INSERT INTO shared_probe VALUES ($1, $2)',
          [who === 'first' ? 200 : 201, who],
          {
            name: 'shared_probe_insert',
          },
        );
        await command.db.transaction((tx) =>
          tx.query('SELECT count(*) FROM shared_probe', [], { name: 'shared_probe_count' }),
        );
      } finally {
        await command.close();
      }
    }
    const { rows } = await server.db.query<{ who: string }>(
      'SELECT who FROM shared_probe WHERE id >= 200 ORDER BY id',
    );
    assert.deepEqual(
      rows.map((r) => r.who),
      ['first', 'second'],
    );
  });
  test('a command reads through binary COPY over the socket (audit verification does)', async () => {
    await server.db.exec('CREATE TABLE copy_probe AS SELECT g::int4 AS n FROM generate_series(1, 500) g');
    let bytes = 0;
    for await (const chunk of cli.db.copyBinary('SELECT n FROM copy_probe')) bytes += chunk.length;
    // Header 19 bytes, per row a field count (2) and one int4 (4 + 4), trailer 2.
    assert.equal(bytes, 19 + 500 * 10 + 2);
    // The session is usable by both sides afterwards.
    const { rows } = await cli.db.query<{ n: number }>('SELECT count(*)::int AS n FROM copy_probe');
    assert.equal(rows[0]!.n, 500);
    await server.db.query('SELECT 1');
  });
});
