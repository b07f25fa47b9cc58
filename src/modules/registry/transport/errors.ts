/**
 * The one error type of the registry transport layer. Messages are built only from the registry
 * name, the operation and codes/statuses: never from credentials, request or response bodies or
 * URLs with query strings, because those carry passwords and PHI.
 */
export type TransportErrorKind =
  | 'network'
  | 'timeout'
  | 'http'
  | 'soap-fault'
  | 'rate-limited'
  | 'circuit-open'
  | 'bulkhead-full'
  | 'protocol';

export type SoapFaultName = 'UnknownFault' | 'SecurityFault' | 'MessageTooLargeFault' | (string & {});

export interface TransportErrorInit {
  kind: TransportErrorKind;
  transient: boolean;
  message: string;
  status?: number;
  retryAfterMs?: number;
  faultName?: SoapFaultName;
  /** System or library error code (e.g. ECONNREFUSED), or the numeric code of a SOAP fault. */
  code?: string;
}

export class TransportError extends Error {
  override readonly name = 'TransportError';
  readonly kind: TransportErrorKind;
  /** True when the same request may succeed later; false when resending cannot help. */
  readonly transient: boolean;
  readonly status?: number;
  readonly retryAfterMs?: number;
  readonly faultName?: SoapFaultName;
  readonly code?: string;

  constructor(init: TransportErrorInit) {
    super(init.message);
    this.kind = init.kind;
    this.transient = init.transient;
    if (init.status !== undefined) this.status = init.status;
    if (init.retryAfterMs !== undefined) this.retryAfterMs = init.retryAfterMs;
    if (init.faultName !== undefined) this.faultName = init.faultName;
    if (init.code !== undefined) this.code = init.code;
  }
}

export function isTransportError(error: unknown): error is TransportError {
  return error instanceof TransportError;
}

/** Retry-After is either delta-seconds or an HTTP date (RFC 9110 §10.2.3). */
export function parseRetryAfter(value: string | null | undefined, now = Date.now()): number | undefined {
  if (value == null) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now);
}

/** Error for a non-success HTTP status that the caller cannot use as an answer. */
export function httpStatusError(status: number, retryAfter: string | null | undefined, context: string) {
  const retryAfterMs = parseRetryAfter(retryAfter);
  if (status === 429) {
    return new TransportError({
      kind: 'rate-limited',
      transient: true,
      status,
      retryAfterMs,
      message: `${context}: registry is rate limiting (HTTP 429)`,
    });
  }
  const transient = status >= 500 || status === 408;
  return new TransportError({
    kind: 'http',
    transient,
    status,
    retryAfterMs: transient ? retryAfterMs : undefined,
    message: `${context}: HTTP ${status}`,
  });
}

export function protocolError(context: string, what: string): TransportError {
  return new TransportError({ kind: 'protocol', transient: false, message: `${context}: ${what}` });
}

const TIMEOUT_CODES = new Set(['ECONNABORTED', 'ETIMEDOUT', 'ERR_CANCELED', 'UND_ERR_CONNECT_TIMEOUT']);

function errorCode(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') return code;
  // fetch (undici) wraps the socket error: TypeError('fetch failed', { cause })
  return errorCode((error as { cause?: unknown }).cause);
}

/**
 * Classifies an exception thrown while talking to a registry. Socket-level failures are
 * transient; anything unrecognised is reported as a permanent protocol error, so a programming
 * error is never retried in a loop.
 */
export function classifyError(error: unknown, context: string): TransportError {
  if (error instanceof TransportError) return error;
  const name = error instanceof Error ? error.name : undefined;
  const code = errorCode(error);
  if (name === 'AbortError' || name === 'TimeoutError' || (code !== undefined && TIMEOUT_CODES.has(code))) {
    return new TransportError({
      kind: 'timeout',
      transient: true,
      code,
      message: `${context}: timed out or cancelled`,
    });
  }
  if (
    code !== undefined &&
    (/^E[A-Z]+$/.test(code) || code.startsWith('UND_ERR_') || code === 'ERR_NETWORK' || code === 'ERR_SOCKET')
  ) {
    return new TransportError({
      kind: 'network',
      transient: true,
      code,
      message: `${context}: network error (${code})`,
    });
  }
  if (error instanceof TypeError && error.message === 'fetch failed') {
    return new TransportError({ kind: 'network', transient: true, message: `${context}: network error` });
  }
  return protocolError(context, `unexpected ${name ?? 'error'} while calling the registry`);
}
