import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { decodeJwt } from 'jose';
import { ConfigError, loadConfig } from '../../../src/config.js';
import { CdsClientVerifier } from '../../../src/modules/immunization/cds-hooks/client-jwt.js';
import { MemoryCache } from '../../../src/platform/cache/index.js';
import { IrisError } from '../../../src/platform/http/errors.js';
import { EHR_ISSUER, testCdsClient, type TestCdsClient } from './cds-client.js';

const AUDIENCE = 'https://iris.example/cds-services/immunization-forecast';

describe('CDS Hooks client JWT verification', () => {
  let client: TestCdsClient;
  let verifier: CdsClientVerifier;

  before(async () => {
    client = await testCdsClient();
    verifier = new CdsClientVerifier({
      clients: [{ issuer: EHR_ISSUER, jwksUrl: client.jwksUrl }],
      cache: new MemoryCache(),
    });
  });
  after(() => client.close());

  const rejects = async (token: string, reason: RegExp, audience = AUDIENCE) => {
    await assert.rejects(verifier.verify(token, audience), (error: unknown) => {
      assert.ok(error instanceof IrisError);
      assert.equal(error.statusCode, 401);
      assert.match(error.message, reason);
      assert.match(error.headers['www-authenticate'] ?? '', /invalid_token/);
      return true;
    });
  };

  test('a JWT signed by a key of the configured JWKS, for this endpoint, is accepted once', async () => {
    const token = await client.sign(AUDIENCE);
    assert.equal(verifier.claimsClient(token), true);
    assert.deepEqual(await verifier.verify(token, AUDIENCE), {
      issuer: EHR_ISSUER,
      subject: 'ehr-client-id',
      tenant: 'clinic-1',
    });
    await rejects(token, /already used/);
  });

  test('expired, wrong audience, unknown issuer and bad signature are refused', async () => {
    const past = Math.floor(Date.now() / 1000) - 600;
    await rejects(await client.sign(AUDIENCE, { issuedAt: past, lifetimeSeconds: 120 }), /not valid/);
    await rejects(await client.sign('https://elsewhere.example/cds-services/x'), /not valid/);
    await rejects(await client.sign(AUDIENCE, { key: await client.otherKey() }), /not valid/);
    const stranger = await client.sign(AUDIENCE, { issuer: 'https://stranger.example' });
    assert.equal(decodeJwt(stranger).iss, 'https://stranger.example');
    assert.equal(verifier.claimsClient(stranger), false);
    await rejects(stranger, /not a known CDS client/);
    await rejects('not-a-jwt', /not a JWT/);
  });

  test('a jku other than the configured JWKS URL, and lifetimes over five minutes, are refused', async () => {
    await rejects(
      await client.sign(AUDIENCE, { header: { jku: 'http://127.0.0.1:1/evil/jwks.json' } }),
      /jku/,
    );
    await rejects(await client.sign(AUDIENCE, { lifetimeSeconds: 3600 }), /five minutes/);
  });
});

describe('CDS_HOOKS_CLIENTS', () => {
  const load = (value: string) =>
    loadConfig({ NODE_ENV: 'test', IRIS_DATA_DIR: '/tmp/iris-cds-config', CDS_HOOKS_CLIENTS: value });

  test('parses issuer=JWKS URL pairs', () => {
    assert.deepEqual(
      load('https://ehr.example=https://ehr.example/jwks.json?v=2, ehr-b=http://127.0.0.1:9/jwks')
        .cdsHooksClients,
      [
        { issuer: 'https://ehr.example', jwksUrl: 'https://ehr.example/jwks.json?v=2' },
        { issuer: 'ehr-b', jwksUrl: 'http://127.0.0.1:9/jwks' },
      ],
    );
    assert.deepEqual(loadConfig({ NODE_ENV: 'test', IRIS_DATA_DIR: '/tmp/x' }).cdsHooksClients, []);
  });

  test('refuses a pair without issuer, a non-URL, and plain http off loopback', () => {
    for (const bad of [
      'https://ehr.example/jwks.json',
      '=https://a/jwks',
      'ehr=not a url',
      'ehr=http://ehr.example/jwks',
    ]) {
      assert.throws(
        () => load(bad),
        (error: unknown) => {
          assert.ok(error instanceof ConfigError, bad);
          assert.match(error.message, /CDS_HOOKS_CLIENTS/);
          return true;
        },
      );
    }
  });
});
