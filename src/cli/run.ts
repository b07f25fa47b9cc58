import { ConfigError } from '../config.js';
import { KeyringError } from '../platform/crypto/keyring.js';
import { DataDirLockedError } from '../platform/db/data-dir-lock.js';
import { MigrationError, PendingMigrationsError } from '../platform/db/migrations.js';

/** A mistake by the operator: printed as one line, exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

const OPERATOR_ERRORS = [ConfigError, KeyringError, PendingMigrationsError, UsageError];

/**
 * Runs a command action and turns expected failures into one clear line on stderr and an exit
 * code (2: configuration or usage, 1: anything else) instead of a stack trace.
 */
export function action<A extends unknown[]>(
  fn: (...args: A) => Promise<void>,
): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await fn(...args);
    } catch (error) {
      process.exitCode = exitCodeFor(error);
      process.stderr.write(`iris: ${messageFor(error)}\n`);
    }
  };
}

export function exitCodeFor(error: unknown): number {
  return OPERATOR_ERRORS.some((type) => error instanceof type) ? 2 : 1;
}

export function messageFor(error: unknown): string {
  if (error instanceof DataDirLockedError) return `${error.message}; stop that process first`;
  if (error instanceof MigrationError) return `migration failed: ${error.message}`;
  if (error instanceof Error) return error.message;
  return String(error);
}
