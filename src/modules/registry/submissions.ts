import { randomBytes, randomUUID } from 'node:crypto';
import type { Queryable } from '../../platform/db/types.js';
import { errors } from '../../platform/http/errors.js';
import type { Hl7Error } from './hl7/index.js';
import { submissionTallies } from './tallies.js';

export type SubmissionStatus =
  'pending' | 'sent' | 'accepted' | 'accepted_with_warnings' | 'rejected' | 'failed' | 'superseded';

/**
 * "Unfinished" for a lookup of one dose's rows (enqueue's probe, claim's head check). The
 * finished statuses are excluded rather than the open ones listed, so no partial index of open
 * rows matches and the dose's own index serves the lookup whatever the table's statistics.
 */
const FINISHED: readonly SubmissionStatus[] = [
  'accepted',
  'accepted_with_warnings',
  'rejected',
  'failed',
  'superseded',
];
const unfinishedOfDose = (alias: string) =>
  `${alias}.status NOT IN (${FINISHED.map((st) => `'${st}'`).join(', ')})`;

export type SubmissionOperation = 'submit' | 'delete';
export type SubmissionTrigger = 'event' | 'manual' | 'resubmit' | 'import';

/** What a registry said about one submission (its errors are codes and locations, not PHI). */
export interface RegistryIssue {
  severity: Hl7Error['severity'];
  code?: string;
  codeText?: string;
  applicationCode?: string;
  location?: string;
  message?: string;
}

export interface Submission {
  id: string;
  endpointId: string;
  immunizationId: string;
  immunizationVersion: number;
  patientId: string | null;
  operation: SubmissionOperation;
  controlId: string;
  status: SubmissionStatus;
  trigger: SubmissionTrigger;
  attempts: number;
  nextAttemptAt: string;
  ackCode: string | null;
  registryErrors: RegistryIssue[];
  lastError: string | null;
  workItem: 'open' | 'resolved' | null;
  resolvedBy: string | null;
  resolvedAt: string | null;
  requestedBy: string | null;
  createdAt: string;
  sentAt: string | null;
  completedAt: string | null;
}

export interface SubmissionRow {
  id: string;
  endpoint_id: string;
  immunization_id: string;
  immunization_version: number;
  patient_id: string | null;
  operation: SubmissionOperation;
  control_id: string;
  status: SubmissionStatus;
  trigger: SubmissionTrigger;
  attempts: number;
  next_attempt_at: Date;
  ack_code: string | null;
  registry_errors: RegistryIssue[];
  last_error: string | null;
  work_item: 'open' | 'resolved' | null;
  resolved_by: string | null;
  resolved_at: Date | null;
  requested_by: string | null;
  created_at: Date;
  sent_at: Date | null;
  completed_at: Date | null;
}

export interface Attempt {
  attempt: number;
  startedAt: string;
  latencyMs: number;
  outcome: string;
  detail: string | null;
}

export interface NewSubmission {
  endpointId: string;
  immunizationId: string;
  immunizationVersion: number;
  patientId: string | null;
  operation: SubmissionOperation;
  trigger: SubmissionTrigger;
  requestedBy?: string | null;
}

/** The end of one attempt: a registry answer, or a failure to get one. */
export type AttemptResult =
  | {
      kind: 'answered';
      status: 'accepted' | 'accepted_with_warnings' | 'rejected';
      ackCode: string;
      issues: RegistryIssue[];
    }
  | {
      kind: 'transient';
      error: string;
      retryAfterMs?: number;
      /** The call never left this process (open circuit, full bulkhead): not an attempt. */
      backpressure?: boolean;
    }
  | { kind: 'permanent'; error: string };

/** MSH-10 allows 20 characters: 15 random bytes in base64url are exactly 20, unique enough. */
export function newControlId(): string {
  return randomBytes(15).toString('base64url');
}

export function toSubmission(row: SubmissionRow): Submission {
  return {
    id: row.id,
    endpointId: row.endpoint_id,
    immunizationId: row.immunization_id,
    immunizationVersion: row.immunization_version,
    patientId: row.patient_id,
    operation: row.operation,
    controlId: row.control_id,
    status: row.status,
    trigger: row.trigger,
    attempts: row.attempts,
    nextAttemptAt: row.next_attempt_at.toISOString(),
    ackCode: row.ack_code,
    registryErrors: row.registry_errors,
    lastError: row.last_error,
    workItem: row.work_item,
    resolvedBy: row.resolved_by,
    resolvedAt: row.resolved_at?.toISOString() ?? null,
    requestedBy: row.requested_by,
    createdAt: row.created_at.toISOString(),
    sentAt: row.sent_at?.toISOString() ?? null,
    completedAt: row.completed_at?.toISOString() ?? null,
  };
}

/**
 * Queues a submission. Event-driven ones are unique per registry, dose version and operation,
 * so redelivered events queue nothing new (returns null). Older submissions of the same dose
 * that were never attempted are superseded: only the newest state is worth sending.
 */
export async function enqueue(q: Queryable, next: NewSubmission): Promise<SubmissionRow | null> {
  // Retracting a dose this registry never received sends nothing.
  const initial = next.operation === 'delete' && !(await reached(q, next)) ? 'superseded' : 'pending';
  // One statement: the new row, and older never-attempted rows of the dose superseded by it.
  const inserted = await q.query<SubmissionRow>(
    `WITH added AS (
       INSERT INTO registry_submissions (id, endpoint_id, immunization_id, immunization_version, patient_id,
         operation, control_id, status, trigger, requested_by, waits)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $10, $8, $9,
         -- Queued behind an unfinished submission of the dose (one this statement supersedes
         -- included: a claim then looks the dose up, and finds this row is the head after all).
         EXISTS (SELECT 1 FROM registry_submissions o WHERE o.immunization_id = $3 AND o.endpoint_id = $2
                   AND ${unfinishedOfDose('o')}))
       ON CONFLICT (endpoint_id, immunization_id, immunization_version, operation)
         WHERE trigger IN ('event', 'import')
       DO NOTHING RETURNING *),
     superseded AS (
       UPDATE registry_submissions SET status = 'superseded', completed_at = now(), lease_owner = NULL,
         lease_until = NULL
       WHERE endpoint_id = $2 AND immunization_id = $3 AND status = 'pending' AND attempts = 0
         AND EXISTS (SELECT 1 FROM added) AND id <> $1)
     SELECT * FROM added`,
    [
      randomUUID(),
      next.endpointId,
      next.immunizationId,
      next.immunizationVersion,
      next.patientId,
      next.operation,
      newControlId(),
      next.trigger,
      next.requestedBy ?? null,
      initial,
    ],
    { name: 'registry_enqueue' },
  );
  return inserted.rows[0] ?? null;
}

async function reached(q: Queryable, next: NewSubmission): Promise<boolean> {
  const result = await q.query(
    `SELECT 1 FROM registry_submissions WHERE endpoint_id = $1 AND immunization_id = $2
        AND operation = 'submit' AND (attempts > 0 OR status = 'sent' OR trigger = 'import') LIMIT 1`,
    [next.endpointId, next.immunizationId],
  );
  return result.rows.length > 0;
}

/** Records a dose that came from this registry as already accepted there. */
export async function recordImported(
  q: Queryable,
  endpointId: string,
  immunizationId: string,
  patientId: string,
): Promise<void> {
  await q.query(
    `INSERT INTO registry_submissions (id, endpoint_id, immunization_id, immunization_version, patient_id,
       operation, control_id, status, trigger, completed_at)
     VALUES ($1, $2, $3, 1, $4, 'submit', $5, 'accepted', 'import', now())`,
    [randomUUID(), endpointId, immunizationId, patientId, newControlId()],
  );
}

/**
 * Leases due submissions of one registry. A submission waits while an older one of the same
 * dose is unfinished, so a delete never overtakes the add it retracts. Rows left `sent` by a
 * process that died come back when their lease expires, with the same control id, so the
 * registry can recognise the repeat.
 */
export async function claim(
  q: Queryable,
  endpointId: string,
  owner: string,
  limit: number,
  leaseMs: number,
): Promise<SubmissionRow[]> {
  const result = await q.query<SubmissionRow>(
    `WITH due AS (
       -- Due rows in due order, each kept only when it is its dose's oldest unfinished
       -- submission: a row queued behind another of its dose is checked against the dose's
       -- unfinished rows; any other is a head (migration registry/0003).
       SELECT s.id FROM registry_submissions s
        WHERE s.endpoint_id = $1 AND s.status IN ('pending', 'sent')
          AND s.next_attempt_at <= now() AND (s.lease_until IS NULL OR s.lease_until < now())
          AND (NOT s.waits OR s.seq = (SELECT min(o.seq) FROM registry_submissions o
                 WHERE o.immunization_id = s.immunization_id AND o.endpoint_id = s.endpoint_id
                   AND ${unfinishedOfDose('o')}))
        ORDER BY s.next_attempt_at, s.seq
        LIMIT $2
        FOR UPDATE OF s SKIP LOCKED)
     UPDATE registry_submissions s
        SET status = 'sent', lease_owner = $3, lease_until = now() + $4 * interval '1 millisecond',
            sent_at = coalesce(s.sent_at, now())
       FROM due WHERE s.id = due.id
     RETURNING s.*`,
    [endpointId, limit, owner, leaseMs],
    { name: 'registry_claim' },
  );
  return result.rows;
}

/** Earliest time a pending submission of this registry becomes due (for the dispatcher's sleep). */
export async function nextDue(q: Queryable, endpointId: string): Promise<Date | null> {
  const result = await q.query<{ at: Date | null }>(
    `SELECT min(greatest(next_attempt_at, coalesce(lease_until, next_attempt_at))) AS at
       FROM registry_submissions WHERE endpoint_id = $1 AND status IN ('pending', 'sent')`,
    [endpointId],
    { name: 'registry_next_due' },
  );
  return result.rows[0]?.at ?? null;
}

/** One attempt to record with `settle`. */
export interface Settlement {
  row: SubmissionRow;
  result: AttemptResult;
  startedAt: Date;
  latencyMs: number;
  /** Delay before the next attempt, used when the result is transient. */
  retryDelayMs: number;
}

/** What an attempt's result makes of its submission: an answer ends it, a transient failure retries until `maxAttempts`. */
export function statusAfter(
  row: SubmissionRow,
  result: AttemptResult,
  maxAttempts: number,
): SubmissionStatus {
  if (result.kind === 'answered') return result.status;
  if (result.kind === 'permanent' || row.attempts + 1 >= maxAttempts) return 'failed';
  return 'pending';
}

/**
 * Records attempts' results, all in one statement: each submission's new state and its
 * attempt row. A transient failure schedules the next attempt (after `retryDelayMs`) until
 * `maxAttempts`, then fails. Rejected and failed submissions open a work item. Returns the
 * new statuses in the order given.
 */
export async function settle(
  q: Queryable,
  settlements: readonly Settlement[],
  maxAttempts: number,
): Promise<SubmissionStatus[]> {
  if (settlements.length === 0) return [];
  const statuses = settlements.map((s) => statusAfter(s.row, s.result, maxAttempts));
  const values = settlements.map(({ row, result, startedAt, latencyMs, retryDelayMs }, i) => {
    const status = statuses[i] as SubmissionStatus;
    const answered = result.kind === 'answered' ? result : undefined;
    return {
      id: row.id,
      status,
      attempts: row.attempts + 1,
      ack_code: answered?.ackCode ?? null,
      registry_errors: answered?.issues ?? [],
      last_error: result.kind === 'answered' ? null : result.error,
      work_item: status === 'rejected' || status === 'failed' ? 'open' : null,
      terminal: status !== 'pending',
      retry_ms: retryDelayMs,
      started_at: startedAt.toISOString(),
      latency_ms: Math.round(latencyMs),
      outcome: answered ? answered.ackCode : result.kind,
      detail: answered ? status : result.kind === 'answered' ? null : result.error,
    };
  });
  await q.query(
    `WITH v AS (
       SELECT * FROM json_to_recordset($1::json) AS v(id uuid, status text, attempts int, ack_code text,
         registry_errors jsonb, last_error text, work_item text, terminal boolean, retry_ms int,
         started_at timestamptz, latency_ms int, outcome text, detail text)),
     settled AS (
       UPDATE registry_submissions s SET status = v.status, attempts = v.attempts, ack_code = v.ack_code,
         registry_errors = v.registry_errors, last_error = v.last_error, work_item = v.work_item,
         lease_owner = NULL, lease_until = NULL,
         next_attempt_at = CASE WHEN v.terminal THEN s.next_attempt_at
                                ELSE now() + v.retry_ms * interval '1 millisecond' END,
         completed_at = CASE WHEN v.terminal THEN now() ELSE NULL END
       FROM v WHERE s.id = v.id RETURNING s.id)
     INSERT INTO registry_attempts (submission_id, attempt, started_at, latency_ms, outcome, detail)
     SELECT v.id, v.attempts, v.started_at, v.latency_ms, v.outcome, v.detail FROM v JOIN settled USING (id)
     ON CONFLICT DO NOTHING`,
    [JSON.stringify(values)],
    { name: 'registry_settle' },
  );
  return statuses;
}

/** Gives a leased submission back untouched (the worker stops, or the circuit is open). */
export async function release(q: Queryable, ids: string[], delayMs: number): Promise<void> {
  if (ids.length === 0) return;
  await q.query(
    `UPDATE registry_submissions SET status = CASE WHEN attempts = 0 THEN 'pending' ELSE status END,
       lease_owner = NULL, lease_until = NULL, next_attempt_at = now() + $2 * interval '1 millisecond'
     WHERE id = ANY($1::uuid[]) AND status = 'sent'`,
    [ids, delayMs],
  );
}

export async function getSubmission(q: Queryable, id: string): Promise<SubmissionRow> {
  const result = await q.query<SubmissionRow>('SELECT * FROM registry_submissions WHERE id::text = $1', [id]);
  const row = result.rows[0];
  if (!row) throw errors.notFound(`registry submission ${id} is not known`);
  return row;
}

export async function attemptsOf(q: Queryable, id: string): Promise<Attempt[]> {
  const result = await q.query<{
    attempt: number;
    started_at: Date;
    latency_ms: number;
    outcome: string;
    detail: string | null;
  }>('SELECT * FROM registry_attempts WHERE submission_id = $1 ORDER BY attempt', [id]);
  return result.rows.map((r) => ({
    attempt: r.attempt,
    startedAt: r.started_at.toISOString(),
    latencyMs: r.latency_ms,
    outcome: r.outcome,
    detail: r.detail,
  }));
}

export async function submissionsOfImmunization(
  q: Queryable,
  immunizationId: string,
): Promise<SubmissionRow[]> {
  const result = await q.query<SubmissionRow>(
    'SELECT * FROM registry_submissions WHERE immunization_id = $1 ORDER BY seq',
    [immunizationId],
  );
  return result.rows;
}

export interface WorkQuery {
  status?: 'rejected' | 'failed';
  endpointId?: string;
  includeResolved?: boolean;
  limit: number;
  /** Keyset cursor: the `seq` of the last row of the previous page. */
  after?: number;
}

export async function workItems(
  q: Queryable,
  query: WorkQuery,
): Promise<{ rows: SubmissionRow[]; next?: number }> {
  const where = [query.includeResolved ? 'work_item IS NOT NULL' : "work_item = 'open'"];
  const params: unknown[] = [];
  if (query.status) where.push(`status = $${params.push(query.status)}`);
  else where.push("status IN ('rejected', 'failed')");
  if (query.endpointId) where.push(`endpoint_id::text = $${params.push(query.endpointId)}`);
  if (query.after !== undefined) where.push(`seq < $${params.push(query.after)}`);
  const result = await q.query<SubmissionRow & { seq: number }>(
    `SELECT * FROM registry_submissions WHERE ${where.join(' AND ')} ORDER BY seq DESC LIMIT ${query.limit + 1}`,
    params,
  );
  const rows = result.rows.slice(0, query.limit);
  const last = rows[rows.length - 1];
  return result.rows.length > query.limit && last ? { rows, next: Number(last.seq) } : { rows };
}

/** Closes a work item: the user fixed the data elsewhere, or decided nothing is to be sent. */
export async function resolveWorkItem(q: Queryable, id: string, by: string): Promise<SubmissionRow> {
  const row = await getSubmission(q, id);
  if (row.work_item !== 'open') throw errors.conflict('this submission has no open work item');
  const result = await q.query<SubmissionRow>(
    `UPDATE registry_submissions SET work_item = 'resolved', resolved_by = $2, resolved_at = now()
     WHERE id = $1 RETURNING *`,
    [row.id, by],
  );
  return result.rows[0] as SubmissionRow;
}

export interface StatusCount {
  endpointId: string;
  status: SubmissionStatus;
  count: number;
}

/** Submissions per registry and status: all of them, or those created since a time. */
export async function statusSummary(q: Queryable, since?: Date): Promise<StatusCount[]> {
  if (!since) return submissionTallies(q);
  const result = await q.query<{ endpoint_id: string; status: SubmissionStatus; n: number }>(
    `SELECT endpoint_id, status, count(*)::int AS n FROM registry_submissions
      WHERE created_at >= $1 GROUP BY endpoint_id, status ORDER BY 1, 2`,
    [since],
  );
  return result.rows.map((r) => ({ endpointId: r.endpoint_id, status: r.status, count: r.n }));
}

export async function openWorkCount(q: Queryable): Promise<number> {
  const result = await q.query<{ n: number }>(
    "SELECT count(*)::int AS n FROM registry_submissions WHERE work_item = 'open'",
  );
  return result.rows[0]?.n ?? 0;
}
