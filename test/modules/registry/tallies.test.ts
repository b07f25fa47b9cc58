import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { registryMigrations } from '../../../src/modules/registry/schema.js';
import {
  claim,
  enqueue,
  release,
  settle,
  statusSummary,
  type AttemptResult,
  type SubmissionRow,
} from '../../../src/modules/registry/submissions.js';
import { foldTallyChanges, submissionTallies } from '../../../src/modules/registry/tallies.js';
import { migrate } from '../../../src/platform/db/migrations.js';
import type { DatabaseHandle } from '../../../src/platform/db/open.js';
import { testDatabase } from '../../helpers/db.js';
import { ENDPOINTS, registryTables } from './tables.js';

const [A, B] = ENDPOINTS;

const accepted: AttemptResult = { kind: 'answered', status: 'accepted', ackCode: 'AA', issues: [] };
const rejected: AttemptResult = { kind: 'answered', status: 'rejected', ackCode: 'AE', issues: [] };
const transient: AttemptResult = { kind: 'transient', error: 'timeout' };

describe('registry submission tallies', () => {
  let handle: DatabaseHandle;
  const db = () => handle.db;

  /** What the tallies stand for: a count over every submission row. */
  async function counted(): Promise<Array<{ endpointId: string; status: string; count: number }>> {
    const result = await db().query<{ endpoint_id: string; status: string; n: number }>(
      `SELECT endpoint_id, status, count(*)::int AS n FROM registry_submissions GROUP BY 1, 2 ORDER BY 1, 2`,
    );
    return result.rows.map((r) => ({ endpointId: r.endpoint_id, status: r.status, count: r.n }));
  }

  async function assertTallied(when: string): Promise<void> {
    assert.deepEqual(await submissionTallies(db()), await counted(), when);
  }

  async function pendingChanges(): Promise<number> {
    const result = await db().query<{ n: number }>(
      'SELECT count(*)::int AS n FROM registry_submission_tally_changes',
    );
    return result.rows[0]?.n ?? -1;
  }

  const submit = (endpointId: string, immunizationId: string, version = 1) =>
    enqueue(db(), {
      endpointId,
      immunizationId,
      immunizationVersion: version,
      patientId: 'p1',
      operation: 'submit',
      trigger: 'event',
    });

  const settleAll = (rows: SubmissionRow[], results: AttemptResult[]) =>
    settle(
      db(),
      rows.map((row, i) => ({
        row,
        result: results[i % results.length] as AttemptResult,
        startedAt: new Date(),
        latencyMs: 5,
        retryDelayMs: 0,
      })),
      3,
    );

  before(async () => {
    handle = await testDatabase();
    // The first migration alone, with history in it, so the tallies' migration has something to count.
    await registryTables(db(), registryMigrations.slice(0, 1));
    await db().query(
      `INSERT INTO registry_submissions (id, endpoint_id, immunization_id, immunization_version, operation,
         control_id, status, trigger)
       SELECT gen_random_uuid(), CASE WHEN g % 3 = 0 THEN $1::uuid ELSE $2::uuid END, 'old-' || g, 1, 'submit',
              'OLD' || g, CASE WHEN g % 5 = 0 THEN 'rejected' ELSE 'accepted' END, 'event'
         FROM generate_series(1, 300) g`,
      [A, B],
    );
  });
  after(async () => {
    await handle.close();
  });

  test('the migration counts the submissions made before it', async () => {
    await migrate(db(), registryMigrations);
    assert.deepEqual(await submissionTallies(db()), [
      { endpointId: A, status: 'accepted', count: 80 },
      { endpointId: A, status: 'rejected', count: 20 },
      { endpointId: B, status: 'accepted', count: 160 },
      { endpointId: B, status: 'rejected', count: 40 },
    ]);
    await assertTallied('after the migration');
  });

  describe('as submissions move through the queue', () => {
    beforeEach(async () => {
      await db().query('TRUNCATE registry_attempts, registry_submissions');
    });

    test('every write is tallied, before and after the changes are folded', async () => {
      assert.deepEqual(await submissionTallies(db()), [], 'TRUNCATE empties the tallies too');
      for (let i = 0; i < 12; i++) await submit(i % 4 === 0 ? A : B, `imm-${i}`);
      await assertTallied('enqueued');
      // A newer version of a dose never attempted supersedes the pending one.
      await submit(B, 'imm-1', 2);
      await assertTallied('superseded');

      const leased = await claim(db(), B, 'test-owner', 6, 60_000);
      assert.equal(leased.length, 6);
      await assertTallied('claimed');
      assert.ok((await foldTallyChanges(db())) > 0);
      assert.equal(await pendingChanges(), 0, 'the fold moved every change');
      await assertTallied('folded');

      await release(
        db(),
        leased.slice(0, 2).map((r) => r.id),
        0,
      );
      await assertTallied('released');
      await settleAll(leased.slice(2), [accepted, rejected, transient]);
      await assertTallied('settled: accepted, rejected and back to pending');
      await db().query(`DELETE FROM registry_submissions WHERE endpoint_id = $1`, [A]);
      await assertTallied('deleted');
      await foldTallyChanges(db());
      await assertTallied('folded again');
      assert.equal(await foldTallyChanges(db()), 0, 'nothing is left to fold');

      // An update that changes no status adds no change.
      const before = await pendingChanges();
      await db().query(`UPDATE registry_submissions SET last_error = 'x'`);
      assert.equal(await pendingChanges(), before);
      assert.deepEqual(await statusSummary(db()), await counted(), 'GET /status reads the tallies');
    });

    test('concurrent writers and folds never count a change twice or lose one', async () => {
      const writers = Array.from({ length: 4 }, async (_, w) => {
        for (let i = 0; i < 40; i++) {
          await submit(w % 2 ? A : B, `w${w}-${i}`);
          if (i % 10 === 9) {
            const rows = await claim(db(), w % 2 ? A : B, `owner-${w}`, 5, 60_000);
            await settleAll(rows, [accepted, rejected]);
          }
        }
      });
      const folders = Array.from({ length: 2 }, async () => {
        for (let i = 0; i < 15; i++) await foldTallyChanges(db());
      });
      await Promise.all([...writers, ...folders]);
      await assertTallied('after concurrent writes and folds');
      await foldTallyChanges(db());
      await assertTallied('after the last fold');
      const total = (await submissionTallies(db())).reduce((sum, t) => sum + t.count, 0);
      assert.equal(total, 160);
    });

    test('a write that fails leaves no change behind', async () => {
      await submit(A, 'imm-x');
      const changes = await pendingChanges();
      await assert.rejects(
        db().transaction(async (tx) => {
          await tx.query(`UPDATE registry_submissions SET status = 'accepted'`);
          await tx.query(`UPDATE registry_submissions SET status = 'no-such-status'`);
        }),
      );
      assert.equal(await pendingChanges(), changes);
      await assertTallied('after the rolled-back transaction');
      assert.deepEqual(await submissionTallies(db()), [{ endpointId: A, status: 'pending', count: 1 }]);
    });
  });
});
