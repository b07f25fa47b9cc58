import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { acquireLock, readLock, DataDirLockedError } from './data-dir-lock.js';
import { PgliteDatabase } from './pglite.js';

export class BackupError extends Error {
  override readonly name = 'BackupError';
}

const PG_DIR = 'pg';

async function withDataDir<T>(dataDir: string, fn: () => Promise<T>): Promise<T> {
  const holder = await readLock(dataDir);
  if (holder) throw new DataDirLockedError(holder);
  const release = await acquireLock(dataDir, '');
  try {
    return await fn();
  } finally {
    await release();
  }
}

async function isEmptyDir(dir: string): Promise<boolean> {
  try {
    return (await readdir(dir)).length === 0;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return true;
    throw error;
  }
}

/** Writes a consistent copy of the embedded database (gzip tar) to `file`; returns its size. */
export async function backupEmbedded(dataDir: string, file: string): Promise<number> {
  return withDataDir(dataDir, async () => {
    if (await isEmptyDir(join(dataDir, PG_DIR)))
      throw new BackupError(`there is no database in ${dataDir} to back up`);
    const db = await PgliteDatabase.open(join(dataDir, PG_DIR));
    try {
      const blob = await db.dump();
      const bytes = Buffer.from(await blob.arrayBuffer());
      // The database holds (encrypted) PHI: the backup is as private as the data dir.
      await writeFile(file, bytes, { mode: 0o600 });
      return bytes.length;
    } finally {
      await db.close();
    }
  });
}

/**
 * Loads a backup into the data dir. An existing database is kept aside (renamed) only with
 * `force`; otherwise the restore refuses to overwrite it.
 */
export async function restoreEmbedded(
  dataDir: string,
  file: string,
  force: boolean,
): Promise<{ keptAside?: string }> {
  const bytes = await readFile(file);
  return withDataDir(dataDir, async () => {
    const target = join(dataDir, PG_DIR);
    let keptAside: string | undefined;
    if (!(await isEmptyDir(target))) {
      if (!force)
        throw new BackupError(`${target} already holds a database; pass --force to set it aside and restore`);
      keptAside = `${target}.before-restore-${new Date().toISOString().replace(/[:.]/g, '-')}`;
      await rename(target, keptAside);
    }
    await mkdir(target, { recursive: true, mode: 0o700 });
    let db: PgliteDatabase;
    try {
      db = await PgliteDatabase.open(target, new Blob([bytes]));
    } catch (error) {
      // Leave the data dir as it was: no half-restored database, the previous one back in place.
      await rm(target, { recursive: true, force: true });
      if (keptAside) await rename(keptAside, target);
      throw new BackupError(`${file} is not a usable IRIS backup: ${(error as Error).message}`);
    }
    try {
      await db.query('SELECT 1');
    } finally {
      await db.close();
    }
    return keptAside ? { keptAside } : {};
  });
}
