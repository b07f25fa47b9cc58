import { mkdir, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Logger } from 'pino';
import { acquireLock, readLock } from './data-dir-lock.js';
import { PgliteDatabase } from './pglite.js';
import { PgliteMaintenance } from './pglite-maintenance.js';
import { PgliteShareServer } from './pglite-share.js';
import { PostgresDatabase } from './postgres.js';
import type { Database } from './types.js';

export interface DatabaseSettings {
  url?: string;
  poolMax: number;
  dataDir: string;
}

export interface OpenDatabaseOptions {
  /** The long-running server: holds the data dir and shares it with local commands. */
  share: boolean;
  applicationName?: string;
  /** Where the embedded database's checkpoints and vacuums are logged. */
  logger?: Logger;
}

export interface DatabaseHandle {
  db: Database;
  /** How the database was reached, for logs and `iris` output. */
  mode: 'server' | 'embedded' | 'embedded-shared';
  close(): Promise<void>;
}

// Unix socket paths are limited to 107 bytes; longer data dirs share through a private temp dir.
const MAX_SOCKET_PATH = 100;
const SOCKET_NAME = '.s.PGSQL.5432';

async function socketPathFor(dataDir: string): Promise<string> {
  const inDataDir = join(dataDir, SOCKET_NAME);
  if (Buffer.byteLength(inDataDir) <= MAX_SOCKET_PATH) return inDataDir;
  return join(await mkdtemp(join(tmpdir(), 'iris-')), SOCKET_NAME);
}

/**
 * Opens the system of record: a PostgreSQL server when DATABASE_URL is set, otherwise the
 * embedded PGlite in the data dir. Two processes never open one data dir: the server holds a
 * lock and shares the database over a Unix socket, which local commands use while it runs.
 */
export async function openDatabase(
  settings: DatabaseSettings,
  options: OpenDatabaseOptions,
): Promise<DatabaseHandle> {
  if (settings.url) {
    const db = new PostgresDatabase({
      connectionString: settings.url,
      max: settings.poolMax,
      applicationName: options.applicationName,
    });
    return { db, mode: 'server', close: () => db.close() };
  }

  const holder = await readLock(settings.dataDir);
  if (holder && !options.share) {
    const db = new PostgresDatabase({
      socketDir: dirname(holder.socket),
      max: 1,
      applicationName: options.applicationName,
      namedStatements: false,
    });
    return { db, mode: 'embedded-shared', close: () => db.close() };
  }

  const socket = await socketPathFor(settings.dataDir);
  const release = await acquireLock(settings.dataDir, socket);
  let db: PgliteDatabase;
  try {
    // The database files hold (encrypted) PHI: private to the service account.
    await mkdir(join(settings.dataDir, 'pg'), { recursive: true, mode: 0o700 });
    db = await PgliteDatabase.open(join(settings.dataDir, 'pg'));
  } catch (error) {
    await release();
    throw error;
  }
  const share = options.share ? new PgliteShareServer(db, socket) : null;
  try {
    await share?.start();
  } catch (error) {
    await db.close();
    await release();
    throw error;
  }
  const maintenance = new PgliteMaintenance(db, options.logger);
  maintenance.start();
  return {
    db,
    mode: 'embedded',
    async close() {
      await maintenance.stop();
      await share?.stop();
      await db.close();
      await release();
    },
  };
}
