import { randomUUID } from 'node:crypto';
import type { Immunization, Patient, Provenance } from 'fhir/r4.js';
import type { AuditTrail } from '../../platform/audit/port.js';
import type { Database } from '../../platform/db/types.js';
import type { CallContext, FhirStore } from '../fhir/index.js';
import type { Endpoint } from './endpoints.js';
import { logQuery, queryHistory, type RegistryHistory } from './query.js';
import { recordImported } from './submissions.js';
import type { RegistryTransport } from './transport/index.js';

const CVX = 'http://hl7.org/fhir/sid/cvx';
const DAY_MS = 86_400_000;

export interface ReconcileResult {
  found: number;
  matched: number;
  imported: string[];
  /** Registry doses not imported, with why (refusals, no CVX code, no date). */
  skipped: Array<{ index: number; reason: string }>;
}

function cvxOf(immunization: Immunization): string | undefined {
  return immunization.vaccineCode?.coding?.find((c) => c.system === CVX)?.code;
}

function dayOf(immunization: Immunization): number | undefined {
  const value = immunization.occurrenceDateTime;
  if (!value) return undefined;
  const time = Date.parse(value.length === 10 ? `${value}T00:00:00Z` : value);
  return Number.isNaN(time) ? undefined : Math.floor(time / DAY_MS);
}

function sameLot(a?: string, b?: string): boolean {
  return !a || !b || a.trim().toUpperCase() === b.trim().toUpperCase();
}

/**
 * The same dose, as registries and EHRs record it: same CVX, dates at most one day apart (time
 * zones and data entry), and lots equal when both sides have one.
 */
export function sameDose(a: Immunization, b: Immunization): boolean {
  const [ca, cb, da, db] = [cvxOf(a), cvxOf(b), dayOf(a), dayOf(b)];
  return (
    ca !== undefined &&
    ca === cb &&
    da !== undefined &&
    db !== undefined &&
    Math.abs(da - db) <= 1 &&
    sameLot(a.lotNumber, b.lotNumber)
  );
}

/** Pairs registry doses with local ones (each local dose used once); returns the unmatched indexes. */
export function matchDoses(
  remote: Immunization[],
  local: Immunization[],
): { matched: number; unmatched: number[] } {
  const free = local.filter((i) => i.status !== 'entered-in-error');
  const unmatched: number[] = [];
  let matched = 0;
  remote.forEach((dose, index) => {
    const at = free.findIndex((candidate) => sameDose(dose, candidate));
    if (at >= 0) {
      free.splice(at, 1);
      matched += 1;
    } else unmatched.push(index);
  });
  return { matched, unmatched };
}

function historicalDose(endpoint: Endpoint, dose: Immunization, patientId: string): Immunization {
  return {
    resourceType: 'Immunization',
    status: 'completed',
    vaccineCode: dose.vaccineCode,
    patient: { reference: `Patient/${patientId}` },
    occurrenceDateTime: dose.occurrenceDateTime as string,
    primarySource: false,
    reportOrigin: {
      coding: [{ system: 'http://terminology.hl7.org/CodeSystem/immunization-origin', code: 'record' }],
      text: `Immunization registry ${endpoint.name}`,
    },
    ...(dose.lotNumber ? { lotNumber: dose.lotNumber } : {}),
    ...(dose.expirationDate ? { expirationDate: dose.expirationDate } : {}),
    ...(dose.manufacturer ? { manufacturer: dose.manufacturer } : {}),
    ...(dose.identifier ? { identifier: dose.identifier } : {}),
  };
}

function importProvenance(
  endpoint: Endpoint,
  history: RegistryHistory,
  immunizationId: string,
  patientId: string,
): Provenance {
  return {
    resourceType: 'Provenance',
    target: [{ reference: `Immunization/${immunizationId}` }, { reference: `Patient/${patientId}` }],
    recorded: new Date().toISOString(),
    activity: {
      coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-DataOperation', code: 'CREATE' }],
      text: 'imported from an immunization registry query',
    },
    agent: [
      {
        type: {
          coding: [
            { system: 'http://terminology.hl7.org/CodeSystem/provenance-participant-type', code: 'author' },
          ],
        },
        who: { display: endpoint.name },
      },
    ],
    entity: [{ role: 'source', what: { display: `${endpoint.name} query ${history.controlId}` } }],
  };
}

/**
 * Imports the registry doses the record lacks, as historical doses with Provenance, in one
 * transaction. Each import is also recorded as already held by that registry, so it is never
 * sent back to it.
 */
export async function reconcile(
  db: Database,
  store: FhirStore,
  ctx: CallContext,
  endpoint: Endpoint,
  patientId: string,
  history: RegistryHistory,
): Promise<ReconcileResult> {
  const local = (await store.search(ctx, 'Immunization', {
    patient: `Patient/${patientId}`,
  })) as Immunization[];
  const { matched, unmatched } = matchDoses(history.immunizations, local);
  const skipped: ReconcileResult['skipped'] = [];
  const toImport: Immunization[] = [];
  for (const index of unmatched) {
    const dose = history.immunizations[index] as Immunization;
    if (dose.status !== 'completed') skipped.push({ index, reason: `status ${dose.status}` });
    else if (!cvxOf(dose)) skipped.push({ index, reason: 'no CVX code' });
    else if (dayOf(dose) === undefined) skipped.push({ index, reason: 'no administration date' });
    else toImport.push(historicalDose(endpoint, dose, patientId));
  }
  const imported: string[] = [];
  if (toImport.length > 0) {
    await db.transaction(async (tx) => {
      for (const dose of toImport) {
        const id = randomUUID();
        await store.create(ctx, tx, { ...dose, id });
        await recordImported(tx, endpoint.id, id, patientId);
        await store.create(ctx, tx, importProvenance(endpoint, history, id, patientId));
        imported.push(id);
      }
    });
  }
  return { found: history.immunizations.length, matched, imported, skipped };
}

export type PatientReconciliation = ReconcileResult & { queryId: string; status: RegistryHistory['status'] };

/**
 * One reconciliation of a patient with one registry, as the API and the nightly job run it:
 * pull the history (Z34), import what the record lacks, log the query and audit it.
 */
export async function reconcilePatient(
  deps: { db: Database; store: FhirStore; audit: AuditTrail },
  call: CallContext,
  endpoint: Endpoint,
  transport: RegistryTransport,
  patient: Patient,
): Promise<PatientReconciliation> {
  const patientId = patient.id ?? '';
  const history = await queryHistory(endpoint, transport, patient, 'Z34');
  const result =
    history.status === 'found'
      ? await reconcile(deps.db, deps.store, call, endpoint, patientId, history)
      : { found: 0, matched: 0, imported: [], skipped: [] };
  await logQuery(
    deps.db,
    history,
    patientId,
    { matched: result.matched, imported: result.imported.length },
    call.actor?.id ?? null,
  );
  await deps.audit.record(queryAudit(call, patientId, endpoint.name, history, 'registry.reconcile'));
  return { ...result, queryId: history.queryId, status: history.status };
}

/** The audit entry of a registry query or reconciliation: who asked, for whom, what came back. */
export function queryAudit(
  call: CallContext,
  patientId: string,
  registry: string,
  history: RegistryHistory,
  action: 'registry.query' | 'registry.reconcile',
) {
  return {
    action,
    outcome: history.status === 'rejected' ? ('failure' as const) : ('success' as const),
    actor: call.actor,
    patientIds: [patientId],
    resource: { type: 'Patient', id: patientId },
    details: { registry, status: history.status, doses: history.immunizations.length },
    ...(call.requestId ? { requestId: call.requestId } : {}),
    ...(call.sourceIp ? { sourceIp: call.sourceIp } : {}),
  };
}
