import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { claim, enqueue, settle, type SubmissionRow } from '../../../src/modules/registry/submissions.js';
import type { DatabaseHandle } from '../../../src/platform/db/open.js';
import type { Queryable } from '../../../src/platform/db/types.js';
import { testDatabase } from '../../helpers/db.js';
import { ENDPOINTS, registryTables } from './tables.js';

const [A, B] = ENDPOINTS;

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  'Actual Rows'?: number;
  'Actual Loops'?: number;
  'Rows Removed by Filter'?: number;
  Plans?: PlanNode[];
}

/** A leased row as the table holds it (the row type leaves the lease out). */
type Leased = SubmissionRow & { lease_owner: string | null };

const nodes = (plan: PlanNode): PlanNode[] => [plan, ...(plan.Plans ?? []).flatMap(nodes)];

describe('claiming registry submissions', () => {
  let handle: DatabaseHandle;
  const db = () => handle.db;

  const queue = (
    endpointId: string,
    immunizationId: string,
    version = 1,
    operation: 'submit' | 'delete' = 'submit',
  ) =>
    enqueue(db(), {
      endpointId,
      immunizationId,
      immunizationVersion: version,
      patientId: 'p1',
      operation,
      trigger: 'manual',
    }) as Promise<SubmissionRow>;

  /** Makes submissions due at the given offsets from now (seconds; negative is overdue). */
  async function dueIn(rows: Array<[SubmissionRow, number]>): Promise<void> {
    for (const [row, seconds] of rows) {
      await db().query(
        `UPDATE registry_submissions SET next_attempt_at = now() + $2 * interval '1 second' WHERE id = $1`,
        [row.id, seconds],
      );
    }
  }

  const ids = (rows: SubmissionRow[]) => rows.map((r) => r.immunization_id).sort();

  before(async () => {
    handle = await testDatabase();
    await registryTables(db());
  });
  after(async () => {
    await handle.close();
  });
  beforeEach(async () => {
    await db().query('TRUNCATE registry_attempts, registry_submissions');
  });

  test('leases due submissions, most overdue first, up to the limit, one registry at a time', async () => {
    const rows = [await queue(A, 'd1'), await queue(A, 'd2'), await queue(A, 'd3'), await queue(A, 'd4')];
    const other = await queue(B, 'd5');
    await dueIn([
      [rows[0]!, -10],
      [rows[1]!, -30],
      [rows[2]!, -20],
      [rows[3]!, 60],
      [other, -60],
    ]);
    const first = await claim(db(), A, 'w1', 2, 60_000);
    assert.deepEqual(
      first.map((r) => r.immunization_id).sort(),
      ['d2', 'd3'],
      'the two most overdue of registry A',
    );
    for (const row of first as Leased[]) {
      assert.equal(row.status, 'sent');
      assert.equal(row.lease_owner, 'w1');
    }
    assert.deepEqual(
      ids(await claim(db(), A, 'w2', 10, 60_000)),
      ['d1'],
      'not the leased ones, not d4 (not due)',
    );
    assert.deepEqual(ids(await claim(db(), A, 'w2', 10, 60_000)), []);
    assert.deepEqual(ids(await claim(db(), B, 'w2', 10, 60_000)), ['d5']);
  });

  test("a dose's later submission waits until the earlier one is finished", async () => {
    const add = await queue(A, 'd1', 1);
    const [sent] = await claim(db(), A, 'w1', 10, 60_000);
    assert.equal(sent?.id, add.id);
    // The retraction of a dose still being added, and a newer version of another dose's add.
    const retract = await queue(A, 'd1', 2, 'delete');
    assert.equal(retract.status, 'pending');
    assert.deepEqual(ids(await claim(db(), A, 'w1', 10, 60_000)), [], 'the delete never overtakes the add');

    await settle(
      db(),
      [
        {
          row: sent!,
          result: { kind: 'answered', status: 'accepted', ackCode: 'AA', issues: [] },
          startedAt: new Date(),
          latencyMs: 1,
          retryDelayMs: 0,
        },
      ],
      3,
    );
    const next = await claim(db(), A, 'w1', 10, 60_000);
    assert.deepEqual(
      next.map((r) => [r.id, r.operation]),
      [[retract.id, 'delete']],
    );
  });

  test('a lease left by a process that died comes back when it expires, with its control id', async () => {
    const row = await queue(A, 'd1');
    const [leased] = await claim(db(), A, 'dead-worker', 10, 60_000);
    assert.deepEqual(await claim(db(), A, 'w2', 10, 60_000), []);
    await db().query(
      `UPDATE registry_submissions SET lease_until = now() - interval '1 second' WHERE id = $1`,
      [row.id],
    );
    const [again] = (await claim(db(), A, 'w2', 10, 60_000)) as Leased[];
    assert.equal(again?.id, row.id);
    assert.equal(again?.lease_owner, 'w2');
    assert.equal(again?.control_id, leased?.control_id);
  });

  test('a claim reads the due rows, not the whole backlog, with or without statistics', async () => {
    // A backlog: 20,000 doses waiting (a long registry outage), 20 of them overdue, and one
    // overdue retraction queued behind its dose's add.
    await db().query(
      `INSERT INTO registry_submissions (id, endpoint_id, immunization_id, immunization_version, operation,
         control_id, status, trigger, next_attempt_at)
       SELECT gen_random_uuid(), $1::uuid, 'b-' || g, 1, 'submit', 'B' || g, 'pending', 'manual',
              now() + (CASE WHEN g % 1000 = 0 THEN -60 ELSE 600 END) * interval '1 second'
         FROM generate_series(1, 20000) g`,
      [A],
    );
    // The add was tried once already (a timeout), so the retraction is sent, after it.
    await db().query(`UPDATE registry_submissions SET attempts = 1 WHERE immunization_id = 'b-1000'`);
    const behind = await queue(A, 'b-1000', 2, 'delete');
    assert.equal(behind.status, 'pending');
    await dueIn([[behind, -30]]);
    let sql = '';
    let params: readonly unknown[] = [];
    const recorder: Queryable = {
      query: (text, values, options) => {
        sql = text;
        params = values ?? [];
        return db().query(text, values, options);
      },
    };
    /** Rows the claim's search read from the table: returned or filtered out, over every loop. */
    const rowsRead = async () => {
      const select = sql.slice(sql.indexOf('SELECT s.id'), sql.indexOf('FOR UPDATE OF s SKIP LOCKED'));
      const { rows } = await db().query<{ 'QUERY PLAN': [{ Plan: PlanNode }] | string }>(
        `EXPLAIN (ANALYZE, FORMAT JSON) ${select}`,
        params.slice(0, 2),
      );
      const raw = rows[0]!['QUERY PLAN'];
      const [{ Plan: root }] = (typeof raw === 'string' ? JSON.parse(raw) : raw) as [{ Plan: PlanNode }];
      return nodes(root)
        .filter((n) => n['Relation Name'] === 'registry_submissions')
        .reduce(
          (sum, n) =>
            sum + ((n['Actual Rows'] ?? 0) + (n['Rows Removed by Filter'] ?? 0)) * (n['Actual Loops'] ?? 0),
          0,
        );
    };
    // Before the table's first ANALYZE the planner guesses; after it, it knows. Either way a
    // claim reads about the 21 due rows (and the dose of the one queued behind), not 20,000.
    const claimed = await claim(recorder, A, 'w1', 5, 60_000);
    assert.equal(claimed.length, 5);
    assert.ok(!claimed.some((r) => r.id === behind.id), 'the retraction waits for its add');
    const guessed = await rowsRead();
    assert.ok(guessed < 200, `${guessed} rows read without statistics`);

    await db().query('VACUUM ANALYZE registry_submissions');
    assert.equal((await claim(recorder, A, 'w1', 5, 60_000)).length, 5);
    const known = await rowsRead();
    assert.ok(known < 200, `${known} rows read with statistics`);
  });
});
