import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import pg from 'pg';
import { PgliteDatabase } from '../../src/platform/db/pglite.js';
import { PostgresDatabase } from '../../src/platform/db/postgres.js';
import type { DatabaseHandle } from '../../src/platform/db/open.js';

/**
 * A freshly initialised, empty PGlite cluster as a data-dir dump. Starting PGlite from nothing
 * runs initdb (several CPU seconds); loading this dump gives the same empty cluster in a fraction
 * of that. Kept per process and, for the other test processes, in the temp dir (keyed by the
 * PGlite version, whose PostgreSQL the dump belongs to).
 */
let emptyCluster: Promise<Blob | undefined> | undefined;

function snapshotFile(): string {
  const entry = createRequire(import.meta.url).resolve('@electric-sql/pglite');
  let dir = dirname(entry);
  while (!dir.endsWith('pglite') && dirname(dir) !== dir) dir = dirname(dir);
  const { version } = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version: string };
  return join(tmpdir(), 'iris-test-pglite', `empty-cluster-${version}.tar.gz`);
}

async function readSnapshot(file: string): Promise<Blob | undefined> {
  try {
    return new Blob([await readFile(file)]);
  } catch {
    return undefined;
  }
}

/** Saved under a unique name and renamed, so concurrent test processes never read half a file. */
async function saveSnapshot(file: string, dump: Blob): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  const partial = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`;
  await writeFile(partial, Buffer.from(await dump.arrayBuffer()));
  await rename(partial, file);
}

async function openEmbedded(): Promise<PgliteDatabase> {
  const file = snapshotFile();
  emptyCluster ??= readSnapshot(file);
  const snapshot = await emptyCluster;
  if (snapshot) {
    try {
      return await PgliteDatabase.open(undefined, snapshot);
    } catch {
      // An unreadable snapshot is replaced below by a new one.
    }
  }
  const db = await PgliteDatabase.open();
  const dump = await db.dump();
  emptyCluster = Promise.resolve(dump);
  await saveSnapshot(file, dump);
  return db;
}

/**
 * An isolated database for one test file: in-memory PGlite offline, or a fresh schema on the
 * PostgreSQL server named by DATABASE_URL (the integration suite), dropped on close.
 */
export async function testDatabase(): Promise<DatabaseHandle> {
  const url = process.env.DATABASE_URL;
  if (!url) {
    const db = await openEmbedded();
    return { db, mode: 'embedded', close: () => db.close() };
  }
  const schema = `test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  await admin.end();
  const db = new PostgresDatabase({ connectionString: url, max: 8, schema });
  return {
    db,
    mode: 'server',
    async close() {
      await db.close();
      const cleanup = new pg.Client({ connectionString: url });
      await cleanup.connect();
      await cleanup.query(`DROP SCHEMA ${schema} CASCADE`);
      await cleanup.end();
    },
  };
}
