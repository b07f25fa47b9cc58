import { randomBytes, randomUUID } from 'node:crypto';
import type { Bundle, Immunization, ImmunizationRecommendation, Patient } from 'fhir/r4.js';
import type { Queryable } from '../../platform/db/types.js';
import { errors } from '../../platform/http/errors.js';
import { IRIS_PATIENT_SYSTEM, outboundPatient } from './deliver.js';
import type { Endpoint } from './endpoints.js';
import { buildQbp, Hl7ParseError, parseRsp } from './hl7/index.js';
import { newControlId } from './submissions.js';
import { TransportError } from './transport/errors.js';
import type { RegistryTransport } from './transport/index.js';

export type QueryProfile = 'Z34' | 'Z44';

/** A patient's history as one registry holds it. */
export interface RegistryHistory {
  queryId: string;
  endpointId: string;
  controlId: string;
  /** found: one patient matched; not-found; ambiguous: several candidates, nothing returned. */
  status: 'found' | 'not-found' | 'ambiguous' | 'rejected';
  immunizations: Immunization[];
  recommendation?: ImmunizationRecommendation;
  candidates: number;
  issues: Array<{ severity: string; code?: string; message?: string }>;
}

function withPatient(immunization: Immunization, patientId: string): Immunization {
  return { ...immunization, patient: { reference: `Patient/${patientId}` } };
}

/** Any failure to reach the registry surfaces as 502/503/504 problem, never as a 500. */
export function asGatewayError(error: unknown): unknown {
  if (error instanceof TransportError) {
    if (error.kind === 'circuit-open' || error.kind === 'bulkhead-full' || error.kind === 'rate-limited') {
      return errors.unavailable(`the registry is not taking calls now (${error.kind})`);
    }
    return errors.badGateway(`the registry call failed: ${error.message}`);
  }
  if (error instanceof Hl7ParseError)
    return errors.badGateway(`the registry answered unreadably: ${error.message}`);
  return error;
}

/** Pulls a patient's immunization history from a registry (QBP^Q11 or a FHIR search). */
export async function queryHistory(
  endpoint: Endpoint,
  transport: RegistryTransport,
  patient: Patient,
  profile: QueryProfile = 'Z34',
): Promise<RegistryHistory> {
  const patientId = patient.id ?? '';
  const controlId = newControlId();
  const base = { queryId: randomUUID(), endpointId: endpoint.id, controlId, candidates: 0, issues: [] };
  try {
    if (transport.kind === 'cdc-soap') {
      const message = buildQbp({
        patient: outboundPatient(patient, endpoint.sender.facility),
        profile,
        sender: endpoint.sender,
        receiver: endpoint.receiver,
        controlId,
        queryTag: randomBytes(12).toString('hex'),
        timestamp: new Date(),
        processingId: endpoint.processingId,
      });
      const rsp = parseRsp(await transport.sendHl7(message));
      const issues = rsp.errors.map((e) => ({
        severity: e.severity,
        ...(e.code ? { code: e.code } : {}),
        ...(e.message ? { message: e.message } : {}),
      }));
      if (rsp.ackCode === 'AR' || rsp.queryStatus === 'AE' || rsp.queryStatus === 'AR') {
        return { ...base, status: 'rejected', immunizations: [], issues };
      }
      if (rsp.candidates.length > 1) {
        return { ...base, status: 'ambiguous', immunizations: [], candidates: rsp.candidates.length, issues };
      }
      if (rsp.queryStatus === 'NF') return { ...base, status: 'not-found', immunizations: [], issues };
      return {
        ...base,
        status: 'found',
        candidates: 1,
        immunizations: rsp.immunizations.map((i) => withPatient(i, patientId)),
        ...(rsp.recommendation
          ? { recommendation: { ...rsp.recommendation, patient: { reference: `Patient/${patientId}` } } }
          : {}),
        issues,
      };
    }
    const bundle: Bundle = await transport.searchImmunizations({
      system: IRIS_PATIENT_SYSTEM,
      value: patientId,
    });
    const immunizations = (bundle.entry ?? [])
      .map((e) => e.resource)
      .filter((r): r is Immunization => r?.resourceType === 'Immunization')
      .map((i) => withPatient(i, patientId));
    return {
      ...base,
      status: immunizations.length > 0 ? 'found' : 'not-found',
      candidates: immunizations.length > 0 ? 1 : 0,
      immunizations,
    };
  } catch (error) {
    throw asGatewayError(error);
  }
}

export async function logQuery(
  q: Queryable,
  history: RegistryHistory,
  patientId: string,
  counts: { matched: number; imported: number },
  requestedBy: string | null,
): Promise<void> {
  await q.query(
    `INSERT INTO registry_queries (id, endpoint_id, patient_id, control_id, status, doses_found, doses_matched,
       doses_imported, requested_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
    [
      history.queryId,
      history.endpointId,
      patientId,
      history.controlId,
      history.status,
      history.immunizations.length,
      counts.matched,
      counts.imported,
      requestedBy,
    ],
  );
}
