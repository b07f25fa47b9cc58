import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { auditFixture, sampleRecord, type AuditFixture } from './setup.js';

describe('unusual PHI volume rule', () => {
  let fx: AuditFixture;
  const alerts = async () =>
    (
      await fx.handle.db.query<{ rule: string; subject: string; summary: string }>(
        "SELECT rule, subject, summary FROM audit_alerts WHERE rule = 'phi_volume' ORDER BY id",
      )
    ).rows;
  const read = async (user: string, patients: string[]) => {
    for (const [i, p] of patients.entries())
      await fx.audit.record(sampleRecord(i, { actor: { type: 'user', id: user }, patientIds: [p] }));
    await fx.audit.flush();
    await fx.audit.alerts.process();
  };

  before(async () => {
    fx = await auditFixture({
      alertRules: {
        failedLogins: { threshold: 3, windowMinutes: 15 },
        phiVolume: { distinctPatients: 3, windowMinutes: 60 },
        allowedHours: null,
      },
    });
  });
  after(() => fx.close());

  test('reading the same patients again does not count; one more distinct patient does', async () => {
    await read('nurse-a', ['p1', 'p2', 'p3', 'p1', 'p2', 'p3', 'p3']);
    assert.deepEqual(await alerts(), []);
    const { rows } = await fx.handle.db.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM audit_phi_access WHERE actor_id = 'nurse-a'",
    );
    assert.equal(rows[0]?.n, 3, 'one row per user and patient');
    await read('nurse-a', ['p4']);
    const raised = await alerts();
    assert.equal(raised.length, 1);
    assert.equal(raised[0]?.subject, 'nurse-a');
    assert.match(raised[0]?.summary ?? '', /more than 3 distinct patients within 60 minutes/);
  });

  test("each user's patients are counted apart", async () => {
    await read('nurse-b', ['p1', 'p2', 'p3']);
    assert.deepEqual(
      (await alerts()).map((a) => a.subject),
      ['nurse-a'],
    );
  });

  test('accesses older than the window are forgotten and no longer count', async () => {
    await fx.handle.db.query(
      `INSERT INTO audit_phi_access (actor_id, patient_id, last_at)
       SELECT 'nurse-c', 'old-' || g, now() - interval '2 hours' FROM generate_series(1, 10) g`,
    );
    await read('nurse-c', ['p1']);
    const { rows } = await fx.handle.db.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM audit_phi_access WHERE actor_id = 'nurse-c'",
    );
    assert.equal(rows[0]?.n, 1, 'the ten stale pairs were deleted');
    assert.ok(!(await alerts()).some((a) => a.subject === 'nurse-c'));
  });
});
