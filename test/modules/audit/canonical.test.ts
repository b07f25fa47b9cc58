import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { canonicalize } from '../../../src/modules/audit/canonical.js';
import {
  canonicalParts,
  chainEntry,
  chainParts,
  GENESIS_HASH,
  InvalidAuditRecordError,
  normalizeRecord,
} from '../../../src/modules/audit/chain.js';

describe('canonical form (RFC 8785)', () => {
  test('the RFC 8785 example serialises as the RFC says', () => {
    const input = JSON.parse(
      '{"numbers":[333333333.33333329,1E30,4.50,2e-3,0.000000000000000000000000001],' +
        '"string":"\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/","literals":[null,true,false]}',
    ) as unknown;
    assert.equal(
      canonicalize(input),
      '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],' +
        '"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}',
    );
  });

  test('keys sort by UTF-16 code units, as RFC 8785 requires', () => {
    assert.equal(
      canonicalize({ '\u20ac': 1, '\r': 2, '\ud83d\ude00': 3, '1': 4, a: 5 }),
      '{"\\r":2,"1":4,"a":5,"€":1,"😀":3}',
    );
  });

  test('values JSON cannot carry are refused rather than written differently', () => {
    assert.throws(() => canonicalize(Number.NaN), /NaN/);
    assert.throws(() => canonicalize(undefined), /no JSON representation/);
  });

  test("the sequencer's pre-serialised fast path is byte-identical to canonicalizing the whole entry", () => {
    const records = [
      { action: 'fhir.read', outcome: 'success' as const, actor: { type: 'user' as const, id: 'u1' } },
      {
        action: 'break_glass.opened',
        outcome: 'success' as const,
        actor: { type: 'user' as const, id: 'dr "quoted" \\ ü' },
        patientIds: ['p1', 'p2', 'p1'],
        resource: { type: 'Patient', id: 'p1', versionId: '3', previousVersionId: '2' },
        purposeOfUse: 'ETREAT',
        sourceIp: '2001:db8::1',
        userAgent: 'Mozilla/5.0 \u2028 ☃',
        requestId: 'r1',
        details: { z: [1, 2.5, -0, 1e21], a: { prevHash: 'x', seq: 9 }, é: null, reason: 'line\nbreak' },
      },
      { action: 'auth.login', outcome: 'failure' as const, actor: null, details: { username: 'nurse.jo' } },
    ];
    for (const [i, record] of records.entries()) {
      const entry = normalizeRecord(record, new Date(Date.UTC(2026, 0, 2, 3, 4, 5, i)));
      const parts = canonicalParts(JSON.parse(JSON.stringify(entry)) as typeof entry);
      const fast = chainParts(parts, 42 + i, '2026-01-02T03:04:06.000Z', GENESIS_HASH);
      const reference = chainEntry(entry, 42 + i, '2026-01-02T03:04:06.000Z', GENESIS_HASH);
      assert.equal(fast.canonical, reference.canonical);
      assert.equal(fast.hash, reference.hash);
      assert.equal(canonicalize(JSON.parse(fast.canonical)), fast.canonical);
    }
  });

  test('records are validated and normalised into one fixed shape', () => {
    const entry = normalizeRecord(
      { action: 'fhir.search', outcome: 'success', actor: null, patientIds: ['a', 'a', 'b'] },
      new Date(0),
    );
    assert.deepEqual(entry.patientIds, ['a', 'b']);
    assert.equal(entry.resource, null);
    assert.equal(entry.details, null);
    assert.throws(
      () => normalizeRecord({ action: 'not an action', outcome: 'success', actor: null }, new Date()),
      InvalidAuditRecordError,
    );
    assert.throws(
      () => normalizeRecord({ action: 'a.b', outcome: 'maybe' as 'success', actor: null }, new Date()),
      InvalidAuditRecordError,
    );
    assert.throws(
      () =>
        normalizeRecord(
          { action: 'a.b', outcome: 'success', actor: null, details: { n: Number.POSITIVE_INFINITY } },
          new Date(),
        ),
      InvalidAuditRecordError,
    );
  });
});
