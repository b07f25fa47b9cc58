import { KNOWN_CVX } from './cvx.js';
import { AnswerMemory } from './memory.js';
import type { Registry } from './registry.js';
import { patientKey, type DoseInput, type PatientRecord } from './store.js';
import type { StoredDose } from './types.js';

const CVX = 'http://hl7.org/fhir/sid/cvx';
const MVX = 'http://hl7.org/fhir/sid/mvx';
export const FHIR_JSON = 'application/fhir+json; charset=utf-8';
const STATUSES = new Set(['completed', 'entered-in-error', 'not-done']);

export interface FhirReply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export interface Issue {
  severity: 'error' | 'warning';
  code:
    | 'required'
    | 'invalid'
    | 'not-found'
    | 'not-supported'
    | 'structure'
    | 'code-invalid'
    | 'login'
    | 'security'
    | 'throttled'
    | 'transient'
    | 'too-costly';
  diagnostics: string;
  expression?: string[];
}

type Json = Record<string, unknown>;

/** One validated write taken from a request, applied only once the whole request is known to be valid. */
type Write =
  | { kind: 'patient'; record: PatientRecord; fhirId: string }
  | { kind: 'dose'; dose: DoseInput; warnings: Issue[] }
  | { kind: 'delete'; id: string }
  | { kind: 'ignored'; resourceType: string };

export function outcome(issues: Issue[]): Json {
  return { resourceType: 'OperationOutcome', issue: issues };
}

/** An OperationOutcome with a single error issue. */
export function errorOutcome(code: Issue['code'], diagnostics: string): Json {
  return outcome([{ severity: 'error', code, diagnostics }]);
}

function fail(status: number, code: Issue['code'], diagnostics: string, expression?: string): FhirReply {
  return {
    status,
    body: outcome([
      { severity: 'error', code, diagnostics, ...(expression ? { expression: [expression] } : {}) },
    ]),
  };
}

function obj(value: unknown): Json | undefined {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Json) : undefined;
}

function arr(value: unknown): Json[] {
  return Array.isArray(value) ? value.map(obj).filter((v): v is Json => v !== undefined) : [];
}

function str(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

/** FHIR R4 endpoint of the simulated registry: writes of Patient/Immunization and an Immunization search. */
export class FhirEndpoint {
  /** FHIR Patient ids (from earlier writes) → registry patient key, so `Patient/<id>` references resolve. */
  private readonly patientIds: AnswerMemory<string>;
  /** First reply per Idempotency-Key. */
  private readonly replies: AnswerMemory<FhirReply>;
  private requestCounter = 0;

  constructor(
    private readonly registry: Registry,
    remembered: number,
  ) {
    this.patientIds = new AnswerMemory(remembered);
    this.replies = new AnswerMemory(remembered);
  }

  reset(): void {
    this.patientIds.clear();
    this.replies.clear();
  }

  handle(
    method: string,
    path: string,
    query: URLSearchParams,
    rawBody: string,
    idempotencyKey: string,
  ): FhirReply {
    const parts = path.split('/').filter(Boolean);
    if (method === 'GET' && parts.length === 1 && parts[0] === 'metadata')
      return { status: 200, body: capabilities() };
    if (method === 'GET' && parts.length === 1 && parts[0] === 'Immunization') return this.search(query);
    if (method === 'POST' && parts.length <= 1) {
      this.registry.count('received');
      const remembered = idempotencyKey ? this.replies.get(idempotencyKey) : undefined;
      if (remembered) {
        this.registry.count('duplicateControlIds');
        return remembered;
      }
      const reply = this.write(parts[0], rawBody, idempotencyKey || `fhir-${++this.requestCounter}`);
      if (idempotencyKey) this.replies.set(idempotencyKey, reply);
      return reply;
    }
    if (method === 'DELETE' && parts.length === 2 && parts[0] === 'Immunization') {
      this.registry.count('received');
      if (!this.registry.store.removeById(parts[1]!))
        return fail(404, 'not-found', `Immunization/${parts[1]} is not known`);
      this.registry.count('accepted');
      return { status: 204 };
    }
    return fail(
      method === 'GET' || method === 'POST' || method === 'DELETE' ? 404 : 405,
      'not-supported',
      `${method} /fhir/${path} is not supported`,
    );
  }

  private write(type: string | undefined, rawBody: string, controlId: string): FhirReply {
    let resource: Json | undefined;
    try {
      resource = obj(JSON.parse(rawBody));
    } catch {
      resource = undefined;
    }
    if (!resource) {
      this.registry.count('rejected');
      return fail(400, 'structure', 'the body must be a JSON FHIR resource');
    }
    const resourceType = str(resource.resourceType);
    if (type !== undefined && resourceType !== type) {
      this.registry.count('rejected');
      return fail(
        400,
        'invalid',
        `the body is a ${resourceType || 'resource without resourceType'}, not a ${type}`,
      );
    }
    if (type === undefined) {
      if (resourceType !== 'Bundle') {
        this.registry.count('rejected');
        return fail(400, 'invalid', 'POST /fhir takes a transaction or batch Bundle');
      }
      return this.bundle(resource, controlId);
    }
    if (type !== 'Immunization' && type !== 'Patient') {
      this.registry.count('rejected');
      return fail(404, 'not-supported', `${type} is not supported`);
    }
    const issues: Issue[] = [];
    const w = this.toWrite(resource, 'POST', new Map(), controlId, type, issues);
    if (!w || issues.some((i) => i.severity === 'error')) {
      this.registry.count('rejected');
      return { status: 422, body: outcome(issues) };
    }
    const entry = this.apply(w);
    this.registry.count(issues.length > 0 ? 'acceptedWithErrors' : 'accepted');
    return {
      status: 201,
      headers: { Location: entry.location },
      body: entry.resource ?? outcome(issues),
    };
  }

  private bundle(bundle: Json, controlId: string): FhirReply {
    const type = str(bundle.type);
    if (type !== 'transaction' && type !== 'batch') {
      this.registry.count('rejected');
      return fail(400, 'invalid', 'Bundle.type must be transaction or batch', 'Bundle.type');
    }
    const entries = arr(bundle.entry);
    // Patients first, so Immunization.patient can reference a Patient anywhere in the Bundle.
    const refs = new Map<string, PatientRecord>();
    for (const e of entries) {
      const r = obj(e.resource);
      if (str(r?.resourceType) !== 'Patient' || !r) continue;
      const record = patientRecord(r);
      if (!record) continue;
      if (str(e.fullUrl)) refs.set(str(e.fullUrl), record);
      if (str(r.id)) refs.set(`Patient/${str(r.id)}`, record);
    }
    const planned = entries.map((e, index) => {
      const issues: Issue[] = [];
      const request = obj(e.request);
      const method = str(request?.method) || 'POST';
      const url = str(request?.url);
      const prefix = `Bundle.entry[${index}]`;
      let w: Write | undefined;
      if (method === 'DELETE') {
        const m = /^Immunization\/([^/?]+)$/.exec(url);
        if (m) w = { kind: 'delete', id: m[1]! };
        else
          issues.push({
            severity: 'error',
            code: 'not-supported',
            diagnostics: `DELETE ${url} is not supported`,
            expression: [`${prefix}.request.url`],
          });
      } else {
        const r = obj(e.resource);
        if (!r)
          issues.push({
            severity: 'error',
            code: 'required',
            diagnostics: 'entry has no resource',
            expression: [`${prefix}.resource`],
          });
        else
          w = this.toWrite(
            r,
            method,
            refs,
            `${controlId}#${index}`,
            str(r.resourceType),
            issues,
            `${prefix}.resource`,
          );
      }
      return { w, issues };
    });
    const failed = planned.filter((p) => !p.w || p.issues.some((i) => i.severity === 'error'));
    if (type === 'transaction' && failed.length > 0) {
      this.registry.count('rejected');
      return { status: 422, body: outcome(failed.flatMap((p) => p.issues)) };
    }
    const responses = planned.map((p) => {
      if (!p.w || p.issues.some((i) => i.severity === 'error')) {
        return { response: { status: '422 Unprocessable Entity', outcome: outcome(p.issues) } };
      }
      const applied = this.apply(p.w);
      return {
        ...(applied.resource ? { resource: applied.resource } : {}),
        response: {
          status: applied.status,
          ...(applied.location ? { location: applied.location } : {}),
          ...(p.issues.length > 0 ? { outcome: outcome(p.issues) } : {}),
        },
      };
    });
    const warned = planned.some((p) => p.issues.length > 0);
    if (failed.length === planned.length && planned.length > 0) this.registry.count('rejected');
    else this.registry.count(warned || failed.length > 0 ? 'acceptedWithErrors' : 'accepted');
    return { status: 200, body: { resourceType: 'Bundle', type: `${type}-response`, entry: responses } };
  }

  /** Validates one resource and turns it into a write; problems go to `issues`. */
  private toWrite(
    r: Json,
    method: string,
    refs: Map<string, PatientRecord>,
    controlId: string,
    resourceType: string,
    issues: Issue[],
    at = resourceType,
  ): Write | undefined {
    if (resourceType === 'Patient') {
      const record = patientRecord(r);
      if (!record) {
        issues.push({
          severity: 'error',
          code: 'required',
          diagnostics: 'Patient needs an identifier with a value',
          expression: [`${at}.identifier`],
        });
        return undefined;
      }
      return { kind: 'patient', record, fhirId: str(r.id) };
    }
    if (resourceType !== 'Immunization') return { kind: 'ignored', resourceType };
    const dose = this.immunizationDose(r, method, refs, controlId, issues, at);
    return dose
      ? { kind: 'dose', dose, warnings: issues.filter((i) => i.severity === 'warning') }
      : undefined;
  }

  private immunizationDose(
    r: Json,
    method: string,
    refs: Map<string, PatientRecord>,
    controlId: string,
    issues: Issue[],
    at: string,
  ): DoseInput | undefined {
    const error = (code: Issue['code'], field: string, diagnostics: string) =>
      issues.push({ severity: 'error', code, diagnostics, expression: [`${at}.${field}`] });
    const status = str(r.status);
    if (!status) error('required', 'status', 'Immunization.status is required');
    else if (!STATUSES.has(status))
      error('invalid', 'status', `Immunization.status "${status}" is not a valid code`);
    const vaccineCode = obj(r.vaccineCode);
    const cvx = str(arr(vaccineCode?.coding).find((c) => str(c.system) === CVX)?.code);
    if (!vaccineCode) error('required', 'vaccineCode', 'Immunization.vaccineCode is required');
    else if (!cvx) error('invalid', 'vaccineCode', `Immunization.vaccineCode needs a coding from ${CVX}`);
    else if (!KNOWN_CVX.has(cvx)) {
      issues.push({
        severity: 'warning',
        code: 'code-invalid',
        diagnostics: `CVX code "${cvx}" is not recognised`,
        expression: [`${at}.vaccineCode`],
      });
    }
    const patientRef = obj(r.patient);
    const patient = patientRef ? this.resolvePatient(patientRef, refs) : undefined;
    if (!patientRef) error('required', 'patient', 'Immunization.patient is required');
    else if (!patient)
      error('invalid', 'patient', 'Immunization.patient must reference a Patient with an identifier');
    const occurrence = str(r.occurrenceDateTime) || str(r.occurrenceString);
    const date = /^(\d{4})-(\d{2})-(\d{2})/.exec(occurrence);
    if (!occurrence) error('required', 'occurrence[x]', 'Immunization.occurrence[x] is required');
    else if (!date)
      error('invalid', 'occurrence[x]', `Immunization.occurrence "${occurrence}" is not a date`);
    if (issues.some((i) => i.severity === 'error') || !patient || !date) return undefined;
    const manufacturer = obj(r.manufacturer);
    const mvxId = obj(manufacturer?.identifier);
    const first = patient.identifiers[0]!;
    return {
      controlId,
      patientKey: patient.key,
      patientId: first.value,
      assigningAuthority: first.authority,
      patientName: { family: patient.family, given: patient.given },
      dob: patient.dob,
      cvx,
      date: `${date[1]}${date[2]}${date[3]}`,
      lot: str(r.lotNumber),
      mvx: str(mvxId?.system) === MVX || !mvxId?.system ? str(mvxId?.value) : '',
      historical: r.primarySource === false,
      action: status === 'entered-in-error' ? 'D' : method === 'PUT' ? 'U' : 'A',
      fillerOrder: str(arr(r.identifier)[0]?.value) || str(r.id),
      completionStatus: status === 'not-done' ? 'RE' : 'CP',
      route: str(arr(obj(r.route)?.coding)[0]?.code),
      site: str(arr(obj(r.site)?.coding)[0]?.code),
      source: 'fhir',
    };
  }

  private resolvePatient(ref: Json, refs: Map<string, PatientRecord>): PatientRecord | undefined {
    const reference = str(ref.reference);
    const inBundle = reference ? refs.get(reference) : undefined;
    if (inBundle) return inBundle;
    const store = this.registry.store;
    const identifier = obj(ref.identifier);
    if (identifier && str(identifier.value)) {
      const value = str(identifier.value);
      const system = str(identifier.system);
      return (
        store.findByIdentifier(value, system)[0] ?? {
          key: patientKey(value, system),
          identifiers: [{ value, authority: system, type: '' }],
          family: '',
          given: '',
          dob: '',
          sex: '',
        }
      );
    }
    const known = reference.startsWith('Patient/') ? this.patientIds.get(reference.slice(8)) : undefined;
    return known ? store.patient(known) : undefined;
  }

  private apply(w: Write): { status: string; location: string; resource?: Json } {
    const store = this.registry.store;
    switch (w.kind) {
      case 'patient': {
        store.upsertPatient(w.record);
        const id = w.fhirId || w.record.key;
        this.patientIds.set(id, w.record.key);
        return { status: '201 Created', location: `Patient/${id}/_history/1` };
      }
      case 'dose': {
        if (w.dose.action === 'D') {
          const removed = store.remove(w.dose.patientKey, w.dose.fillerOrder);
          return { status: removed ? '200 OK' : '404 Not Found', location: '' };
        }
        if (!store.patient(w.dose.patientKey)) {
          const identifier = { value: w.dose.patientId, authority: w.dose.assigningAuthority, type: '' };
          store.upsertPatient({
            key: w.dose.patientKey,
            identifiers: [identifier],
            family: '',
            given: '',
            dob: '',
            sex: '',
          });
        }
        const stored = store.put(w.dose);
        return {
          status: '201 Created',
          location: `Immunization/${stored.id}/_history/1`,
          resource: toImmunization(stored),
        };
      }
      case 'delete':
        return { status: store.removeById(w.id) ? '204 No Content' : '404 Not Found', location: '' };
      case 'ignored':
        return { status: '200 OK', location: '' };
    }
  }

  private search(query: URLSearchParams): FhirReply {
    this.registry.count('queries');
    const param = query.get('patient.identifier');
    if (!param)
      return fail(400, 'required', 'search needs patient.identifier=system|value', 'patient.identifier');
    const bar = param.indexOf('|');
    const system = bar >= 0 ? param.slice(0, bar) : '';
    const value = bar >= 0 ? param.slice(bar + 1) : param;
    const store = this.registry.store;
    const doses = store.findByIdentifier(value, system).flatMap((p) => store.dosesOf(p.key));
    return {
      status: 200,
      body: {
        resourceType: 'Bundle',
        type: 'searchset',
        total: doses.length,
        entry: doses.map((d) => ({
          fullUrl: `Immunization/${d.id}`,
          resource: toImmunization(d),
          search: { mode: 'match' },
        })),
      },
    };
  }
}

function patientRecord(r: Json): PatientRecord | undefined {
  const identifiers = arr(r.identifier)
    .filter((i) => str(i.value))
    .map((i) => ({
      value: str(i.value),
      authority: str(i.system),
      type: str(arr(obj(i.type)?.coding)[0]?.code),
    }));
  const first = identifiers[0];
  if (!first) return undefined;
  const name = arr(r.name)[0];
  const given = Array.isArray(name?.given) ? str(name.given[0]) : '';
  const gender = str(r.gender);
  return {
    key: patientKey(first.value, first.authority),
    identifiers,
    family: str(name?.family),
    given,
    dob: str(r.birthDate).replace(/-/g, '').slice(0, 8),
    sex: ({ female: 'F', male: 'M', other: 'X', unknown: 'U' } as Record<string, string>)[gender] ?? '',
  };
}

/** A stored dose as a FHIR R4 Immunization. */
export function toImmunization(d: StoredDose): Json {
  const date =
    d.date.length >= 8 ? `${d.date.slice(0, 4)}-${d.date.slice(4, 6)}-${d.date.slice(6, 8)}` : d.date;
  return {
    resourceType: 'Immunization',
    id: d.id,
    meta: { versionId: '1', lastUpdated: d.receivedAt },
    ...(d.fillerOrder ? { identifier: [{ system: 'urn:iis-sim:filler-order', value: d.fillerOrder }] } : {}),
    status: d.completionStatus === 'CP' || d.completionStatus === 'PA' ? 'completed' : 'not-done',
    vaccineCode: {
      coding: [
        { system: CVX, code: d.cvx, ...(KNOWN_CVX.has(d.cvx) ? { display: KNOWN_CVX.get(d.cvx) } : {}) },
      ],
    },
    patient: {
      identifier: { ...(d.assigningAuthority ? { system: d.assigningAuthority } : {}), value: d.patientId },
    },
    occurrenceDateTime: date,
    primarySource: !d.historical,
    ...(d.lot ? { lotNumber: d.lot } : {}),
    ...(d.mvx ? { manufacturer: { identifier: { system: MVX, value: d.mvx } } } : {}),
  };
}

function capabilities(): Json {
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: '2026-01-01',
    kind: 'instance',
    software: { name: 'IRIS Health registry simulator' },
    fhirVersion: '4.0.1',
    format: ['application/fhir+json'],
    rest: [
      {
        mode: 'server',
        interaction: [{ code: 'transaction' }, { code: 'batch' }],
        resource: [
          {
            type: 'Immunization',
            interaction: [{ code: 'create' }, { code: 'delete' }, { code: 'search-type' }],
            searchParam: [{ name: 'patient.identifier', type: 'token' }],
          },
          { type: 'Patient', interaction: [{ code: 'create' }] },
        ],
      },
    ],
  };
}
