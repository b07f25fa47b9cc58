import assert from 'node:assert/strict';
import { createHmac, generateKeyPairSync } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { SignJWT } from 'jose';
import { Keyring } from '../../../src/platform/crypto/keyring.js';
import { authHarness, type Harness, type TestUser } from './harness.js';

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

describe('access tokens', () => {
  let h: Harness;
  let user: TestUser;
  let valid: string;
  let sid: string;
  let issuer: string;
  let audience: string;

  before(async () => {
    h = await authHarness();
    user = await h.user(['physician'], { organizationId: 'org1' });
    const res = await h.login(user.email);
    const body = res.json() as { accessToken: string; sessionId: string };
    valid = body.accessToken;
    sid = body.sessionId;
    issuer = h.auth.service.deps.options.issuer;
    audience = h.auth.service.deps.options.audience;
  });
  after(() => h.close());

  const signingKey = () => h.ctx.keyring.active('token-signing');

  /** A correctly signed token with claims changed by `edit`. */
  async function forged(edit: (jwt: SignJWT) => SignJWT, header: Record<string, unknown> = {}) {
    const key = signingKey();
    const now = Math.floor(Date.now() / 1000);
    const base = new SignJWT({ pty: 'user', sid })
      .setProtectedHeader({ alg: 'RS256', kid: key.kid, typ: 'at+jwt', ...header })
      .setIssuer(issuer)
      .setAudience(audience)
      .setSubject(user.id)
      .setJti('forged')
      .setIssuedAt(now)
      .setNotBefore(now)
      .setExpirationTime(now + 600);
    return edit(base).sign(key.key);
  }

  test('a valid token works, and its header names the signing key', async () => {
    const res = await h.get('/api/v1/auth/me', valid);
    assert.equal(res.statusCode, 200);
    const header = JSON.parse(Buffer.from(valid.split('.')[0] as string, 'base64url').toString()) as Record<
      string,
      string
    >;
    assert.equal(header.alg, 'RS256');
    assert.equal(header.kid, signingKey().kid);
    const payload = JSON.parse(Buffer.from(valid.split('.')[1] as string, 'base64url').toString()) as {
      exp: number;
      iat: number;
    };
    assert.ok(payload.exp - payload.iat <= 900, 'lifetime is at most 15 minutes');
    for (const claim of ['iss', 'aud', 'sub', 'sid', 'jti']) assert.ok(claim in payload, claim);
  });

  test('a control token forged with the real key and right claims is accepted', async () => {
    const res = await h.get('/api/v1/auth/me', await forged((j) => j));
    assert.equal(res.statusCode, 200);
  });

  test('a key rotated by another process (iris keys rotate) verifies here without a restart', async () => {
    const other = await Keyring.open(h.ctx.keyring.dir, { create: false });
    const key = await other.rotate('token-signing');
    const now = Math.floor(Date.now() / 1000);
    const token = await new SignJWT({ pty: 'user', sid })
      .setProtectedHeader({ alg: 'RS256', kid: key.kid, typ: 'at+jwt' })
      .setIssuer(issuer)
      .setAudience(audience)
      .setSubject(user.id)
      .setJti('other-process')
      .setIssuedAt(now)
      .setExpirationTime(now + 600)
      .sign(key.key);
    assert.equal((await h.get('/api/v1/auth/me', token)).statusCode, 200);
    const jwks = (await h.get('/.well-known/jwks.json')).json() as { keys: Array<{ kid: string }> };
    assert.ok(jwks.keys.some((k) => k.kid === key.kid));
  });

  const attacks: Array<[string, () => Promise<string>]> = [
    [
      'alg none',
      async () => {
        const [, payload] = valid.split('.');
        return `${b64({ alg: 'none', typ: 'at+jwt', kid: signingKey().kid })}.${payload}.`;
      },
    ],
    [
      'HS256 signed with the public key as HMAC secret',
      async () => {
        const pem = signingKey().publicKey?.export({ type: 'spki', format: 'pem' }) as string;
        const [, payload] = valid.split('.');
        const head = b64({ alg: 'HS256', typ: 'at+jwt', kid: signingKey().kid });
        const sig = createHmac('sha256', pem).update(`${head}.${payload}`).digest('base64url');
        return `${head}.${payload}.${sig}`;
      },
    ],
    [
      'expired',
      () =>
        forged((j) => j.setIssuedAt(Math.floor(Date.now() / 1000) - 1200).setExpirationTime('-5 minutes')),
    ],
    ['not yet valid', () => forged((j) => j.setNotBefore('5 minutes'))],
    ['wrong issuer', () => forged((j) => j.setIssuer('https://evil.example'))],
    ['wrong audience', () => forged((j) => j.setAudience('https://other-api.example'))],
    [
      'altered payload',
      async () => {
        const [head, payload, sig] = valid.split('.');
        const claims = JSON.parse(Buffer.from(payload as string, 'base64url').toString()) as Record<
          string,
          unknown
        >;
        claims.sub = '00000000-0000-7000-8000-000000000000';
        return `${head}.${b64(claims)}.${sig}`;
      },
    ],
    [
      'unknown kid (signed by a key not in the keyring)',
      async () => {
        const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
        const now = Math.floor(Date.now() / 1000);
        return new SignJWT({ pty: 'user', sid })
          .setProtectedHeader({ alg: 'RS256', kid: 'token-signing-attacker', typ: 'at+jwt' })
          .setIssuer(issuer)
          .setAudience(audience)
          .setSubject(user.id)
          .setJti('x')
          .setIssuedAt(now)
          .setExpirationTime(now + 600)
          .sign(privateKey);
      },
    ],
    [
      'known kid but signed by another key',
      async () => {
        const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
        const now = Math.floor(Date.now() / 1000);
        return new SignJWT({ pty: 'user', sid })
          .setProtectedHeader({ alg: 'RS256', kid: signingKey().kid, typ: 'at+jwt' })
          .setIssuer(issuer)
          .setAudience(audience)
          .setSubject(user.id)
          .setJti('x')
          .setIssuedAt(now)
          .setExpirationTime(now + 600)
          .sign(privateKey);
      },
    ],
    ['no kid', () => forged((j) => j, { kid: undefined })],
    ['wrong token type', () => forged((j) => j, { typ: 'JWT' })],
    ['session of another user', () => forged((j) => j.setSubject('00000000-0000-7000-8000-000000000001'))],
    ['garbage', async () => 'not.a.jwt'],
  ];

  for (const [name, make] of attacks) {
    test(`rejected with 401: ${name}`, async () => {
      const res = await h.get('/api/v1/auth/me', await make());
      assert.equal(res.statusCode, 401, res.body);
      assert.equal(res.headers['content-type'], 'application/problem+json; charset=utf-8');
      assert.match(String(res.headers['www-authenticate']), /Bearer/);
      assert.equal((res.json() as { code: string }).code, 'IRIS_UNAUTHORIZED');
    });
  }

  test('a token for a session with no sid claim is rejected', async () => {
    const key = signingKey();
    const token = await new SignJWT({ pty: 'user' })
      .setProtectedHeader({ alg: 'RS256', kid: key.kid, typ: 'at+jwt' })
      .setIssuer(issuer)
      .setAudience(audience)
      .setSubject(user.id)
      .setJti('y')
      .setIssuedAt()
      .setExpirationTime('5 minutes')
      .sign(key.key);
    assert.equal((await h.get('/api/v1/auth/me', token)).statusCode, 401);
  });

  test('a malformed Authorization header is a 401', async () => {
    const res = await h.app.inject({
      method: 'GET',
      url: '/api/v1/auth/me',
      headers: { authorization: `Token ${valid}` },
    });
    assert.equal(res.statusCode, 401);
  });

  test('JWKS publishes every token-signing key; rotation keeps old tokens valid and signs with the new key', async () => {
    const before = (await h.get('/.well-known/jwks.json')).json() as {
      keys: Array<{ kid: string; kty: string; d?: string }>;
    };
    assert.ok(before.keys.length >= 1);
    assert.ok(
      before.keys.every((k) => k.kty === 'RSA' && k.d === undefined),
      'public keys only',
    );
    const rotated = await h.ctx.keyring.rotate('token-signing');
    const afterRotation = (await h.get('/.well-known/jwks.json')).json() as { keys: Array<{ kid: string }> };
    assert.deepEqual(
      afterRotation.keys.map((k) => k.kid).sort(),
      [...before.keys.map((k) => k.kid), rotated.kid].sort(),
    );
    assert.equal(
      (await h.get('/api/v1/auth/me', valid)).statusCode,
      200,
      'a token of the old key still verifies',
    );
    const fresh = await h.token(user);
    const header = JSON.parse(Buffer.from(fresh.split('.')[0] as string, 'base64url').toString()) as {
      kid: string;
    };
    assert.equal(header.kid, rotated.kid);
    assert.equal((await h.get('/api/v1/auth/me', fresh)).statusCode, 200);
  });
});
