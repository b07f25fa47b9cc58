import type { Logger } from '../../../platform/observability/logger.js';
import type { DomainEvent, SubscriberDefinition } from '../../../platform/events/port.js';
import type { JobDefinition } from '../../../platform/events/scheduler.js';
import type { ObjectStorage } from '../../../platform/storage/port.js';
import type { FhirRuntime } from '../store/context.js';
import { exportJobs } from './jobs.js';
import { removeExportFiles, runExport, type ExportRunOptions } from './runner.js';

export const EXPORT_REQUESTED = 'fhir.export.requested';
const MAX_ATTEMPTS = 3;

/**
 * Runs the exports asked for at kick-off, wherever the event worker runs. A failed attempt is
 * retried from scratch; after the last one the job is marked failed for the client to see.
 */
export function exportSubscriber(
  rt: FhirRuntime,
  storage: ObjectStorage,
  logger: Logger,
  options: ExportRunOptions = {},
): SubscriberDefinition {
  return {
    name: 'fhir.export',
    events: [EXPORT_REQUESTED],
    concurrency: 2,
    retry: { maxAttempts: MAX_ATTEMPTS, baseDelayMs: 1000, maxDelayMs: 30_000 },
    async handle(event: DomainEvent, { attempt }) {
      const jobId = String((event.payload as { jobId?: unknown }).jobId ?? '');
      try {
        await runExport(rt, storage, jobId, options);
      } catch (error) {
        if (attempt < MAX_ATTEMPTS) throw error;
        // Error text of the driver or the store may quote data: only its class is logged.
        logger.error({ jobId, error: (error as Error).name }, 'bulk export failed');
        await exportJobs.fail(rt.db, jobId, 'the export failed on the server; start a new export');
        await removeExportFiles(storage, jobId);
      }
    },
  };
}

/** Hourly: removes the files and rows of expired, cancelled and stuck exports. */
export function exportCleanupJob(rt: FhirRuntime, storage: ObjectStorage): JobDefinition {
  return {
    name: 'fhir.export-cleanup',
    cron: '17 * * * *',
    async run({ signal }) {
      for (;;) {
        const ids = await exportJobs.expired(rt.db, 100);
        for (const id of ids) {
          if (signal.aborted) return;
          await removeExportFiles(storage, id);
          await exportJobs.remove(rt.db, id);
        }
        if (ids.length < 100) return;
      }
    },
  };
}
