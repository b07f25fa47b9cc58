import { randomUUID, type JsonWebKey } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { errors as joseErrors, jwtVerify, SignJWT, type JWTPayload, type JWTHeaderParameters } from 'jose';
import { Keyring, type LoadedKey } from '../../platform/crypto/keyring.js';
import { errors } from '../../platform/http/errors.js';

/** The claims IRIS puts in an access token. */
export interface AccessClaims {
  /** User id or OAuth client id. */
  sub: string;
  /** `user` or `client`: the kind of principal. */
  pty: 'user' | 'client';
  /** Session id (users). */
  sid?: string;
  /** Granted SMART scopes (clients). */
  scope?: string;
  jti: string;
  iat: number;
  exp: number;
}

const TOKEN_TYPE = 'at+jwt';
const ALGORITHMS = ['RS256'];

export function unauthorized(message = 'A valid access token is required') {
  return errors.unauthorized(message, [], {
    'www-authenticate': 'Bearer realm="iris", error="invalid_token"',
  });
}

/** RS256 access tokens signed with the keyring's active `token-signing` key. */
export class AccessTokens {
  /**
   * Tokens whose signature and claims were already verified, by exact token text. A token is sent
   * on many requests and jose verifies through WebCrypto (~0.7 ms for RS256-3072 here); expiry is
   * still checked on every hit, and revocation is the session check's job, not the token's.
   */
  private readonly verified = new LRUCache<string, AccessClaims>({ max: 10_000, ttl: 60_000 });

  /** Keys another process added (`iris keys rotate`) since start, read from the keyring dir. */
  private disk: Keyring | undefined;
  private diskReadAt = 0;

  constructor(
    private readonly keyring: Keyring,
    private readonly options: { issuer: string; audience: string; clockToleranceSeconds: number },
  ) {}

  async sign(
    claims: { sub: string; pty: 'user' | 'client'; sid?: string; scope?: string },
    ttlSeconds: number,
  ): Promise<{ token: string; expiresIn: number; jti: string }> {
    const key = this.keyring.active('token-signing');
    const jti = randomUUID();
    const now = Math.floor(Date.now() / 1000);
    const payload: JWTPayload = { pty: claims.pty };
    if (claims.sid) payload.sid = claims.sid;
    if (claims.scope) payload.scope = claims.scope;
    const token = await new SignJWT(payload)
      .setProtectedHeader({ alg: 'RS256', kid: key.kid, typ: TOKEN_TYPE })
      .setIssuer(this.options.issuer)
      .setAudience(this.options.audience)
      .setSubject(claims.sub)
      .setJti(jti)
      .setIssuedAt(now)
      .setNotBefore(now)
      .setExpirationTime(now + ttlSeconds)
      .sign(key.key);
    return { token, expiresIn: ttlSeconds, jti };
  }

  /**
   * Verifies signature (RS256 only, key chosen by `kid` among keyring keys), issuer, audience,
   * type and time claims. Any failure is a 401 that says nothing about which check failed.
   */
  async verify(token: string): Promise<AccessClaims> {
    const known = this.verified.get(token);
    if (known) {
      if (known.exp + this.options.clockToleranceSeconds > Date.now() / 1000) return known;
      this.verified.delete(token);
      throw unauthorized();
    }
    const claims = await this.verifyUncached(token);
    this.verified.set(token, claims);
    return claims;
  }

  private async verifyUncached(token: string): Promise<AccessClaims> {
    try {
      const { payload } = await jwtVerify(
        token,
        async (header: JWTHeaderParameters) => {
          const key = header.kid ? await this.verificationKey(header.kid) : undefined;
          if (!key?.publicKey) throw new joseErrors.JWKSNoMatchingKey();
          return key.publicKey;
        },
        {
          algorithms: ALGORITHMS,
          issuer: this.options.issuer,
          audience: this.options.audience,
          clockTolerance: this.options.clockToleranceSeconds,
          typ: TOKEN_TYPE,
          requiredClaims: ['sub', 'jti', 'exp', 'iat'],
        },
      );
      const pty = payload.pty;
      if ((pty !== 'user' && pty !== 'client') || typeof payload.sub !== 'string') throw unauthorized();
      if (pty === 'user' && typeof payload.sid !== 'string') throw unauthorized();
      return {
        sub: payload.sub,
        pty,
        sid: typeof payload.sid === 'string' ? payload.sid : undefined,
        scope: typeof payload.scope === 'string' ? payload.scope : undefined,
        jti: String(payload.jti),
        iat: Number(payload.iat),
        exp: Number(payload.exp),
      };
    } catch {
      throw unauthorized();
    }
  }

  /**
   * A token-signing key by kid. An unknown kid may be a key rotated in by another process: the
   * keyring directory is read again, at most every 30 s, so forged kids cannot make us thrash.
   */
  private async verificationKey(kid: string): Promise<LoadedKey | undefined> {
    const known = this.keyring.find('token-signing', kid) ?? this.disk?.find('token-signing', kid);
    if (known || !kid.startsWith('token-signing-') || Date.now() - this.diskReadAt < 30_000) return known;
    this.diskReadAt = Date.now();
    try {
      this.disk = await Keyring.open(this.keyring.dir, { create: false });
    } catch {
      return undefined;
    }
    return this.disk.find('token-signing', kid);
  }

  private signingKeys(): LoadedKey[] {
    const keys = new Map(this.keyring.list('token-signing').map((k) => [k.kid, k]));
    for (const k of this.disk?.list('token-signing') ?? []) if (!keys.has(k.kid)) keys.set(k.kid, k);
    return [...keys.values()];
  }

  /** Public keys of every loaded token-signing key, so tokens of rotated-out keys still verify. */
  jwks(): { keys: JsonWebKey[] } {
    return {
      keys: this.signingKeys()
        .filter((k) => k.publicKey)
        .map((k) => ({ ...k.publicKey?.export({ format: 'jwk' }), kid: k.kid, alg: 'RS256', use: 'sig' })),
    };
  }
}
