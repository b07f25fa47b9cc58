import type { Hl7Segment } from '@medplum/core';
import type {
  CodeableConcept,
  Coding,
  Immunization,
  ImmunizationEducation,
  Patient,
  PatientContact,
} from 'fhir/r4.js';
import {
  CVX_SYSTEM,
  FUNDING_SOURCE_CDC,
  FUNDING_SOURCE_TO_CDC,
  INFORMATION_SOURCE_NIP001,
  isTable,
  isVisBarcode,
  MVX_SYSTEM,
  OBS,
  PERFORMER_FUNCTION_SYSTEM,
  PROGRAM_ELIGIBILITY_SYSTEM,
  PROGRAM_ELIGIBILITY_TO_0064,
  FUNDING_SOURCE_SYSTEM,
  REFUSAL_NIP002,
  RELATIONSHIP_0063,
  ROLE_TO_0063,
  ROUTE_0162,
  ROUTE_NCIT,
  SITE_0163,
  UCUM_SYSTEM,
  V3_ACT_REASON_SYSTEM,
  V3_ACT_SITE_SYSTEM,
  V3_ROUTE_SYSTEM,
  V3_ROUTE_TO_NCIT,
  VFC_0064,
  VIS_BARCODE_SYSTEM,
} from './codes.js';
import { fhirToHl7Date, fhirToHl7Ts, instantToHl7Ts } from './datetime.js';
import {
  addresses,
  birthDate,
  ce,
  ethnicity,
  firstCoding,
  homeContacts,
  mothersMaidenName,
  patientIdentifiers,
  patientName,
  race,
  sex,
  workContacts,
  xad,
  xcn,
  xpn,
} from './encode-types.js';
import { Hl7BuildError } from './errors.js';
import { msh, type Hl7Party } from './header.js';
import { segment, serialise, type FieldValue, type Repetition } from './segment.js';

export type { Hl7Party } from './header.js';

export interface VxuInput {
  patient: Patient;
  /** One ORC/RXA/RXR/OBX group each, in order. */
  immunizations: Immunization[];
  /** MSH-3 / MSH-4. */
  sender: Hl7Party;
  /** MSH-5 / MSH-6. */
  receiver: Hl7Party;
  /** MSH-10, at most 20 characters. */
  controlId: string;
  /** MSH-7. */
  timestamp: Date;
  /** MSH-11, default 'P'. */
  processingId?: 'P' | 'T' | 'D';
  /** RXA-21 for every dose in the message, default 'add'. */
  action?: 'add' | 'update' | 'delete';
}

const ACTION_CODE = { add: 'A', update: 'U', delete: 'D' } as const;
const NO_AMOUNT = '999';

/**
 * VXU^V04 (CDC Implementation Guide for Immunization Messaging 2.5.1, release 1.5, 2018
 * update): MSH, PID, PD1, NK1*, then ORC, RXA, RXR?, OBX* per immunization.
 */
export function buildVxu(input: VxuInput): string {
  const { patient } = input;
  const segments: Hl7Segment[] = [
    msh({
      ...input,
      messageType: ['VXU', 'V04', 'VXU_V04'],
      profile: ['Z22', 'CDCPHINVS'],
    }),
    pid(patient, input.sender.facility),
    pd1(patient, input.timestamp),
    ...nk1s(patient.contact ?? []),
  ];
  const action = ACTION_CODE[input.action ?? 'add'];
  for (const immunization of input.immunizations) {
    segments.push(...orderGroup(immunization, patient, input.sender.facility, action));
  }
  return serialise(segments);
}

function pid(patient: Patient, facility: string): Hl7Segment {
  const fields: Record<number, FieldValue> = {
    1: '1',
    3: patientIdentifiers(patient, facility),
    5: patientName(patient),
    6: mothersMaidenName(patient),
    7: birthDate(patient),
    8: sex(patient),
    10: race(patient),
    11: addresses(patient.address),
    13: homeContacts(patient.telecom),
    14: workContacts(patient.telecom),
    22: ethnicity(patient),
  };
  if (patient.multipleBirthInteger !== undefined) {
    fields[24] = 'Y';
    fields[25] = String(patient.multipleBirthInteger);
  } else if (patient.multipleBirthBoolean !== undefined) {
    fields[24] = patient.multipleBirthBoolean ? 'Y' : 'N';
  }
  if (patient.deceasedDateTime) {
    fields[29] = fhirToHl7Ts(patient.deceasedDateTime);
    fields[30] = 'Y';
  } else if (patient.deceasedBoolean) {
    fields[30] = 'Y';
  }
  return segment('PID', fields);
}

/** PD1-16 registry status (table 0441): active, inactive, or permanently inactive when deceased. */
function pd1(patient: Patient, timestamp: Date): Hl7Segment {
  const deceased = patient.deceasedBoolean === true || patient.deceasedDateTime !== undefined;
  const status = deceased ? 'P' : patient.active === false ? 'I' : 'A';
  return segment('PD1', { 16: status, 17: instantToHl7Ts(timestamp).slice(0, 8) });
}

function relationship(contact: PatientContact): Repetition {
  for (const concept of contact.relationship ?? []) {
    for (const coding of concept.coding ?? []) {
      const code = coding.code;
      if (!code) continue;
      const mapped = isTable(coding.system, 'HL70063') ? code : ROLE_TO_0063[code];
      if (mapped) return [mapped, RELATIONSHIP_0063[mapped] ?? coding.display, 'HL70063'];
    }
  }
  return ['OTH', RELATIONSHIP_0063.OTH, 'HL70063'];
}

/** NK1 per named contact (the guide requires NK1-2 and NK1-3). */
function nk1s(contacts: readonly PatientContact[]): Hl7Segment[] {
  return contacts
    .filter((c) => c.name !== undefined)
    .map((contact, index) =>
      segment('NK1', {
        1: String(index + 1),
        2: xpn(contact.name ?? {}, 'L'),
        3: relationship(contact),
        4: contact.address ? xad(contact.address) : undefined,
        5: homeContacts(contact.telecom),
      }),
    );
}

function performerWith(immunization: Immunization, fn: 'OP' | 'AP') {
  return immunization.performer?.find((p) => {
    if (p.actor.reference?.startsWith('Organization/') || p.actor.type === 'Organization') return false;
    const code = p.function?.coding?.find((c) => c.system === PERFORMER_FUNCTION_SYSTEM || !c.system)?.code;
    return fn === 'AP' ? code === 'AP' || p.function === undefined : code === 'OP';
  });
}

type DoseKind = 'administered' | 'historical' | 'not-done';

function doseKind(immunization: Immunization): DoseKind {
  if (immunization.status === 'not-done') return 'not-done';
  return immunization.primarySource === true ? 'administered' : 'historical';
}

function vaccine(immunization: Immunization): Repetition {
  const cvx = firstCoding(immunization.vaccineCode, (c) => c.system === CVX_SYSTEM);
  if (!cvx)
    throw new Hl7BuildError(`immunization ${immunization.id ?? ''} has no CVX code (RXA-5 is required)`);
  return ce(cvx.code, cvx.display ?? immunization.vaccineCode.text, 'CVX');
}

function occurrence(immunization: Immunization): string {
  if (!immunization.occurrenceDateTime) {
    throw new Hl7BuildError(
      `immunization ${immunization.id ?? ''} has no occurrenceDateTime (RXA-3 is required)`,
    );
  }
  return immunization.occurrenceDateTime;
}

function ageInYears(birth: string, on: string): number {
  const [by = 0, bm = 1, bd = 1] = birth.split('-').map(Number);
  const [oy = 0, om = 1, od = 1] = on.slice(0, 10).split('-').map(Number);
  return oy - by - (om < bm || (om === bm && od < bd) ? 1 : 0);
}

/**
 * NIP002 refusal reason for a not-done dose, or undefined when the dose was not given for
 * another reason (immunity, precaution, out of stock). A patient objection is the parent's
 * decision for a minor.
 */
function refusalReason(immunization: Immunization, patient: Patient): Repetition {
  const reason = immunization.statusReason;
  const nip002 = firstCoding(reason, (c) => isTable(c.system, 'NIP002'));
  if (nip002?.code) return [nip002.code, REFUSAL_NIP002[nip002.code] ?? nip002.display, 'NIP002'];
  const actReason = firstCoding(reason, (c) => c.system === V3_ACT_REASON_SYSTEM)?.code;
  let code: string | undefined;
  if (actReason === 'RELIG') code = '01';
  else if (actReason === 'PATOBJ') {
    const minor =
      patient.birthDate !== undefined && ageInYears(patient.birthDate, occurrence(immunization)) < 18;
    code = minor ? '00' : '03';
  } else if (actReason === 'PHILISOP' || actReason === 'VACSAF' || actReason === 'VACEFF') code = '02';
  if (!code) return undefined;
  const text = code === '02' ? (reason?.text ?? REFUSAL_NIP002[code]) : REFUSAL_NIP002[code];
  return [code, text, 'NIP002'];
}

function informationSource(immunization: Immunization): Repetition {
  if (immunization.primarySource === true) return ['00', INFORMATION_SOURCE_NIP001['00'], 'NIP001'];
  const origin = firstCoding(immunization.reportOrigin, (c) => isTable(c.system, 'NIP001'))?.code;
  const code = origin && origin !== '00' && INFORMATION_SOURCE_NIP001[origin] ? origin : '01';
  return [code, INFORMATION_SOURCE_NIP001[code], 'NIP001'];
}

function manufacturer(immunization: Immunization): Repetition {
  const org = immunization.manufacturer;
  if (!org) return undefined;
  const code = org.identifier?.system === MVX_SYSTEM ? org.identifier.value : undefined;
  return ce(code, org.display, 'MVX');
}

function doseAmount(immunization: Immunization, kind: DoseKind): { amount: string; units: Repetition } {
  const q = immunization.doseQuantity;
  if (kind === 'not-done' || q?.value === undefined) return { amount: NO_AMOUNT, units: undefined };
  const code = q.system === UCUM_SYSTEM && q.code ? q.code : 'mL';
  return { amount: String(q.value), units: [code, q.unit ?? code, 'UCUM'] };
}

function rxa(immunization: Immunization, patient: Patient, facility: string, action: string): Hl7Segment {
  const kind = doseKind(immunization);
  const refusal = kind === 'not-done' ? refusalReason(immunization, patient) : undefined;
  const { amount, units } = doseAmount(immunization, kind);
  const administrator = kind === 'administered' ? performerWith(immunization, 'AP') : undefined;
  const location = immunization.location?.display ?? immunization.location?.identifier?.value;
  let completion = immunization.isSubpotent ? 'PA' : 'CP';
  if (kind === 'not-done') completion = refusal ? 'RE' : 'NA';
  return segment('RXA', {
    1: '0',
    2: '1',
    3: fhirToHl7Ts(occurrence(immunization)),
    5: vaccine(immunization),
    6: amount,
    7: units,
    9: kind === 'not-done' ? undefined : informationSource(immunization),
    10: administrator ? xcn(administrator.actor, facility) : undefined,
    11: location && kind !== 'not-done' ? ['', '', '', location] : undefined,
    15: immunization.lotNumber,
    16: immunization.expirationDate ? fhirToHl7Date(immunization.expirationDate) : undefined,
    17: manufacturer(immunization),
    18: refusal,
    20: completion,
    21: action,
  });
}

function route(concept: CodeableConcept | undefined): Repetition {
  const ncit = firstCoding(concept, (c) => /nci/i.test(c.system ?? '') || isTable(c.system, 'NCIT'));
  const v3 = firstCoding(
    concept,
    (c) => c.system === V3_ROUTE_SYSTEM && V3_ROUTE_TO_NCIT[c.code ?? ''] !== undefined,
  );
  const ncitCode = ncit?.code ?? (v3 ? V3_ROUTE_TO_NCIT[v3.code ?? ''] : undefined);
  if (ncitCode) return [ncitCode, ROUTE_NCIT[ncitCode] ?? ncit?.display, 'NCIT'];
  const v2 = firstCoding(concept, (c) => isTable(c.system, 'HL70162'));
  return v2 ? [v2.code, ROUTE_0162[v2.code ?? ''] ?? v2.display, 'HL70162'] : undefined;
}

function site(concept: CodeableConcept | undefined): Repetition {
  const c = firstCoding(
    concept,
    (x: Coding) => x.system === V3_ACT_SITE_SYSTEM || isTable(x.system, 'HL70163'),
  );
  return c ? [c.code, SITE_0163[c.code ?? ''] ?? c.display, 'HL70163'] : undefined;
}

function rxr(immunization: Immunization): Hl7Segment | undefined {
  const r = route(immunization.route);
  const s = site(immunization.site);
  return r || s ? segment('RXR', { 1: r, 2: s }) : undefined;
}

function eligibility(immunization: Immunization): Repetition {
  for (const concept of immunization.programEligibility ?? []) {
    const coded = firstCoding(
      concept,
      (c) => isTable(c.system, 'HL70064') && VFC_0064[c.code ?? ''] !== undefined,
    );
    const fhir = firstCoding(concept, (c) => c.system === PROGRAM_ELIGIBILITY_SYSTEM);
    const code = coded?.code ?? (fhir ? PROGRAM_ELIGIBILITY_TO_0064[fhir.code ?? ''] : undefined);
    if (code) return [code, VFC_0064[code], 'HL70064'];
  }
  return undefined;
}

function fundingSource(immunization: Immunization): Repetition {
  const concept = immunization.fundingSource;
  const coded = firstCoding(
    concept,
    (c) => isTable(c.system, 'CDCPHINVS') && FUNDING_SOURCE_CDC[c.code ?? ''] !== undefined,
  );
  const fhir = firstCoding(concept, (c) => c.system === FUNDING_SOURCE_SYSTEM);
  const code = coded?.code ?? (fhir ? FUNDING_SOURCE_TO_CDC[fhir.code ?? ''] : undefined);
  return code ? [code, FUNDING_SOURCE_CDC[code], 'CDCPHINVS'] : undefined;
}

interface ObxRow {
  /** OBX-4: rows describing the same thing share one. */
  subId: number;
  type: 'CE' | 'TS';
  code: { code: string; display: string };
  value: Repetition;
  method?: Repetition;
}

/**
 * One Vaccine Information Statement: identified by its barcode (69764-9) or, lacking one, by
 * the vaccine type (30956-7) as the guide's older method does; then the edition's publication
 * date and the date it was presented. An entry with neither a barcode nor a date names nothing.
 */
function visRows(education: ImmunizationEducation, immunization: Immunization, subId: number): ObxRow[] {
  const { documentType, publicationDate, presentationDate } = education;
  const barcode = isVisBarcode(documentType) ? documentType : undefined;
  if (!barcode && !publicationDate && !presentationDate) return [];
  const rows: ObxRow[] = [
    barcode
      ? { subId, type: 'CE', code: OBS.visDocumentType, value: ce(barcode, undefined, VIS_BARCODE_SYSTEM) }
      : { subId, type: 'CE', code: OBS.vaccineType, value: vaccine(immunization) },
  ];
  if (publicationDate)
    rows.push({ subId, type: 'TS', code: OBS.visPublished, value: fhirToHl7Date(publicationDate) });
  if (presentationDate)
    rows.push({ subId, type: 'TS', code: OBS.visPresented, value: fhirToHl7Ts(presentationDate) });
  return rows;
}

/** VFC eligibility, funding source, then one group per VIS: set ids and sub-ids count within the order. */
function observations(immunization: Immunization): Hl7Segment[] {
  const date = fhirToHl7Date(occurrence(immunization));
  const rows: ObxRow[] = [];
  const vfc = eligibility(immunization);
  if (vfc) {
    rows.push({
      subId: rows.length + 1,
      type: 'CE',
      code: OBS.vfcEligibility,
      value: vfc,
      method: ['VXC40', 'Eligibility captured at the immunization level', 'CDCPHINVS'],
    });
  }
  const funding = fundingSource(immunization);
  if (funding) rows.push({ subId: rows.length + 1, type: 'CE', code: OBS.fundingSource, value: funding });
  let subId = rows.length;
  for (const education of immunization.education ?? []) {
    const vis = visRows(education, immunization, subId + 1);
    if (vis.length > 0) subId++;
    rows.push(...vis);
  }
  return rows.map((row, index) =>
    segment('OBX', {
      1: String(index + 1),
      2: row.type,
      3: [row.code.code, row.code.display, 'LN'],
      4: String(row.subId),
      5: row.value,
      11: 'F',
      14: date,
      17: row.method,
    }),
  );
}

function orderGroup(
  immunization: Immunization,
  patient: Patient,
  facility: string,
  action: string,
): Hl7Segment[] {
  const kind = doseKind(immunization);
  const orderer = performerWith(immunization, 'OP');
  const group = [
    segment('ORC', {
      1: 'RE',
      3: [immunization.id ?? '9999', facility],
      12: orderer ? xcn(orderer.actor, facility) : undefined,
    }),
    rxa(immunization, patient, facility, action),
  ];
  if (kind === 'administered') {
    const routeSite = rxr(immunization);
    if (routeSite) group.push(routeSite);
    group.push(...observations(immunization));
  }
  return group;
}
