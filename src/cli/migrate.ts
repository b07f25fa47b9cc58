import type { Command } from 'commander';
import { loadConfig } from '../config.js';
import { migrate, migrationStatus } from '../platform/db/migrations.js';
import { openDatabase } from '../platform/db/open.js';
import { allMigrations } from '../runtime.js';
import { action } from './run.js';

export function registerMigrateCommand(program: Command): void {
  program
    .command('migrate')
    .description('apply pending database migrations (forward only)')
    .option('--status', 'list migrations and whether each is applied, change nothing')
    .action(
      action(async (options: { status?: boolean }) => {
        const config = loadConfig();
        const handle = await openDatabase(
          { url: config.database.url, poolMax: 1, dataDir: config.dataDir },
          { share: false, applicationName: 'iris-migrate' },
        );
        try {
          if (options.status) {
            for (const m of await migrationStatus(handle.db, allMigrations())) {
              process.stdout.write(`${m.appliedAt ? 'applied' : 'pending'}  ${m.id}\n`);
            }
            return;
          }
          const applied = await migrate(handle.db, allMigrations());
          process.stdout.write(
            applied.length === 0
              ? 'database is up to date\n'
              : applied.map((id) => `applied  ${id}\n`).join(''),
          );
        } finally {
          await handle.close();
        }
      }),
    );
}
