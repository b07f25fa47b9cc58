/** Code systems and the CDC guide's value tables used in immunization messages. */

export { CVX_SYSTEM, MVX_SYSTEM, LOINC_SYSTEM } from '../../immunization/fhir/codes.js';

export const UCUM_SYSTEM = 'http://unitsofmeasure.org';
export const NDC_SYSTEM = 'http://hl7.org/fhir/sid/ndc';
export const CPT_SYSTEM = 'http://www.ama-assn.org/go/cpt';
export const CDCREC_SYSTEM = 'urn:oid:2.16.840.1.113883.6.238';
export const NULL_FLAVOR_SYSTEM = 'http://terminology.hl7.org/CodeSystem/v3-NullFlavor';
export const V3_ROLE_CODE_SYSTEM = 'http://terminology.hl7.org/CodeSystem/v3-RoleCode';
export const V3_ACT_REASON_SYSTEM = 'http://terminology.hl7.org/CodeSystem/v3-ActReason';
export const V3_ROUTE_SYSTEM = 'http://terminology.hl7.org/CodeSystem/v3-RouteOfAdministration';
export const V3_ACT_SITE_SYSTEM = 'http://terminology.hl7.org/CodeSystem/v3-ActSite';
export const NCIT_SYSTEM = 'http://ncithesaurus-stage.nci.nih.gov';
export const PROGRAM_ELIGIBILITY_SYSTEM =
  'http://terminology.hl7.org/CodeSystem/immunization-program-eligibility';
export const FUNDING_SOURCE_SYSTEM = 'http://terminology.hl7.org/CodeSystem/immunization-funding-source';
export const PERFORMER_FUNCTION_SYSTEM = 'http://terminology.hl7.org/CodeSystem/v2-0443';

/** FHIR system of an HL7 v2 table, e.g. `v2System('0163')`. */
export function v2System(table: string): string {
  return `http://terminology.hl7.org/CodeSystem/v2-${table}`;
}

/**
 * CDC-maintained tables (NIP001, NIP002, CDCPHINVS) have no canonical FHIR URI; these local
 * URNs keep the coding round-trippable and are also what {@link isCdcTable} recognises.
 */
export function cdcSystem(table: 'NIP001' | 'NIP002' | 'CDCPHINVS'): string {
  return `urn:iris:hl7v2:${table}`;
}

/** Whether a coding system denotes the given CDC or HL7 table (by its v2 name or our URN). */
export function isTable(system: string | undefined, table: string): boolean {
  if (!system) return false;
  const s = system.toUpperCase();
  const t = table.toUpperCase();
  return s === t || s.endsWith(`:${t}`) || s.endsWith(`/${t}`) || s.endsWith(`V2-${t.replace(/^HL7/, '')}`);
}

export const US_CORE_RACE = 'http://hl7.org/fhir/us/core/StructureDefinition/us-core-race';
export const US_CORE_ETHNICITY = 'http://hl7.org/fhir/us/core/StructureDefinition/us-core-ethnicity';
export const MOTHERS_MAIDEN_NAME = 'http://hl7.org/fhir/StructureDefinition/patient-mothersMaidenName';

/** HL7 table 0063 (relationship) displays for the codes we send. */
export const RELATIONSHIP_0063: Readonly<Record<string, string>> = {
  BRO: 'Brother',
  CGV: 'Care giver',
  CHD: 'Child',
  DOM: 'Life partner',
  EMC: 'Emergency contact',
  EXF: 'Extended family',
  FCH: 'Foster child',
  FND: 'Friend',
  FTH: 'Father',
  GRD: 'Guardian',
  GRP: 'Grandparent',
  MTH: 'Mother',
  OTH: 'Other',
  PAR: 'Parent',
  SCH: 'Stepchild',
  SEL: 'Self',
  SIB: 'Sibling',
  SIS: 'Sister',
  SPO: 'Spouse',
};

/** FHIR v3 RoleCode (and v2-0131) contact relationships → HL7 table 0063. */
export const ROLE_TO_0063: Readonly<Record<string, string>> = {
  MTH: 'MTH',
  NMTH: 'MTH',
  FTH: 'FTH',
  NFTH: 'FTH',
  PRN: 'PAR',
  NPRN: 'PAR',
  GRPRN: 'GRP',
  GRMTH: 'GRP',
  GRFTH: 'GRP',
  GUARD: 'GRD',
  SPS: 'SPO',
  HUSB: 'SPO',
  WIFE: 'SPO',
  DOMPART: 'DOM',
  BRO: 'BRO',
  SIS: 'SIS',
  SIB: 'SIB',
  CHILD: 'CHD',
  SON: 'CHD',
  DAU: 'CHD',
  STPCHLD: 'SCH',
  CHLDFOST: 'FCH',
  FRND: 'FND',
  FAMMEMB: 'EXF',
  ECON: 'EMC',
  C: 'EMC',
  ONESELF: 'SEL',
};

/** HL7 table 0064 (VFC eligibility) as the 2018 guide lists it. */
export const VFC_0064: Readonly<Record<string, string>> = {
  V01: 'Not VFC eligible',
  V02: 'VFC eligible - Medicaid/Medicaid Managed Care',
  V03: 'VFC eligible - Uninsured',
  V04: 'VFC eligible - American Indian/Alaskan Native',
  V05: 'VFC eligible - Underinsured',
  V06: 'Deprecated [VFC eligible - State specific eligibility]',
  V07: 'Local-specific eligibility',
};

/** FHIR immunization-program-eligibility → table 0064. */
export const PROGRAM_ELIGIBILITY_TO_0064: Readonly<Record<string, string>> = {
  ineligible: 'V01',
  uninsured: 'V03',
};

/** CDCPHINVS funding source codes. */
export const FUNDING_SOURCE_CDC: Readonly<Record<string, string>> = {
  PHC70: 'Private funds',
  VXC1: 'Federal funds',
  VXC2: 'State funds',
  PHC68: 'Military funds',
  VXC3: 'Tribal funds',
  VXC50: 'Public',
  VXC51: 'Public VFC',
  VXC52: 'Public non-VFC',
  OTH: 'Other',
  UNK: 'Unspecified',
};

/** FHIR immunization-funding-source → CDCPHINVS. */
export const FUNDING_SOURCE_TO_CDC: Readonly<Record<string, string>> = { public: 'VXC50', private: 'PHC70' };

/** NIP001 immunization information source. */
export const INFORMATION_SOURCE_NIP001: Readonly<Record<string, string>> = {
  '00': 'New immunization record',
  '01': 'Historical information - source unspecified',
  '02': 'Historical information - from other provider',
  '03': "Historical information - from parent's written record",
  '04': "Historical information - from parent's recall",
  '05': 'Historical information - from other registry',
  '06': 'Historical information - from birth certificate',
  '07': 'Historical information - from school record',
  '08': 'Historical information - from public agency',
};

/** NIP002 substance refusal reason. */
export const REFUSAL_NIP002: Readonly<Record<string, string>> = {
  '00': 'Parental decision',
  '01': 'Religious exemption',
  '02': 'Other',
  '03': 'Patient decision',
};

/** NCIT route codes (the guide prefers them to HL7 table 0162) and their displays. */
export const ROUTE_NCIT: Readonly<Record<string, string>> = {
  C28161: 'Intramuscular',
  C38238: 'Intradermal',
  C38284: 'Nasal',
  C38276: 'Intravenous',
  C38288: 'Oral',
  C38676: 'Percutaneous',
  C38299: 'Subcutaneous',
  C38305: 'Transdermal',
};

/** FHIR v3 RouteOfAdministration → NCIT. */
export const V3_ROUTE_TO_NCIT: Readonly<Record<string, string>> = {
  IM: 'C28161',
  IDINJ: 'C38238',
  NASINHLC: 'C38284',
  NASINHL: 'C38284',
  IVINJ: 'C38276',
  PO: 'C38288',
  SQ: 'C38299',
  TRNSDERMD: 'C38305',
};

/** HL7 table 0162 route displays. */
export const ROUTE_0162: Readonly<Record<string, string>> = {
  ID: 'Intradermal',
  IM: 'Intramuscular',
  IV: 'Intravenous',
  NS: 'Nasal',
  PO: 'Oral',
  SC: 'Subcutaneous',
  TD: 'Transdermal',
  OTH: 'Other/Miscellaneous',
};

/** HL7 table 0163 body site displays (FHIR v3-ActSite uses the same codes). */
export const SITE_0163: Readonly<Record<string, string>> = {
  LT: 'Left Thigh',
  LA: 'Left Arm',
  LD: 'Left Deltoid',
  LG: 'Left Gluteous Medius',
  LVL: 'Left Vastus Lateralis',
  LLFA: 'Left Lower Forearm',
  RA: 'Right Arm',
  RT: 'Right Thigh',
  RVL: 'Right Vastus Lateralis',
  RG: 'Right Gluteous Medius',
  RD: 'Right Deltoid',
  RLFA: 'Right Lower Forearm',
};

/** CE coding system of a VIS edition's GS1 barcode string (CDC "VIS Bar Code Lookup Table"). */
export const VIS_BARCODE_SYSTEM = 'cdcgs1vis';

/**
 * A GS1 Global Document Type Identifier as printed on a VIS: application identifier 253, the
 * 13-digit document type, then an optional serial (the edition).
 */
export function isVisBarcode(value: string | undefined): value is string {
  return value !== undefined && /^253\d{13}[0-9A-Za-z]{0,17}$/.test(value);
}

/** LOINC observation codes carried in OBX-3. */
export const OBS = {
  vfcEligibility: { code: '64994-7', display: 'Vaccine funding program eligibility category' },
  fundingSource: { code: '30963-3', display: 'Vaccine funding source' },
  visDocumentType: { code: '69764-9', display: 'Document type' },
  visPublished: { code: '29768-9', display: 'Date vaccine information statement published' },
  visPresented: { code: '29769-7', display: 'Date vaccine information statement presented' },
  /** Vaccine group of an evaluation or forecast; also names a VIS that has no barcode. */
  vaccineType: { code: '30956-7', display: 'Vaccine type' },
  doseNumber: '30973-2',
  earliest: '30981-5',
  recommended: '30980-7',
  latest: '59777-3',
  overdue: '59778-1',
  seriesStatus: '59783-1',
  doseValidity: '59781-5',
} as const;
