import assert from 'node:assert/strict';
import { mkdtemp, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { buildProgram } from '../src/cli.js';
import { runEntry } from './helpers/process.js';

describe('iris command line', () => {
  test('lists the platform commands and every module command in --help', () => {
    const help = buildProgram().helpInformation();
    for (const command of ['serve', 'version', 'migrate', 'keys', 'backup', 'restore']) {
      assert.match(help, new RegExp(`^\\s+${command}\\b`, 'm'), command);
    }
  });

  test('version, migrate and keys work end to end on a fresh data dir', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'iris-cli-'));
    const env = { IRIS_DATA_DIR: dataDir, LOG_LEVEL: 'warn' };
    const version = await runEntry('src/iris.ts', ['version'], env);
    assert.match(version.stdout, /^iris \d+\.\d+\.\d+ \(node v\d+/);

    const migrate = await runEntry('src/iris.ts', ['migrate'], env);
    assert.equal(migrate.code, 0, migrate.stderr);
    const status = await runEntry('src/iris.ts', ['migrate', '--status'], env);
    assert.equal(status.code, 0, status.stderr);
    assert.doesNotMatch(status.stdout, /pending/);

    const keysDir = join(dataDir, 'prod-keys');
    const init = await runEntry('src/iris.ts', ['keys', 'init', '--dir', keysDir], env);
    assert.equal(init.code, 0, init.stderr);
    assert.equal(init.stdout.trim().split('\n').length, 4);
    assert.deepEqual((await readdir(keysDir)).sort(), [
      'audit-signing',
      'blind-index',
      'data-encryption',
      'token-signing',
    ]);

    const rotate = await runEntry('src/iris.ts', ['keys', 'rotate', 'blind-index'], {
      ...env,
      IRIS_KEYS_DIR: keysDir,
    });
    assert.equal(rotate.code, 0, rotate.stderr);
    const list = await runEntry('src/iris.ts', ['keys', 'list'], { ...env, IRIS_KEYS_DIR: keysDir });
    const blind = list.stdout.split('\n').filter((l) => l.startsWith('blind-index'));
    assert.equal(blind.length, 2);
    assert.match(blind[1]!, /active$/);

    const bad = await runEntry('src/iris.ts', ['keys', 'rotate', 'everything'], {
      ...env,
      IRIS_KEYS_DIR: keysDir,
    });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^iris: unknown key purpose "everything"/);
  });

  test('production without a keyring refuses to start and says what is missing', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'iris-prod-'));
    const result = await runEntry('src/main.ts', [], {
      NODE_ENV: 'production',
      IRIS_DATA_DIR: dataDir,
      IRIS_KEYS_DIR: join(dataDir, 'empty-keys'),
      PORT: '1',
    });
    assert.equal(result.code, 2);
    assert.match(result.stderr, /^iris: the keyring in .* has no key for access-token signing \(RS256\)/);
    assert.match(result.stderr, /iris keys init --dir/);
  });
});
