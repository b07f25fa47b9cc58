import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';

export const EHR_ISSUER = 'https://ehr.example';

/** A CDS client (EHR) for tests: an ES384 key pair whose JWKS is served on loopback. */
export interface TestCdsClient {
  jwksUrl: string;
  /** `CDS_HOOKS_CLIENTS` naming this client. */
  env: string;
  /** A client JWT for `audience`, with claims and header overridable. */
  sign(
    audience: string,
    options?: {
      claims?: Record<string, unknown>;
      issuer?: string;
      lifetimeSeconds?: number;
      issuedAt?: number;
      header?: Record<string, unknown>;
      key?: CryptoKey;
    },
  ): Promise<string>;
  /** A key pair the client does not publish (signatures by it must fail). */
  otherKey(): Promise<CryptoKey>;
  close(): Promise<void>;
}

export async function testCdsClient(): Promise<TestCdsClient> {
  const { privateKey, publicKey } = await generateKeyPair('ES384');
  const jwk: JWK = { ...(await exportJWK(publicKey)), kid: 'ehr-1', alg: 'ES384', use: 'sig' };
  const server: Server = createServer((req, res) => {
    if (req.url !== '/ehr/jwks.json') {
      res.statusCode = 404;
      return res.end('{}');
    }
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ keys: [jwk] }));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  const jwksUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/ehr/jwks.json`;
  return {
    jwksUrl,
    env: `${EHR_ISSUER}=${jwksUrl}`,
    async sign(audience, options = {}) {
      const iat = options.issuedAt ?? Math.floor(Date.now() / 1000);
      return new SignJWT({ tenant: 'clinic-1', ...options.claims })
        .setProtectedHeader({ alg: 'ES384', typ: 'JWT', kid: 'ehr-1', jku: jwksUrl, ...options.header })
        .setIssuer(options.issuer ?? EHR_ISSUER)
        .setSubject('ehr-client-id')
        .setAudience(audience)
        .setIssuedAt(iat)
        .setExpirationTime(iat + (options.lifetimeSeconds ?? 120))
        .setJti(randomUUID())
        .sign(options.key ?? privateKey);
    },
    async otherKey() {
      return (await generateKeyPair('ES384')).privateKey;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
