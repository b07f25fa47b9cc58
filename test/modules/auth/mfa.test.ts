import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { authHarness, bearer, STRONG_PASSWORD, totpCode, type Harness, type TestUser } from './harness.js';

describe('TOTP MFA, step-up and break-glass', () => {
  let h: Harness;

  before(async () => {
    h = await authHarness();
  });
  after(() => h.close());

  const post = (url: string, token: string | undefined, payload?: object) =>
    h.app.inject({
      method: 'POST',
      url,
      headers: token ? bearer(token) : {},
      ...(payload ? { payload } : {}),
    });

  /** Signs in a user of an MFA-required role and completes enrolment; returns secret and tokens. */
  async function enrolled(user: TestUser) {
    const first = (await h.login(user.email)).json() as { accessToken: string; requiredActions: string[] };
    const start = await post('/api/v1/auth/mfa/enroll', first.accessToken, { password: user.password });
    assert.equal(start.statusCode, 200);
    const { secret } = start.json() as { secret: string };
    const verify = await post('/api/v1/auth/mfa/verify', first.accessToken, { code: totpCode(secret) });
    assert.equal(verify.statusCode, 200, verify.body);
    const { recoveryCodes } = verify.json() as { recoveryCodes: string[] };
    return { secret, recoveryCodes, token: first.accessToken, requiredActions: first.requiredActions };
  }

  test('clinical roles must enrol: until then the session holds no permission', async () => {
    const user = await h.user(['physician'], { organizationId: 'org1' });
    const first = (await h.login(user.email)).json() as { accessToken: string; requiredActions: string[] };
    assert.deepEqual(first.requiredActions, ['enroll_mfa']);
    assert.equal((await h.get('/probe/Patient/p-org1-a', first.accessToken)).statusCode, 403);
    const analyst = await h.user(['analyst']);
    const plain = (await h.login(analyst.email)).json() as { requiredActions: string[] };
    assert.deepEqual(plain.requiredActions, [], 'analyst is not in the MFA-required roles by default');
  });

  test('enrolment: secret, otpauth URI, QR image; verify confirms, returns 10 recovery codes, lifts the restriction', async () => {
    const user = await h.user(['nurse'], { organizationId: 'org1' });
    const first = (await h.login(user.email)).json() as { accessToken: string };
    const wrongPassword = await post('/api/v1/auth/mfa/enroll', first.accessToken, {
      password: 'Not-The-Password-1',
    });
    assert.equal(wrongPassword.statusCode, 403);
    const start = await post('/api/v1/auth/mfa/enroll', first.accessToken, { password: user.password });
    const body = start.json() as { secret: string; otpauthUri: string; qrDataUrl: string };
    assert.match(body.secret, /^[A-Z2-7]{32}$/);
    assert.match(body.otpauthUri, /^otpauth:\/\/totp\/IRIS%20Health:.+\?issuer=IRIS%20Health&secret=/);
    assert.match(body.qrDataUrl, /^data:image\/png;base64,/);
    const stored = await h.ctx.db.query<{ secret_enc: string; key_id: string }>(
      'SELECT secret_enc, key_id FROM auth_mfa_totp WHERE user_id = $1',
      [user.id],
    );
    assert.ok(!stored.rows[0]?.secret_enc.includes(body.secret), 'encrypted at rest');
    assert.match(stored.rows[0]?.key_id ?? '', /^data-encryption-/);

    assert.equal(
      (await post('/api/v1/auth/mfa/verify', first.accessToken, { code: '000000' })).statusCode,
      403,
    );
    const verify = await post('/api/v1/auth/mfa/verify', first.accessToken, { code: totpCode(body.secret) });
    const { recoveryCodes } = verify.json() as { recoveryCodes: string[] };
    assert.equal(recoveryCodes.length, 10);
    assert.equal(new Set(recoveryCodes).size, 10);
    assert.equal(h.events.of('mfa.enrolled').at(-1)?.aggregate.id, user.id);
    assert.equal((await h.get('/probe/Patient/p-org1-a', first.accessToken)).statusCode, 200);
    const hashes = await h.ctx.db.query<{ code_hash: string }>(
      'SELECT code_hash FROM auth_mfa_recovery_codes WHERE user_id = $1',
      [user.id],
    );
    assert.ok(
      hashes.rows.every((r) => /^[0-9a-f]{64}$/.test(r.code_hash)),
      'recovery codes stored hashed',
    );
  });

  test('sign-in with MFA: a challenge, then the code; a replayed code is refused', async () => {
    const user = await h.user(['nurse'], { organizationId: 'org1' });
    const { secret } = await enrolled(user);
    const challenge = (await h.login(user.email)).json() as {
      status: string;
      challengeToken: string;
      accessToken?: string;
    };
    assert.equal(challenge.status, 'mfa_required');
    assert.equal(challenge.accessToken, undefined);
    const complete = (code: string, token = challenge.challengeToken) =>
      post('/api/v1/auth/login/mfa', undefined, { challengeToken: token, code });

    const usedAtEnrolment = totpCode(secret);
    assert.equal(
      (await complete(usedAtEnrolment)).statusCode,
      401,
      'the code used to enrol cannot be replayed',
    );
    const next = totpCode(secret, Date.now() + 30_000);
    const ok = await complete(next);
    assert.equal(ok.statusCode, 200, ok.body);
    assert.equal((ok.json() as { status: string }).status, 'authenticated');

    const again = (await h.login(user.email)).json() as { challengeToken: string };
    assert.equal((await complete(next, again.challengeToken)).statusCode, 401, 'TOTP replay rejected');
  });

  test('a recovery code works once', async () => {
    const user = await h.user(['nurse'], { organizationId: 'org1' });
    const { recoveryCodes } = await enrolled(user);
    const code = recoveryCodes[0] as string;
    const use = async () => {
      const c = (await h.login(user.email)).json() as { challengeToken: string };
      return post('/api/v1/auth/login/mfa', undefined, {
        challengeToken: c.challengeToken,
        recoveryCode: code.toLowerCase(),
      });
    };
    assert.equal((await use()).statusCode, 200);
    assert.equal((await use()).statusCode, 401);
  });

  test('a challenge allows five wrong codes, then it is void', async () => {
    const user = await h.user(['nurse'], { organizationId: 'org1' });
    const { secret } = await enrolled(user);
    const c = (await h.login(user.email)).json() as { challengeToken: string };
    for (let i = 0; i < 5; i += 1) {
      const res = await post('/api/v1/auth/login/mfa', undefined, {
        challengeToken: c.challengeToken,
        code: '123456',
      });
      assert.equal(res.statusCode, 401);
    }
    const right = await post('/api/v1/auth/login/mfa', undefined, {
      challengeToken: c.challengeToken,
      code: totpCode(secret, Date.now() + 30_000),
    });
    assert.equal(right.statusCode, 401);
  });

  test('step-up: break-glass needs a fresh MFA and a reason; it opens one patient for a limited time, audited and alerted', async () => {
    const user = await h.user(['physician'], { organizationId: 'org1' });
    const { secret, token } = await enrolled(user);
    assert.equal((await h.get('/probe/Patient/p-org2-a', token)).statusCode, 403);

    // Age the verification beyond the step-up window.
    await h.ctx.db.query(
      "UPDATE auth_sessions SET mfa_verified_at = now() - interval '10 minutes' WHERE user_id = $1",
      [user.id],
    );
    await h.auth.service.sessions.forgetUsers(h.ctx.db, [user.id]);
    const stale = await post('/api/v1/auth/break-glass', token, {
      patientId: 'p-org2-a',
      reason: 'Unconscious patient in the ER',
    });
    assert.equal(stale.statusCode, 403);
    assert.match(String(stale.headers['www-authenticate']), /insufficient_user_authentication/);

    const step = await post('/api/v1/auth/mfa/verify', token, {
      code: totpCode(secret, Date.now() + 30_000),
    });
    assert.equal(step.statusCode, 200);
    const noReason = await post('/api/v1/auth/break-glass', token, {
      patientId: 'p-org2-a',
      reason: 'because',
    });
    assert.equal(noReason.statusCode, 400);
    const opened = await post('/api/v1/auth/break-glass', token, {
      patientId: 'p-org2-a',
      reason: 'Unconscious patient in the ER',
    });
    assert.equal(opened.statusCode, 201, opened.body);
    const grant = opened.json() as { expiresAt: string };
    const minutes = (Date.parse(grant.expiresAt) - Date.now()) / 60_000;
    assert.ok(minutes > 59 && minutes <= 60, 'default 60 minutes');
    assert.equal((await h.get('/probe/Patient/p-org2-a', token)).statusCode, 200);
    assert.equal((await h.get('/probe/Patient/p-org2-b', token)).statusCode, 403, 'only that patient');

    const audit = h.audit.of('break_glass.opened').at(-1);
    assert.equal(audit?.purposeOfUse, 'ETREAT');
    assert.deepEqual(audit?.patientIds, ['p-org2-a']);
    assert.equal(audit?.details?.reason, 'Unconscious patient in the ER');
    const event = h.events.of('break_glass.opened').at(-1);
    assert.equal((event?.payload as { patientId: string }).patientId, 'p-org2-a');

    await h.ctx.db.query(
      "UPDATE auth_break_glass_grants SET expires_at = now() - interval '1 second' WHERE user_id = $1",
      [user.id],
    );
    await h.auth.service.sessions.forgetUsers(h.ctx.db, [user.id]);
    assert.equal(
      (await h.get('/probe/Patient/p-org2-a', token)).statusCode,
      403,
      'expired grants reach nothing',
    );
  });

  test('roles without breakglass:open cannot break the glass even with fresh MFA', async () => {
    const user = await h.user(['system_admin']);
    const { token } = await enrolled(user);
    const res = await post('/api/v1/auth/break-glass', token, {
      patientId: 'p-org2-a',
      reason: 'Curious about this patient',
    });
    assert.equal(res.statusCode, 403);
  });

  test('key rotation over HTTP needs key:manage and a fresh MFA', async () => {
    const user = await h.user(['system_admin']);
    const { token } = await enrolled(user);
    const res = await post('/api/v1/admin/keys/token-signing/rotate', token);
    assert.equal(res.statusCode, 201, res.body);
    assert.equal((res.json() as { kid: string }).kid, h.ctx.keyring.active('token-signing').kid);
  });

  test('recovery codes can be replaced (step-up); MFA can be disabled with password and code', async () => {
    const user = await h.user(['analyst']);
    const { secret, token } = await enrolled(user);
    const fresh = await post('/api/v1/auth/mfa/recovery', token);
    assert.equal(fresh.statusCode, 200);
    assert.equal((fresh.json() as { recoveryCodes: string[] }).recoveryCodes.length, 10);
    const bad = await post('/api/v1/auth/mfa/disable', token, { password: STRONG_PASSWORD, code: '000000' });
    assert.equal(bad.statusCode, 403);
    const off = await post('/api/v1/auth/mfa/disable', token, {
      password: STRONG_PASSWORD,
      code: totpCode(secret, Date.now() + 30_000),
    });
    assert.equal(off.statusCode, 204);
    assert.equal(((await h.login(user.email)).json() as { status: string }).status, 'authenticated');
  });
});
