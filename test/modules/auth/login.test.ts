import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { authHarness, bearer, STRONG_PASSWORD, type Harness } from './harness.js';

interface Problem {
  status: number;
  title: string;
  detail: string;
  code: string;
}

describe('sign-in, lockout, refresh tokens and sessions', () => {
  let h: Harness;

  before(async () => {
    h = await authHarness({
      mfaRequiredRoles: [],
      accountLockout: { threshold: 5, baseSeconds: 60, maxSeconds: 3600 },
      ipLockout: { threshold: 12, windowSeconds: 900, baseSeconds: 60, maxSeconds: 3600 },
    });
  });
  after(() => h.close());

  test('login returns RS256 tokens and a session; the email is case-insensitive', async () => {
    const user = await h.user(['nurse'], { organizationId: 'org1', email: 'Mixed.Case@Example.org' });
    const res = await h.login('mixed.case@EXAMPLE.org');
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['cache-control'], 'no-store');
    const body = res.json() as {
      status: string;
      accessToken: string;
      refreshToken: string;
      expiresIn: number;
    };
    assert.equal(body.status, 'authenticated');
    assert.ok(body.expiresIn <= 900);
    assert.match(body.refreshToken, /^irt_/);
    assert.equal(h.events.of('user.authenticated').at(-1)?.aggregate.id, user.id);
    const dup = h.auth.admin.createUser(
      { email: 'MIXED.case@example.org', roles: ['nurse'] },
      { type: 'system', id: 't' },
    );
    await assert.rejects(dup, /already exists/);
  });

  test('unknown email and wrong password get the same answer', async () => {
    const user = await h.user(['nurse']);
    const wrong = await h.login(user.email, 'Definitely-Wrong-Password-1', '10.9.0.1');
    const unknown = await h.login('nobody-here@example.org', 'Definitely-Wrong-Password-1', '10.9.0.2');
    assert.equal(wrong.statusCode, 401);
    assert.equal(unknown.statusCode, 401);
    const strip = (p: Problem) => ({ status: p.status, title: p.title, detail: p.detail, code: p.code });
    assert.deepEqual(strip(wrong.json()), strip(unknown.json()));
    assert.equal(h.events.of('user.login_failed').length >= 2, true);
  });

  test('brute force locks the account; the right password is then refused; admin unlock restores it', async () => {
    const user = await h.user(['nurse']);
    for (let i = 0; i < 5; i += 1) {
      const res = await h.login(user.email, `Wrong-Password-Number-${i}`, `10.8.0.${i}`);
      assert.equal(res.statusCode, 401);
    }
    const locked = h.events.of('user.locked').filter((e) => e.aggregate.id === user.id);
    assert.equal(locked.length, 1);
    assert.equal((locked[0]?.payload as { lockedForSeconds: number }).lockedForSeconds, 60);
    assert.equal((await h.auth.admin.getUser(user.id)).status, 'locked');
    const right = await h.login(user.email, STRONG_PASSWORD, '10.8.1.1');
    assert.equal(right.statusCode, 401, 'locked: even the right password fails, with the same answer');

    await h.auth.admin.unlock(user.id, { type: 'user', id: 'admin' }, { ip: '127.0.0.1' });
    assert.equal((await h.login(user.email, STRONG_PASSWORD, '10.8.1.2')).statusCode, 200);
  });

  test('the lock grows with each lockout and lifts by itself when it expires', async () => {
    const user = await h.user(['nurse']);
    for (let round = 0; round < 2; round += 1) {
      for (let i = 0; i < 5; i += 1)
        await h.login(user.email, `Wrong-Password-${round}-${i}`, `10.7.${round}.${i}`);
      // Expire the lock by moving it into the past.
      await h.ctx.db.query("UPDATE auth_users SET locked_until = now() - interval '1 second' WHERE id = $1", [
        user.id,
      ]);
    }
    const seconds = h.events
      .of('user.locked')
      .filter((e) => e.aggregate.id === user.id)
      .map((e) => (e.payload as { lockedForSeconds: number }).lockedForSeconds);
    assert.deepEqual(seconds, [60, 120]);
    assert.equal((await h.login(user.email, STRONG_PASSWORD, '10.7.9.9')).statusCode, 200);
    assert.equal((await h.auth.admin.getUser(user.id)).status, 'active');
  });

  test('an address with many failures is blocked with 429 and Retry-After', async () => {
    const ip = '192.0.2.77';
    let last = 0;
    for (let i = 0; i < 12; i += 1)
      last = (await h.login(`spray-${i}@example.org`, 'Some-Password-123', ip)).statusCode;
    assert.equal(last, 401);
    const blocked = await h.login('spray-x@example.org', 'Some-Password-123', ip);
    assert.equal(blocked.statusCode, 429);
    assert.equal(blocked.headers['retry-after'], '60');
    const user = await h.user(['nurse']);
    assert.equal(
      (await h.login(user.email, STRONG_PASSWORD, ip)).statusCode,
      429,
      'blocked for everyone from there',
    );
    assert.equal((await h.login(user.email, STRONG_PASSWORD, '192.0.2.78')).statusCode, 200);
  });

  test('refresh rotates the token; reusing a rotated one revokes the whole session', async () => {
    const user = await h.user(['nurse'], { organizationId: 'org1' });
    const first = (await h.login(user.email)).json() as {
      accessToken: string;
      refreshToken: string;
      sessionId: string;
    };
    const refresh = (token: string) =>
      h.app.inject({ method: 'POST', url: '/api/v1/auth/refresh', payload: { refreshToken: token } });
    const second = await refresh(first.refreshToken);
    assert.equal(second.statusCode, 200);
    const rotated = second.json() as { accessToken: string; refreshToken: string; sessionId: string };
    assert.notEqual(rotated.refreshToken, first.refreshToken);
    assert.equal(rotated.sessionId, first.sessionId);

    const replay = await refresh(first.refreshToken);
    assert.equal(replay.statusCode, 401);
    const revoked = h.events.of('session.revoked').filter((e) => e.aggregate.id === first.sessionId);
    assert.equal((revoked[0]?.payload as { reason: string }).reason, 'refresh_token_reuse');
    assert.equal(h.audit.of('auth.refresh_reuse').length, 1);
    assert.equal((await refresh(rotated.refreshToken)).statusCode, 401, 'the legitimate successor dies too');
    assert.equal(
      (await h.get('/api/v1/auth/me', rotated.accessToken)).statusCode,
      401,
      'access tokens stop at once',
    );
    assert.equal((await h.get('/api/v1/auth/me', first.accessToken)).statusCode, 401);
  });

  test('logout revokes the session at once, even with its state cached', async () => {
    const user = await h.user(['nurse']);
    const token = await h.token(user);
    assert.equal((await h.get('/api/v1/auth/me', token)).statusCode, 200);
    const out = await h.app.inject({ method: 'POST', url: '/api/v1/auth/logout', headers: bearer(token) });
    assert.deepEqual(out.json(), { revoked: 1 });
    assert.equal((await h.get('/api/v1/auth/me', token)).statusCode, 401);
  });

  test('sessions: list with IP and user agent, revoke one, admin revokes all', async () => {
    const user = await h.user(['nurse']);
    const a = await h.token(user);
    const b = (
      await h.app.inject({
        method: 'POST',
        url: '/api/v1/auth/login',
        payload: { email: user.email, password: STRONG_PASSWORD },
        headers: { 'user-agent': 'IrisTest/2.0' },
        remoteAddress: '10.1.1.1',
      })
    ).json() as { accessToken: string; sessionId: string };
    const list = (await h.get('/api/v1/auth/sessions', a)).json() as Array<{
      id: string;
      ip: string;
      userAgent: string;
      current: boolean;
      lastUsedAt: string;
    }>;
    assert.equal(list.length, 2);
    const other = list.find((s) => s.id === b.sessionId);
    assert.equal(other?.ip, '10.1.1.1');
    assert.equal(other?.userAgent, 'IrisTest/2.0');
    assert.equal(other?.current, false);
    assert.equal(list.filter((s) => s.current).length, 1);

    const del = await h.app.inject({
      method: 'DELETE',
      url: `/api/v1/auth/sessions/${b.sessionId}`,
      headers: bearer(a),
    });
    assert.equal(del.statusCode, 204);
    assert.equal((await h.get('/api/v1/auth/me', b.accessToken)).statusCode, 401);
    assert.equal((await h.get('/api/v1/auth/me', a)).statusCode, 200);

    const stranger = await h.user(['nurse']);
    const strangerToken = await h.token(stranger);
    const notMine = await h.app.inject({
      method: 'DELETE',
      url: `/api/v1/auth/sessions/${list.find((s) => s.current)?.id}`,
      headers: bearer(strangerToken),
    });
    assert.equal(notMine.statusCode, 404, "another user's session cannot be revoked");

    const admin = await h.user(['system_admin']);
    const adminToken = await h.token(admin);
    const all = await h.app.inject({
      method: 'DELETE',
      url: `/api/v1/admin/users/${user.id}/sessions`,
      headers: bearer(adminToken),
    });
    assert.deepEqual(all.json(), { revoked: 1 });
    assert.equal((await h.get('/api/v1/auth/me', a)).statusCode, 401);
  });

  test('disabling a user revokes their sessions; they cannot sign in', async () => {
    const user = await h.user(['nurse']);
    const token = await h.token(user);
    await h.auth.admin.updateUser(
      user.id,
      { status: 'disabled' },
      { type: 'system', id: 't' },
      { ip: '127.0.0.1' },
    );
    assert.equal((await h.get('/api/v1/auth/me', token)).statusCode, 401);
    assert.equal((await h.login(user.email)).statusCode, 401);
  });

  test('role changes apply to live sessions at once', async () => {
    const user = await h.user(['registrar'], { organizationId: 'org1' });
    const token = await h.token(user);
    assert.equal((await h.get('/probe/Immunization/patient/p-org1-a', token)).statusCode, 403);
    await h.auth.admin.setRoles(user.id, ['nurse'], { type: 'system', id: 't' }, { ip: '127.0.0.1' });
    assert.equal((await h.get('/probe/Immunization/patient/p-org1-a', token)).statusCode, 200);
    assert.equal(h.events.of('role.changed').at(-1)?.aggregate.id, user.id);
  });

  test('a generated password must be changed at first sign-in; until then no permission', async () => {
    const created = await h.auth.admin.createUser(
      { email: 'first-login@example.org', roles: ['nurse'], organizationId: 'org1' },
      { type: 'system', id: 't' },
    );
    assert.ok(created.password && created.password.length >= 20);
    const res = (await h.login('first-login@example.org', created.password)).json() as {
      accessToken: string;
      requiredActions: string[];
    };
    assert.deepEqual(res.requiredActions, ['change_password']);
    assert.equal((await h.get('/probe/Patient/p-org1-a', res.accessToken)).statusCode, 403);
    const weak = await h.app.inject({
      method: 'POST',
      url: '/api/v1/auth/password/change',
      headers: bearer(res.accessToken),
      payload: { currentPassword: created.password, newPassword: 'password1234' },
    });
    assert.equal(weak.statusCode, 422);
    const changed = await h.app.inject({
      method: 'POST',
      url: '/api/v1/auth/password/change',
      headers: bearer(res.accessToken),
      payload: { currentPassword: created.password, newPassword: 'Vaccine-Ledger-Orbit-77' },
    });
    assert.equal(changed.statusCode, 204);
    assert.equal((await h.get('/probe/Patient/p-org1-a', res.accessToken)).statusCode, 200);
  });

  test('password reset: mailed single-use token; all sessions revoked; reuse refused', async () => {
    const user = await h.user(['nurse']);
    const token = await h.token(user);
    const ask = (email: string) =>
      h.app.inject({ method: 'POST', url: '/api/v1/auth/password/reset-request', payload: { email } });
    assert.equal((await ask('no-account@example.org')).statusCode, 202);
    assert.equal(h.mail.sent.length, 0);
    assert.equal((await ask(user.email)).statusCode, 202);
    const link = h.mail.sent.at(-1)?.text ?? '';
    const resetToken = /token=([A-Za-z0-9_-]+)/.exec(link)?.[1] ?? '';
    assert.match(resetToken, /^iprt_/);
    const stored = await h.ctx.db.query<{ token_hash: string }>(
      'SELECT token_hash FROM auth_password_resets',
    );
    assert.ok(
      stored.rows.every((r) => !r.token_hash.includes(resetToken)),
      'stored hashed',
    );
    const reset = (newPassword: string) =>
      h.app.inject({
        method: 'POST',
        url: '/api/v1/auth/password/reset',
        payload: { token: resetToken, newPassword },
      });
    assert.equal((await reset('short')).statusCode, 422, 'policy first; the token is not burnt');
    assert.equal((await reset('Granite-Meadow-Lantern-58')).statusCode, 204);
    assert.equal((await reset('Another-Granite-Meadow-59')).statusCode, 400, 'single use');
    assert.equal((await h.get('/api/v1/auth/me', token)).statusCode, 401);
    assert.equal((await h.login(user.email, 'Granite-Meadow-Lantern-58')).statusCode, 200);
  });

  test('argon2id hashes are upgraded at sign-in when the parameters change', async () => {
    const user = await h.user(['nurse']);
    const before = await h.ctx.db.query<{ password_hash: string }>(
      'SELECT password_hash FROM auth_credentials WHERE user_id = $1',
      [user.id],
    );
    assert.match(before.rows[0]?.password_hash ?? '', /^\$argon2id\$v=19\$m=1024,p=1,t=1\$/);
    const stronger = await authHarnessLike(h);
    assert.equal(
      (await stronger.login(user.email, STRONG_PASSWORD, { ip: '127.0.0.1' })).status,
      'authenticated',
    );
    const after = await h.ctx.db.query<{ password_hash: string }>(
      'SELECT password_hash FROM auth_credentials WHERE user_id = $1',
      [user.id],
    );
    assert.match(after.rows[0]?.password_hash ?? '', /^\$argon2id\$v=19\$m=2048,p=1,t=2\$/);
  });
});

/** The same database and ports with stronger hash parameters, as after a configuration change. */
async function authHarnessLike(h: Harness) {
  const { createAuth } = await import('../../../src/modules/auth/wiring.js');
  return createAuth(h.ctx, {
    events: h.events,
    audit: h.audit,
    mail: h.mail,
    options: { passwordHash: { memoryCost: 2048, timeCost: 2, parallelism: 1 }, mfaRequiredRoles: [] },
  }).service;
}
