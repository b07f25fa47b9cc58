import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { SimOAuth } from './types.js';

const MAX_SIGNATURE_AGE_SECONDS = 300;

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export interface TokenReply {
  status: number;
  body: Record<string, unknown>;
}

/** OAuth2 client-credentials token endpoint with opaque in-memory tokens. */
export class TokenIssuer {
  private readonly tokens = new Map<string, number>();

  constructor(
    private readonly client: SimOAuth,
    private readonly ttlSeconds: number,
  ) {}

  issue(headers: IncomingHttpHeaders, rawBody: string): TokenReply {
    const form = new URLSearchParams(rawBody);
    if (form.get('grant_type') !== 'client_credentials') {
      return { status: 400, body: { error: 'unsupported_grant_type' } };
    }
    let id = form.get('client_id') ?? '';
    let secret = form.get('client_secret') ?? '';
    const basic = /^Basic\s+(.+)$/i.exec(headers.authorization ?? '');
    if (basic) {
      const decoded = Buffer.from(basic[1]!, 'base64').toString('utf8');
      const colon = decoded.includes(':') ? decoded.indexOf(':') : decoded.length;
      id = formDecode(decoded.slice(0, colon));
      secret = formDecode(decoded.slice(colon + 1));
    }
    if (!safeEqual(id, this.client.clientId) || !safeEqual(secret, this.client.clientSecret)) {
      return { status: 401, body: { error: 'invalid_client' } };
    }
    this.purgeExpired();
    const token = randomBytes(24).toString('base64url');
    this.tokens.set(token, Date.now() + this.ttlSeconds * 1000);
    return { status: 200, body: { access_token: token, token_type: 'Bearer', expires_in: this.ttlSeconds } };
  }

  /** True when the Authorization header carries a live token. */
  verify(authorization: string | undefined): boolean {
    const m = /^Bearer\s+(\S+)$/i.exec(authorization ?? '');
    const expiry = m ? this.tokens.get(m[1]!) : undefined;
    return expiry !== undefined && expiry > Date.now();
  }

  clear(): void {
    this.tokens.clear();
  }

  private purgeExpired(): void {
    const now = Date.now();
    for (const [token, expiry] of this.tokens) if (expiry <= now) this.tokens.delete(token);
  }
}

/**
 * Checks X-Signature ("sha256=" + hex HMAC-SHA256 of "<timestamp>.<METHOD>.<path>.<body>") and
 * X-Signature-Timestamp (unix seconds, at most 300 s away). Returns why it fails, or undefined.
 */
export function signatureProblem(
  secret: string,
  headers: IncomingHttpHeaders,
  method: string,
  path: string,
  rawBody: string,
  nowSeconds = Math.floor(Date.now() / 1000),
): string | undefined {
  const timestamp = headerValue(headers['x-signature-timestamp']);
  const signature = headerValue(headers['x-signature']);
  if (!timestamp || !signature) return 'X-Signature and X-Signature-Timestamp headers are required';
  if (!/^\d+$/.test(timestamp)) return 'X-Signature-Timestamp must be unix seconds';
  if (Math.abs(nowSeconds - Number(timestamp)) > MAX_SIGNATURE_AGE_SECONDS)
    return 'signature timestamp is too old';
  const expected = `sha256=${createHmac('sha256', secret).update(`${timestamp}.${method}.${path}.${rawBody}`).digest('hex')}`;
  return safeEqual(signature.toLowerCase(), expected) ? undefined : 'signature does not match';
}

/** Basic credentials are form-urlencoded first (RFC 6749 §2.3.1); malformed escapes are taken literally. */
function formDecode(value: string): string {
  try {
    return decodeURIComponent(value.replace(/\+/g, ' '));
  } catch {
    return value;
  }
}

function headerValue(h: string | string[] | undefined): string {
  return (Array.isArray(h) ? h[0] : h) ?? '';
}
