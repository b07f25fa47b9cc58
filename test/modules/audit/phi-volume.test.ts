import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { AlertEngine } from '../../../src/modules/audit/alerts.js';
import { AuditWriter } from '../../../src/modules/audit/writer.js';
import type { Database, Transaction } from '../../../src/platform/db/types.js';
import { createLogger } from '../../../src/platform/observability/logger.js';
import { auditFixture, sampleRecord, type AuditFixture } from './setup.js';

/** The database as the engine sees it, counting the statements that read entries back from the log. */
function countingLogReads(db: Database): { db: Database; reads: () => number } {
  let reads = 0;
  const count = (sql: string) => {
    if (/FROM audit_log WHERE seq > \$1 ORDER BY seq/.test(sql)) reads += 1;
  };
  const wrapped: Database = Object.create(db) as Database;
  wrapped.query = (sql, params, options) => {
    count(sql);
    return db.query(sql, params, options);
  };
  wrapped.transaction = (fn) =>
    db.transaction((tx) => {
      const inner: Transaction = Object.create(tx) as Transaction;
      inner.query = (sql, params, options) => {
        count(sql);
        return tx.query(sql, params, options);
      };
      return fn(inner);
    });
  return { db: wrapped, reads: () => reads };
}

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

  test("a pair's time is refreshed once it is a sixtieth of the window old, not at every access", async () => {
    const lastAt = async () =>
      (
        await fx.handle.db.query<{ age: number }>(
          `SELECT extract(epoch FROM now() - last_at)::float8 AS age FROM audit_phi_access
            WHERE actor_id = 'nurse-r' AND patient_id = 'p1'`,
        )
      ).rows[0]?.age;
    await fx.handle.db.query(
      "INSERT INTO audit_phi_access (actor_id, patient_id, last_at) VALUES ('nurse-r', 'p1', now() - interval '30 seconds')",
    );
    await read('nurse-r', ['p1']);
    assert.ok((await lastAt())! >= 29, 'within a minute of a 60-minute window: left as it was');
    await fx.handle.db.query(
      "UPDATE audit_phi_access SET last_at = now() - interval '5 minutes' WHERE actor_id = 'nurse-r'",
    );
    await read('nurse-r', ['p1']);
    assert.ok((await lastAt())! < 10, 'five minutes old: moved to the new access');
  });

  test('a pair this process stored moments ago is not written again', async () => {
    await read('nurse-s', ['p1']);
    // Aged behind the engine's back: only a write would bring it forward again.
    await fx.handle.db.query(
      "UPDATE audit_phi_access SET last_at = now() - interval '5 minutes' WHERE actor_id = 'nurse-s'",
    );
    await read('nurse-s', ['p1']);
    const { rows } = await fx.handle.db.query<{ age: number }>(
      "SELECT extract(epoch FROM now() - last_at)::float8 AS age FROM audit_phi_access WHERE actor_id = 'nurse-s'",
    );
    assert.ok(rows[0]!.age >= 299, 'the second access within a minute sent nothing');
  });

  test('entries this process chained are evaluated from memory, those of another process from the log', async () => {
    const logger = createLogger('silent');
    const counting = countingLogReads(fx.handle.db);
    const rules = {
      failedLogins: { threshold: 3, windowMinutes: 15 },
      phiVolume: { distinctPatients: 3, windowMinutes: 60 },
      allowedHours: null,
    };
    // Everything chained so far is evaluated: the engine under test starts at the head.
    await fx.audit.alerts.process();
    // The fixture's writer may still have a pass scheduled from earlier tests; any pass chains
    // every intake row, so it would take the entries of the writers below. Let it run out first.
    await fx.audit.flush();
    await new Promise((resolve) => setTimeout(resolve, 100));
    const engine = new AlertEngine(counting.db, logger, rules);
    const ours = new AuditWriter(fx.handle.db, fx.keyring, logger, { timer: false });
    ours.onChained((batch) => engine.note(batch.firstSeq, batch.canonicals));
    const theirs = new AuditWriter(fx.handle.db, fx.keyring, logger, { timer: false });
    const readWith = async (writer: AuditWriter, user: string) => {
      for (const [i, p] of ['p1', 'p2', 'p3', 'p4'].entries())
        await writer.record(sampleRecord(i, { actor: { type: 'user', id: user }, patientIds: [p] }));
      await writer.flush();
    };

    await readWith(ours, 'nurse-m');
    assert.equal(await engine.process(), 1);
    assert.equal(counting.reads(), 0, 'nothing read back from the log');

    await readWith(theirs, 'nurse-l');
    await readWith(ours, 'nurse-n');
    assert.equal(await engine.process(), 2, 'both users raise their alert');
    assert.equal(counting.reads(), 1, "the other process's entries come from the log");
    assert.deepEqual(
      (await alerts()).map((a) => a.subject).filter((s) => s.startsWith('nurse-') && s > 'nurse-k'),
      ['nurse-m', 'nurse-l', 'nurse-n'],
    );
    await ours.close();
    await theirs.close();
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
