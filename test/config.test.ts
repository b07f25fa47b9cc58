import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { describe, test } from 'node:test';
import { ConfigError, loadConfig } from '../src/config.js';

describe('configuration', () => {
  test('embedded defaults when nothing is set', () => {
    const config = loadConfig({});
    assert.equal(config.http.port, 8080);
    assert.equal(config.http.host, '127.0.0.1');
    assert.equal(config.dataDir, resolve('./data'));
    assert.equal(config.keysDir, resolve('./data/keys'));
    assert.equal(config.database.url, undefined);
    assert.equal(config.redisUrl, undefined);
    assert.deepEqual(config.storage, { kind: 'local', root: resolve('./data/objects') });
    assert.equal(config.env, 'development');
    assert.equal(config.http.publicUrl, 'http://127.0.0.1:8080');
  });

  test('a bad PORT names the variable, the rule and the value', () => {
    assert.throws(() => loadConfig({ PORT: 'eighty' }), {
      name: 'ConfigError',
      message: 'PORT must be a whole number from 1 to 65535 (got "eighty")',
    });
    assert.throws(
      () => loadConfig({ PORT: '70000' }),
      /^ConfigError: PORT must be a whole number from 1 to 65535/,
    );
  });

  test('secrets are never echoed back in the error', () => {
    try {
      loadConfig({ DATABASE_URL: 'mysql://root:hunter2@db/x' });
      assert.fail('expected a ConfigError');
    } catch (error) {
      assert.ok(error instanceof ConfigError);
      assert.match(
        error.message,
        /^DATABASE_URL must be a URL starting with postgres:\/\/ or postgresql:\/\//,
      );
      assert.doesNotMatch(error.message, /hunter2/);
    }
  });

  test('body size, log level and CORS list are parsed', () => {
    const config = loadConfig({
      BODY_LIMIT: '2mb',
      LOG_LEVEL: 'debug',
      CORS_ORIGINS: 'https://a.example, https://b.example',
    });
    assert.equal(config.http.bodyLimit, 2 * 1024 * 1024);
    assert.equal(config.logLevel, 'debug');
    assert.deepEqual(config.http.corsOrigins, ['https://a.example', 'https://b.example']);
    assert.throws(() => loadConfig({ LOG_LEVEL: 'loud' }), /^ConfigError: LOG_LEVEL must be one of/);
    assert.throws(() => loadConfig({ BODY_LIMIT: 'huge' }), /^ConfigError: BODY_LIMIT must be a size/);
  });

  test('S3 needs a bucket and credentials together', () => {
    assert.throws(
      () => loadConfig({ S3_BUCKET: 'records' }),
      /^ConfigError: S3_ACCESS_KEY_ID is required when S3_BUCKET is set/,
    );
    assert.throws(
      () => loadConfig({ S3_ENDPOINT: 'http://127.0.0.1:9000' }),
      /^ConfigError: S3_BUCKET is required/,
    );
    const config = loadConfig({
      S3_ENDPOINT: 'http://127.0.0.1:9000',
      S3_BUCKET: 'records',
      S3_ACCESS_KEY_ID: 'id',
      S3_SECRET_ACCESS_KEY: 'secret',
    });
    assert.equal(config.storage.kind, 's3');
  });

  test('production refuses to run without an explicit keyring directory', () => {
    assert.throws(
      () => loadConfig({ NODE_ENV: 'production' }),
      /^ConfigError: IRIS_KEYS_DIR is required in production/,
    );
    const config = loadConfig({ NODE_ENV: 'production', IRIS_KEYS_DIR: '/run/secrets/iris-keys' });
    assert.equal(config.keysConfigured, true);
    assert.equal(config.keysDir, '/run/secrets/iris-keys');
  });

  test('identity settings: MFA roles and first administrator, with their defaults', () => {
    const defaults = loadConfig({});
    assert.deepEqual(defaults.auth.mfaRequiredRoles, [
      'system_admin',
      'security_officer',
      'physician',
      'nurse',
      'pharmacist',
    ]);
    assert.equal(defaults.auth.adminEmail, 'admin@iris.local');
    const set = loadConfig({
      IRIS_MFA_REQUIRED_ROLES: ' physician, nurse ',
      IRIS_ADMIN_EMAIL: 'Ops@Example.org',
    });
    assert.deepEqual(set.auth.mfaRequiredRoles, ['physician', 'nurse']);
    assert.equal(set.auth.adminEmail, 'ops@example.org');
    assert.deepEqual(loadConfig({ IRIS_MFA_REQUIRED_ROLES: '' }).auth.mfaRequiredRoles, []);
  });

  test('bad identity settings name the variable, the rule and the value', () => {
    assert.throws(() => loadConfig({ IRIS_MFA_REQUIRED_ROLES: 'physician;nurse' }), {
      name: 'ConfigError',
      message:
        'IRIS_MFA_REQUIRED_ROLES must be a comma-separated list of role names (lower case letters, digits and _), e.g. physician,nurse (got "physician;nurse")',
    });
    assert.throws(
      () => loadConfig({ IRIS_MFA_REQUIRED_ROLES: 'Physician' }),
      /^ConfigError: IRIS_MFA_REQUIRED_ROLES must be a comma-separated list of role names/,
    );
    assert.throws(() => loadConfig({ IRIS_ADMIN_EMAIL: 'admin' }), {
      name: 'ConfigError',
      message: 'IRIS_ADMIN_EMAIL must be an email address such as admin@example.org (got "admin")',
    });
    assert.throws(
      () => loadConfig({ IRIS_ADMIN_EMAIL: 'a b@example.org' }),
      /^ConfigError: IRIS_ADMIN_EMAIL must be an email address/,
    );
  });
});
