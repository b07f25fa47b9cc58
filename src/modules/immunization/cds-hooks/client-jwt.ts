import {
  createRemoteJWKSet,
  decodeJwt,
  decodeProtectedHeader,
  jwtVerify,
  type JWTHeaderParameters,
  type JWTVerifyGetKey,
} from 'jose';
import type { Cache } from '../../../platform/cache/port.js';
import { errors } from '../../../platform/http/errors.js';

/** A CDS client (EHR) allowed to call the services, with where its signing keys are published. */
export interface CdsClientConfig {
  issuer: string;
  jwksUrl: string;
}

/** Who called, once the client's JWT has been verified. */
export interface CdsClientIdentity {
  issuer: string;
  /** The client id. */
  subject: string;
  tenant?: string;
}

export interface CdsClientVerifierOptions {
  clients: readonly CdsClientConfig[];
  /** Shared across processes when Redis is configured: a JWT id is accepted once. */
  cache: Cache;
  clockToleranceSeconds?: number;
}

// The CDS Hooks specification: signed with RS384 or ES384, valid for at most five minutes.
const ALGORITHMS = ['RS384', 'ES384'];
const MAX_LIFETIME_SECONDS = 300;

function rejected(message: string) {
  return errors.unauthorized(message, [], {
    'www-authenticate': `Bearer realm="cds-services", error="invalid_token", error_description="${message}"`,
  });
}

/**
 * Verifies the JWT a CDS client sends with each call (CDS Hooks 1.0, "Trusting CDS Clients"):
 * issuer allowed by configuration, signature by a key from that issuer's configured JWKS (a
 * `jku` header naming any other URL is refused), audience the service endpoint called,
 * lifetime at most five minutes, and a `jti` never seen before within that lifetime.
 */
export class CdsClientVerifier {
  private readonly clients = new Map<string, { jwksUrl: string; keys: JWTVerifyGetKey }>();
  private readonly tolerance: number;

  constructor(private readonly options: CdsClientVerifierOptions) {
    this.tolerance = options.clockToleranceSeconds ?? 30;
    for (const client of options.clients) {
      this.clients.set(client.issuer, {
        jwksUrl: client.jwksUrl,
        keys: createRemoteJWKSet(new URL(client.jwksUrl), {
          timeoutDuration: 3000,
          cooldownDuration: 30_000,
        }),
      });
    }
  }

  /** Whether a bearer token claims to come from a configured CDS client (not yet verified). */
  claimsClient(token: string): boolean {
    try {
      const iss = decodeJwt(token).iss;
      return typeof iss === 'string' && this.clients.has(iss);
    } catch {
      return false;
    }
  }

  async verify(token: string, audience: string): Promise<CdsClientIdentity> {
    let iss: string | undefined;
    let header: JWTHeaderParameters;
    try {
      iss = decodeJwt(token).iss;
      header = decodeProtectedHeader(token) as JWTHeaderParameters;
    } catch {
      throw rejected('The bearer token is not a JWT');
    }
    const client = iss === undefined ? undefined : this.clients.get(iss);
    if (!client || iss === undefined) throw rejected('The token issuer is not a known CDS client');
    if (header.jku !== undefined && header.jku !== client.jwksUrl) {
      throw rejected('The token names a key set (jku) other than the one configured for its issuer');
    }
    let payload;
    try {
      ({ payload } = await jwtVerify(token, client.keys, {
        algorithms: ALGORITHMS,
        issuer: iss,
        audience,
        clockTolerance: this.tolerance,
        requiredClaims: ['iss', 'sub', 'aud', 'exp', 'iat', 'jti'],
      }));
    } catch {
      throw rejected('The CDS client token is not valid (signature, audience or expiry)');
    }
    const exp = payload.exp as number;
    const iat = payload.iat as number;
    const now = Math.floor(Date.now() / 1000);
    if (exp - iat > MAX_LIFETIME_SECONDS || exp - now > MAX_LIFETIME_SECONDS + this.tolerance) {
      throw rejected('The token may be valid for at most five minutes');
    }
    if (typeof payload.sub !== 'string' || typeof payload.jti !== 'string' || payload.jti.length === 0) {
      throw rejected('The token needs string sub and jti claims');
    }
    const ttl = Math.max(1, exp + this.tolerance - now);
    const seen = await this.options.cache.incr(`cds-hooks:jti:${iss}:${payload.jti}`, ttl);
    if (seen > 1) throw rejected('The token was already used (jti replay)');
    return {
      issuer: iss,
      subject: payload.sub,
      ...(typeof payload.tenant === 'string' ? { tenant: payload.tenant } : {}),
    };
  }
}
