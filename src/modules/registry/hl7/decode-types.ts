import type {
  Address,
  CodeableConcept,
  Coding,
  ContactPoint,
  Extension,
  HumanName,
  Identifier,
  Patient,
  PatientContact,
} from 'fhir/r4.js';
import {
  CDCREC_SYSTEM,
  isTable,
  MOTHERS_MAIDEN_NAME,
  NULL_FLAVOR_SYSTEM,
  RELATIONSHIP_0063,
  US_CORE_ETHNICITY,
  US_CORE_RACE,
  v2System,
} from './codes.js';
import { hl7TsToFhir, hl7TsToFhirDate } from './datetime.js';
import type { SegmentReader } from './segment.js';

/** HL7 v2 data types → FHIR, for PID and NK1 segments in registry responses. */

const NAME_USE: Record<string, HumanName['use']> = { L: 'official', D: 'usual', N: 'nickname', M: 'maiden' };
const ADDRESS_USE: Record<string, Address['use']> = {
  H: 'home',
  B: 'work',
  C: 'temp',
  BA: 'old',
  BI: 'billing',
};
const OMB_RACE = new Set(['1002-5', '2028-9', '2054-5', '2076-8', '2106-3', '2131-1']);
const OMB_ETHNICITY = new Set(['2135-2', '2186-5']);

function cx(pid: SegmentReader, field: number, rep: number): Identifier | undefined {
  const value = pid.opt(field, 1, rep);
  if (!value) return undefined;
  const identifier: Identifier = { value };
  const namespace = pid.opt(field, 4, rep, 1);
  const universalId = pid.opt(field, 4, rep, 2);
  const universalType = pid.get(field, 4, rep, 3);
  if (universalId && universalType === 'ISO') identifier.system = `urn:oid:${universalId}`;
  else if (universalId && universalType === 'URI') identifier.system = universalId;
  if (namespace) identifier.assigner = { display: namespace };
  const type = pid.opt(field, 5, rep);
  if (type) identifier.type = { coding: [{ system: v2System('0203'), code: type }] };
  return identifier;
}

/** XPN at `field` (family^given^second given^suffix^prefix^^type). */
export function xpn(seg: SegmentReader, field: number, rep = 0): HumanName | undefined {
  const family = seg.opt(field, 1, rep);
  const given = [seg.opt(field, 2, rep), seg.opt(field, 3, rep)].filter((g): g is string => g !== undefined);
  if (!family && given.length === 0) return undefined;
  const name: HumanName = {};
  const use = NAME_USE[seg.get(field, 7, rep)];
  if (use) name.use = use;
  if (family) name.family = family;
  if (given.length > 0) name.given = given;
  const suffix = seg.opt(field, 4, rep);
  if (suffix) name.suffix = [suffix];
  const prefix = seg.opt(field, 5, rep);
  if (prefix) name.prefix = [prefix];
  return name;
}

function xad(seg: SegmentReader, field: number, rep: number): Address | undefined {
  const parts = [1, 2, 3, 4, 5, 6].map((c) => seg.opt(field, c, rep));
  if (parts.every((p) => p === undefined)) return undefined;
  const [street, other, city, state, postalCode, country] = parts;
  const address: Address = {};
  const lines = [street, other].filter((l): l is string => l !== undefined);
  if (lines.length > 0) address.line = lines;
  if (city) address.city = city;
  if (state) address.state = state;
  if (postalCode) address.postalCode = postalCode;
  if (country) address.country = country;
  const type = seg.get(field, 7, rep);
  if (type === 'M') address.type = 'postal';
  else if (ADDRESS_USE[type]) address.use = ADDRESS_USE[type];
  return address;
}

function xtn(seg: SegmentReader, field: number, rep: number): ContactPoint | undefined {
  const useCode = seg.get(field, 2, rep);
  const equipment = seg.get(field, 3, rep);
  if (useCode === 'NET' || equipment === 'Internet' || equipment === 'X.400') {
    const email = seg.opt(field, 4, rep);
    return email ? { system: 'email', value: email } : undefined;
  }
  const area = seg.get(field, 6, rep);
  const local = seg.get(field, 7, rep);
  const value =
    (local
      ? `${area ? `(${area})` : ''}${local.length === 7 ? `${local.slice(0, 3)}-${local.slice(3)}` : local}`
      : '') ||
    seg.get(field, 12, rep) ||
    seg.get(field, 1, rep);
  if (!value) return undefined;
  const contact: ContactPoint = { system: equipment === 'FX' ? 'fax' : 'phone', value };
  if (equipment === 'CP') contact.use = 'mobile';
  else if (useCode === 'WPN') contact.use = 'work';
  else if (useCode === 'PRN') contact.use = 'home';
  return contact;
}

function repeated<T>(
  seg: SegmentReader,
  field: number,
  read: (s: SegmentReader, f: number, r: number) => T | undefined,
): T[] {
  const out: T[] = [];
  for (let rep = 0; rep < seg.repetitions(field); rep++) {
    const value = read(seg, field, rep);
    if (value !== undefined) out.push(value);
  }
  return out;
}

function cdcrecCoding(seg: SegmentReader, field: number, rep: number): Coding | undefined {
  const code = seg.opt(field, 1, rep);
  if (!code) return undefined;
  const system = seg.get(field, 3, rep) === 'NULLFL' ? NULL_FLAVOR_SYSTEM : CDCREC_SYSTEM;
  const display = seg.opt(field, 2, rep);
  return { system, code, ...(display ? { display } : {}) };
}

/** A US Core race/ethnicity extension: OMB categories, detailed codes, and the required text. */
function usCoreExtension(url: string, codings: Coding[], omb: Set<string>): Extension | undefined {
  if (codings.length === 0) return undefined;
  return {
    url,
    extension: [
      ...codings.map((c) => ({
        url: c.system === NULL_FLAVOR_SYSTEM || omb.has(c.code ?? '') ? 'ombCategory' : 'detailed',
        valueCoding: c,
      })),
      { url: 'text', valueString: codings.map((c) => c.display ?? c.code).join(', ') },
    ],
  };
}

const GENDER: Record<string, Patient['gender']> = { F: 'female', M: 'male', U: 'unknown', O: 'other' };

/** PID → Patient without an id (the registry's record is not ours). */
export function patientFromPid(pid: SegmentReader): Patient {
  const patient: Patient = { resourceType: 'Patient' };
  const identifiers = repeated(pid, 3, cx);
  if (identifiers.length > 0) patient.identifier = identifiers;
  const names = repeated(pid, 5, xpn);
  if (names.length > 0) patient.name = names;
  const extensions: Extension[] = [];
  const maiden = pid.opt(6, 1);
  if (maiden) extensions.push({ url: MOTHERS_MAIDEN_NAME, valueString: maiden });
  const raceExt = usCoreExtension(US_CORE_RACE, repeated(pid, 10, cdcrecCoding), OMB_RACE);
  if (raceExt) extensions.push(raceExt);
  const ethnicityExt = usCoreExtension(US_CORE_ETHNICITY, repeated(pid, 22, cdcrecCoding), OMB_ETHNICITY);
  if (ethnicityExt) extensions.push(ethnicityExt);
  if (extensions.length > 0) patient.extension = extensions;
  const birth = pid.opt(7);
  if (birth) patient.birthDate = hl7TsToFhirDate(birth);
  const gender = GENDER[pid.get(8)];
  if (gender) patient.gender = gender;
  const addresses = repeated(pid, 11, xad);
  if (addresses.length > 0) patient.address = addresses;
  const telecom = [...repeated(pid, 13, xtn), ...repeated(pid, 14, xtn)];
  if (telecom.length > 0) patient.telecom = telecom;
  const multiple = pid.get(24);
  const order = Number.parseInt(pid.get(25), 10);
  if (multiple === 'Y' && Number.isInteger(order)) patient.multipleBirthInteger = order;
  else if (multiple === 'Y' || multiple === 'N') patient.multipleBirthBoolean = multiple === 'Y';
  const death = pid.opt(29);
  if (death) patient.deceasedDateTime = hl7TsToFhir(death);
  else if (pid.get(30) === 'Y') patient.deceasedBoolean = true;
  return patient;
}

/** NK1-3 (table 0063) as a v2-0063 concept; a code from another system keeps only its text. */
function relationship(nk1: SegmentReader): CodeableConcept | undefined {
  const code = nk1.opt(3, 1);
  const system = nk1.opt(3, 3);
  const text = nk1.opt(3, 2);
  if (code && (system === undefined || isTable(system, 'HL70063'))) {
    const display = text ?? RELATIONSHIP_0063[code];
    return { coding: [{ system: v2System('0063'), code, ...(display ? { display } : {}) }] };
  }
  const label = text ?? code;
  return label ? { text: label } : undefined;
}

/**
 * NK1 (next of kin / responsible party) → Patient.contact: relationship, name, the first
 * address, and the personal (NK1-5) then business (NK1-6) numbers. The inverse of the VXU's NK1.
 */
export function contactFromNk1(nk1: SegmentReader): PatientContact {
  const contact: PatientContact = {};
  const rel = relationship(nk1);
  if (rel) contact.relationship = [rel];
  const name = xpn(nk1, 2);
  if (name) contact.name = name;
  const telecom = [...repeated(nk1, 5, xtn), ...repeated(nk1, 6, xtn)];
  if (telecom.length > 0) contact.telecom = telecom;
  const [address] = repeated(nk1, 4, xad);
  if (address) contact.address = address;
  return contact;
}
