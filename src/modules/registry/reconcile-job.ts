import type { Patient } from 'fhir/r4.js';
import type { AppContext } from '../../platform/context.js';
import type { JobDefinition } from '../../platform/events/scheduler.js';
import { IrisError } from '../../platform/http/errors.js';
import { SYSTEM_CONTEXT, type FhirStore } from '../fhir/index.js';
import type { EndpointRepository } from './endpoints.js';
import { reconcilePatient } from './reconcile.js';
import type { TransportRegistry } from './transport/index.js';

export interface ReconcileJobOptions {
  cron: string;
  /** Patients with doses sent in this many days are reconciled... */
  lookbackDays: number;
  /** ...at most this many per registry and run, oldest reconciliation first. */
  batch: number;
}

export const DEFAULT_RECONCILE_JOB: ReconcileJobOptions = {
  cron: '30 2 * * *',
  lookbackDays: 30,
  batch: 500,
};

/** A failure's name or catalogue code, never its message (which may quote the patient's data). */
function errorCode(err: unknown): string {
  if (err instanceof IrisError) return err.code;
  return err instanceof Error ? err.name : 'unknown';
}

/**
 * Nightly: pulls the history of recently reported patients from each registry and imports the
 * doses given elsewhere. One patient's failure (registry down, patient unknown) never stops the run.
 */
export function reconcileJob(
  ctx: AppContext,
  store: FhirStore,
  endpoints: EndpointRepository,
  transports: TransportRegistry,
  options: ReconcileJobOptions,
): JobDefinition {
  return {
    name: 'registry.reconcile',
    cron: options.cron,
    async run({ signal }) {
      for (const endpoint of await endpoints.enabled()) {
        const due = await ctx.db.query<{ patient_id: string }>(
          `SELECT s.patient_id FROM registry_submissions s
             LEFT JOIN LATERAL (SELECT max(created_at) AS at FROM registry_queries q
                                 WHERE q.endpoint_id = s.endpoint_id AND q.patient_id = s.patient_id) last ON true
            WHERE s.endpoint_id = $1 AND s.patient_id IS NOT NULL AND s.trigger <> 'import'
              AND s.status IN ('accepted', 'accepted_with_warnings')
              AND s.completed_at >= now() - $2 * interval '1 day'
              AND (last.at IS NULL OR last.at < now() - interval '20 hours')
            GROUP BY s.patient_id ORDER BY min(last.at) NULLS FIRST LIMIT $3`,
          [endpoint.id, options.lookbackDays, options.batch],
        );
        const transport = transports.get(endpoint.config);
        const deps = { db: ctx.db, store, audit: ctx.audit };
        for (const { patient_id: patientId } of due.rows) {
          if (signal.aborted) return;
          try {
            const patient = (await store.read(SYSTEM_CONTEXT, 'Patient', patientId, { audit: false }))
              .resource;
            await reconcilePatient(deps, SYSTEM_CONTEXT, endpoint, transport, patient as Patient);
          } catch (err) {
            const error = errorCode(err);
            ctx.logger.warn(
              { error, registry: endpoint.name },
              'registry reconciliation of one patient failed',
            );
            // The query may have carried the patient's demographics out before failing: the attempt is
            // audited like a completed one. Without a working audit trail the run stops here.
            await ctx.audit.record({
              action: 'registry.reconcile',
              outcome: 'failure',
              actor: SYSTEM_CONTEXT.actor,
              patientIds: [patientId],
              resource: { type: 'Patient', id: patientId },
              details: { registry: endpoint.name, status: 'error', error },
            });
          }
        }
      }
    },
  };
}
