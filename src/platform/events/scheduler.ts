import { Cron } from 'croner';
import type { Database } from '../db/types.js';
import type { Logger } from '../observability/logger.js';

export interface JobContext {
  /** The slot this run is for (its cron time), not when it started. */
  scheduledFor: Date;
  /** Aborted when the worker stops. */
  signal: AbortSignal;
}

export interface JobDefinition {
  /** Stable, unique name; the schedule and history are kept per name. */
  name: string;
  /** Cron expression (5 or 6 fields, croner syntax). */
  cron: string;
  /** IANA time zone the expression is read in (default UTC). */
  timezone?: string;
  run(context: JobContext): Promise<void>;
}

export interface JobRun {
  id: number;
  job: string;
  scheduledFor: Date;
  owner: string;
  status: 'running' | 'succeeded' | 'failed';
  error: string | null;
  startedAt: Date;
  finishedAt: Date | null;
}

const NAME = /^[a-z0-9][a-z0-9._-]{0,99}$/;

export interface SchedulerOptions {
  owner: string;
  intervalMs: number;
  leaseMs: number;
}

function nextRun(job: JobDefinition, after: Date): Date {
  const next = new Cron(job.cron, { paused: true, timezone: job.timezone ?? 'Etc/UTC' }).nextRun(after);
  if (!next) throw new Error(`job ${job.name}: cron "${job.cron}" has no future run`);
  return next;
}

/**
 * Cron jobs with exactly one runner across processes. Each job's row holds its next run time
 * and a lease: the process that moves `next_run_at` forward (row locked, SKIP LOCKED) runs
 * that slot; the others skip it. Runs missed while nobody was up coalesce into one.
 */
export class Scheduler {
  private readonly jobs = new Map<string, JobDefinition>();
  private readonly runningJobs = new Map<string, Promise<void>>();
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> | undefined;
  private abort = new AbortController();
  private stopped = true;

  constructor(
    private readonly db: Database,
    private readonly logger: Logger,
    private readonly options: SchedulerOptions,
  ) {}

  add(job: JobDefinition): void {
    if (!NAME.test(job.name))
      throw new Error(`job name "${job.name}" must be lower-case letters, digits, . _ -`);
    if (this.jobs.has(job.name)) throw new Error(`job ${job.name} is scheduled twice`);
    nextRun(job, new Date());
    this.jobs.set(job.name, job);
  }

  list(): JobDefinition[] {
    return [...this.jobs.values()];
  }

  /** Records the jobs; a changed expression reschedules, an unchanged one keeps its next run. */
  async persist(): Promise<void> {
    for (const job of this.jobs.values()) {
      await this.db.query(
        `INSERT INTO iris_jobs (name, cron, timezone, next_run_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (name) DO UPDATE SET cron = excluded.cron, timezone = excluded.timezone,
           next_run_at = excluded.next_run_at, updated_at = now()
         WHERE iris_jobs.cron <> excluded.cron OR iris_jobs.timezone IS DISTINCT FROM excluded.timezone`,
        [job.name, job.cron, job.timezone ?? null, nextRun(job, new Date())],
      );
    }
  }

  start(): void {
    if (this.jobs.size === 0) return;
    this.stopped = false;
    this.abort = new AbortController();
    this.schedule(0);
  }

  async stop(timeoutMs: number): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.ticking;
    this.abort.abort();
    const all = Promise.all(this.runningJobs.values());
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([all, new Promise((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
    clearTimeout(timer);
  }

  async renew(leaseMs: number): Promise<void> {
    if (this.runningJobs.size === 0) return;
    await this.db.query(
      `UPDATE iris_jobs SET lease_until = now() + $3 * interval '1 millisecond' WHERE name = ANY($1::text[]) AND lease_owner = $2`,
      [[...this.runningJobs.keys()], this.options.owner, leaseMs],
    );
  }

  /** One pass: claims and starts every due job this process knows. */
  async tick(): Promise<string[]> {
    const names = [...this.jobs.keys()].filter((n) => !this.runningJobs.has(n));
    if (names.length === 0) return [];
    const due = await this.db.query<{ name: string }>(
      `SELECT name FROM iris_jobs WHERE name = ANY($1::text[]) AND next_run_at <= now()
       AND (lease_until IS NULL OR lease_until < now())`,
      [names],
    );
    const started: string[] = [];
    for (const { name } of due.rows) {
      const job = this.jobs.get(name);
      if (!job) continue;
      const claim = await this.claim(job);
      if (!claim) continue;
      started.push(name);
      const run = this.execute(job, claim.runId, claim.scheduledFor).finally(() =>
        this.runningJobs.delete(name),
      );
      this.runningJobs.set(name, run);
    }
    return started;
  }

  /** Waits for the runs this process started (tests). */
  async settled(): Promise<void> {
    await Promise.all(this.runningJobs.values());
  }

  private async claim(job: JobDefinition): Promise<{ runId: number; scheduledFor: Date } | null> {
    return this.db.transaction(async (tx) => {
      const locked = await tx.query<{ next_run_at: Date; now: Date }>(
        `SELECT next_run_at, now() AS now FROM iris_jobs
         WHERE name = $1 AND next_run_at <= now() AND (lease_until IS NULL OR lease_until < now())
         FOR UPDATE SKIP LOCKED`,
        [job.name],
      );
      const row = locked.rows[0];
      if (!row) return null;
      await tx.query(
        `UPDATE iris_jobs SET next_run_at = $2, lease_owner = $3,
           lease_until = now() + $4 * interval '1 millisecond', updated_at = now() WHERE name = $1`,
        [job.name, nextRun(job, row.now), this.options.owner, this.options.leaseMs],
      );
      const run = await tx.query<{ id: number }>(
        `INSERT INTO iris_job_runs (job, scheduled_for, owner, status) VALUES ($1, $2, $3, 'running') RETURNING id`,
        [job.name, row.next_run_at, this.options.owner],
      );
      return { runId: run.rows[0]!.id, scheduledFor: row.next_run_at };
    });
  }

  private async execute(job: JobDefinition, runId: number, scheduledFor: Date): Promise<void> {
    let error: string | null = null;
    try {
      await job.run({ scheduledFor, signal: this.abort.signal });
    } catch (e) {
      error = (e instanceof Error ? `${e.name}: ${e.message}` : String(e)).slice(0, 2000);
      this.logger.warn({ job: job.name, err: e }, 'scheduled job failed');
    }
    try {
      await this.db.query(
        `WITH r AS (UPDATE iris_job_runs SET status = $2, error = $3, finished_at = now() WHERE id = $1 RETURNING 1)
         UPDATE iris_jobs SET lease_owner = NULL, lease_until = NULL WHERE name = $4 AND lease_owner = $5`,
        [runId, error === null ? 'succeeded' : 'failed', error, job.name, this.options.owner],
      );
    } catch (e) {
      this.logger.error({ job: job.name, err: e }, 'could not record a job run; its lease will expire');
    }
  }

  private schedule(delayMs: number): void {
    this.timer = setTimeout(() => {
      this.ticking = this.tick()
        .then(() => undefined)
        .catch((error: unknown) => this.logger.error({ err: error }, 'scheduler tick failed'))
        .finally(() => {
          this.ticking = undefined;
          if (!this.stopped) this.schedule(this.options.intervalMs);
        });
    }, delayMs);
  }
}

/** The latest runs of one job, or of all jobs, newest first. */
export async function jobHistory(db: Database, job: string | undefined, limit: number): Promise<JobRun[]> {
  const result = await db.query<{
    id: number;
    job: string;
    scheduled_for: Date;
    owner: string;
    status: JobRun['status'];
    error: string | null;
    started_at: Date;
    finished_at: Date | null;
  }>(
    `SELECT id, job, scheduled_for, owner, status, error, started_at, finished_at FROM iris_job_runs
     WHERE $1::text IS NULL OR job = $1 ORDER BY started_at DESC, id DESC LIMIT $2`,
    [job ?? null, limit],
  );
  return result.rows.map((r) => ({
    id: r.id,
    job: r.job,
    scheduledFor: r.scheduled_for,
    owner: r.owner,
    status: r.status,
    error: r.error,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
  }));
}
