import type { Command } from 'commander';
import { UsageError, action } from '../../cli/run.js';
import type { AppContext } from '../../platform/context.js';
import { IrisError } from '../../platform/http/errors.js';
import { SYSTEM_ACTOR } from './deps.js';
import { authFor } from './wiring.js';

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}

/** `15m`, `900s` or `900` (seconds) → seconds, at most 15 minutes. */
export function parseTtl(value: string): number {
  const match = /^(\d+)\s*(s|m)?$/.exec(value.trim());
  if (!match) throw new UsageError(`--ttl must be a duration such as 15m or 300s (got "${value}")`);
  const seconds = Number(match[1]) * (match[2] === 'm' ? 60 : 1);
  if (seconds < 1 || seconds > 900) throw new UsageError('--ttl must be between 1s and 15m');
  return seconds;
}

/** Operator mistakes (duplicate email, weak password, unknown role) are one line, exit code 2. */
function asUsage(error: unknown): never {
  if (error instanceof IrisError && error.statusCode < 500) {
    const details = error.details.map((d) => d.message).join('; ');
    throw new UsageError(details ? `${error.message}: ${details}` : error.message);
  }
  throw error;
}

function collect(value: string, previous: string[]): string[] {
  return [
    ...previous,
    ...value
      .split(',')
      .map((v) => v.trim())
      .filter((v) => v.length > 0),
  ];
}

export function registerAuthCommands(program: Command, load: () => Promise<AppContext>): void {
  const user = program.command('user').description('manage accounts');
  user
    .command('create')
    .description('create an account; without --password-stdin a password is generated and printed once')
    .requiredOption('--email <email>', 'sign-in email (unique, case-insensitive)')
    .requiredOption('--role <role>', 'role name (repeat or comma-separate for several)', collect, [])
    .option('--name <name>', 'display name')
    .option('--organization <id>', 'home organization id (patient scope of clinical roles)')
    .option('--patient <id>', 'linked Patient id (patient role)')
    .option('--password-stdin', 'read the password from standard input')
    .action(
      action(
        async (options: {
          email: string;
          role: string[];
          name?: string;
          organization?: string;
          patient?: string;
          passwordStdin?: boolean;
        }) => {
          const password = options.passwordStdin ? await readStdin() : undefined;
          if (options.passwordStdin && !password) throw new UsageError('no password on standard input');
          const { admin } = authFor(await load());
          const created = await admin
            .createUser(
              {
                email: options.email,
                name: options.name,
                roles: options.role,
                password,
                organizationId: options.organization ?? null,
                patientId: options.patient ?? null,
              },
              SYSTEM_ACTOR,
            )
            .catch(asUsage);
          process.stdout.write(
            `created ${created.user.email} (${created.user.id}) with roles ${created.user.roles.join(', ')}\n`,
          );
          if (created.password) {
            process.stdout.write(
              `one-time password (shown only now; must be changed at first sign-in): ${created.password}\n`,
            );
          }
        },
      ),
    );

  program
    .command('token')
    .description('print an access token for an existing account, signed with the local keyring (audited)')
    .requiredOption('--email <email>', 'the account')
    .option('--ttl <duration>', 'lifetime, at most 15m', '15m')
    .action(
      action(async (options: { email: string; ttl: string }) => {
        const ttl = parseTtl(options.ttl);
        const { admin } = authFor(await load());
        const issued = await admin.operatorToken(options.email, ttl).catch(asUsage);
        process.stdout.write(`${issued.token}\n`);
      }),
    );
}
