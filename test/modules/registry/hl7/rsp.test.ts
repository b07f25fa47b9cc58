import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import type { Immunization, Patient, PatientContact } from 'fhir/r4.js';
import {
  buildVxu,
  FILLER_ORDER_SYSTEM,
  Hl7ParseError,
  PATIENT_PLACEHOLDER,
  parseRsp,
} from '../../../../src/modules/registry/hl7/index.js';

const FIXTURES = new URL('../../../fixtures/registry/hl7/', import.meta.url);
const CVX = 'http://hl7.org/fhir/sid/cvx';
const LOINC = 'http://loinc.org';
const STATUS = 'http://terminology.hl7.org/CodeSystem/immunization-recommendation-status';
const V2_0063 = 'http://terminology.hl7.org/CodeSystem/v2-0063';

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
  assert.deepEqual(patient.contact, [
    {
      relationship: [{ coding: [{ system: V2_0063, code: 'MTH', display: 'Mother' }] }],
      name: { use: 'official', family: 'Ortega', given: ['Lucia'] },
    },
  ]);

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
  // Evaluation groups carry a vaccine type too, but no VIS dates: they are not education.
  assert.deepEqual(
    rsp.immunizations.map((i) => i.education),
    [undefined, undefined],
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
  // Each NK1 belongs to the PID before it.
  assert.deepEqual(
    rsp.candidates[0]?.contact?.map((c) => [c.name?.given, c.relationship?.[0]?.coding?.[0]?.code]),
    [[['Rosa'], 'MTH']],
  );
  assert.equal(rsp.candidates[1]?.contact, undefined);
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

/** An RSP for one patient whose PID is followed by the given segments. */
function history(...segments: string[]): string {
  return [
    HEADER,
    'MSA|AA|Q1',
    'QAK|T1|OK',
    'PID|1||X1^^^IIS^SR||Roe^Ann^^^^^L||20200101|F',
    ...segments,
  ].join('\r');
}

test('two NK1 (mother and guardian) become Patient.contact, field by field', () => {
  const rsp = parseRsp(
    history(
      'NK1|1|Roe^Maria^Elena^^^^L|MTH^Mother^HL70063|12 Oak Ave^Apt 2^Peoria^IL^61602^USA^H|^PRN^PH^^^309^5550101~^NET^Internet^maria.roe@example.org|^WPN^PH^^^309^5550177',
      'NK1|2|Kent^Paul^^Sr^Dr^^L|GRD^Guardian^HL70063|PO Box 9^^Joliet^IL^60431^^M|^PRN^CP^^^815^5550123',
      'ORC|RE||IIS-7^IIS',
      'RXA|0|1|20210301||20^DTaP^CVX|999|||01^Historical^NIP001|||||||||||CP|A',
    ),
  );
  const [mother, guardian] = rsp.patient?.contact ?? [];
  assert.equal(rsp.patient?.contact?.length, 2);
  assert.ok(mother && guardian);
  assert.deepEqual(mother.relationship, [{ coding: [{ system: V2_0063, code: 'MTH', display: 'Mother' }] }]);
  assert.deepEqual(mother.name, { use: 'official', family: 'Roe', given: ['Maria', 'Elena'] });
  assert.deepEqual(mother.address, {
    line: ['12 Oak Ave', 'Apt 2'],
    city: 'Peoria',
    state: 'IL',
    postalCode: '61602',
    country: 'USA',
    use: 'home',
  });
  assert.deepEqual(mother.telecom, [
    { system: 'phone', value: '(309)555-0101', use: 'home' },
    { system: 'email', value: 'maria.roe@example.org' },
    { system: 'phone', value: '(309)555-0177', use: 'work' },
  ]);
  assert.deepEqual(guardian.relationship, [
    { coding: [{ system: V2_0063, code: 'GRD', display: 'Guardian' }] },
  ]);
  assert.deepEqual(guardian.name, {
    use: 'official',
    family: 'Kent',
    given: ['Paul'],
    suffix: ['Sr'],
    prefix: ['Dr'],
  });
  assert.deepEqual(guardian.address, {
    line: ['PO Box 9'],
    city: 'Joliet',
    state: 'IL',
    postalCode: '60431',
    type: 'postal',
  });
  assert.deepEqual(guardian.telecom, [{ system: 'phone', value: '(815)555-0123', use: 'mobile' }]);
  // Contacts stay with the patient; the doses are untouched.
  assert.equal(rsp.immunizations.length, 1);
  assert.deepEqual(rsp.candidates, []);
});

test('NK1 with escaped delimiters, an uncoded relationship and a code without a display', () => {
  const rsp = parseRsp(
    history(
      'NK1|1|O\\T\\Neil\\S\\Roe^Ana\\R\\Lu^^^^^L|^Aunt|5 Elm \\E\\ Main \\F\\ 2^^Springfield^IL^62704^^H',
      'NK1|2|Roe^Tom|FTH',
    ),
  );
  const [aunt, father] = rsp.patient?.contact ?? [];
  assert.ok(aunt && father);
  assert.deepEqual(aunt.name, { use: 'official', family: 'O&Neil^Roe', given: ['Ana~Lu'] });
  assert.deepEqual(aunt.relationship, [{ text: 'Aunt' }]);
  assert.deepEqual(aunt.address?.line, ['5 Elm \\ Main | 2']);
  assert.equal(aunt.telecom, undefined);
  assert.deepEqual(father.relationship, [{ coding: [{ system: V2_0063, code: 'FTH', display: 'Father' }] }]);
  assert.deepEqual(father.name, { family: 'Roe', given: ['Tom'] });
});

const VXU_PARTIES = {
  sender: { application: 'IRIS', facility: 'IRISCLINIC' },
  receiver: { application: 'IIS', facility: 'ILSTATE' },
  controlId: 'IRIS-9',
  timestamp: new Date('2024-05-15T15:45:10Z'),
};

function vxuSegments(patient: Patient, immunizations: Immunization[], name: string): string[] {
  return buildVxu({ patient, immunizations, ...VXU_PARTIES })
    .split('\r')
    .filter((line) => line.startsWith(`${name}|`));
}

test('round trip: the NK1 the VXU builds from Patient.contact parses back to the same contacts', () => {
  const contacts: PatientContact[] = [
    {
      relationship: [{ coding: [{ system: V2_0063, code: 'MTH', display: 'Mother' }] }],
      name: { use: 'official', family: 'Ortega & Ruiz', given: ['Lucía', 'María'] },
      telecom: [
        { system: 'phone', value: '(217)555-0199', use: 'mobile' },
        { system: 'email', value: 'lucia^ortega@example.org' },
      ],
      address: {
        line: ['412 Elm Street', 'Apt 3|B'],
        city: 'Springfield',
        state: 'IL',
        postalCode: '62704',
        country: 'USA',
        use: 'home',
      },
    },
    {
      relationship: [{ coding: [{ system: V2_0063, code: 'GRD', display: 'Guardian' }] }],
      name: { use: 'official', family: 'Kent', given: ['Paul'], suffix: ['Sr'], prefix: ['Dr'] },
      address: { line: ['PO Box 9'], city: 'Joliet', state: 'IL', postalCode: '60431', type: 'postal' },
    },
  ];
  const patient: Patient = {
    resourceType: 'Patient',
    id: 'p1',
    name: [{ family: 'Ortega', given: ['Amelia'] }],
    birthDate: '2024-03-15',
    contact: structuredClone(contacts),
  };
  const nk1 = vxuSegments(patient, [], 'NK1');
  assert.equal(nk1.length, 2);
  assert.ok(nk1[0]?.includes('Ortega \\T\\ Ruiz'), 'the builder escapes the delimiters');
  assert.deepEqual(parseRsp(history(...nk1)).patient?.contact, contacts);
});

test('VIS OBX groups of a dose become Immunization.education; the VXU builder round-trips them', () => {
  const dose: Immunization = {
    resourceType: 'Immunization',
    id: 'imm-1',
    status: 'completed',
    vaccineCode: { coding: [{ system: CVX, code: '08', display: 'Hep B, adolescent or pediatric' }] },
    patient: { reference: 'Patient/p1' },
    occurrenceDateTime: '2024-05-15T10:30:00-05:00',
    primarySource: true,
    education: [
      {
        documentType: '253088698300008611230512',
        publicationDate: '2023-05-12',
        presentationDate: '2024-05-15T10:25:00-05:00',
      },
      { documentType: 'Hepatitis B VIS', publicationDate: '2023-05-12', presentationDate: '2024-05-15' },
    ],
  };
  const patient: Patient = { resourceType: 'Patient', id: 'p1', name: [{ family: 'Roe' }] };
  const order = buildVxu({ patient, immunizations: [dose], ...VXU_PARTIES })
    .split('\r')
    .filter((line) => /^(ORC|RXA|RXR|OBX)\|/.test(line));
  const [parsed] = parseRsp(history(...order)).immunizations;
  assert.deepEqual(parsed?.education, [
    {
      documentType: '253088698300008611230512',
      publicationDate: '2023-05-12',
      presentationDate: '2024-05-15T10:25:00-05:00',
    },
    // Without a barcode the VIS travels as its vaccine type, whose name comes back.
    {
      documentType: 'Hep B, adolescent or pediatric',
      publicationDate: '2023-05-12',
      presentationDate: '2024-05-15',
    },
  ]);
});

test('a VIS group naming no document is dropped; a barcode alone is kept', () => {
  const rsp = parseRsp(
    history(
      'ORC|RE||IIS-8^IIS',
      'RXA|0|1|20240515||08^Hep B^CVX|0.5|mL^mL^UCUM||00^New immunization record^NIP001|||||||||||CP|A',
      'OBX|1|DT|29769-7^Date Vis Presented^LN|1|20240515||||||F',
      'OBX|2|CE|69764-9^Document Type^LN|2|253088698300026411121116^Multivaccine VIS^cdcgs1vis||||||F',
    ),
  );
  assert.deepEqual(rsp.immunizations[0]?.education, [{ documentType: '253088698300026411121116' }]);
});
