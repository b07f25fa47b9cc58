import { validate as isUuid } from 'uuid';
import type { PatientScope } from '../../../platform/auth/port.js';
import type { Queryable } from '../../../platform/db/types.js';
import type { Actor } from '../../../platform/events/port.js';

export type ExportLevel = 'system' | 'patient' | 'group';
export type ExportStatus = 'pending' | 'running' | 'completed' | 'failed' | 'cancelled';

/** What the caller was allowed to see at kick-off; the worker exports exactly that. */
export interface ExportScope {
  scope: PatientScope;
  /** Resource types to export: requested (or all) and readable by the caller. */
  types: string[];
}

export interface ExportParams {
  level: ExportLevel;
  groupId?: string;
  /** Group level: the member patients, resolved at kick-off. */
  patients?: string[];
  /** ISO instant: only resources updated after it. */
  since?: string;
}

/** One NDJSON file as stored; `patients` feeds the audit trail and never leaves the server. */
export interface ExportFile {
  type: string;
  file: string;
  count: number;
  patients: string[];
}

export interface StoredManifest {
  transactionTime: string;
  output: ExportFile[];
}

export interface ExportJob {
  id: string;
  requestedBy: string;
  scope: ExportScope;
  requestUrl: string;
  params: ExportParams;
  status: ExportStatus;
  progress: string | null;
  manifest: StoredManifest | null;
  error: string | null;
  createdAt: Date;
  startedAt: Date | null;
  completedAt: Date | null;
  expiresAt: Date;
}

interface JobRow {
  id: string;
  requested_by: string;
  scope: ExportScope;
  request_url: string;
  params: ExportParams;
  status: ExportStatus;
  progress: string | null;
  manifest: StoredManifest | null;
  error: string | null;
  created_at: Date;
  started_at: Date | null;
  completed_at: Date | null;
  expires_at: Date;
}

/** How long the files of a finished export stay downloadable. */
export const EXPORT_RETENTION_MS = 24 * 60 * 60 * 1000;

/** Where the files of a job live in object storage. */
export function exportPrefix(jobId: string): string {
  return `exports/${jobId}/`;
}

/** The owner key of a caller: jobs are only ever shown to the principal that started them. */
export function ownerOf(actor: Actor | null): string {
  return actor ? `${actor.type}/${actor.id}` : 'anonymous';
}

export function actorOf(owner: string): Actor | null {
  const slash = owner.indexOf('/');
  if (slash < 0) return null;
  const type = owner.slice(0, slash);
  if (type !== 'user' && type !== 'client' && type !== 'system') return null;
  return { type, id: owner.slice(slash + 1) };
}

function jobOf(row: JobRow): ExportJob {
  return {
    id: row.id,
    requestedBy: row.requested_by,
    scope: row.scope,
    requestUrl: row.request_url,
    params: row.params,
    status: row.status,
    progress: row.progress,
    manifest: row.manifest,
    error: row.error,
    createdAt: row.created_at,
    startedAt: row.started_at,
    completedAt: row.completed_at,
    expiresAt: row.expires_at,
  };
}

/** The `fhir_export_jobs` table. */
export const exportJobs = {
  async insert(
    q: Queryable,
    job: Pick<ExportJob, 'id' | 'requestedBy' | 'scope' | 'requestUrl' | 'params'>,
  ): Promise<void> {
    // Until it completes, the expiry is the deadline of the job: a stuck job is swept with the rest.
    await q.query(
      `INSERT INTO fhir_export_jobs (id, requested_by, scope, request_url, params, expires_at)
       VALUES ($1, $2, $3::jsonb, $4, $5::jsonb, now() + make_interval(secs => $6))`,
      [
        job.id,
        job.requestedBy,
        JSON.stringify(job.scope),
        job.requestUrl,
        JSON.stringify(job.params),
        EXPORT_RETENTION_MS / 1000,
      ],
    );
  },

  async get(q: Queryable, id: string): Promise<ExportJob | undefined> {
    // Job ids are UUIDs we issued; anything else is unknown, not a database cast error.
    if (!isUuid(id)) return undefined;
    const { rows } = await q.query<JobRow>('SELECT * FROM fhir_export_jobs WHERE id = $1', [id]);
    return rows[0] ? jobOf(rows[0]) : undefined;
  },

  /**
   * A job the owner may see: theirs, neither cancelled nor expired. Anything else is reported
   * as absent, so that job ids cannot be probed.
   */
  async owned(q: Queryable, id: string, owner: string): Promise<ExportJob | undefined> {
    const job = await exportJobs.get(q, id);
    if (!job || job.requestedBy !== owner || job.status === 'cancelled') return undefined;
    return job.expiresAt.getTime() <= Date.now() ? undefined : job;
  },

  /** Serialises the kick-offs of one owner (inside `q`'s transaction) so the running limit holds. */
  async lockOwner(q: Queryable, owner: string): Promise<void> {
    await q.query(`SELECT pg_advisory_xact_lock(hashtext('fhir_export:' || $1))`, [owner]);
  },

  async activeCount(q: Queryable, owner: string): Promise<number> {
    const { rows } = await q.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM fhir_export_jobs
       WHERE requested_by = $1 AND status IN ('pending', 'running') AND expires_at > now()`,
      [owner],
    );
    return rows[0]?.n ?? 0;
  },

  /** Claims a pending (or interrupted running) job; null when it is finished or gone. */
  async start(q: Queryable, id: string): Promise<ExportJob | undefined> {
    const { rows } = await q.query<JobRow>(
      `UPDATE fhir_export_jobs SET status = 'running', started_at = now(), progress = 'started'
       WHERE id = $1 AND status IN ('pending', 'running') RETURNING *`,
      [id],
    );
    return rows[0] ? jobOf(rows[0]) : undefined;
  },

  /** Records progress; false when the job was cancelled or removed meanwhile. */
  async progress(q: Queryable, id: string, progress: string): Promise<boolean> {
    const result = await q.query(
      `UPDATE fhir_export_jobs SET progress = $2 WHERE id = $1 AND status = 'running'`,
      [id, progress],
    );
    return result.rowCount > 0;
  },

  /** Stores the manifest; false when the job was cancelled or removed meanwhile. */
  async complete(q: Queryable, id: string, manifest: StoredManifest): Promise<boolean> {
    const result = await q.query(
      `UPDATE fhir_export_jobs SET status = 'completed', progress = 'completed', manifest = $2::jsonb,
         completed_at = now(), expires_at = now() + make_interval(secs => $3)
       WHERE id = $1 AND status = 'running'`,
      [id, JSON.stringify(manifest), EXPORT_RETENTION_MS / 1000],
    );
    return result.rowCount > 0;
  },

  async fail(q: Queryable, id: string, error: string): Promise<void> {
    await q.query(
      `UPDATE fhir_export_jobs SET status = 'failed', error = $2, completed_at = now(),
         expires_at = now() + make_interval(secs => $3)
       WHERE id = $1 AND status IN ('pending', 'running')`,
      [id, error, EXPORT_RETENTION_MS / 1000],
    );
  },

  /** Cancels the job; its row stays (expired) until the sweep, so a running worker sees it. */
  async cancel(q: Queryable, id: string): Promise<void> {
    await q.query(
      `UPDATE fhir_export_jobs SET status = 'cancelled', progress = 'cancelled', expires_at = now()
       WHERE id = $1`,
      [id],
    );
  },

  async expired(q: Queryable, limit: number): Promise<string[]> {
    const { rows } = await q.query<{ id: string }>(
      `SELECT id FROM fhir_export_jobs WHERE expires_at <= now() ORDER BY expires_at LIMIT $1`,
      [limit],
    );
    return rows.map((r) => r.id);
  },

  async remove(q: Queryable, id: string): Promise<void> {
    await q.query('DELETE FROM fhir_export_jobs WHERE id = $1', [id]);
  },
};
