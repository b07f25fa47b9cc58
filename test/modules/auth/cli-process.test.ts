import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { freePort, spawnEntry, waitFor, type Spawned } from '../../helpers/process.js';

const ROOT = new URL('../../../', import.meta.url).pathname;

/** Runs `iris` with `input` piped to its standard input (spawnEntry ignores stdin). */
function iris(args: string[], env: Record<string, string>, input: string) {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/iris.ts', ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdin.end(input);
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    child.on('exit', (code) => resolve({ code, stdout, stderr })),
  );
}

const PASSWORD = 'Piped-Through-Stdin-Rosemary-81';

// The commands run while no server holds the data dir (each opens it itself); sign-ins go over
// HTTP to `iris serve` started afterwards on the same dir.
describe('iris user create --password-stdin, then sign-in over HTTP', () => {
  let dataDir: string;
  let env: Record<string, string>;
  let server: Spawned | undefined;

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'iris-auth-cli-'));
    env = { IRIS_DATA_DIR: dataDir, PORT: String(await freePort()), LOG_LEVEL: 'warn' };
  });

  after(async () => {
    await stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  async function serve(): Promise<string> {
    const started = spawnEntry('src/main.ts', [], env);
    server = started;
    await waitFor(
      () => started.stdout().includes('serving at') || started.child.exitCode !== null,
      90_000,
      'the server',
    );
    assert.equal(started.child.exitCode, null, started.stderr());
    return `http://127.0.0.1:${env.PORT}`;
  }

  async function stop(): Promise<void> {
    if (!server) return;
    server.child.kill('SIGTERM');
    await server.exited;
    server = undefined;
  }

  const login = (base: string, email: string, password: string) =>
    fetch(`${base}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email, password }),
    });

  const create = (email: string, input: string, extra: Record<string, string> = {}) =>
    iris(
      ['user', 'create', '--email', email, '--role', 'registrar', '--password-stdin'],
      { ...env, ...extra },
      input,
    );

  test('a piped password (trailing newline dropped) signs in; a weak one is refused, one line, exit 2', async () => {
    const created = await create('Desk@Example.org', `${PASSWORD}\n`);
    assert.equal(created.code, 0, created.stderr);
    assert.match(created.stdout, /^created Desk@Example\.org \([0-9a-f-]{36}\) with roles registrar\n$/);
    assert.doesNotMatch(created.stdout, /password/i, 'nothing generated, nothing printed');

    const weak = await create('weak@example.org', 'password123\n');
    assert.equal(weak.code, 2);
    assert.equal(weak.stdout, '');
    assert.equal(weak.stderr.split('\n').filter(Boolean).length, 1, weak.stderr);
    assert.match(weak.stderr, /^iris: .*password/i);
    assert.doesNotMatch(weak.stderr, /password123/, 'the rejected password is not echoed');

    const base = await serve();
    const res = await login(base, 'desk@example.org', PASSWORD);
    assert.equal(res.status, 200);
    const { accessToken } = (await res.json()) as { accessToken: string };
    const me = await fetch(`${base}/api/v1/auth/me`, { headers: { authorization: `Bearer ${accessToken}` } });
    const body = (await me.json()) as { roles: string[]; permissions: string[] };
    assert.deepEqual(body.roles, ['registrar']);
    assert.ok(body.permissions.includes('patient:write'));
    assert.equal((await login(base, 'desk@example.org', `${PASSWORD}x`)).status, 401);
    assert.equal((await login(base, 'weak@example.org', 'password123')).status, 401);
    await stop();

    // The refused attempt left nothing behind: the same email is still free.
    const retry = await create('weak@example.org', PASSWORD);
    assert.equal(retry.code, 0, retry.stderr);
  });

  test('an empty stdin and a bad IRIS_ADMIN_EMAIL are one-line operator errors (exit 2)', async () => {
    const empty = await create('empty@example.org', '');
    assert.equal(empty.code, 2);
    assert.equal(empty.stderr, 'iris: no password on standard input\n');
    const config = await create('x@example.org', PASSWORD, { IRIS_ADMIN_EMAIL: 'not-an-address' });
    assert.equal(config.code, 2);
    assert.equal(
      config.stderr,
      'iris: IRIS_ADMIN_EMAIL must be an email address such as admin@example.org (got "not-an-address")\n',
    );
  });
});
