import { join } from 'node:path';
import type { AuditRecord, AuditTrail } from '../../platform/audit/port.js';
import type { Keyring } from '../../platform/crypto/keyring.js';
import type { Database, Queryable } from '../../platform/db/types.js';
import type { Logger } from '../../platform/observability/logger.js';
import type { ObjectStorage } from '../../platform/storage/port.js';
import {
  AlertEngine,
  DEFAULT_ALERT_RULES,
  WebhookAlertNotifier,
  type AlertNotifier,
  type AlertRules,
} from './alerts.js';
import {
  DirectoryCheckpointSink,
  StorageCheckpointSink,
  WebhookCheckpointSink,
  type CheckpointSink,
} from './checkpoints.js';
import type { UserDirectory } from './reports.js';
import { archiveExpiredPartitions, DEFAULT_RETENTION_YEARS, type ArchivedPartition } from './retention.js';
import { verifyAuditLog, type VerifyOptions, type VerifyReport } from './verify.js';
import { AuditWriter, type AuditWriterOptions } from './writer.js';

export interface AuditOptions extends Omit<AuditWriterOptions, 'sinks'> {
  /** Checkpoint directory; default `<dataDir>/audit-checkpoints` when `dataDir` is given. */
  checkpointDir?: string;
  dataDir?: string;
  /** Also write checkpoints to object storage under `audit/checkpoints/`. */
  checkpointsToStorage?: boolean;
  checkpointWebhookUrl?: string;
  /** Replaces the sinks above entirely. */
  sinks?: CheckpointSink[];
  alertRules?: Partial<AlertRules>;
  /** Least time between the starts of two alert evaluations (default 100 ms). */
  alertEvaluationGapMs?: number;
  alertWebhookUrl?: string;
  alertNotifier?: AlertNotifier;
  retentionYears?: number;
  userDirectory?: UserDirectory;
}

/** The audit module's runtime: the trail the product writes to, and what operators use. */
export interface AuditService extends AuditTrail {
  readonly db: Database;
  readonly keyring: Keyring;
  readonly writer: AuditWriter;
  readonly alerts: AlertEngine;
  readonly sinks: readonly CheckpointSink[];
  readonly userDirectory: UserDirectory | null;
  record(entry: AuditRecord, tx?: Queryable): Promise<void>;
  /** Chains everything recorded so far. */
  flush(): Promise<void>;
  /** Recomputes chain and checkpoints; a damaged log also raises a `verification_failed` alert. */
  verify(options?: VerifyOptions): Promise<VerifyReport>;
  archiveExpired(now?: Date): Promise<ArchivedPartition[]>;
  close(): Promise<void>;
}

// The composition root attaches the process's service to its AppContext; routes and commands
// find it there without the platform's context type knowing about this module.
const attached = new WeakMap<object, AuditService>();

export function attachAuditService(ctx: object, service: AuditService): void {
  attached.set(ctx, service);
}

export function auditServiceOf(ctx: object): AuditService {
  const service = attached.get(ctx);
  if (!service) throw new Error('no audit service is attached to this context; call attachAuditService');
  return service;
}

function sinksFrom(storage: ObjectStorage, options: AuditOptions): CheckpointSink[] {
  if (options.sinks) return options.sinks;
  const sinks: CheckpointSink[] = [];
  const dir =
    options.checkpointDir ?? (options.dataDir ? join(options.dataDir, 'audit-checkpoints') : undefined);
  if (dir) sinks.push(new DirectoryCheckpointSink(dir));
  if (options.checkpointsToStorage) sinks.push(new StorageCheckpointSink(storage));
  if (options.checkpointWebhookUrl) sinks.push(new WebhookCheckpointSink(options.checkpointWebhookUrl));
  return sinks;
}

/**
 * Builds the audit trail: writer (intake + sequencer + checkpoints), alert engine evaluated after
 * each chained batch, verification and retention bound to the same keyring and sinks.
 */
export function createAuditTrail(
  db: Database,
  keyring: Keyring,
  storage: ObjectStorage,
  logger: Logger,
  options: AuditOptions = {},
): AuditService {
  const sinks = sinksFrom(storage, options);
  const writer = new AuditWriter(db, keyring, logger, { ...options, sinks });
  const notifier =
    options.alertNotifier ??
    (options.alertWebhookUrl ? new WebhookAlertNotifier(options.alertWebhookUrl) : null);
  const alerts = new AlertEngine(db, logger, { ...DEFAULT_ALERT_RULES, ...options.alertRules }, notifier);
  // One evaluation at a time per process, at most one start per interval: batches chained
  // meanwhile wait for it. Appends are small and frequent under load, and each evaluation is a
  // transaction of its own; a rule hears of an entry a fraction of a second later.
  const alertGapMs = options.alertEvaluationGapMs ?? 100;
  let evaluating: Promise<void> | null = null;
  let again = false;
  let lastStart = -Infinity;
  let soon: NodeJS.Timeout | null = null;
  const evaluate = () => {
    if (soon) clearTimeout(soon);
    soon = null;
    if (evaluating) {
      again = true;
      return;
    }
    evaluating = (async () => {
      do {
        again = false;
        lastStart = performance.now();
        await alerts.process();
      } while (again);
    })()
      .catch((error: unknown) => logger.error({ err: error }, 'audit alert evaluation failed'))
      .finally(() => {
        evaluating = null;
      });
  };
  /** After a chained batch: now, or once the interval since the last start has passed. */
  const evaluateSoon = () => {
    if (soon) return;
    const wait = lastStart + alertGapMs - performance.now();
    if (wait <= 0) return evaluate();
    soon = setTimeout(evaluate, wait);
    soon.unref();
  };
  /** Evaluates what is pending now, without waiting for the interval (flush, close). */
  const evaluateNow = async () => {
    if (soon) evaluate();
    if (evaluating) await evaluating;
  };
  writer.onChained((batch) => {
    alerts.note(batch.firstSeq, batch.canonicals);
    evaluateSoon();
  });
  // Picks up entries another process chained while this one held the alert lock, and retries
  // deliveries, when no new batch comes along to do it.
  const alertTimer =
    options.timer === false ? null : setInterval(evaluate, (options.flushIntervalMs ?? 1000) * 5);
  alertTimer?.unref();
  return {
    db,
    keyring,
    writer,
    alerts,
    sinks,
    userDirectory: options.userDirectory ?? null,
    record: (entry, tx) => writer.record(entry, tx),
    recordMany: (entries, tx) => writer.recordMany(entries, tx),
    async flush() {
      await writer.flush();
      await evaluateNow();
    },
    async verify(verifyOptions = {}) {
      const report = await verifyAuditLog(db, keyring, { sinks, ...verifyOptions });
      if (!report.ok && report.firstDamage) {
        await alerts.raise({
          rule: 'verification_failed',
          severity: 'critical',
          subject: 'audit-log',
          dedupeKey: `verification_failed:${report.firstDamage.kind}:${report.firstDamage.seq ?? 'schema'}`,
          seq: report.firstDamage.seq,
          summary: `audit log verification failed at ${report.firstDamage.seq ?? 'schema'}: ${report.firstDamage.kind}`,
          details: { firstDamage: report.firstDamage, issues: report.issues.length },
        });
      }
      return report;
    },
    archiveExpired: (now) =>
      archiveExpiredPartitions(db, storage, keyring, {
        retentionYears: options.retentionYears ?? DEFAULT_RETENTION_YEARS,
        now,
      }),
    async close() {
      if (alertTimer) clearInterval(alertTimer);
      await writer.close();
      await evaluateNow();
    },
  };
}
