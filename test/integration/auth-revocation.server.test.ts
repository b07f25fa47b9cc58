import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import type { AuthOptions } from '../../src/modules/auth/options.js';
import { authHarness, bearer, type Harness } from '../modules/auth/harness.js';

// Two app instances (as two API processes would be) on one PostgreSQL and one Redis; without
// them this must fail, not skip.
const redisUrl = process.env.REDIS_URL;
if (!redisUrl || !process.env.DATABASE_URL)
  throw new Error(
    'auth-revocation.server.test.ts needs DATABASE_URL and REDIS_URL; run npm run test:integration',
  );

/**
 * The status `h` answers for `token` once the broadcast has reached it. Both instances share this
 * test's event loop, so the other one reads its copy of the message a moment after the revoking
 * instance; separate processes read theirs independently. Allowed: 250 ms, against the minute
 * both caches would otherwise keep the session.
 */
async function settled(h: Harness, token: string): Promise<number> {
  const deadline = Date.now() + 250;
  for (;;) {
    const status = (await h.get('/probe/noop', token)).statusCode;
    if (status !== 200 || Date.now() > deadline) return status;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

function sessionOf(token: string): string {
  const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as {
    sid: string;
  };
  return payload.sid;
}

describe('session revocation across app instances sharing PostgreSQL and Redis', () => {
  // Both layers keep a session for a minute here, so only the broadcast can explain a refusal.
  const options: Partial<AuthOptions> = {
    mfaRequiredRoles: [],
    cacheNamespace: `auth-${randomUUID()}`,
    sessionCacheSeconds: 60,
    sessionLocalCacheSeconds: 60,
  };
  let a: Harness;
  let b: Harness;
  let raw: Redis;

  before(async () => {
    a = await authHarness(options);
    b = await authHarness(
      options,
      { IRIS_KEYS_DIR: a.ctx.config.keysDir },
      { database: a.runtime.database, redisUrl },
    );
    raw = new Redis(redisUrl);
  });
  after(async () => {
    await raw.quit();
    await b.close();
    await a.close();
  });

  async function signedIn(): Promise<string> {
    const token = await a.token(await a.user(['nurse'], { organizationId: 'org1' }));
    for (const h of [a, b]) assert.equal((await h.get('/probe/noop', token)).statusCode, 200);
    return token;
  }

  test('each instance serves a live session from memory, and drops it when told over Redis', async () => {
    const token = await signedIn();
    const sid = sessionOf(token);
    // Revoked behind the module's back and gone from Redis: only the in-process copy remains.
    await a.ctx.db.query('UPDATE auth_sessions SET revoked_at = now() WHERE id = $1', [sid]);
    await raw.del(`iris:${options.cacheNamespace}:session:${sid}`);
    assert.equal((await b.get('/probe/noop', token)).statusCode, 200, 'served from memory');
    await a.auth.service.sessions.forget([sid]);
    assert.equal((await a.get('/probe/noop', token)).statusCode, 401);
    assert.equal(await settled(b, token), 401);
  });

  test('logout in one instance: the token is refused at once there and in the other', async () => {
    const token = await signedIn();
    const out = await a.app.inject({ method: 'POST', url: '/api/v1/auth/logout', headers: bearer(token) });
    assert.deepEqual(out.json(), { revoked: 1 });
    assert.equal((await a.get('/probe/noop', token)).statusCode, 401);
    assert.equal(await settled(b, token), 401);
  });

  test('an administrator revoking sessions in the other instance ends them at once here', async () => {
    const user = await a.user(['nurse'], { organizationId: 'org1' });
    const token = await a.token(user);
    const adminToken = await b.token(await b.user(['system_admin']));
    for (const h of [a, b]) assert.equal((await h.get('/probe/noop', token)).statusCode, 200);
    const res = await b.app.inject({
      method: 'DELETE',
      url: `/api/v1/admin/users/${user.id}/sessions`,
      headers: bearer(adminToken),
    });
    assert.ok(res.statusCode >= 200 && res.statusCode < 300, res.body);
    assert.equal((await b.get('/probe/noop', token)).statusCode, 401);
    assert.equal(await settled(a, token), 401);
  });

  test('refresh-token reuse detected by one instance revokes the session in the other at once', async () => {
    const user = await a.user(['nurse'], { organizationId: 'org1' });
    const login = (await a.login(user.email)).json() as { accessToken: string; refreshToken: string };
    for (const h of [a, b]) assert.equal((await h.get('/probe/noop', login.accessToken)).statusCode, 200);
    const refresh = (h: Harness) =>
      h.app.inject({
        method: 'POST',
        url: '/api/v1/auth/refresh',
        payload: { refreshToken: login.refreshToken },
      });
    assert.equal((await refresh(a)).statusCode, 200);
    assert.equal((await refresh(b)).statusCode, 401, 'the rotated token is reused');
    assert.equal((await b.get('/probe/noop', login.accessToken)).statusCode, 401);
    assert.equal(await settled(a, login.accessToken), 401);
  });
});
