import type {
  CodeableConcept,
  Coding,
  Immunization,
  ImmunizationEducation,
  ImmunizationRecommendation,
  ImmunizationRecommendationRecommendation,
  Patient,
} from 'fhir/r4.js';
import { DATE_CRITERIA, RECOMMENDATION_STATUS_SYSTEM } from '../../immunization/fhir/codes.js';
import { readErr, readMsa, type Ack, type Hl7Error } from './ack.js';
import {
  cdcSystem,
  CPT_SYSTEM,
  CVX_SYSTEM,
  INFORMATION_SOURCE_NIP001,
  LOINC_SYSTEM,
  MVX_SYSTEM,
  NCIT_SYSTEM,
  NDC_SYSTEM,
  OBS,
  PERFORMER_FUNCTION_SYSTEM,
  UCUM_SYSTEM,
  V3_ACT_REASON_SYSTEM,
  V3_ACT_SITE_SYSTEM,
  v2System,
} from './codes.js';
import { hl7TsToFhir, hl7TsToFhirDate } from './datetime.js';
import { contactFromNk1, patientFromPid } from './decode-types.js';
import { Hl7ParseError } from './errors.js';
import { parseMessage } from './message.js';
import type { SegmentReader } from './segment.js';

export type QueryStatus = 'OK' | 'NF' | 'AE' | 'AR' | 'TM' | 'PD';

export interface DoseEvaluation {
  /** Index into {@link RspResult.immunizations}. */
  immunizationIndex: number;
  /** 59781-5 dose validity. */
  valid: boolean;
  /** 30956-7 vaccine group (its CVX code, or its text when uncoded). */
  vaccineGroup?: string;
}

export interface RspResult {
  /** MSH-10 of the response. */
  controlId: string;
  ackCode: Ack['ackCode'];
  errors: Hl7Error[];
  /** QAK-1. */
  queryTag: string;
  /** QAK-2. */
  queryStatus: QueryStatus;
  /** MSH-21.1: Z32, Z42, Z31 or Z33. */
  profile?: string;
  /** The matched patient, when the response holds exactly one PID; its NK1s are in `contact`. */
  patient?: Patient;
  /** Every PID, NK1s included, when the registry lists candidates (Z31, or more than one PID). */
  candidates: Patient[];
  /** One per RXA, except RXA placeholders for "no vaccine administered" (CVX 998) that carry a forecast. */
  immunizations: Immunization[];
  recommendation?: ImmunizationRecommendation;
  evaluations: DoseEvaluation[];
}

/**
 * The registry's resources cannot point at our Patient, which the parser does not know; every
 * output resource carries this placeholder and the caller replaces it with the matched patient.
 */
export const PATIENT_PLACEHOLDER = 'Patient/unknown';

/** System of Immunization.identifier taken from ORC-3 (the registry's filler order number). */
export const FILLER_ORDER_SYSTEM = 'urn:iis:filler-order';

const QUERY_STATUSES = new Set<string>(['OK', 'NF', 'AE', 'AR', 'TM', 'PD']);
const NO_VACCINE_CVX = '998';
/** ORC-3 value the guide prescribes when the sender has no order number. */
const UNKNOWN_ORDER = '9999';

interface Dose {
  orc?: SegmentReader;
  rxa: SegmentReader;
  rxr?: SegmentReader;
  obx: SegmentReader[];
}

/** Parses RSP^K11 (Z32 history, Z42 evaluated history and forecast, Z31 candidates, Z33 none/error). */
export function parseRsp(text: string): RspResult {
  const { segments, msh } = parseMessage(text, 'RSP');
  const msa = readMsa(segments);
  const qak = segments.find((s) => s.name === 'QAK');
  if (!qak) throw new Hl7ParseError('RSP has no QAK segment');
  const queryStatus = qak.get(2);
  if (!QUERY_STATUSES.has(queryStatus))
    throw new Hl7ParseError(`QAK-2 "${queryStatus}" is not a query status`);

  const pids: Array<{ pid: SegmentReader; nk1: SegmentReader[] }> = [];
  const doses: Dose[] = [];
  let pendingOrc: SegmentReader | undefined;
  for (const seg of segments) {
    if (seg.name === 'PID') pids.push({ pid: seg, nk1: [] });
    else if (seg.name === 'NK1' && pids.length > 0) pids[pids.length - 1]?.nk1.push(seg);
    else if (seg.name === 'ORC') pendingOrc = seg;
    else if (seg.name === 'RXA') {
      doses.push({ ...(pendingOrc ? { orc: pendingOrc } : {}), rxa: seg, obx: [] });
      pendingOrc = undefined;
    } else if (seg.name === 'RXR' && doses.length > 0) (doses[doses.length - 1] as Dose).rxr = seg;
    else if (seg.name === 'OBX' && doses.length > 0) (doses[doses.length - 1] as Dose).obx.push(seg);
  }

  const profile = msh.opt(21);
  const patients = pids.map(({ pid, nk1 }) => {
    const patient = patientFromPid(pid);
    if (nk1.length > 0) patient.contact = nk1.map(contactFromNk1);
    return patient;
  });
  const result: RspResult = {
    controlId: msh.get(10),
    ackCode: msa.ackCode,
    errors: segments.filter((s) => s.name === 'ERR').map(readErr),
    queryTag: qak.get(1),
    queryStatus: queryStatus as QueryStatus,
    ...(profile ? { profile } : {}),
    candidates: profile === 'Z31' || patients.length > 1 ? patients : [],
    immunizations: [],
    evaluations: [],
  };
  if (patients.length === 1) result.patient = patients[0];

  const forecasts: ImmunizationRecommendationRecommendation[] = [];
  const messageDate = msh.opt(7);
  for (const dose of doses) {
    const isDose = dose.rxa.get(5, 1) !== NO_VACCINE_CVX;
    const index = result.immunizations.length;
    if (isDose) result.immunizations.push(immunizationFrom(dose));
    for (const group of obxGroups(dose.obx)) {
      if (group.has(OBS.doseValidity)) {
        if (isDose) result.evaluations.push(evaluationFrom(group, index));
      } else if (FORECAST_CODES.some((c) => group.has(c))) {
        forecasts.push(forecastFrom(group, messageDate));
      }
    }
  }
  if (forecasts.length > 0) {
    if (!messageDate) throw new Hl7ParseError('a forecast needs the response date in MSH-7');
    result.recommendation = {
      resourceType: 'ImmunizationRecommendation',
      patient: { reference: PATIENT_PLACEHOLDER },
      date: hl7TsToFhir(messageDate),
      recommendation: forecasts,
    };
  }
  return result;
}

function concept(
  seg: SegmentReader,
  field: number,
  system: string,
  component = 1,
): CodeableConcept | undefined {
  const code = seg.opt(field, component);
  if (!code) return undefined;
  const display = seg.opt(field, component + 1);
  return { coding: [{ system, code, ...(display ? { display } : {}) }] };
}

const VACCINE_SYSTEMS: Record<string, string> = { CVX: CVX_SYSTEM, NDC: NDC_SYSTEM, CPT: CPT_SYSTEM };

function vaccineCode(rxa: SegmentReader): CodeableConcept {
  const codings: Coding[] = [];
  for (const start of [1, 4]) {
    const code = rxa.opt(5, start);
    const system = VACCINE_SYSTEMS[rxa.get(5, start + 2) || (start === 1 ? 'CVX' : '')];
    if (!code || !system) continue;
    const display = rxa.opt(5, start + 1);
    codings.push({ system, code, ...(display ? { display } : {}) });
  }
  if (codings.length === 0) throw new Hl7ParseError('RXA-5 has no CVX or NDC vaccine code');
  return { coding: codings };
}

/** NIP002 refusal codes and their FHIR v3-ActReason equivalents. */
const REFUSAL_TO_ACT_REASON: Record<string, string> = { '00': 'PATOBJ', '01': 'RELIG', '03': 'PATOBJ' };

function refusal(rxa: SegmentReader): CodeableConcept | undefined {
  const reason = concept(rxa, 18, cdcSystem('NIP002'));
  const code = rxa.get(18, 1);
  const actReason = REFUSAL_TO_ACT_REASON[code];
  if (reason && actReason) reason.coding?.push({ system: V3_ACT_REASON_SYSTEM, code: actReason });
  return reason;
}

function practitionerName(seg: SegmentReader, field: number): string | undefined {
  const parts = [seg.opt(field, 3), seg.opt(field, 4), seg.opt(field, 2)].filter((p) => p !== undefined);
  return parts.length > 0 ? parts.join(' ') : undefined;
}

function immunizationFrom(dose: Dose): Immunization {
  const { rxa, rxr, orc } = dose;
  const completion = rxa.get(20);
  const notDone = completion === 'RE' || completion === 'NA';
  const administered = rxa.opt(3);
  if (!administered) throw new Hl7ParseError('RXA-3 (date administered) is empty');
  const immunization: Immunization = {
    resourceType: 'Immunization',
    status: rxa.get(21) === 'D' ? 'entered-in-error' : notDone ? 'not-done' : 'completed',
    vaccineCode: vaccineCode(rxa),
    patient: { reference: PATIENT_PLACEHOLDER },
    occurrenceDateTime: hl7TsToFhir(administered),
  };
  const filler = orc?.opt(3, 1);
  if (filler && filler !== UNKNOWN_ORDER)
    immunization.identifier = [{ system: FILLER_ORDER_SYSTEM, value: filler }];
  const source = rxa.opt(9, 1);
  if (source) {
    immunization.primarySource = source === '00';
    if (source !== '00') {
      const display = rxa.opt(9, 2) ?? INFORMATION_SOURCE_NIP001[source];
      immunization.reportOrigin = {
        coding: [{ system: cdcSystem('NIP001'), code: source, ...(display ? { display } : {}) }],
      };
    }
  }
  if (completion === 'RE') {
    const reason = refusal(rxa);
    if (reason) immunization.statusReason = reason;
  }
  if (completion === 'PA') immunization.isSubpotent = true;
  const amount = Number(rxa.get(6));
  if (rxa.get(6) !== '' && rxa.get(6) !== '999' && Number.isFinite(amount)) {
    const unit = rxa.opt(7, 1);
    immunization.doseQuantity = {
      value: amount,
      ...(unit ? { unit: rxa.opt(7, 2) ?? unit, code: unit } : {}),
      ...(unit && rxa.get(7, 3) === 'UCUM' ? { system: UCUM_SYSTEM } : {}),
    };
  }
  const performer = practitionerName(rxa, 10);
  const performerId = rxa.opt(10, 1);
  if (performer || performerId) {
    immunization.performer = [
      {
        function: {
          coding: [{ system: PERFORMER_FUNCTION_SYSTEM, code: 'AP', display: 'Administering Provider' }],
        },
        actor: {
          ...(performerId ? { identifier: { value: performerId } } : {}),
          ...(performer ? { display: performer } : {}),
        },
      },
    ];
  }
  const location = rxa.opt(11, 4);
  if (location) immunization.location = { display: location };
  const lot = rxa.opt(15);
  if (lot) immunization.lotNumber = lot;
  const expiry = rxa.opt(16);
  if (expiry) immunization.expirationDate = hl7TsToFhirDate(expiry);
  const mvx = rxa.opt(17, 1);
  const manufacturerName = rxa.opt(17, 2);
  if (mvx || manufacturerName) {
    immunization.manufacturer = {
      ...(mvx ? { identifier: { system: MVX_SYSTEM, value: mvx } } : {}),
      ...(manufacturerName ? { display: manufacturerName } : {}),
    };
  }
  if (rxr) {
    const route = concept(rxr, 1, rxr.get(1, 3) === 'NCIT' ? NCIT_SYSTEM : v2System('0162'));
    if (route) immunization.route = route;
    const site = concept(rxr, 2, V3_ACT_SITE_SYSTEM);
    if (site) immunization.site = site;
  }
  for (const obx of dose.obx) {
    const code = obx.get(3, 1);
    if (code === OBS.vfcEligibility.code) {
      const value = concept(obx, 5, v2System('0064'));
      if (value) immunization.programEligibility = [value];
    } else if (code === OBS.fundingSource.code) {
      const value = concept(obx, 5, cdcSystem('CDCPHINVS'));
      if (value) immunization.fundingSource = value;
    }
  }
  const education = obxGroups(dose.obx).flatMap(educationFrom);
  if (education.length > 0) immunization.education = education;
  return immunization;
}

const VIS_CODES: readonly string[] = [OBS.visDocumentType.code, OBS.visPublished.code, OBS.visPresented.code];

/**
 * A VIS group → Immunization.education. The document is its barcode, or for the guide's older
 * method the vaccine type's name; a group naming no document is dropped, since FHIR requires one.
 */
function educationFrom(group: Map<string, SegmentReader>): ImmunizationEducation[] {
  if (!VIS_CODES.some((c) => group.has(c))) return [];
  const barcode = group.get(OBS.visDocumentType.code);
  const vaccineType = group.get(OBS.vaccineType.code);
  const documentType =
    barcode?.opt(5, 1) ?? vaccineType?.opt(5, 2) ?? vaccineType?.opt(5, 1) ?? barcode?.opt(5, 2);
  if (!documentType) return [];
  const education: ImmunizationEducation = { documentType };
  const published = group.get(OBS.visPublished.code)?.opt(5, 1);
  if (published) education.publicationDate = hl7TsToFhir(published);
  const presented = group.get(OBS.visPresented.code)?.opt(5, 1);
  if (presented) education.presentationDate = hl7TsToFhir(presented);
  return [education];
}

/** OBX rows of one dose grouped by OBX-4 sub-id, keyed by LOINC code. */
function obxGroups(obx: readonly SegmentReader[]): Array<Map<string, SegmentReader>> {
  const groups = new Map<string, Map<string, SegmentReader>>();
  for (const row of obx) {
    const subId = row.get(4);
    let group = groups.get(subId);
    if (!group) {
      group = new Map();
      groups.set(subId, group);
    }
    group.set(row.get(3, 1), row);
  }
  return [...groups.values()];
}

function evaluationFrom(group: Map<string, SegmentReader>, immunizationIndex: number): DoseEvaluation {
  const validity = group.get(OBS.doseValidity) as SegmentReader;
  const evaluation: DoseEvaluation = { immunizationIndex, valid: validity.get(5, 1).toUpperCase() === 'Y' };
  const vaccineGroup = group.get(OBS.vaccineType.code);
  const groupName = vaccineGroup ? (vaccineGroup.opt(5, 1) ?? vaccineGroup.opt(5, 2)) : undefined;
  if (groupName) evaluation.vaccineGroup = groupName;
  return evaluation;
}

const FORECAST_DATES = [
  { obs: OBS.earliest, criterion: DATE_CRITERIA.earliest },
  { obs: OBS.recommended, criterion: DATE_CRITERIA.recommended },
  { obs: OBS.overdue, criterion: DATE_CRITERIA.pastDue },
  { obs: OBS.latest, criterion: DATE_CRITERIA.latest },
] as const;
const FORECAST_CODES: readonly string[] = [...FORECAST_DATES.map((d) => d.obs), OBS.seriesStatus];

const VALUE_SYSTEMS: Record<string, string> = {
  LN: LOINC_SYSTEM,
  CDCPHINVS: cdcSystem('CDCPHINVS'),
  CVX: CVX_SYSTEM,
};

/** The FHIR recommendation status a registry's "status in series" wording corresponds to. */
function recommendationStatus(wording: string): string | undefined {
  const w = wording.toLowerCase();
  if (w.includes('overdue') || w.includes('past due')) return 'overdue';
  if (w.includes('contraindicat')) return 'contraindicated';
  if (w.includes('immun')) return 'immune';
  if (w.includes('incomplete') || w.includes('not complete') || w.includes('due') || w.includes('schedule'))
    return 'due';
  if (w.includes('complete')) return 'complete';
  return undefined;
}

function forecastStatus(
  group: Map<string, SegmentReader>,
  dates: Map<string, string>,
  messageDate: string | undefined,
): CodeableConcept {
  const status = group.get(OBS.seriesStatus);
  if (status) {
    const code = status.get(5, 1);
    const text = status.get(5, 2);
    const mapped = recommendationStatus(`${text} ${code}`);
    const original = VALUE_SYSTEMS[status.get(5, 3)];
    const codings: Coding[] = [];
    if (mapped) codings.push({ system: RECOMMENDATION_STATUS_SYSTEM, code: mapped });
    if (code && original) codings.push({ system: original, code, ...(text ? { display: text } : {}) });
    return { ...(codings.length > 0 ? { coding: codings } : {}), text: text || code };
  }
  // Without a stated status, the overdue date against the response date decides.
  const overdue = dates.get(OBS.overdue);
  const today = messageDate ? hl7TsToFhirDate(messageDate) : undefined;
  const code = overdue && today && overdue <= today ? 'overdue' : 'due';
  return { coding: [{ system: RECOMMENDATION_STATUS_SYSTEM, code }], text: code };
}

function forecastFrom(
  group: Map<string, SegmentReader>,
  messageDate: string | undefined,
): ImmunizationRecommendationRecommendation {
  const dates = new Map<string, string>();
  for (const { obs } of FORECAST_DATES) {
    const value = group.get(obs)?.opt(5, 1);
    if (value) dates.set(obs, hl7TsToFhirDate(value));
  }
  const vaccineType = group.get(OBS.vaccineType.code);
  const recommendation: ImmunizationRecommendationRecommendation = {
    forecastStatus: forecastStatus(group, dates, messageDate),
  };
  const cvx = vaccineType?.opt(5, 1);
  const display = vaccineType?.opt(5, 2);
  if (cvx || display) {
    recommendation.vaccineCode = [
      {
        ...(cvx ? { coding: [{ system: CVX_SYSTEM, code: cvx, ...(display ? { display } : {}) }] } : {}),
        ...(display ? { text: display } : {}),
      },
    ];
  }
  const criteria = FORECAST_DATES.flatMap(({ obs, criterion }) => {
    const value = dates.get(obs);
    return value ? [{ code: { coding: [{ system: LOINC_SYSTEM, ...criterion }] }, value }] : [];
  });
  if (criteria.length > 0) recommendation.dateCriterion = criteria;
  const doseNumber = Number(group.get(OBS.doseNumber)?.get(5, 1));
  if (Number.isInteger(doseNumber) && doseNumber > 0) recommendation.doseNumberPositiveInt = doseNumber;
  return recommendation;
}
