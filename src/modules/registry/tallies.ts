import type { Queryable } from '../../platform/db/types.js';
import type { JobDefinition } from '../../platform/events/scheduler.js';
import type { StatusCount, SubmissionStatus } from './submissions.js';

/**
 * Submissions per registry and status, all history included, from the tallies the triggers of
 * migration registry/0002 keep: the folded counts plus the changes not folded yet. Reads a
 * few rows per registry and status, however many submissions there are.
 */
export async function submissionTallies(q: Queryable): Promise<StatusCount[]> {
  const result = await q.query<{ endpoint_id: string; status: SubmissionStatus; n: number }>(
    `SELECT endpoint_id, status, sum(n)::int AS n FROM (
       SELECT endpoint_id, status, n FROM registry_submission_tallies
       UNION ALL SELECT endpoint_id, status, delta FROM registry_submission_tally_changes) t
      GROUP BY endpoint_id, status HAVING sum(n) <> 0 ORDER BY 1, 2`,
    [],
    { name: 'registry_tallies' },
  );
  return result.rows.map((r) => ({ endpointId: r.endpoint_id, status: r.status, count: r.n }));
}

/**
 * Moves the changes written so far into the tallies, in one statement: the changes it deletes
 * are exactly the ones it adds (a change committed meanwhile stays for the next fold), so two
 * folds running at once never count a change twice. Answers the number of changes folded.
 */
export async function foldTallyChanges(q: Queryable): Promise<number> {
  const result = await q.query<{ folded: number }>(
    `WITH moved AS (
       DELETE FROM registry_submission_tally_changes RETURNING endpoint_id, status, delta),
     summed AS (
       SELECT endpoint_id, status, sum(delta) AS delta, count(*) AS changes FROM moved GROUP BY 1, 2),
     applied AS (
       INSERT INTO registry_submission_tallies AS t (endpoint_id, status, n)
       SELECT endpoint_id, status, delta FROM summed ORDER BY endpoint_id, status
       ON CONFLICT (endpoint_id, status) DO UPDATE SET n = t.n + excluded.n)
     SELECT coalesce(sum(changes), 0)::int AS folded FROM summed`,
  );
  return result.rows[0]?.folded ?? 0;
}

/** Every minute, so the changes a reader adds stay a minute's worth of registry traffic. */
export function tallyFoldJob(db: Queryable): JobDefinition {
  return {
    name: 'registry.tally-fold',
    cron: '* * * * *',
    async run() {
      await foldTallyChanges(db);
    },
  };
}
