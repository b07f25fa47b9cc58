import type { Queryable } from '../db/types.js';
import type { Actor } from '../events/port.js';

export type AuditOutcome = 'success' | 'failure' | 'denied';

/**
 * One auditable action. Never PHI values: ids, codes and counts only.
 * `action` is dotted, e.g. `fhir.read`, `fhir.search`, `auth.login`, `role.changed`.
 */
export interface AuditRecord {
  action: string;
  outcome: AuditOutcome;
  actor: Actor | null;
  /** Patients whose PHI this touched (for the accounting of disclosures). */
  patientIds?: string[];
  resource?: { type: string; id?: string; versionId?: string; previousVersionId?: string };
  /** HL7 v3 PurposeOfUse code (TREAT, ETREAT, HPAYMT, HOPERAT, ...). */
  purposeOfUse?: string;
  sourceIp?: string;
  userAgent?: string;
  requestId?: string;
  /** Non-PHI context (reason text of a break-glass, counts, error codes). */
  details?: Record<string, unknown>;
}

/** The tamper-evident audit trail, as the rest of the product writes to it. */
export interface AuditTrail {
  /**
   * Appends an entry. With `tx`, the entry commits or rolls back with that transaction (writes
   * audited atomically); without, it is appended on its own (reads, denials).
   */
  record(entry: AuditRecord, tx?: Queryable): Promise<void>;
  /** Appends several entries inside `tx` in one round trip (bulk work); they commit with it. */
  recordMany(entries: readonly AuditRecord[], tx: Queryable): Promise<void>;
}
