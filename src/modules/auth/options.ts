import type { Config } from '../../config.js';

export interface PasswordHashParams {
  /** KiB of memory per hash. */
  memoryCost: number;
  timeCost: number;
  parallelism: number;
}

export interface AuthOptions {
  issuer: string;
  audience: string;
  /** Access-token lifetime; capped at 15 minutes. */
  accessTokenTtlSeconds: number;
  /** Absolute lifetime of a session (and of its refresh tokens). */
  sessionMaxAgeSeconds: number;
  /** How long a session's state is cached; revocation clears the entry at once. */
  sessionCacheSeconds: number;
  /**
   * How long each process also keeps it in memory (saves the Redis round trip per request); drops
   * are broadcast over the cache's pub/sub, so revocation still applies at once. 0 turns it off.
   */
  sessionLocalCacheSeconds: number;
  clockToleranceSeconds: number;
  /** argon2id parameters; hashes made with others are upgraded at the next login. */
  passwordHash: PasswordHashParams;
  /** Roles whose members must use TOTP. */
  mfaRequiredRoles: string[];
  /** Account lockout: after `threshold` failures, locked for base * 2^(n-1) seconds, capped. */
  accountLockout: { threshold: number; baseSeconds: number; maxSeconds: number };
  /** Address lockout: failures per window; then blocked with a doubling delay. */
  ipLockout: { threshold: number; windowSeconds: number; baseSeconds: number; maxSeconds: number };
  resetTokenTtlSeconds: number;
  mfaChallengeTtlSeconds: number;
  /** How recent an MFA verification must be for step-up operations. */
  stepUpMaxAgeSeconds: number;
  breakGlassDefaultMinutes: number;
  breakGlassMaxMinutes: number;
  /** Base URL of the page that accepts a reset token (the link mailed to the user). */
  resetUrl: string;
  /** Development: create an administrator on first start when there is no user. */
  bootstrapAdmin: boolean;
  bootstrapAdminEmail: string;
  /** Prefix of the module's cache keys (tests sharing one Redis use their own). */
  cacheNamespace: string;
}

/** OWASP's argon2id baseline (19 MiB, t=2, p=1): about 0.1 s per hash on one core. */
export const DEFAULT_PASSWORD_HASH: PasswordHashParams = { memoryCost: 19_456, timeCost: 2, parallelism: 1 };

const MAX_ACCESS_TTL = 15 * 60;

/** Options from the validated platform configuration (`config.auth` holds the module's variables). */
export function authOptions(config: Config, overrides: Partial<AuthOptions> = {}): AuthOptions {
  const base = config.http.publicUrl.replace(/\/+$/, '');
  const options: AuthOptions = {
    issuer: base,
    audience: `${base}/api`,
    accessTokenTtlSeconds: MAX_ACCESS_TTL,
    sessionMaxAgeSeconds: 12 * 3600,
    sessionCacheSeconds: 30,
    sessionLocalCacheSeconds: 3,
    clockToleranceSeconds: 5,
    passwordHash: DEFAULT_PASSWORD_HASH,
    mfaRequiredRoles: config.auth.mfaRequiredRoles,
    accountLockout: { threshold: 5, baseSeconds: 60, maxSeconds: 3600 },
    ipLockout: { threshold: 50, windowSeconds: 900, baseSeconds: 60, maxSeconds: 3600 },
    resetTokenTtlSeconds: 30 * 60,
    mfaChallengeTtlSeconds: 5 * 60,
    stepUpMaxAgeSeconds: 5 * 60,
    breakGlassDefaultMinutes: 60,
    breakGlassMaxMinutes: 60,
    resetUrl: `${base}/reset-password`,
    bootstrapAdmin: config.env === 'development',
    bootstrapAdminEmail: config.auth.adminEmail,
    cacheNamespace: 'auth',
    ...overrides,
  };
  options.accessTokenTtlSeconds = Math.min(options.accessTokenTtlSeconds, MAX_ACCESS_TTL);
  return options;
}
