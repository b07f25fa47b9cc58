import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger } from 'pino';

/**
 * Paths never written to logs. Secrets in headers and bodies, and the FHIR elements that carry
 * identifying data, wherever a careless `log.info({ resource })` might put them.
 */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-api-key"]',
  'res.headers["set-cookie"]',
  'headers.authorization',
  'headers.cookie',
  'password',
  'newPassword',
  'currentPassword',
  'token',
  'accessToken',
  'access_token',
  'refreshToken',
  'refresh_token',
  'client_secret',
  'secret',
  'otp',
  '*.password',
  '*.newPassword',
  '*.token',
  '*.accessToken',
  '*.refreshToken',
  '*.client_secret',
  '*.secret',
  '*.otp',
  'resource.name',
  'resource.telecom',
  'resource.address',
  'resource.birthDate',
  'resource.identifier',
  'resource.contact',
  'resource.photo',
  '*.resource.name',
  '*.resource.telecom',
  '*.resource.address',
  '*.resource.birthDate',
  '*.resource.identifier',
  'body',
  '*.body',
];

/**
 * JSON lines to `destination`, or to stdout through an asynchronous buffered writer: a
 * synchronous write per request line costs more than a small request itself. Call
 * `logger.flush()` before exiting.
 */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'iris' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACT_PATHS, censor: '[REDACTED]' },
      formatters: { level: (label) => ({ level: label }) },
    },
    destination ?? pino.destination({ dest: 1, sync: false, minLength: 4096 }),
  );
}

/**
 * Query parameters whose values never identify anyone; every other value is replaced, since
 * search URLs carry PHI (`Patient?family=Doe`, `?identifier=...`).
 */
const SAFE_QUERY_PARAMS = new Set([
  '_count',
  '_sort',
  '_format',
  '_summary',
  '_elements',
  '_total',
  '_include',
  '_revinclude',
  '_pretty',
  '_page',
  '_offset',
  '_cursor',
  'page',
  'limit',
]);

/** The query string with the values of all but harmless parameters replaced. */
export function redactQuery(rawUrl: string): string | undefined {
  const q = rawUrl.indexOf('?');
  if (q < 0 || q === rawUrl.length - 1) return undefined;
  const params = new URLSearchParams(rawUrl.slice(q + 1));
  const parts: string[] = [];
  for (const [key, value] of params) {
    parts.push(`${key}=${SAFE_QUERY_PARAMS.has(key) ? value : '[REDACTED]'}`);
  }
  return parts.join('&');
}
