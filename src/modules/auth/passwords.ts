import { ZxcvbnFactory } from '@zxcvbn-ts/core';
import * as common from '@zxcvbn-ts/language-common';
import * as en from '@zxcvbn-ts/language-en';
import argon2 from 'argon2';
import { errors } from '../../platform/http/errors.js';
import type { PasswordHashParams } from './options.js';
import { generatePassword } from './secrets.js';

export const PASSWORD_MIN_LENGTH = 12;
/** Long inputs cost hashing time for nothing; 256 is more than any passphrase needs. */
export const PASSWORD_MAX_LENGTH = 256;
/** zxcvbn score 4 (about 10^10 guesses or more): PHI is behind these accounts. */
const MIN_SCORE = 4;

let zxcvbn: ZxcvbnFactory | undefined;
function strength(): ZxcvbnFactory {
  // The dictionaries take a moment to rank; built on first use, not at import.
  zxcvbn ??= new ZxcvbnFactory({
    dictionary: { ...common.dictionary, ...en.dictionary },
    graphs: common.adjacencyGraphs,
    translations: en.translations,
  });
  return zxcvbn;
}

/** Rejects short, common, dictionary-based and account-derived passwords (422 with the reasons). */
export function checkPasswordPolicy(password: string, userInputs: string[] = []): void {
  if (password.length < PASSWORD_MIN_LENGTH) {
    throw errors.unprocessable(`The password must have at least ${PASSWORD_MIN_LENGTH} characters`);
  }
  if (password.length > PASSWORD_MAX_LENGTH) {
    throw errors.unprocessable(`The password must have at most ${PASSWORD_MAX_LENGTH} characters`);
  }
  const inputs = userInputs.flatMap((i) => [i, ...i.split(/[@.\s_+-]+/)]).map((i) => i.toLowerCase());
  const lower = password.toLowerCase();
  // zxcvbn's own user-input matching misses tokens glued to separators; check them directly.
  if (inputs.some((i) => i.length >= 4 && lower.includes(i))) {
    throw errors.unprocessable('The password must not contain your name or email address');
  }
  const result = strength().check(
    password,
    inputs.filter((i) => i.length >= 3),
  );
  if (result.score < MIN_SCORE) {
    const hints = [result.feedback.warning, ...result.feedback.suggestions].filter(
      (h): h is string => typeof h === 'string' && h.length > 0,
    );
    throw errors.unprocessable(
      'The password is too easy to guess (common, dictionary-based or derived from the account)',
      hints.map((message) => ({ location: '/newPassword', message })),
    );
  }
}

export class PasswordHasher {
  private dummy: Promise<string> | undefined;

  constructor(private readonly params: PasswordHashParams) {}

  hash(password: string): Promise<string> {
    return argon2.hash(password, { type: argon2.argon2id, ...this.params });
  }

  async verify(hash: string, password: string): Promise<boolean> {
    if (password.length > PASSWORD_MAX_LENGTH) return false;
    try {
      return await argon2.verify(hash, password);
    } catch {
      return false;
    }
  }

  needsRehash(hash: string): boolean {
    return argon2.needsRehash(hash, this.params);
  }

  /** Spends the same time as a real verification, so unknown accounts answer like wrong passwords. */
  async verifyDummy(password: string): Promise<void> {
    this.dummy ??= this.hash(generatePassword());
    await this.verify(await this.dummy, password);
  }
}
