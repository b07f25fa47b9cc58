import { Command } from 'commander';
import { registerBackupCommands } from './cli/backup.js';
import { registerEventCommands } from './platform/events/cli.js';
import { registerKeysCommand } from './cli/keys.js';
import { registerMigrateCommand } from './cli/migrate.js';
import { action } from './cli/run.js';
import { serve } from './cli/serve.js';
import { loadConfig } from './config.js';
import { modules } from './modules/index.js';
import { createLogger } from './platform/observability/logger.js';
import { openRuntime, type Runtime } from './runtime.js';
import { VERSION } from './version.js';

/** The `iris` command line: platform commands plus whatever each module adds. */
export function buildProgram(): Command {
  const program = new Command('iris')
    .description('IRIS Health: FHIR R4 immunization records platform')
    .version(VERSION, '-v, --version')
    .showHelpAfterError();

  program
    .command('serve')
    .description('run the API server')
    .action(action(() => serve()));
  program
    .command('version')
    .description('print the version')
    .action(() => {
      process.stdout.write(`iris ${VERSION} (node ${process.version})\n`);
    });
  registerMigrateCommand(program);
  registerKeysCommand(program);
  registerBackupCommands(program);

  let runtime: Runtime | undefined;
  const load = async () => {
    if (!runtime) {
      const config = loadConfig();
      runtime = await openRuntime(
        config,
        createLogger(config.logLevel === 'info' ? 'warn' : config.logLevel),
        {
          server: false,
          migrate: config.env !== 'production',
        },
      );
    }
    return runtime.ctx;
  };
  program.hook('postAction', async () => {
    await runtime?.close();
    runtime = undefined;
  });
  registerEventCommands(program, load);
  for (const module of modules) module.cli?.(program, load);
  return program;
}
