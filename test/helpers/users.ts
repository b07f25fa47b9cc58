import { authFor } from '../../src/modules/auth/index.js';
import type { TestApp } from './app.js';

const PASSWORD = 'Correct-Horse-Battery-Staple-42';
let users = 0;

/** An access token of a new user with these roles (and organization or own patient record). */
export async function tokenFor(
  t: TestApp,
  roles: string[],
  extra: { organizationId?: string; patientId?: string } = {},
): Promise<string> {
  users += 1;
  const email = `test-user${users}-${roles.join('-') || 'none'}@example.org`;
  await authFor(t.runtime.ctx).admin.createUser(
    {
      email,
      name: `Test User ${users}`,
      roles,
      password: PASSWORD,
      organizationId: extra.organizationId ?? null,
      patientId: extra.patientId ?? null,
    },
    { type: 'system', id: 'test' },
  );
  const res = await t.app.inject({
    method: 'POST',
    url: '/api/v1/auth/login',
    payload: { email, password: PASSWORD },
  });
  const body = res.json() as { accessToken?: string };
  if (res.statusCode !== 200 || !body.accessToken)
    throw new Error(`login failed: ${res.statusCode} ${res.body}`);
  return body.accessToken;
}

export function bearer(token: string): Record<string, string> {
  return { authorization: `Bearer ${token}` };
}

/** Polls until `check` answers a value (bounded), for work done in the background. */
export async function eventually<T>(
  check: () => Promise<T | undefined>,
  what: string,
  timeoutMs = 20_000,
): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
