import { createHmac } from 'node:crypto';
import type { Bundle, CapabilityStatement } from 'fhir/r4.js';
import { classifyError, httpStatusError, protocolError, TransportError } from './errors.js';
import type { RegistryCredentials, RegistryEndpointConfig } from './types.js';

/** A token is replaced this long before the registry says it expires. */
const TOKEN_EXPIRY_MARGIN_MS = 30_000;
/** Used when the token endpoint omits expires_in (it is only RECOMMENDED by RFC 6749). */
const DEFAULT_TOKEN_LIFETIME_MS = 300_000;
const FHIR_JSON = 'application/fhir+json';

export interface FhirSubmitResult {
  status: number;
  body: unknown;
}

interface RawResponse {
  status: number;
  headers: Headers;
  text: string;
}

type OAuth2Credentials = Extract<RegistryCredentials, { kind: 'oauth2' }>;

/** Escapes a FHIR search token part: `\`, `|`, `,` and `$` carry meaning in search parameters. */
function escapeSearchValue(value: string): string {
  return value.replace(/[\\|,$]/g, (c) => `\\${c}`);
}

function parseJson(text: string, context: string): unknown {
  if (text.trim() === '') return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw protocolError(context, 'response is not valid JSON');
  }
}

function tryParseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function resourceType(value: unknown): string | undefined {
  if (value === null || typeof value !== 'object') return undefined;
  const type = (value as { resourceType?: unknown }).resourceType;
  return typeof type === 'string' ? type : undefined;
}

/** FHIR client for one registry endpoint. Auth: OAuth2 client credentials, HMAC request signing or none. */
export class FhirRegistryClient {
  private readonly base: string;
  private token: { value: string; expiresAt: number } | undefined;
  private tokenRequest: Promise<string> | undefined;

  constructor(private readonly config: RegistryEndpointConfig) {
    this.base = config.url.replace(/\/+$/, '');
  }

  /** POSTs a transaction Bundle. A 400/422 OperationOutcome is the registry's answer, not a failure. */
  async submitBundle(
    bundle: Bundle,
    idempotencyKey: string,
    signal?: AbortSignal,
  ): Promise<FhirSubmitResult> {
    const context = `registry "${this.config.name}" submit bundle`;
    if (idempotencyKey.trim() === '') throw new RangeError('idempotencyKey must not be empty');
    const response = await this.send('POST', new URL(this.base), JSON.stringify(bundle), signal, context, {
      'Content-Type': FHIR_JSON,
      'Idempotency-Key': idempotencyKey,
    });
    if (response.status >= 200 && response.status < 300) {
      return { status: response.status, body: parseJson(response.text, context) };
    }
    if (response.status === 400 || response.status === 422) {
      const body = tryParseJson(response.text);
      if (resourceType(body) === 'OperationOutcome') return { status: response.status, body };
    }
    throw httpStatusError(response.status, response.headers.get('retry-after'), context);
  }

  /** First page of the registry's Immunizations for a patient identifier. */
  async searchImmunizations(
    patientIdentifier: { system?: string; value: string },
    signal?: AbortSignal,
  ): Promise<Bundle> {
    const url = new URL(`${this.base}/Immunization`);
    const token =
      patientIdentifier.system !== undefined
        ? `${escapeSearchValue(patientIdentifier.system)}|${escapeSearchValue(patientIdentifier.value)}`
        : escapeSearchValue(patientIdentifier.value);
    url.searchParams.set('patient.identifier', token);
    return this.getBundle(url, signal, `registry "${this.config.name}" search immunizations`);
  }

  /**
   * The page after `page`, or undefined on the last page. Only links on the registry's own origin
   * are followed, so credentials are never sent to another host.
   */
  async nextPage(page: Bundle, signal?: AbortSignal): Promise<Bundle | undefined> {
    const next = page.link?.find((link) => link.relation === 'next')?.url;
    if (!next) return undefined;
    const context = `registry "${this.config.name}" search immunizations`;
    const url = new URL(next, `${this.base}/`);
    if (url.origin !== new URL(this.base).origin)
      throw protocolError(context, 'next link leaves the registry');
    return this.getBundle(url, signal, context);
  }

  async capabilities(signal?: AbortSignal): Promise<CapabilityStatement> {
    const context = `registry "${this.config.name}" capabilities`;
    const response = await this.send('GET', new URL(`${this.base}/metadata`), undefined, signal, context);
    if (response.status !== 200)
      throw httpStatusError(response.status, response.headers.get('retry-after'), context);
    const body = parseJson(response.text, context);
    if (resourceType(body) !== 'CapabilityStatement')
      throw protocolError(context, 'not a CapabilityStatement');
    return body as CapabilityStatement;
  }

  private async getBundle(url: URL, signal: AbortSignal | undefined, context: string): Promise<Bundle> {
    const response = await this.send('GET', url, undefined, signal, context);
    if (response.status !== 200)
      throw httpStatusError(response.status, response.headers.get('retry-after'), context);
    const body = parseJson(response.text, context);
    if (resourceType(body) !== 'Bundle') throw protocolError(context, 'response is not a Bundle');
    return body as Bundle;
  }

  private async send(
    method: 'GET' | 'POST',
    url: URL,
    body: string | undefined,
    signal: AbortSignal | undefined,
    context: string,
    extraHeaders: Record<string, string> = {},
  ): Promise<RawResponse> {
    const timeout = AbortSignal.timeout(this.config.timeoutMs);
    const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
    let refreshed = false;
    for (;;) {
      const auth = await this.authHeaders(method, url, body ?? '', context);
      try {
        const response = await fetch(url, {
          method,
          headers: { Accept: FHIR_JSON, ...extraHeaders, ...auth.headers },
          body,
          signal: combined,
          // Not followed: a redirected POST turns into a GET, and credentials must stay with the registry.
          redirect: 'manual',
        });
        const text = await response.text();
        // One refresh per request: an expired or revoked token gets a single second chance.
        if (response.status === 401 && auth.token !== undefined && !refreshed) {
          refreshed = true;
          if (this.token?.value === auth.token) this.token = undefined;
          continue;
        }
        return { status: response.status, headers: response.headers, text };
      } catch (error) {
        throw classifyError(error, context);
      }
    }
  }

  private async authHeaders(
    method: string,
    url: URL,
    body: string,
    context: string,
  ): Promise<{ headers: Record<string, string>; token?: string }> {
    const credentials = this.config.credentials;
    if (credentials.kind === 'oauth2') {
      const token = await this.accessToken(credentials, context);
      return { headers: { Authorization: `Bearer ${token}` }, token };
    }
    if (credentials.kind === 'hmac') {
      return { headers: signRequest(credentials.secret, method, url, body) };
    }
    return { headers: {} };
  }

  private async accessToken(credentials: OAuth2Credentials, context: string): Promise<string> {
    if (this.token && this.token.expiresAt - TOKEN_EXPIRY_MARGIN_MS > Date.now()) return this.token.value;
    // Concurrent callers share one token request.
    this.tokenRequest ??= this.requestToken(credentials, `${context} (token request)`).finally(() => {
      this.tokenRequest = undefined;
    });
    return this.tokenRequest;
  }

  private async requestToken(credentials: OAuth2Credentials, context: string): Promise<string> {
    const form = new URLSearchParams({ grant_type: 'client_credentials' });
    if (credentials.scope) form.set('scope', credentials.scope);
    // RFC 6749 §2.3.1: client id and secret are form-encoded before Basic encoding.
    const basic = Buffer.from(
      `${encodeURIComponent(credentials.clientId)}:${encodeURIComponent(credentials.clientSecret)}`,
    ).toString('base64');
    let status: number;
    let text: string;
    let retryAfter: string | null;
    try {
      const response = await fetch(credentials.tokenUrl, {
        method: 'POST',
        headers: {
          Authorization: `Basic ${basic}`,
          'Content-Type': 'application/x-www-form-urlencoded',
          Accept: 'application/json',
        },
        body: form.toString(),
        signal: AbortSignal.timeout(this.config.timeoutMs),
      });
      status = response.status;
      retryAfter = response.headers.get('retry-after');
      text = await response.text();
    } catch (error) {
      throw classifyError(error, context);
    }
    if (status === 400 || status === 401) {
      throw new TransportError({
        kind: 'http',
        transient: false,
        status,
        message: `${context}: token endpoint rejected the client credentials (HTTP ${status})`,
      });
    }
    if (status !== 200) throw httpStatusError(status, retryAfter, context);
    const body = parseJson(text, context) as { access_token?: unknown; expires_in?: unknown } | null;
    if (typeof body?.access_token !== 'string' || body.access_token === '') {
      throw protocolError(context, 'token response has no access_token');
    }
    const lifetime =
      typeof body.expires_in === 'number' && body.expires_in > 0
        ? body.expires_in * 1000
        : DEFAULT_TOKEN_LIFETIME_MS;
    this.token = { value: body.access_token, expiresAt: Date.now() + lifetime };
    return body.access_token;
  }
}

/**
 * HMAC request signature: hex HMAC-SHA256 over "<unix seconds>.<METHOD>.<path and query>.<raw body>".
 * Exported so a verifier (the registry simulator, tests) can compute the same value.
 */
export function signRequest(
  secret: string,
  method: string,
  url: URL,
  body: string,
  now = Date.now(),
): { 'X-Signature-Timestamp': string; 'X-Signature': string } {
  const timestamp = String(Math.floor(now / 1000));
  const payload = `${timestamp}.${method.toUpperCase()}.${url.pathname}${url.search}.${body}`;
  const digest = createHmac('sha256', secret).update(payload).digest('hex');
  return { 'X-Signature-Timestamp': timestamp, 'X-Signature': `sha256=${digest}` };
}
