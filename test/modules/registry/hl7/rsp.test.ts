import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import {
  FILLER_ORDER_SYSTEM,
  Hl7ParseError,
  PATIENT_PLACEHOLDER,
  parseRsp,
} from '../../../../src/modules/registry/hl7/index.js';

const FIXTURES = new URL('../../../fixtures/registry/hl7/', import.meta.url);
const CVX = 'http://hl7.org/fhir/sid/cvx';
const LOINC = 'http://loinc.org';
const STATUS = 'http://terminology.hl7.org/CodeSystem/immunization-recommendation-status';

function fixture(name: string): string {
  return readFileSync(new URL(name, FIXTURES), 'utf8').trimEnd().split('\n').join('\r');
}

const HEADER =
  'MSH|^~\\&|IIS|ST|IRIS|CL|20240601093000-0500||RSP^K11^RSP_K11|R9|P|2.5.1|||NE|NE|||||Z32^CDCPHINVS';

test('Z32: patient and two doses, one administered and one historical', () => {
  const rsp = parseRsp(fixture('rsp-z32.hl7'));
  assert.equal(rsp.controlId, 'RSP-5501');
  assert.equal(rsp.ackCode, 'AA');
  assert.equal(rsp.queryTag, 'QT-0001');
  assert.equal(rsp.queryStatus, 'OK');
  assert.equal(rsp.profile, 'Z32');
  assert.deepEqual(rsp.errors, []);
  assert.deepEqual(rsp.candidates, []);

  const patient = rsp.patient;
  assert.ok(patient);
  assert.equal(patient.id, undefined);
  assert.deepEqual(
    patient.identifier?.map((i) => [i.value, i.assigner?.display, i.type?.coding?.[0]?.code]),
    [
      ['IIS-778812', 'ILSIIS', 'SR'],
      ['MRN-10042', 'IRISCLINIC', 'MR'],
    ],
  );
  assert.deepEqual(patient.name, [{ use: 'official', family: 'Ortega', given: ['Amelia', 'Rose'] }]);
  assert.equal(patient.birthDate, '2024-03-15');
  assert.equal(patient.gender, 'female');
  assert.equal(patient.multipleBirthInteger, 2);
  assert.deepEqual(patient.address, [
    {
      line: ['412 Elm Street'],
      city: 'Springfield',
      state: 'IL',
      postalCode: '62704',
      country: 'USA',
      use: 'home',
    },
  ]);
  assert.deepEqual(patient.telecom, [{ system: 'phone', value: '(217)555-0143', use: 'home' }]);
  const ext = (url: string) => patient.extension?.find((e) => e.url === url);
  assert.equal(
    ext('http://hl7.org/fhir/StructureDefinition/patient-mothersMaidenName')?.valueString,
    'Salas',
  );
  assert.equal(
    ext('http://hl7.org/fhir/us/core/StructureDefinition/us-core-race')?.extension?.[0]?.valueCoding?.code,
    '2106-3',
  );
  assert.equal(
    ext('http://hl7.org/fhir/us/core/StructureDefinition/us-core-ethnicity')?.extension?.[0]?.url,
    'ombCategory',
  );

  assert.equal(rsp.immunizations.length, 2);
  const [historical, given] = rsp.immunizations;
  assert.ok(historical && given);
  assert.equal(historical.status, 'completed');
  assert.equal(historical.primarySource, false);
  assert.equal(historical.reportOrigin?.coding?.[0]?.code, '01');
  assert.deepEqual(historical.vaccineCode.coding, [{ system: CVX, code: '20', display: 'DTaP' }]);
  assert.equal(historical.occurrenceDateTime, '2024-04-02');
  assert.equal(historical.doseQuantity, undefined);
  assert.deepEqual(historical.identifier, [{ system: FILLER_ORDER_SYSTEM, value: 'IIS-55012' }]);
  assert.deepEqual(historical.patient, { reference: PATIENT_PLACEHOLDER });

  assert.equal(given.status, 'completed');
  assert.equal(given.primarySource, true);
  assert.equal(given.reportOrigin, undefined);
  assert.equal(given.occurrenceDateTime, '2024-05-15T10:30:00-05:00');
  assert.deepEqual(
    given.vaccineCode.coding?.map((c) => [c.system, c.code]),
    [
      [CVX, '08'],
      ['http://www.ama-assn.org/go/cpt', '90744'],
    ],
  );
  assert.deepEqual(given.doseQuantity, {
    value: 0.5,
    unit: 'mL',
    code: 'mL',
    system: 'http://unitsofmeasure.org',
  });
  assert.equal(given.lotNumber, 'HB4412X');
  assert.equal(given.expirationDate, '2025-11-30');
  assert.deepEqual(given.manufacturer, {
    identifier: { system: 'http://hl7.org/fhir/sid/mvx', value: 'MSD' },
    display: 'Merck and Co., Inc.',
  });
  assert.equal(given.performer?.[0]?.actor.display, 'Thi Nguyen');
  assert.equal(given.performer?.[0]?.actor.identifier?.value, '4411');
  assert.equal(given.location?.display, 'IRIS Springfield Clinic');
  assert.equal(given.route?.coding?.[0]?.code, 'C28161');
  assert.equal(given.site?.coding?.[0]?.code, 'LVL');
  assert.equal(given.programEligibility?.[0]?.coding?.[0]?.code, 'V02');
  assert.equal(given.fundingSource?.coding?.[0]?.code, 'VXC50');
  assert.deepEqual(given.identifier, [{ system: FILLER_ORDER_SYSTEM, value: 'IIS-55013' }]);
  assert.equal(rsp.recommendation, undefined);
  assert.deepEqual(rsp.evaluations, []);
});

test('Z42: evaluations per dose and the forecast as an ImmunizationRecommendation', () => {
  const rsp = parseRsp(fixture('rsp-z42.hl7'));
  assert.equal(rsp.profile, 'Z42');
  // The "no vaccine administered" RXA only carries the forecast: it is not a dose.
  assert.deepEqual(
    rsp.immunizations.map((i) => i.vaccineCode.coding?.[0]?.code),
    ['20', '08'],
  );
  assert.deepEqual(rsp.evaluations, [
    { immunizationIndex: 0, valid: false, vaccineGroup: '107' },
    { immunizationIndex: 1, valid: true, vaccineGroup: '45' },
  ]);

  const recommendation = rsp.recommendation;
  assert.ok(recommendation);
  assert.equal(recommendation.resourceType, 'ImmunizationRecommendation');
  assert.deepEqual(recommendation.patient, { reference: PATIENT_PLACEHOLDER });
  assert.equal(recommendation.date, '2024-06-01T09:30:00-05:00');
  assert.equal(recommendation.recommendation.length, 3);
  const [dtap, hepb, mmr] = recommendation.recommendation;
  assert.ok(dtap && hepb && mmr);
  assert.deepEqual(dtap.vaccineCode?.[0]?.coding, [
    { system: CVX, code: '107', display: 'DTaP, unspecified formulation' },
  ]);
  assert.equal(dtap.doseNumberPositiveInt, 1);
  assert.deepEqual(
    dtap.dateCriterion?.map((c) => [c.code.coding?.[0]?.system, c.code.coding?.[0]?.code, c.value]),
    [
      [LOINC, '30981-5', '2024-04-26'],
      [LOINC, '30980-7', '2024-05-15'],
      [LOINC, '59778-1', '2024-07-15'],
      [LOINC, '59777-3', '2031-03-14'],
    ],
  );
  assert.deepEqual(dtap.forecastStatus.coding?.[0], { system: STATUS, code: 'due' });
  assert.deepEqual(dtap.forecastStatus.coding?.[1], {
    system: LOINC,
    code: 'LA13422-3',
    display: 'On schedule',
  });
  assert.equal(dtap.forecastStatus.text, 'On schedule');

  assert.equal(hepb.doseNumberPositiveInt, 3);
  assert.equal(hepb.forecastStatus.coding?.[0]?.code, 'overdue');
  assert.equal(hepb.dateCriterion?.length, 3);

  // No stated status: the overdue date (2024-05-20) is before the response date, so overdue.
  assert.equal(mmr.forecastStatus.coding?.[0]?.code, 'overdue');
  assert.equal(mmr.doseNumberPositiveInt, undefined);
});

test('Z33 NF: no match, nothing returned', () => {
  const rsp = parseRsp(fixture('rsp-z33-nf.hl7'));
  assert.equal(rsp.ackCode, 'AA');
  assert.equal(rsp.queryStatus, 'NF');
  assert.equal(rsp.queryTag, 'QT-0003');
  assert.equal(rsp.profile, 'Z33');
  assert.equal(rsp.patient, undefined);
  assert.deepEqual(rsp.candidates, []);
  assert.deepEqual(rsp.immunizations, []);
  assert.equal(rsp.recommendation, undefined);
});

test('Z31: candidate list of two patients, none chosen', () => {
  const rsp = parseRsp(fixture('rsp-z31.hl7'));
  assert.equal(rsp.profile, 'Z31');
  assert.equal(rsp.patient, undefined);
  assert.equal(rsp.candidates.length, 2);
  assert.deepEqual(
    rsp.candidates.map((p) => [p.identifier?.[0]?.value, p.name?.[0]?.given, p.address?.[0]?.city]),
    [
      ['IIS-1001', ['Luis', 'Antonio'], 'Peoria'],
      ['IIS-1002', ['Luis'], 'Joliet'],
    ],
  );
  assert.equal(rsp.candidates[0]?.extension?.[0]?.valueString, 'Mendez');
  assert.deepEqual(rsp.immunizations, []);
});

test('RSP with AE: errors from ERR, query status AE', () => {
  const rsp = parseRsp(fixture('rsp-ae.hl7'));
  assert.equal(rsp.ackCode, 'AE');
  assert.equal(rsp.queryStatus, 'AE');
  assert.deepEqual(rsp.errors, [
    {
      severity: 'E',
      code: '101',
      codeText: 'Required field missing',
      location: 'QPD^1^6',
      message: 'Patient birth date is required to search',
    },
  ]);
  assert.equal(rsp.patient, undefined);
});

test('refused and deleted doses in a history', () => {
  const rsp = parseRsp(
    [
      HEADER,
      'MSA|AA|Q1',
      'QAK|T1|OK',
      'PID|1||X1^^^IIS^SR||Roe^Ann^^^^^L||20200101|F',
      'ORC|RE||9999^IIS',
      'RXA|0|1|20210101||03^MMR^CVX|999||||||||||||01^Religious exemption^NIP002||RE|A',
      'ORC|RE||IIS-7^IIS',
      'RXA|0|1|20210301||20^DTaP^CVX|0.5|mL^mL^UCUM||00^New immunization record^NIP001|||||||||||PA|D',
    ].join('\r'),
  );
  const [refused, deleted] = rsp.immunizations;
  assert.ok(refused && deleted);
  assert.equal(refused.status, 'not-done');
  assert.equal(refused.identifier, undefined, 'ORC-3 9999 means the registry has no order number');
  assert.deepEqual(
    refused.statusReason?.coding?.map((c) => c.code),
    ['01', 'RELIG'],
  );
  assert.equal(deleted.status, 'entered-in-error');
  assert.equal(deleted.isSubpotent, true);
});

test('malformed responses are Hl7ParseErrors', () => {
  const cases = [
    'garbage',
    [HEADER, 'MSA|AA|Q1'].join('\r'),
    [HEADER, 'MSA|AA|Q1', 'QAK|T1|MAYBE'].join('\r'),
    [HEADER.replace('RSP^K11^RSP_K11', 'ACK^V04^ACK'), 'MSA|AA|Q1', 'QAK|T1|OK'].join('\r'),
    [HEADER, 'QAK|T1|OK'].join('\r'),
    [HEADER, 'MSA|AA|Q1', 'QAK|T1|OK', 'ORC|RE||1^IIS', 'RXA|0|1|||^no code'].join('\r'),
    [HEADER, 'MSA|AA|Q1', 'QAK|T1|OK', 'ORC|RE||1^IIS', 'RXA|0|1|2021-01-01||08^HepB^CVX'].join('\r'),
  ];
  for (const text of cases) assert.throws(() => parseRsp(text), Hl7ParseError, text);
});
