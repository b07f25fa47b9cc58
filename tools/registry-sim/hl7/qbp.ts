import type { Hl7Segment } from '@medplum/core';
import { KNOWN_CVX, NO_VACCINE_CVX } from '../cvx.js';
import type { DoseStore, PatientRecord } from '../store.js';
import type { StoredDose } from '../types.js';
import { ackCodeFor, errSegment, issue, replyMsh, type Hl7Issue } from './ack.js';
import type { Hl7Reader } from './reader.js';
import { comp, hl7Date, parseHl7Date, seg } from './writer.js';

/** Most patients listed in a Z31 answer, as the guide's default RCP-2 quantity limit. */
const MAX_CANDIDATES = 10;
const DAY_MS = 86_400_000;

/** Answers a QBP^Q11 (Z34 history, Z44 evaluated history and forecast) with an RSP^K11. */
export function answerQuery(
  msg: Hl7Reader,
  store: DoseStore,
  now = new Date(),
): { rsp: string; error: boolean } {
  const msh = msg.segment('MSH')!;
  const qpd = msg.segment('QPD');
  const issues: Hl7Issue[] = [];
  const profile = msg.value(msh, 21) || (qpd ? msg.value(qpd, 1) : '');
  if (profile !== 'Z34' && profile !== 'Z44') {
    issues.push(issue('103', 'E', ['MSH', 1, 21, 1], `query profile "${profile}" is not Z34 or Z44`, '5'));
  }
  if (!qpd) issues.push(issue('100', 'E', ['QPD', 1], 'QPD segment is required'));
  else if (!msg.value(qpd, 2))
    issues.push(issue('101', 'E', ['QPD', 1, 2, 1], 'QPD-2 query tag is required'));
  const criteria = qpd ? searchCriteria(msg, qpd) : undefined;
  if (qpd && !criteria) {
    issues.push(
      issue(
        '101',
        'E',
        ['QPD', 1, 3, 1],
        'QPD-3 patient identifier, or QPD-4 name and QPD-6 birth date, are required',
      ),
    );
  }
  if (!qpd || !criteria || ackCodeFor(issues) === 'AR') {
    return { rsp: response(msg, qpd, 'Z33', 'AR', 'AE', issues, []), error: true };
  }
  const matches = findPatients(store, criteria);
  if (matches.length === 0) return { rsp: response(msg, qpd, 'Z33', 'AA', 'NF', issues, []), error: false };
  if (matches.length > 1) {
    const list = matches.slice(0, MAX_CANDIDATES).map((p, i) => pidSegment(p, i + 1));
    return { rsp: response(msg, qpd, 'Z31', 'AA', 'OK', issues, list), error: false };
  }
  const patient = matches[0]!;
  const doses = store.dosesOf(patient.key);
  const body = [pidSegment(patient, 1), ...doses.flatMap((d) => doseGroup(d, profile === 'Z44'))];
  if (profile === 'Z44') body.push(...forecastGroup(doses, now));
  return {
    rsp: response(msg, qpd, profile === 'Z44' ? 'Z42' : 'Z32', 'AA', 'OK', issues, body),
    error: false,
  };
}

interface Criteria {
  identifiers: { value: string; authority: string }[];
  family: string;
  given: string;
  dob: string;
  sex: string;
}

function searchCriteria(msg: Hl7Reader, qpd: Hl7Segment): Criteria | undefined {
  const identifiers: Criteria['identifiers'] = [];
  for (let rep = 0; rep < msg.repetitions(qpd, 3); rep++) {
    const value = msg.value(qpd, 3, 1, rep);
    if (value) identifiers.push({ value, authority: msg.value(qpd, 3, 4, rep, 0) });
  }
  const c = {
    identifiers,
    family: msg.value(qpd, 4, 1),
    given: msg.value(qpd, 4, 2),
    dob: msg.value(qpd, 6),
    sex: msg.value(qpd, 7),
  };
  return identifiers.length > 0 || (c.family && c.dob) ? c : undefined;
}

function findPatients(store: DoseStore, c: Criteria): PatientRecord[] {
  const found = new Map<string, PatientRecord>();
  for (const id of c.identifiers)
    for (const p of store.findByIdentifier(id.value, id.authority)) found.set(p.key, p);
  if (found.size === 0 && c.family && c.dob) {
    for (const p of store.findByDemographics(c.family, c.given, c.dob, c.sex)) found.set(p.key, p);
  }
  return [...found.values()];
}

function response(
  msg: Hl7Reader,
  qpd: Hl7Segment | undefined,
  profile: string,
  ack: 'AA' | 'AR',
  status: 'OK' | 'NF' | 'AE',
  issues: Hl7Issue[],
  body: string[],
): string {
  const msh = msg.segment('MSH')!;
  const queryName = qpd ? msg.raw(qpd, 1) : '';
  return [
    replyMsh(msg, comp('RSP', 'K11', 'RSP_K11'), comp(profile, 'CDCPHINVS')),
    seg('MSA', ack, comp(msg.value(msh, 10))),
    ...issues.map(errSegment),
    seg('QAK', qpd ? msg.raw(qpd, 2) : '', status, queryName),
    ...(qpd ? [qpd.toString()] : []),
    ...body,
  ].join('\r');
}

function pidSegment(p: PatientRecord, setId: number): string {
  const ids = p.identifiers.map((i) => comp(i.value, '', '', i.authority, i.type || 'MR')).join('~');
  return seg(
    'PID',
    String(setId),
    '',
    ids,
    '',
    comp(p.family, p.given, '', '', '', '', 'L'),
    '',
    p.dob,
    p.sex,
  );
}

function cvxField(cvx: string): string {
  return comp(cvx, KNOWN_CVX.get(cvx) ?? cvx, 'CVX');
}

function doseGroup(d: StoredDose, evaluated: boolean): string[] {
  const out = [
    seg('ORC', 'RE', '', comp(d.fillerOrder || '9999', d.fillerOrder ? d.assigningAuthority : 'CDC')),
    seg(
      'RXA',
      '0',
      '1',
      d.date,
      d.date,
      cvxField(d.cvx),
      '999',
      '',
      '',
      d.historical
        ? comp('01', 'Historical information - source unspecified', 'NIP001')
        : comp('00', 'New immunization record', 'NIP001'),
      '',
      '',
      '',
      '',
      '',
      comp(d.lot),
      '',
      d.mvx ? comp(d.mvx, '', 'MVX') : '',
      '',
      '',
      d.completionStatus || 'CP',
      'A',
    ),
  ];
  if (d.route || d.site)
    out.push(seg('RXR', d.route ? comp(d.route, '', 'NCIT') : '', d.site ? comp(d.site, '', 'HL70163') : ''));
  if (evaluated && !NO_VACCINE_CVX.has(d.cvx)) {
    out.push(
      obx('1', 'CE', comp('30956-7', 'vaccine type', 'LN'), '1', cvxField(d.cvx)),
      obx('2', 'CE', comp('59781-5', 'Dose validity', 'LN'), '1', comp('Y', 'Yes', 'HL70136')),
    );
  }
  return out;
}

/** A final-result OBX: set id, value type, observation code, sub-id and value (OBX-11 F). */
function obx(setId: string, type: string, code: string, subId: string, value: string): string {
  return seg('OBX', setId, type, code, subId, value, '', '', '', '', '', 'F');
}

/** A fixed simulator rule: the next dose of every vaccine seen is due one year after the last one. */
function forecastGroup(doses: StoredDose[], now: Date): string[] {
  const last = new Map<string, Date>();
  for (const d of doses) {
    const date = parseHl7Date(d.date);
    if (!date || NO_VACCINE_CVX.has(d.cvx) || d.completionStatus !== 'CP') continue;
    const seen = last.get(d.cvx);
    if (!seen || date > seen) last.set(d.cvx, date);
  }
  if (last.size === 0) return [];
  const today = hl7Date(now);
  const out = [
    seg('ORC', 'RE', '', comp('9999', 'CDC')),
    seg(
      'RXA',
      '0',
      '1',
      today,
      today,
      comp('998', 'No vaccine administered', 'CVX'),
      '999',
      ...Array<string>(13).fill(''),
      'NA',
    ),
  ];
  let setId = 0;
  let group = 0;
  for (const [cvx, date] of last) {
    group += 1;
    const due = new Date(date.getTime() + 365 * DAY_MS);
    const earliest = new Date(date.getTime() + 335 * DAY_MS);
    const status = due <= now ? comp('LA13423-1', 'Overdue', 'LN') : comp('LA13422-3', 'On schedule', 'LN');
    const sub = String(group);
    out.push(
      obx(String(++setId), 'CE', comp('30956-7', 'Vaccine type', 'LN'), sub, cvxField(cvx)),
      obx(String(++setId), 'CE', comp('59783-1', 'Status in immunization series', 'LN'), sub, status),
      obx(String(++setId), 'DT', comp('30981-5', 'Earliest date to give', 'LN'), sub, hl7Date(earliest)),
      obx(String(++setId), 'DT', comp('30980-7', 'Date vaccine due', 'LN'), sub, hl7Date(due)),
    );
  }
  return out;
}
