import type { Bundle, Immunization, Patient } from 'fhir/r4.js';
import { IrisError } from '../../platform/http/errors.js';
import { SYSTEM_CONTEXT, type FhirStore } from '../fhir/index.js';
import type { Endpoint } from './endpoints.js';
import { buildVxu, Hl7ParseError, parseAck } from './hl7/index.js';
import { ackResult, fhirResult } from './outcome.js';
import type { AttemptResult, SubmissionRow } from './submissions.js';
import { TransportError } from './transport/errors.js';
import type { RegistryTransport } from './transport/index.js';

/** Identifier system of IRIS's own record ids when sent to a registry. */
export const IRIS_PATIENT_SYSTEM = 'https://iris.health/fhir/sid/patient';
export const IRIS_IMMUNIZATION_SYSTEM = 'https://iris.health/fhir/sid/immunization';

/** The dose and patient a submission reports, as they were in the queued version. */
export interface SubmissionData {
  patient: Patient;
  immunization: Immunization;
}

/** Raised when the data to send no longer exists (e.g. the patient was erased): not retryable. */
export class MissingDataError extends Error {}

function patientIdOf(immunization: Immunization): string {
  const match = /^Patient\/([^/]+)$/.exec(immunization.patient?.reference ?? '');
  if (!match?.[1]) throw new MissingDataError('the immunization does not reference a stored Patient');
  return match[1];
}

/** The patient as sent: IRIS's id first, so that later queries find the same record. */
export function outboundPatient(patient: Patient, facility: string): Patient {
  const own = { system: IRIS_PATIENT_SYSTEM, value: patient.id ?? '', assigner: { display: facility } };
  const others = (patient.identifier ?? []).filter((i) => i.system !== IRIS_PATIENT_SYSTEM);
  return { ...patient, identifier: [own, ...others] };
}

/** The version a submission reports: the queued one, or for a delete the version before it. */
function reportedVersion(row: SubmissionRow): number {
  return row.operation === 'delete' ? row.immunization_version - 1 : row.immunization_version;
}

/**
 * Reads what a batch of submissions sends, in two round trips (the doses' versions, then their
 * patients' current records). Each row maps to its data, or to why it cannot be sent (which
 * never gets better by retrying).
 */
export async function loadSubmissionBatch(
  store: FhirStore,
  rows: readonly SubmissionRow[],
): Promise<Map<string, SubmissionData | MissingDataError>> {
  const options = { audit: false };
  const doses = await store.vreadMany(
    SYSTEM_CONTEXT,
    'Immunization',
    rows
      .filter((row) => reportedVersion(row) >= 1)
      .map((row) => ({ id: row.immunization_id, versionId: String(reportedVersion(row)) })),
    options,
  );
  const loaded = new Map<string, SubmissionData | MissingDataError>();
  const wanted = new Map<string, { immunization: Immunization; patientId: string }>();
  for (const row of rows) {
    const version = reportedVersion(row);
    if (version < 1) {
      loaded.set(row.id, new MissingDataError('no stored version of the immunization to report'));
      continue;
    }
    const dose = doses.get(`${row.immunization_id}/${version}`);
    if (!dose) {
      loaded.set(row.id, new MissingDataError('the immunization or its patient is no longer stored'));
      continue;
    }
    const immunization = dose.resource as Immunization;
    try {
      wanted.set(row.id, { immunization, patientId: patientIdOf(immunization) });
    } catch (error) {
      loaded.set(row.id, error as MissingDataError);
    }
  }
  const patients = await store.readMany(
    SYSTEM_CONTEXT,
    'Patient',
    [...wanted.values()].map((w) => w.patientId),
    options,
  );
  for (const [rowId, { immunization, patientId }] of wanted) {
    const patient = patients.get(patientId)?.resource as Patient | undefined;
    loaded.set(
      rowId,
      patient
        ? { patient, immunization }
        : new MissingDataError('the immunization or its patient is no longer stored'),
    );
  }
  return loaded;
}

function fhirBundle(endpoint: Endpoint, row: SubmissionRow, data: SubmissionData): Bundle {
  const patient = outboundPatient(data.patient, endpoint.sender.facility);
  const patientUrl = `urn:uuid:${row.id}`;
  const immunization: Immunization = {
    ...data.immunization,
    // A retraction in FHIR is the same record marked entered-in-error.
    ...(row.operation === 'delete' ? { status: 'entered-in-error' as const } : {}),
    identifier: [
      { system: IRIS_IMMUNIZATION_SYSTEM, value: row.immunization_id },
      ...(data.immunization.identifier ?? []).filter((i) => i.system !== IRIS_IMMUNIZATION_SYSTEM),
    ],
    patient: { reference: patientUrl },
  };
  delete immunization.id;
  delete immunization.meta;
  const { id: _id, meta: _meta, ...patientBody } = patient;
  return {
    resourceType: 'Bundle',
    type: 'transaction',
    entry: [
      {
        fullUrl: patientUrl,
        resource: patientBody as Patient,
        request: {
          method: 'POST',
          url: 'Patient',
          ifNoneExist: `identifier=${IRIS_PATIENT_SYSTEM}|${data.patient.id}`,
        },
      },
      {
        resource: immunization,
        request: {
          method: 'PUT',
          url: `Immunization?identifier=${IRIS_IMMUNIZATION_SYSTEM}|${row.immunization_id}`,
        },
      },
    ],
  };
}

/** A failure to get an answer, in the dispatcher's terms. */
export function failureResult(error: unknown): AttemptResult {
  if (error instanceof TransportError) {
    if (error.kind === 'circuit-open' || error.kind === 'bulkhead-full') {
      return { kind: 'transient', error: error.message, backpressure: true };
    }
    if (!error.transient) return { kind: 'permanent', error: error.message };
    return {
      kind: 'transient',
      error: error.message,
      ...(error.retryAfterMs !== undefined ? { retryAfterMs: error.retryAfterMs } : {}),
    };
  }
  if (error instanceof Hl7ParseError)
    return { kind: 'permanent', error: `unreadable acknowledgement: ${error.message}` };
  if (error instanceof MissingDataError) return { kind: 'permanent', error: error.message };
  if (error instanceof IrisError && (error.statusCode === 404 || error.statusCode === 410)) {
    return { kind: 'permanent', error: 'the immunization or its patient is no longer stored' };
  }
  // Anything else is ours (database, bug): try again later; the name only, messages may hold data.
  return { kind: 'transient', error: `internal error (${(error as Error)?.name ?? 'unknown'})` };
}

/**
 * Sends one submission through the registry's transport (its policy applies timeouts, retries,
 * the breaker, the bulkhead and the rate limit) and reads the registry's answer.
 */
export async function deliver(
  endpoint: Endpoint,
  transport: RegistryTransport,
  row: SubmissionRow,
  data: SubmissionData,
  now: Date = new Date(),
): Promise<AttemptResult> {
  try {
    if (transport.kind === 'cdc-soap') {
      const message = buildVxu({
        patient: outboundPatient(data.patient, endpoint.sender.facility),
        immunizations: [data.immunization],
        sender: endpoint.sender,
        receiver: endpoint.receiver,
        controlId: row.control_id,
        timestamp: now,
        processingId: endpoint.processingId,
        action: row.operation === 'delete' ? 'delete' : row.immunization_version > 1 ? 'update' : 'add',
      });
      const ack = parseAck(await transport.sendHl7(message));
      if (ack.ackedControlId !== row.control_id) {
        return {
          kind: 'permanent',
          error: `the registry acknowledged message ${ack.ackedControlId}, not ${row.control_id}`,
        };
      }
      return ackResult(ack);
    }
    const answer = await transport.submitBundle(fhirBundle(endpoint, row, data), row.control_id);
    return fhirResult(answer.status, answer.body);
  } catch (error) {
    return failureResult(error);
  }
}
