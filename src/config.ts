import { resolve } from 'node:path';
import { z } from 'zod';

/** Raised for an invalid environment; the entry points print its one-line message and exit 2. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const port = z.coerce
  .number({ error: 'must be a whole number from 1 to 65535' })
  .int('must be a whole number from 1 to 65535')
  .min(1, 'must be a whole number from 1 to 65535')
  .max(65535, 'must be a whole number from 1 to 65535');

const url = (protocols: string[]) =>
  z.string().refine(
    (value) => {
      try {
        return protocols.includes(new URL(value).protocol);
      } catch {
        return false;
      }
    },
    { message: `must be a URL starting with ${protocols.map((p) => `${p}//`).join(' or ')}` },
  );

const byteSize = z
  .string()
  .regex(/^\d+\s*(b|kb|kib|mb|mib)?$/i, 'must be a size such as 1048576, 512kb or 5mb')
  .transform((value) => {
    const match = /^(\d+)\s*([a-z]*)$/i.exec(value.trim());
    const n = Number(match?.[1]);
    const unit = (match?.[2] ?? '').toLowerCase();
    return unit.startsWith('m') ? n * 1024 * 1024 : unit.startsWith('k') ? n * 1024 : n;
  });

const csv = z.string().transform((value) =>
  value
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item.length > 0),
);

/** Roles that must enrol TOTP unless `IRIS_MFA_REQUIRED_ROLES` says otherwise: admin, security, clinical. */
export const DEFAULT_MFA_REQUIRED_ROLES = [
  'system_admin',
  'security_officer',
  'physician',
  'nurse',
  'pharmacist',
] as const;

const roleList = csv.refine(
  (roles) => roles.every((role) => /^[a-z][a-z0-9_]{1,62}$/.test(role)),
  'must be a comma-separated list of role names (lower case letters, digits and _), e.g. physician,nurse',
);

/** `issuer=jwksUrl`: the JWKS over https, or http only on loopback (tests, side-car proxies). */
function isCdsClientPair(pair: string): boolean {
  const at = pair.indexOf('=');
  if (at < 1) return false;
  try {
    const jwks = new URL(pair.slice(at + 1));
    const loopback = ['127.0.0.1', 'localhost', '[::1]'].includes(jwks.hostname);
    return jwks.protocol === 'https:' || (jwks.protocol === 'http:' && loopback);
  } catch {
    return false;
  }
}

/** A duration in milliseconds within [min, max]. */
function millis(min: number, max: number) {
  const message = `must be a whole number of milliseconds from ${min} to ${max}`;
  return z.coerce.number({ error: message }).int(message).min(min, message).max(max, message);
}

const envSchema = z
  .object({
    NODE_ENV: z
      .enum(['development', 'production', 'test'], { error: 'must be development, production or test' })
      .default('development'),
    PORT: port.default(8080),
    HOST: z.string().min(1, 'must not be empty').default('127.0.0.1'),
    IRIS_DATA_DIR: z.string().min(1, 'must not be empty').default('./data'),
    IRIS_KEYS_DIR: z.string().min(1, 'must not be empty').optional(),
    IRIS_PUBLIC_URL: url(['http:', 'https:']).optional(),
    DATABASE_URL: url(['postgres:', 'postgresql:']).optional(),
    DATABASE_POOL_MAX: z.coerce
      .number({ error: 'must be a whole number from 1 to 200' })
      .int()
      .min(1)
      .max(200)
      .default(10),
    REDIS_URL: url(['redis:', 'rediss:']).optional(),
    S3_ENDPOINT: url(['http:', 'https:']).optional(),
    S3_BUCKET: z.string().min(3, 'must be a bucket name of 3 to 63 characters').max(63).optional(),
    S3_REGION: z.string().min(1).default('us-east-1'),
    S3_ACCESS_KEY_ID: z.string().min(1).optional(),
    S3_SECRET_ACCESS_KEY: z.string().min(1).optional(),
    S3_FORCE_PATH_STYLE: z.enum(['true', 'false'], { error: 'must be true or false' }).default('true'),
    LOG_LEVEL: z.enum(logLevels, { error: `must be one of ${logLevels.join(', ')}` }).default('info'),
    CORS_ORIGINS: csv.default([]),
    RATE_LIMIT_MAX: z.coerce.number({ error: 'must be a whole number' }).int().min(1).default(600),
    RATE_LIMIT_WINDOW: z
      .string()
      .regex(/^\d+\s*(ms|s|m|h)$/, 'must be a duration such as 1m or 30s')
      .default('1m'),
    BODY_LIMIT: byteSize.default(5 * 1024 * 1024),
    SHUTDOWN_TIMEOUT_MS: z.coerce
      .number({ error: 'must be a whole number of milliseconds' })
      .int()
      .min(100)
      .max(60000)
      .default(10000),
    TRUST_PROXY: z.enum(['true', 'false'], { error: 'must be true or false' }).default('false'),
    CDS_HOOKS_FHIR_SERVERS: csv
      .refine(
        (urls) => urls.every((u) => /^https?:\/\/[^\s]+$/.test(u)),
        'must be a comma-separated list of http(s) URLs',
      )
      .default([]),
    CDS_HOOKS_CLIENTS: csv
      .refine(
        (pairs) => pairs.every(isCdsClientPair),
        'must be a comma-separated list of issuer=JWKS URL pairs (https, or http on loopback), e.g. https://ehr.example=https://ehr.example/jwks.json',
      )
      .transform((pairs) =>
        pairs.map((pair) => {
          const at = pair.indexOf('=');
          return { issuer: pair.slice(0, at), jwksUrl: pair.slice(at + 1) };
        }),
      )
      .default([]),
    IRIS_EMBEDDED_WORKER: z.enum(['true', 'false'], { error: 'must be true or false' }).default('true'),
    IRIS_MFA_REQUIRED_ROLES: roleList.optional(),
    IRIS_ADMIN_EMAIL: z
      .string()
      .regex(/^[^\s@]+@[^\s@]+$/, 'must be an email address such as admin@example.org')
      .max(254, 'must be an email address of at most 254 characters')
      .default('admin@iris.local'),
    REGISTRY_RETRY_BASE_MS: millis(10, 3_600_000).default(2_000),
    REGISTRY_RETRY_MAX_MS: millis(10, 86_400_000).default(300_000),
    REGISTRY_BREAKER_FAILURES: z.coerce
      .number({ error: 'must be a whole number from 1 to 1000' })
      .int('must be a whole number from 1 to 1000')
      .min(1, 'must be a whole number from 1 to 1000')
      .max(1000, 'must be a whole number from 1 to 1000')
      .default(5),
    REGISTRY_BREAKER_HALF_OPEN_MS: millis(10, 3_600_000).default(30_000),
    REGISTRY_POLL_MS: millis(10, 60_000).default(1_000),
    DISK_MIN_FREE_MB: z.coerce
      .number({ error: 'must be a whole number of megabytes' })
      .int()
      .min(0)
      .default(256),
  })
  .superRefine((env, ctx) => {
    if (env.S3_BUCKET && (!env.S3_ACCESS_KEY_ID || !env.S3_SECRET_ACCESS_KEY)) {
      const missing = !env.S3_ACCESS_KEY_ID ? 'S3_ACCESS_KEY_ID' : 'S3_SECRET_ACCESS_KEY';
      ctx.addIssue({ code: 'custom', path: [missing], message: 'is required when S3_BUCKET is set' });
    }
    if (env.S3_ENDPOINT && !env.S3_BUCKET) {
      ctx.addIssue({ code: 'custom', path: ['S3_BUCKET'], message: 'is required when S3_ENDPOINT is set' });
    }
  });

export interface Config {
  env: 'development' | 'production' | 'test';
  http: {
    host: string;
    port: number;
    publicUrl: string;
    bodyLimit: number;
    corsOrigins: string[];
    rateLimit: { max: number; window: string };
    trustProxy: boolean;
    shutdownTimeoutMs: number;
  };
  dataDir: string;
  keysDir: string;
  /** True when keys come from an operator-supplied directory rather than being generated. */
  keysConfigured: boolean;
  database: { url?: string; poolMax: number };
  redisUrl?: string;
  storage:
    | { kind: 'local'; root: string }
    | {
        kind: 's3';
        endpoint?: string;
        bucket: string;
        region: string;
        accessKeyId: string;
        secretAccessKey: string;
        forcePathStyle: boolean;
      };
  logLevel: (typeof logLevels)[number];
  diskMinFreeBytes: number;
  /** The API process also runs event subscribers and jobs (turn off when `iris worker`s do). */
  embeddedWorker: boolean;
  /** FHIR servers the CDS Hooks services may query when a client sends no prefetch. */
  cdsHooksFhirServers: string[];
  /** CDS Hooks clients (EHRs) whose signed JWTs are accepted: issuer → the JWKS URL of its keys. */
  cdsHooksClients: Array<{ issuer: string; jwksUrl: string }>;
  /** Immunization registry delivery: retry backoff, circuit breaker, idle poll. */
  registry: {
    retryBaseMs: number;
    retryMaxMs: number;
    breakerFailures: number;
    breakerHalfOpenMs: number;
    pollMs: number;
  };
  auth: {
    /** Roles whose members must enrol TOTP; empty means none. */
    mfaRequiredRoles: string[];
    /** The administrator created at the first development start. */
    adminEmail: string;
  };
}

/** Reads and validates configuration; throws ConfigError naming the first bad variable. */
export function loadConfig(source: NodeJS.ProcessEnv = process.env): Config {
  const parsed = envSchema.safeParse(source);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const name = String(issue?.path[0] ?? 'environment');
    const got = source[name];
    const shown = got === undefined ? '' : ` (got ${JSON.stringify(sensitive(name) ? '***' : got)})`;
    throw new ConfigError(`${name} ${issue?.message ?? 'is invalid'}${shown}`);
  }
  const env = parsed.data;
  const dataDir = resolve(env.IRIS_DATA_DIR);
  if (env.NODE_ENV === 'production' && !env.IRIS_KEYS_DIR) {
    throw new ConfigError(
      'IRIS_KEYS_DIR is required in production: point it at the directory holding the keyring (see docs/operations.md)',
    );
  }
  return {
    env: env.NODE_ENV,
    http: {
      host: env.HOST,
      port: env.PORT,
      publicUrl:
        env.IRIS_PUBLIC_URL ?? `http://${env.HOST.includes(':') ? `[${env.HOST}]` : env.HOST}:${env.PORT}`,
      bodyLimit: env.BODY_LIMIT,
      corsOrigins: env.CORS_ORIGINS,
      rateLimit: { max: env.RATE_LIMIT_MAX, window: env.RATE_LIMIT_WINDOW },
      trustProxy: env.TRUST_PROXY === 'true',
      shutdownTimeoutMs: env.SHUTDOWN_TIMEOUT_MS,
    },
    dataDir,
    keysDir: env.IRIS_KEYS_DIR ? resolve(env.IRIS_KEYS_DIR) : resolve(dataDir, 'keys'),
    keysConfigured: env.IRIS_KEYS_DIR !== undefined,
    database: { url: env.DATABASE_URL, poolMax: env.DATABASE_POOL_MAX },
    redisUrl: env.REDIS_URL,
    storage: env.S3_BUCKET
      ? {
          kind: 's3',
          endpoint: env.S3_ENDPOINT,
          bucket: env.S3_BUCKET,
          region: env.S3_REGION,
          accessKeyId: env.S3_ACCESS_KEY_ID ?? '',
          secretAccessKey: env.S3_SECRET_ACCESS_KEY ?? '',
          forcePathStyle: env.S3_FORCE_PATH_STYLE === 'true',
        }
      : { kind: 'local', root: resolve(dataDir, 'objects') },
    logLevel: env.LOG_LEVEL,
    diskMinFreeBytes: env.DISK_MIN_FREE_MB * 1024 * 1024,
    cdsHooksFhirServers: env.CDS_HOOKS_FHIR_SERVERS,
    cdsHooksClients: env.CDS_HOOKS_CLIENTS,
    registry: {
      retryBaseMs: env.REGISTRY_RETRY_BASE_MS,
      retryMaxMs: Math.max(env.REGISTRY_RETRY_MAX_MS, env.REGISTRY_RETRY_BASE_MS),
      breakerFailures: env.REGISTRY_BREAKER_FAILURES,
      breakerHalfOpenMs: env.REGISTRY_BREAKER_HALF_OPEN_MS,
      pollMs: env.REGISTRY_POLL_MS,
    },
    embeddedWorker: env.IRIS_EMBEDDED_WORKER === 'true',
    auth: {
      mfaRequiredRoles: env.IRIS_MFA_REQUIRED_ROLES ?? [...DEFAULT_MFA_REQUIRED_ROLES],
      adminEmail: env.IRIS_ADMIN_EMAIL.toLowerCase(),
    },
  };
}

function sensitive(name: string): boolean {
  return /SECRET|PASSWORD|TOKEN|DATABASE_URL|REDIS_URL/.test(name);
}
