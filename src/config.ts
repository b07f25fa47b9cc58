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
    IRIS_EMBEDDED_WORKER: z.enum(['true', 'false'], { error: 'must be true or false' }).default('true'),
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
    embeddedWorker: env.IRIS_EMBEDDED_WORKER === 'true',
  };
}

function sensitive(name: string): boolean {
  return /SECRET|PASSWORD|TOKEN|DATABASE_URL|REDIS_URL/.test(name);
}
