import assert from 'node:assert/strict';
import { after, afterEach, beforeEach, describe, test } from 'node:test';
import type { VerifyOptions } from '../../../src/modules/audit/verify.js';
import { auditFixture, sampleRecord, tamper, type AuditFixture } from './setup.js';

const ENTRIES = 40;

/** A log of 40 entries with checkpoints at 10, 20, 30, 40. */
async function populated(): Promise<AuditFixture> {
  const fx = await auditFixture({ checkpointEvery: 10, batchSize: 10 });
  // Recorded together, chained in batches of ten: a checkpoint after every batch.
  await Promise.all(Array.from({ length: ENTRIES }, (_, i) => fx.audit.record(sampleRecord(i))));
  await fx.audit.flush();
  return fx;
}

// Every case on one thread and with the chain cut into segments checked by threads of their own.
const MODES: Array<[string, VerifyOptions]> = [
  ['one thread', { threads: 1 }],
  ['three threads', { threads: 3, minEntriesPerThread: 1 }],
];

for (const [label, mode] of MODES) {
  describe(`tamper detection (database access, append-only triggers out of the way), ${label}`, () => {
    let fx: AuditFixture;
    beforeEach(async () => {
      fx = await populated();
    });
    afterEach(() => fx.close());

    test('an intact log verifies, checkpoints included', async () => {
      const report = await fx.audit.verify(mode);
      assert.equal(report.ok, true, JSON.stringify(report.issues));
      assert.equal(report.entriesChecked, ENTRIES);
      assert.equal(report.checkpointsChecked, 4);
      assert.equal(report.firstDamage, null);
      assert.equal(report.threads, mode.threads);
    });

    test('progress is reported window by window, up to the whole range', async () => {
      const seen: Array<[number, number]> = [];
      const report = await fx.audit.verify({
        ...mode,
        batchSize: 7,
        onProgress: (checked, total) => seen.push([checked, total]),
      });
      assert.equal(report.ok, true, JSON.stringify(report.issues));
      assert.ok(seen.length >= Math.ceil(ENTRIES / 7), `${seen.length} reports`);
      for (let i = 1; i < seen.length; i++) assert.ok(seen[i]![0] > seen[i - 1]![0], 'counts only grow');
      assert.deepEqual(seen.at(-1), [ENTRIES, ENTRIES]);
    });

    test('a changed field is found at its entry', async () => {
      await tamper(
        fx.handle,
        `UPDATE audit_log SET canonical = replace(canonical, '"outcome":"success"', '"outcome":"failure"') WHERE seq = 17`,
      );
      const report = await fx.audit.verify(mode);
      assert.equal(report.ok, false);
      assert.deepEqual([report.firstDamage?.seq, report.firstDamage?.kind], [17, 'modified']);
    });

    test('a changed field with its hash recomputed is still found at that entry', async () => {
      await tamper(
        fx.handle,
        `UPDATE audit_log SET canonical = replace(canonical, '"actor":{"id":"user-','"actor":{"id":"admin-'),
              hash = encode(sha256(convert_to(replace(canonical, '"actor":{"id":"user-','"actor":{"id":"admin-'), 'UTF8')), 'hex')
        WHERE seq = 23`,
      );
      const report = await fx.audit.verify(mode);
      assert.deepEqual([report.firstDamage?.seq, report.firstDamage?.kind], [23, 'modified']);
      // The checkpoint covering it no longer matches either.
      assert.ok(report.issues.some((i) => i.kind === 'checkpoint_mismatch' && i.seq === 30));
    });

    test('a deleted entry is found at its sequence number', async () => {
      await tamper(fx.handle, 'DELETE FROM audit_log WHERE seq = 8');
      const report = await fx.audit.verify(mode);
      assert.deepEqual([report.firstDamage?.seq, report.firstDamage?.kind], [8, 'deleted']);
    });

    test('deleting the newest entries is found too', async () => {
      await tamper(fx.handle, 'DELETE FROM audit_log WHERE seq > 37');
      const report = await fx.audit.verify(mode);
      assert.deepEqual([report.firstDamage?.seq, report.firstDamage?.kind], [38, 'deleted']);
    });

    test('a forged entry inserted in the middle is found', async () => {
      // Forged with a correct hash over a plausible entry that claims seq 12 and links to 11.
      await tamper(
        fx.handle,
        `INSERT INTO audit_log (seq, recorded_at, canonical, hash)
       SELECT 12, recorded_at + interval '1 second', c, encode(sha256(convert_to(c, 'UTF8')), 'hex')
         FROM (SELECT recorded_at, replace(canonical, '"requestId":"req-11"', '"requestId":"forged"') AS c
                 FROM audit_log WHERE seq = 12) f`,
      );
      const report = await fx.audit.verify(mode);
      assert.deepEqual([report.firstDamage?.seq, report.firstDamage?.kind], [12, 'inserted']);
    });

    test('a forged entry appended after the head is found', async () => {
      await tamper(
        fx.handle,
        `INSERT INTO audit_log (seq, recorded_at, canonical, hash)
       SELECT 41, recorded_at, replace(canonical, '"seq":40', '"seq":41'), hash FROM audit_log WHERE seq = 40`,
      );
      const report = await fx.audit.verify(mode);
      assert.deepEqual([report.firstDamage?.seq, report.firstDamage?.kind], [41, 'inserted']);
    });

    test('two swapped entries are found as reordered at the first of them', async () => {
      await tamper(fx.handle, 'UPDATE audit_log SET seq = -1 WHERE seq = 25');
      await tamper(fx.handle, 'UPDATE audit_log SET seq = 25 WHERE seq = 26');
      await tamper(fx.handle, 'UPDATE audit_log SET seq = 26 WHERE seq = -1');
      const report = await fx.audit.verify(mode);
      assert.deepEqual([report.firstDamage?.seq, report.firstDamage?.kind], [25, 'reordered']);
      assert.ok(report.issues.some((i) => i.seq === 26 && i.kind === 'reordered'));
    });

    test('a rewritten tail with every hash recomputed is caught by the signed checkpoints', async () => {
      // Re-chain entries 31..40 after changing 31: a consistent chain, but not the one that was signed.
      const { rows } = await fx.handle.db.query<{ seq: number; canonical: string; hash: string }>(
        'SELECT seq, canonical, hash FROM audit_log WHERE seq >= 30 ORDER BY seq',
      );
      const { hashCanonical } = await import('../../../src/modules/audit/chain.js');
      let prev = rows[0]!.hash;
      for (const row of rows.slice(1)) {
        const doc = JSON.parse(row.canonical) as Record<string, unknown>;
        doc.prevHash = prev;
        if (row.seq === 31) doc.action = 'fhir.search';
        const { canonicalize } = await import('../../../src/modules/audit/canonical.js');
        const canonical = canonicalize(doc);
        prev = hashCanonical(canonical);
        await tamper(fx.handle, 'UPDATE audit_log SET canonical = $1, hash = $2 WHERE seq = $3', [
          canonical,
          prev,
          row.seq,
        ]);
      }
      await tamper(fx.handle, 'UPDATE audit_chain_head SET hash = $1', [prev]);
      const report = await fx.audit.verify(mode);
      assert.deepEqual([report.firstDamage?.seq, report.firstDamage?.kind], [40, 'checkpoint_mismatch']);
    });

    test('a checkpoint removed from the database is caught by its external copy', async () => {
      await tamper(fx.handle, 'DELETE FROM audit_checkpoint_exports WHERE tree_size = 20');
      await tamper(fx.handle, 'DELETE FROM audit_checkpoints WHERE tree_size = 20');
      const report = await fx.audit.verify(mode);
      assert.deepEqual([report.firstDamage?.seq, report.firstDamage?.kind], [20, 'checkpoint_mismatch']);
    });

    test('a forged checkpoint signature is refused', async () => {
      await tamper(
        fx.handle,
        `UPDATE audit_checkpoints SET signature = 'AAAA' || substr(signature, 5) WHERE tree_size = 10`,
      );
      const report = await fx.audit.verify(mode);
      assert.deepEqual([report.firstDamage?.seq, report.firstDamage?.kind], [10, 'checkpoint_mismatch']);
    });

    test('a checkpoint whose stored frontier was altered is not where a verification starts', async () => {
      // The frontier is not signed: only one that gives the signed root may start a segment or a range.
      await tamper(
        fx.handle,
        `UPDATE audit_checkpoints SET frontier = array_fill(repeat('0', 64), ARRAY[cardinality(frontier)])
          WHERE tree_size IN (10, 20)`,
      );
      const whole = await fx.audit.verify(mode);
      assert.equal(whole.ok, true, JSON.stringify(whole.issues));
      assert.equal(whole.entriesChecked, ENTRIES);
      const range = await fx.audit.verify({ ...mode, from: 25 });
      assert.equal(range.ok, true, JSON.stringify(range.issues));
      assert.equal(range.entriesChecked, ENTRIES, 'no usable checkpoint before 25: checked from the start');
    });

    test('a range can be verified on its own and damage outside it is not reported', async () => {
      await tamper(fx.handle, 'DELETE FROM audit_log WHERE seq = 5');
      const inside = await fx.audit.verify({ ...mode, from: 21, to: 30 });
      assert.equal(inside.ok, true, JSON.stringify(inside.issues));
      assert.equal(inside.from, 21);
      assert.equal(inside.to, 30);
      const whole = await fx.audit.verify(mode);
      assert.deepEqual([whole.firstDamage?.seq, whole.firstDamage?.kind], [5, 'deleted']);
    });

    test('a failed verification raises a critical alert', async () => {
      await tamper(fx.handle, 'DELETE FROM audit_log WHERE seq = 3');
      await fx.audit.verify(mode);
      const { rows } = await fx.handle.db.query<{ rule: string; severity: string; seq: number }>(
        `SELECT rule, severity, seq FROM audit_alerts WHERE rule = 'verification_failed'`,
      );
      assert.deepEqual(rows, [{ rule: 'verification_failed', severity: 'critical', seq: 3 }]);
    });
  });
}

describe('append-only storage', () => {
  let fx: AuditFixture;
  after(() => fx.close());

  test('UPDATE, DELETE and TRUNCATE are rejected on the log, its partitions and the checkpoints', async () => {
    fx = await populated();
    const { rows } = await fx.handle.db.query<{ name: string }>(
      `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'audit_log'::regclass LIMIT 1`,
    );
    const partition = rows[0]!.name;
    for (const sql of [
      `UPDATE audit_log SET hash = 'x' WHERE seq = 1`,
      'DELETE FROM audit_log WHERE seq = 1',
      'TRUNCATE audit_log',
      `UPDATE ${partition} SET hash = 'x'`,
      `DELETE FROM ${partition}`,
      `TRUNCATE ${partition}`,
      `UPDATE audit_checkpoints SET root_hash = 'x'`,
      'DELETE FROM audit_checkpoints',
      'TRUNCATE audit_checkpoints CASCADE',
    ]) {
      await assert.rejects(fx.handle.db.query(sql), /append-only/, sql);
    }
    await assert.rejects(
      fx.handle.db.query(`UPDATE audit_log SET doc = '{}'`),
      /can only be updated to DEFAULT/,
    );
    const report = await fx.audit.verify();
    assert.equal(report.ok, true);
    assert.equal(report.entriesChecked, ENTRIES);
  });
});
