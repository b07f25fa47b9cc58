import type { AuditTrail } from '../../platform/audit/port.js';
import type { Database } from '../../platform/db/types.js';
import type { EventPublisher } from '../../platform/events/port.js';
import { SYSTEM_CONTEXT, type FhirStore } from '../fhir/index.js';
import type { Endpoint } from './endpoints.js';
import { registryProvenance } from './provenance.js';
import { settle, type Settlement, type SubmissionStatus } from './submissions.js';

/** Most outcomes recorded in one transaction. */
const MAX_PER_TRANSACTION = 64;

export interface RecorderDeps {
  db: Database;
  store: FhirStore;
  audit: AuditTrail;
  events: EventPublisher;
}

/**
 * Records the outcomes of a lane's batch while it is still sending (group commit): outcomes
 * that arrive while a transaction is writing go together into the next one. Each final status
 * writes its Provenance, audit entry and event in the same transaction as the status itself,
 * in a fixed number of round trips however many outcomes there are.
 */
export class OutcomeRecorder {
  private readonly queue: Settlement[] = [];
  private flushing: Promise<void> | null = null;
  private failure: unknown = null;

  constructor(
    private readonly deps: RecorderDeps,
    private readonly endpoint: Endpoint,
  ) {}

  add(settlement: Settlement): void {
    this.queue.push(settlement);
    this.flushing ??= this.flush();
  }

  /**
   * Waits until everything added is recorded. Rejects if a transaction failed: its outcomes
   * stay leased, and the submissions are sent again (same control id) once the lease expires.
   */
  async drain(): Promise<void> {
    while (this.flushing) await this.flushing;
    if (this.failure) throw this.failure;
  }

  private async flush(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        // Let answers that already arrived join this transaction: an embedded database runs
        // its statements without yielding to I/O, so they would otherwise wait for the next.
        await new Promise((resolve) => setImmediate(resolve));
        const batch = this.queue.splice(0, MAX_PER_TRANSACTION);
        try {
          await recordOutcomes(this.deps, this.endpoint, batch);
        } catch (error) {
          this.failure ??= error;
        }
      }
    } finally {
      this.flushing = null;
    }
  }
}

/** Settles the attempts and, for each final status, writes its Provenance, audit entry and event. */
export async function recordOutcomes(
  deps: RecorderDeps,
  endpoint: Endpoint,
  settlements: readonly Settlement[],
): Promise<SubmissionStatus[]> {
  return deps.db.transaction(async (tx) => {
    const statuses = await settle(tx, settlements, endpoint.maxAttempts);
    const final = settlements
      .map((s, i) => ({ ...s, status: statuses[i] as SubmissionStatus }))
      .filter((s) => s.status !== 'pending');
    if (final.length === 0) return statuses;
    const recorded = new Date();
    await deps.store.createMany(
      SYSTEM_CONTEXT,
      tx,
      final.map(({ row, result, status }) =>
        registryProvenance(
          endpoint,
          row,
          status,
          result.kind === 'answered' ? result.ackCode : null,
          result.kind === 'answered' ? result.issues : [],
          recorded,
        ),
      ),
      { trusted: true },
    );
    await deps.audit.recordMany(
      final.map(({ row, result, status }) => ({
        action: row.operation === 'delete' ? 'registry.retract' : 'registry.submit',
        outcome: status === 'accepted' || status === 'accepted_with_warnings' ? 'success' : 'failure',
        actor: SYSTEM_CONTEXT.actor,
        ...(row.patient_id ? { patientIds: [row.patient_id] } : {}),
        resource: {
          type: 'Immunization',
          id: row.immunization_id,
          versionId: String(row.immunization_version),
        },
        details: {
          registry: endpoint.name,
          submission: row.id,
          status,
          ackCode: result.kind === 'answered' ? result.ackCode : null,
        },
      })),
      tx,
    );
    await deps.events.publishMany(
      tx,
      final.map(({ row, status }) => ({
        type: `registry.submission.${status.replace(/_/g, '-')}`,
        actor: SYSTEM_CONTEXT.actor,
        aggregate: { type: 'Immunization', id: row.immunization_id },
        payload: { submissionId: row.id, endpointId: endpoint.id, status, operation: row.operation },
      })),
    );
    return statuses;
  });
}
