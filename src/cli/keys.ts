import type { Command } from 'commander';
import { loadConfig } from '../config.js';
import { KEY_PURPOSES, Keyring, type KeyPurpose } from '../platform/crypto/keyring.js';
import { action, UsageError } from './run.js';

function purposeOf(value: string): KeyPurpose {
  if (value in KEY_PURPOSES) return value as KeyPurpose;
  throw new UsageError(`unknown key purpose "${value}"; one of ${Object.keys(KEY_PURPOSES).join(', ')}`);
}

export function registerKeysCommand(program: Command): void {
  const keys = program
    .command('keys')
    .description('manage the keyring (signing, encryption and blind-index keys)');

  keys
    .command('init')
    .description('create a key for every purpose that has none (for preparing a production keyring)')
    .option('--dir <dir>', 'keyring directory (default: IRIS_KEYS_DIR or <data dir>/keys)')
    .action(
      action(async (options: { dir?: string }) => {
        const dir = options.dir ?? loadConfig().keysDir;
        const written = await Keyring.init(dir);
        process.stdout.write(
          written.length === 0
            ? `${dir} already holds a key for every purpose\n`
            : written.map((k) => `created ${k}\n`).join(''),
        );
      }),
    );

  keys
    .command('list')
    .description('list keys by purpose; the last of each purpose is the active one')
    .action(
      action(async () => {
        const config = loadConfig();
        const ring = await Keyring.open(config.keysDir, { create: false });
        for (const purpose of Object.keys(KEY_PURPOSES) as KeyPurpose[]) {
          const active = ring.active(purpose).kid;
          for (const key of ring.list(purpose)) {
            process.stdout.write(
              `${purpose.padEnd(16)} ${key.kid.padEnd(44)} ${key.createdAt.toISOString()}${key.kid === active ? '  active' : ''}\n`,
            );
          }
        }
      }),
    );

  keys
    .command('rotate')
    .argument('<purpose>', `one of ${Object.keys(KEY_PURPOSES).join(', ')}`)
    .description('add a new active key; older keys stay to verify and decrypt what they made')
    .action(
      action(async (purpose: string) => {
        const config = loadConfig();
        const ring = await Keyring.open(config.keysDir, { create: false });
        const key = await ring.rotate(purposeOf(purpose));
        process.stdout.write(`created ${key.kid}; restart or reload running processes to sign with it\n`);
      }),
    );
}
