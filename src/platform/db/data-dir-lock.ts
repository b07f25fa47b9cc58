import { mkdir, open, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';

export interface LockInfo {
  pid: number;
  /** Unix socket on which the holder shares the embedded database. */
  socket: string;
  startedAt: string;
}

const LOCK_FILE = 'iris.lock';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Who holds the data dir, or null when nobody (a lock left by a dead process does not count). */
export async function readLock(dataDir: string): Promise<LockInfo | null> {
  try {
    const info = JSON.parse(await readFile(join(dataDir, LOCK_FILE), 'utf8')) as LockInfo;
    return alive(info.pid) ? info : null;
  } catch {
    return null;
  }
}

export class DataDirLockedError extends Error {
  constructor(readonly holder: LockInfo) {
    super(`the data directory is in use by process ${holder.pid} (since ${holder.startedAt})`);
  }
}

/**
 * Takes the data dir for this process: one process opens an embedded database at a time.
 * Returns a release function. A stale lock (its process is gone) is replaced.
 */
export async function acquireLock(dataDir: string, socket: string): Promise<() => Promise<void>> {
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const path = join(dataDir, LOCK_FILE);
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const handle = await open(path, 'wx', 0o600);
      const info: LockInfo = { pid: process.pid, socket, startedAt: new Date().toISOString() };
      await handle.writeFile(JSON.stringify(info));
      await handle.close();
      return async () => {
        await rm(path, { force: true });
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const holder = await readLock(dataDir);
      if (holder) throw new DataDirLockedError(holder);
      await rm(path, { force: true });
    }
  }
  throw new Error(`could not take the lock ${path}`);
}
