import assert from 'node:assert/strict';
import { test } from 'node:test';
import { serverStatementName } from '../../../src/platform/db/postgres.js';

test('short statement names are kept; long ones become distinct digests the server keeps whole', () => {
  assert.equal(serverStatementName('fhir_insert_versions'), 'fhir_insert_versions');
  const prefix = 'x'.repeat(63);
  const a = serverStatementName(`${prefix}_a`);
  const b = serverStatementName(`${prefix}_b`);
  assert.notEqual(a, b);
  assert.ok(a.length <= 63 && b.length <= 63);
  assert.equal(serverStatementName(`${prefix}_a`), a);
});
