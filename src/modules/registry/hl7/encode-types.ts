import type {
  Address,
  CodeableConcept,
  Coding,
  ContactPoint,
  HumanName,
  Identifier,
  Patient,
  Reference,
} from 'fhir/r4.js';
import {
  CDCREC_SYSTEM,
  MOTHERS_MAIDEN_NAME,
  NULL_FLAVOR_SYSTEM,
  US_CORE_ETHNICITY,
  US_CORE_RACE,
} from './codes.js';
import { fhirToHl7Date } from './datetime.js';
import { Hl7BuildError } from './errors.js';
import { Repeated, type Component, type FieldValue, type Repetition } from './segment.js';

/** FHIR → HL7 v2 data types (CX, XPN, XAD, XTN, XCN, CE) shared by VXU and QBP. */

/** HD as sub-components when it sits inside another type (CX-4, XCN-9). */
function assigningAuthority(identifier: Identifier, fallback: string): Component {
  if (identifier.assigner?.display) return identifier.assigner.display;
  const system = identifier.system;
  if (system?.startsWith('urn:oid:')) return ['', system.slice('urn:oid:'.length), 'ISO'];
  if (system) return ['', system, 'URI'];
  return fallback;
}

/** CX: ID^^^assigning authority^identifier type (MR by default). */
export function cx(identifier: Identifier, fallbackAuthority: string): Repetition {
  const type = identifier.type?.coding?.find((c) => c.code)?.code ?? 'MR';
  return [identifier.value, '', '', assigningAuthority(identifier, fallbackAuthority), type];
}

/** PID-3 / QPD-3: every identifier with a value; the resource id when there is none. */
export function patientIdentifiers(patient: Patient, facility: string): FieldValue {
  const ids = (patient.identifier ?? []).filter((i) => i.value);
  if (ids.length > 0) return new Repeated(ids.map((i) => cx(i, facility)));
  if (patient.id) return cx({ value: patient.id }, facility);
  throw new Hl7BuildError('the patient has neither an identifier nor an id (PID-3 is required)');
}

/** The name the guide wants first: the official one, else the first current one. */
function legalName(patient: Patient): HumanName | undefined {
  const names = (patient.name ?? []).filter((n) => n.use !== 'old');
  return names.find((n) => n.use === 'official') ?? names[0];
}

/** XPN: family^given^second given^suffix^prefix^^name type. */
export function xpn(name: HumanName, type: string): Repetition {
  const given = name.given ?? [];
  const family = name.family ?? (given.length === 0 ? name.text : undefined);
  return [
    family,
    given[0],
    given.slice(1).join(' ') || undefined,
    name.suffix?.join(' '),
    name.prefix?.join(' '),
    '',
    type,
  ];
}

export function patientName(patient: Patient): FieldValue {
  const name = legalName(patient);
  if (!name) throw new Hl7BuildError('the patient has no name (PID-5 is required)');
  return xpn(name, 'L');
}

export function mothersMaidenName(patient: Patient): FieldValue {
  const value = patient.extension?.find((e) => e.url === MOTHERS_MAIDEN_NAME)?.valueString;
  return value ? [value, '', '', '', '', '', 'M'] : undefined;
}

export function sex(patient: Patient): string {
  if (patient.gender === 'female') return 'F';
  if (patient.gender === 'male') return 'M';
  return 'U';
}

export function birthDate(patient: Patient): string | undefined {
  return patient.birthDate ? fhirToHl7Date(patient.birthDate) : undefined;
}

const ADDRESS_TYPE: Record<string, string> = { home: 'H', work: 'B', temp: 'C', old: 'BA', billing: 'BI' };

/** XAD: street^other^city^state^zip^country^address type. */
export function xad(address: Address): Repetition {
  const lines = address.line ?? [];
  const type = address.type === 'postal' ? 'M' : ((address.use && ADDRESS_TYPE[address.use]) ?? 'L');
  return [
    lines[0],
    lines.slice(1).join(', ') || undefined,
    address.city,
    address.state,
    address.postalCode,
    address.country,
    type,
  ];
}

export function addresses(list: readonly Address[] | undefined): FieldValue {
  return new Repeated((list ?? []).map(xad));
}

/** XTN for a phone or e-mail: ^use^equipment^email^^area^local, with unparseable numbers in XTN-12. */
export function xtn(contact: ContactPoint): Repetition | undefined {
  if (!contact.value) return undefined;
  if (contact.system === 'email') return ['', 'NET', 'Internet', contact.value];
  if (contact.system !== 'phone' && contact.system !== undefined) return undefined;
  const use = contact.use === 'work' ? 'WPN' : 'PRN';
  const equipment = contact.use === 'mobile' ? 'CP' : 'PH';
  const digits = contact.value.replace(/\D/g, '');
  const national = digits.length === 11 && digits.startsWith('1') ? digits.slice(1) : digits;
  if (national.length === 10) return ['', use, equipment, '', '', national.slice(0, 3), national.slice(3)];
  return ['', use, equipment, '', '', '', '', '', '', '', '', contact.value];
}

/** PID-13 style list: personal phones and e-mail (work numbers belong in PID-14). */
export function homeContacts(telecom: readonly ContactPoint[] | undefined): FieldValue {
  return new Repeated(
    (telecom ?? [])
      .filter((t) => t.use !== 'work' && t.use !== 'old')
      .map(xtn)
      .filter((x) => x !== undefined),
  );
}

export function workContacts(telecom: readonly ContactPoint[] | undefined): FieldValue {
  return new Repeated(
    (telecom ?? [])
      .filter((t) => t.use === 'work')
      .map(xtn)
      .filter((x) => x !== undefined),
  );
}

/** CE/CWE: code^text^coding system. */
export function ce(code: string | undefined, text: string | undefined, system: string): Repetition {
  return code ? [code, text, system] : text ? ['', text] : undefined;
}

function cdcrec(coding: Coding): Repetition {
  return ce(coding.code, coding.display, coding.system === NULL_FLAVOR_SYSTEM ? 'NULLFL' : 'CDCREC');
}

function usCoreCategories(patient: Patient, url: string): Coding[] {
  const ext = patient.extension?.find((e) => e.url === url);
  return (ext?.extension ?? [])
    .filter((e) => e.url === 'ombCategory' || e.url === 'detailed')
    .map((e) => e.valueCoding)
    .filter(
      (c): c is Coding =>
        c?.code !== undefined && (c.system === CDCREC_SYSTEM || c.system === NULL_FLAVOR_SYSTEM),
    );
}

export function race(patient: Patient): FieldValue {
  return new Repeated(usCoreCategories(patient, US_CORE_RACE).map(cdcrec));
}

export function ethnicity(patient: Patient): FieldValue {
  return new Repeated(usCoreCategories(patient, US_CORE_ETHNICITY).map(cdcrec));
}

/** The id part of a literal reference ("Practitioner/123" → "123"). */
function referenceId(reference: Reference): string | undefined {
  return reference.identifier?.value ?? reference.reference?.split('/').pop();
}

/** XCN for a practitioner known only by reference: id^name^^^^^^^assigning authority. */
export function xcn(reference: Reference, facility: string): Repetition {
  const authority = reference.identifier ? assigningAuthority(reference.identifier, facility) : facility;
  return [referenceId(reference), reference.display, '', '', '', '', '', '', authority];
}

/** A FHIR concept's first coding from the wanted system, as a CE with the v2 system name. */
export function firstCoding(
  concept: CodeableConcept | undefined,
  match: (c: Coding) => boolean,
): Coding | undefined {
  return concept?.coding?.find((c) => c.code !== undefined && match(c));
}
