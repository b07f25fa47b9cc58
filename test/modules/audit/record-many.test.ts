import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { verifyAuditLog } from '../../../src/modules/audit/verify.js';
import { auditFixture, sampleRecord, type AuditFixture } from './setup.js';

interface LogRow {
  seq: number;
  action: string;
  request: string;
  patients: string[];
}

describe('audit trail: recordMany', () => {
  let fx: AuditFixture;
  before(async () => {
    fx = await auditFixture();
  });
  after(() => fx.close());

  const count = async (table: 'audit_log' | 'audit_intake'): Promise<number> =>
    (await fx.handle.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`)).rows[0]!.n;

  const logRows = async (requestPrefix: string): Promise<LogRow[]> =>
    (
      await fx.handle.db.query<LogRow>(
        `SELECT seq::int AS seq, doc->>'action' AS action, doc->>'requestId' AS request,
                doc->'patientIds' AS patients
         FROM audit_log WHERE doc->>'requestId' LIKE $1 ORDER BY seq`,
        [`${requestPrefix}%`],
      )
    ).rows;

  const assertChainIntact = async (): Promise<void> => {
    const report = await verifyAuditLog(fx.handle.db, fx.keyring, { sinks: fx.audit.sinks });
    assert.equal(report.ok, true, JSON.stringify(report.issues));
  };

  test('entries recorded in a committed transaction are chained in the given order', async () => {
    const before = await count('audit_log');
    const actions = ['fhir.create', 'fhir.update', 'fhir.delete', 'fhir.create', 'registry.submitted'];
    const entries = actions.map((action, i) =>
      sampleRecord(i, { action, requestId: `many-${i}`, patientIds: [`pat-many-${i}`, `pat-shared`] }),
    );
    await fx.handle.db.transaction((tx) => fx.audit.recordMany(entries, tx));
    await fx.audit.flush();

    const rows = await logRows('many-');
    assert.deepEqual(
      rows.map((r) => r.action),
      actions,
    );
    assert.deepEqual(
      rows.map((r) => r.request),
      actions.map((_, i) => `many-${i}`),
    );
    assert.deepEqual(
      rows.map((r) => r.patients),
      actions.map((_, i) => [`pat-many-${i}`, 'pat-shared']),
    );
    assert.deepEqual(
      rows.map((r) => r.seq),
      actions.map((_, i) => before + 1 + i),
      'consecutive positions at the end of the chain',
    );
    assert.equal(await count('audit_log'), before + actions.length);
    assert.equal(await count('audit_intake'), 0);
    await assertChainIntact();
  });

  test('a rolled-back transaction leaves nothing in the intake or the log', async () => {
    const before = await count('audit_log');
    await assert.rejects(
      fx.handle.db.transaction(async (tx) => {
        await fx.audit.recordMany(
          [0, 1, 2].map((i) => sampleRecord(i, { requestId: `rolled-${i}` })),
          tx,
        );
        throw new Error('abort');
      }),
      /abort/,
    );
    await fx.audit.flush();
    assert.equal(await count('audit_intake'), 0);
    assert.equal(await count('audit_log'), before);
    assert.deepEqual(await logRows('rolled-'), []);
    await assertChainIntact();
  });

  test('concurrent record and recordMany calls from parallel transactions form one verified chain', async () => {
    const before = await count('audit_log');
    const batches = 12;
    const perBatch = 7;
    const singles = 40;
    await Promise.all([
      ...Array.from({ length: batches }, (_, b) =>
        fx.handle.db.transaction((tx) =>
          fx.audit.recordMany(
            Array.from({ length: perBatch }, (_, i) =>
              sampleRecord(b * perBatch + i, { requestId: `mix-b${b}-${i}` }),
            ),
            tx,
          ),
        ),
      ),
      ...Array.from({ length: singles }, (_, i) =>
        fx.audit.record(sampleRecord(i, { requestId: `mix-s${i}` })),
      ),
    ]);
    await fx.audit.flush();

    const total = batches * perBatch + singles;
    const rows = await logRows('mix-');
    assert.equal(rows.length, total);
    assert.equal(new Set(rows.map((r) => r.request)).size, total, 'every entry chained exactly once');
    for (let b = 0; b < batches; b++) {
      const batch = rows.filter((r) => r.request.startsWith(`mix-b${b}-`));
      assert.deepEqual(
        batch.map((r) => r.request),
        Array.from({ length: perBatch }, (_, i) => `mix-b${b}-${i}`),
        `batch ${b} keeps its order`,
      );
    }
    const span = await fx.handle.db.query<{ n: number; lo: number; hi: number }>(
      'SELECT count(*)::int AS n, min(seq)::int AS lo, max(seq)::int AS hi FROM audit_log',
    );
    assert.deepEqual(span.rows[0], { n: before + total, lo: 1, hi: before + total });
    assert.equal(await count('audit_intake'), 0);
    await assertChainIntact();
  });

  test('an empty list writes nothing and does not throw', async () => {
    const before = await count('audit_log');
    await fx.handle.db.transaction((tx) => fx.audit.recordMany([], tx));
    await fx.audit.flush();
    assert.equal(await count('audit_intake'), 0);
    assert.equal(await count('audit_log'), before);
  });
});
