import type { Command } from 'commander';
import { resolve } from 'node:path';
import { loadConfig } from '../config.js';
import { backupEmbedded, restoreEmbedded } from '../platform/db/backup.js';
import { action, UsageError } from './run.js';

const SERVER_HINT =
  'DATABASE_URL is set: back up a PostgreSQL server with pg_dump --format=custom and restore with pg_restore (see README)';

export function registerBackupCommands(program: Command): void {
  program
    .command('backup')
    .argument('<file>', 'where to write the backup (gzip tar of the embedded database)')
    .description('back up the embedded database (stop the server first); the keyring is backed up separately')
    .action(
      action(async (file: string) => {
        const config = loadConfig();
        if (config.database.url) throw new UsageError(SERVER_HINT);
        const size = await backupEmbedded(config.dataDir, resolve(file));
        process.stdout.write(
          `wrote ${resolve(file)} (${size} bytes)\n` +
            `the records are encrypted with the keyring in ${config.keysDir}: keep a copy of it, apart from this file\n`,
        );
      }),
    );

  program
    .command('restore')
    .argument('<file>', 'a file written by "iris backup"')
    .option('--force', 'set an existing database aside (renamed, not deleted) and restore over it')
    .description('restore the embedded database from a backup (stop the server first)')
    .action(
      action(async (file: string, options: { force?: boolean }) => {
        const config = loadConfig();
        if (config.database.url) throw new UsageError(SERVER_HINT);
        const result = await restoreEmbedded(config.dataDir, resolve(file), options.force ?? false);
        if (result.keptAside)
          process.stdout.write(`the previous database was moved to ${result.keptAside}\n`);
        process.stdout.write(`restored ${resolve(file)} into ${config.dataDir}\n`);
      }),
    );
}
