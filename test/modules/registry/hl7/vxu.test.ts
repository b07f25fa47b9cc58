import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { Hl7Message, type Hl7Segment } from '@medplum/core';
import type { Immunization, Patient } from 'fhir/r4.js';
import { buildVxu, Hl7BuildError, type VxuInput } from '../../../../src/modules/registry/hl7/index.js';

const FIXTURES = new URL('../../../fixtures/registry/hl7/', import.meta.url);
const data = JSON.parse(readFileSync(new URL('vxu-input.json', FIXTURES), 'utf8')) as {
  patient: Patient;
  administered: Immunization;
  historical: Immunization;
  refusal: Immunization;
};

/** Golden files keep one segment per line; the wire format separates segments with CR. */
function golden(name: string): string {
  return readFileSync(new URL(name, FIXTURES), 'utf8').trimEnd().split('\n').join('\r');
}

function clone<T>(value: T): T {
  return structuredClone(value);
}

function input(overrides: Partial<VxuInput>): VxuInput {
  return {
    patient: clone(data.patient),
    immunizations: [],
    sender: { application: 'IRIS', facility: 'IRISCLINIC' },
    receiver: { application: 'IIS', facility: 'ILSTATE' },
    controlId: 'IRIS-0001',
    timestamp: new Date('2024-05-15T15:45:10Z'),
    ...overrides,
  };
}

function parse(text: string): Hl7Message {
  return Hl7Message.parse(text);
}

function only(message: Hl7Message, name: string): Hl7Segment {
  const found = message.getAllSegments(name);
  assert.equal(found.length, 1, `expected one ${name}`);
  return found[0] as Hl7Segment;
}

function names(message: Hl7Message): string[] {
  return message.segments.map((s) => s.name);
}

test('new administered dose matches the golden message', () => {
  const text = buildVxu(input({ controlId: 'IRIS-0001', immunizations: [clone(data.administered)] }));
  assert.equal(text, golden('vxu-administered.hl7'));
});

test('historical dose matches the golden message', () => {
  const text = buildVxu(input({ controlId: 'IRIS-0002', immunizations: [clone(data.historical)] }));
  assert.equal(text, golden('vxu-historical.hl7'));
});

test('refusal matches the golden message', () => {
  const text = buildVxu(input({ controlId: 'IRIS-0003', immunizations: [clone(data.refusal)] }));
  assert.equal(text, golden('vxu-refusal.hl7'));
});

test('delete matches the golden message', () => {
  const text = buildVxu(
    input({ controlId: 'IRIS-0004', immunizations: [clone(data.administered)], action: 'delete' }),
  );
  assert.equal(text, golden('vxu-delete.hl7'));
});

test('several doses in one message match the golden message', () => {
  const text = buildVxu(
    input({
      controlId: 'IRIS-0005',
      immunizations: [clone(data.historical), clone(data.administered), clone(data.refusal)],
      processingId: 'T',
    }),
  );
  assert.equal(text, golden('vxu-multiple.hl7'));
});

test('MSH follows the guide (message type, version, acknowledgement types, profile)', () => {
  const msg = parse(buildVxu(input({ immunizations: [clone(data.administered)] })));
  const msh = msg.header;
  assert.equal(msh.getField(1).toString(), '|');
  assert.equal(msh.getField(2).toString(), '^~\\&');
  assert.deepEqual(
    [3, 4, 5, 6].map((i) => msh.getField(i).toString()),
    ['IRIS', 'IRISCLINIC', 'IIS', 'ILSTATE'],
  );
  assert.equal(msh.getField(7).toString(), '20240515154510+0000');
  assert.deepEqual(msh.getField(9).components[0], ['VXU', 'V04', 'VXU_V04']);
  assert.equal(msh.getField(10).toString(), 'IRIS-0001');
  assert.equal(msh.getField(11).toString(), 'P');
  assert.equal(msh.getField(12).toString(), '2.5.1');
  assert.equal(msh.getField(15).toString(), 'ER');
  assert.equal(msh.getField(16).toString(), 'AL');
  assert.deepEqual(msh.getField(21).components[0], ['Z22', 'CDCPHINVS']);
  assert.deepEqual(names(msg), ['MSH', 'PID', 'PD1', 'NK1', 'ORC', 'RXA', 'RXR', 'OBX', 'OBX']);
});

test('PID, PD1 and NK1 carry the demographics the guide asks for', () => {
  const msg = parse(buildVxu(input({ immunizations: [clone(data.administered)] })));
  const pid = only(msg, 'PID');
  assert.equal(pid.getComponent(3, 1, undefined, 0), 'MRN-10042');
  assert.equal(pid.getComponent(3, 4, undefined, 0), 'IRISCLINIC');
  assert.equal(pid.getComponent(3, 5, undefined, 0), 'MR');
  assert.equal(pid.getComponent(3, 1, undefined, 1), 'MA998877');
  assert.equal(pid.getComponent(3, 5, undefined, 1), 'MA');
  // The official name goes first with name type L, not the nickname listed first in the resource.
  assert.deepEqual(pid.getField(5).components[0], ['Ortega', 'Amelia', 'Rose', 'Jr', '', '', 'L']);
  assert.equal(pid.getComponent(6, 1), 'Salas');
  assert.equal(pid.getComponent(6, 7), 'M');
  assert.equal(pid.getField(7).toString(), '20240315');
  assert.equal(pid.getField(8).toString(), 'F');
  assert.deepEqual(pid.getField(10).components[0], ['2106-3', 'White', 'CDCREC']);
  assert.equal(pid.getComponent(11, 3), 'Springfield');
  assert.equal(pid.getComponent(11, 7), 'H');
  assert.deepEqual(pid.getField(13).components[0], ['', 'PRN', 'PH', '', '', '217', '5550143']);
  assert.deepEqual(pid.getField(13).components[1], ['', 'NET', 'Internet', 'ortega.family@example.org']);
  assert.deepEqual(pid.getField(22).components[0], ['2135-2', 'Hispanic or Latino', 'CDCREC']);
  assert.equal(pid.getField(24).toString(), 'Y');
  assert.equal(pid.getField(25).toString(), '2');
  const pd1 = only(msg, 'PD1');
  assert.equal(pd1.getField(16).toString(), 'A');
  assert.equal(pd1.getField(17).toString(), '20240515');
  const nk1 = only(msg, 'NK1');
  assert.equal(nk1.getField(1).toString(), '1');
  assert.deepEqual(nk1.getField(3).components[0], ['MTH', 'Mother', 'HL70063']);
  assert.equal(nk1.getComponent(5, 3), 'CP');
});

test('administered dose: ORC, RXA, RXR and both OBX follow the guide', () => {
  const msg = parse(buildVxu(input({ immunizations: [clone(data.administered)] })));
  const orc = only(msg, 'ORC');
  assert.equal(orc.getField(1).toString(), 'RE');
  assert.deepEqual(orc.getField(3).components[0], ['imm-admin-1', 'IRISCLINIC']);
  assert.equal(orc.getComponent(12, 1), 'dr-3');
  const rxa = only(msg, 'RXA');
  assert.equal(rxa.getField(1).toString(), '0');
  assert.equal(rxa.getField(2).toString(), '1');
  assert.equal(rxa.getField(3).toString(), '20240515103000-0500');
  assert.deepEqual(rxa.getField(5).components[0], ['08', 'Hep B, adolescent or pediatric', 'CVX']);
  assert.equal(rxa.getField(6).toString(), '0.5');
  assert.deepEqual(rxa.getField(7).components[0], ['mL', 'mL', 'UCUM']);
  assert.deepEqual(rxa.getField(9).components[0], ['00', 'New immunization record', 'NIP001']);
  assert.equal(rxa.getComponent(10, 1), 'nurse-7');
  assert.equal(rxa.getComponent(11, 4), 'IRIS Springfield Clinic');
  assert.equal(rxa.getField(15).toString(), 'HB4412X');
  assert.equal(rxa.getField(16).toString(), '20251130');
  assert.deepEqual(rxa.getField(17).components[0], ['MSD', 'Merck and Co., Inc.', 'MVX']);
  assert.equal(rxa.getField(18).toString(), '');
  assert.equal(rxa.getField(20).toString(), 'CP');
  assert.equal(rxa.getField(21).toString(), 'A');
  const rxr = only(msg, 'RXR');
  assert.deepEqual(rxr.getField(1).components[0], ['C28161', 'Intramuscular', 'NCIT']);
  assert.deepEqual(rxr.getField(2).components[0], ['LVL', 'Left Vastus Lateralis', 'HL70163']);
  const [vfc, funding] = msg.getAllSegments('OBX') as [Hl7Segment, Hl7Segment];
  assert.deepEqual(
    [vfc.getField(1).toString(), vfc.getField(2).toString(), vfc.getComponent(3, 1), vfc.getComponent(3, 3)],
    ['1', 'CE', '64994-7', 'LN'],
  );
  assert.equal(vfc.getField(4).toString(), '1');
  assert.deepEqual(vfc.getField(5).components[0], [
    'V02',
    'VFC eligible - Medicaid/Medicaid Managed Care',
    'HL70064',
  ]);
  assert.equal(vfc.getField(11).toString(), 'F');
  assert.equal(vfc.getField(14).toString(), '20240515');
  assert.deepEqual(vfc.getField(17).components[0], [
    'VXC40',
    'Eligibility captured at the immunization level',
    'CDCPHINVS',
  ]);
  assert.deepEqual([funding.getField(1).toString(), funding.getComponent(3, 1)], ['2', '30963-3']);
  assert.equal(funding.getField(4).toString(), '2');
  assert.deepEqual(funding.getField(5).components[0], ['VXC50', 'Public', 'CDCPHINVS']);
  assert.equal(funding.getField(11).toString(), 'F');
});

test('historical dose: RXA-9 01, unknown amount 999, no RXR, OBX or administering provider', () => {
  const msg = parse(buildVxu(input({ immunizations: [clone(data.historical)] })));
  const rxa = only(msg, 'RXA');
  assert.deepEqual(rxa.getField(9).components[0], [
    '01',
    'Historical information - source unspecified',
    'NIP001',
  ]);
  assert.equal(rxa.getField(3).toString(), '20240402');
  assert.equal(rxa.getField(6).toString(), '999');
  assert.equal(rxa.getField(7).toString(), '');
  assert.equal(rxa.getField(10).toString(), '');
  assert.equal(rxa.getField(20).toString(), 'CP');
  assert.deepEqual(names(msg).slice(4), ['ORC', 'RXA']);
});

test('historical dose keeps a more specific NIP001 source from reportOrigin', () => {
  const historical = clone(data.historical);
  historical.reportOrigin = { coding: [{ system: 'urn:iris:hl7v2:NIP001', code: '03' }] };
  const rxa = only(parse(buildVxu(input({ immunizations: [historical] }))), 'RXA');
  assert.equal(rxa.getComponent(9, 1), '03');
  assert.equal(rxa.getComponent(9, 2), "Historical information - from parent's written record");
});

test('refusal: RXA-18 NIP002 reason, RXA-20 RE, 999, no RXA-9, RXR or OBX', () => {
  const msg = parse(buildVxu(input({ immunizations: [clone(data.refusal)] })));
  const rxa = only(msg, 'RXA');
  // The patient was one year old: a patient objection is the parent's decision.
  assert.deepEqual(rxa.getField(18).components[0], ['00', 'Parental decision', 'NIP002']);
  assert.equal(rxa.getField(20).toString(), 'RE');
  assert.equal(rxa.getField(6).toString(), '999');
  assert.equal(rxa.getField(9).toString(), '');
  assert.deepEqual(names(msg).slice(4), ['ORC', 'RXA']);
});

test('refusal reasons map to NIP002 by kind and age', () => {
  const adult = clone(data.patient);
  adult.birthDate = '1990-01-01';
  const reasonFor = (patient: Patient, statusReason: Immunization['statusReason']) => {
    const refusal = { ...clone(data.refusal), statusReason };
    const rxa = only(parse(buildVxu(input({ patient, immunizations: [refusal] }))), 'RXA');
    return [rxa.getComponent(18, 1), rxa.getField(20).toString()];
  };
  const actReason = (code: string) => ({
    coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActReason', code }],
  });
  assert.deepEqual(reasonFor(adult, actReason('PATOBJ')), ['03', 'RE']);
  assert.deepEqual(reasonFor(adult, actReason('RELIG')), ['01', 'RE']);
  assert.deepEqual(reasonFor(adult, { coding: [{ system: 'urn:iris:hl7v2:NIP002', code: '02' }] }), [
    '02',
    'RE',
  ]);
  // Not given for a reason other than refusal: not administered, no refusal reason.
  assert.deepEqual(reasonFor(adult, actReason('IMMUNE')), ['', 'NA']);
  assert.deepEqual(reasonFor(adult, undefined), ['', 'NA']);
});

test('delete and update set RXA-21', () => {
  const action = (a: VxuInput['action']) =>
    only(parse(buildVxu(input({ immunizations: [clone(data.administered)], action: a }))), 'RXA')
      .getField(21)
      .toString();
  assert.equal(action('delete'), 'D');
  assert.equal(action('update'), 'U');
  assert.equal(action(undefined), 'A');
});

test('several doses: one ORC/RXA group each, OBX numbering restarts per order', () => {
  const msg = parse(
    buildVxu(
      input({ immunizations: [clone(data.administered), clone(data.historical), clone(data.administered)] }),
    ),
  );
  assert.deepEqual(names(msg).slice(4), [
    'ORC',
    'RXA',
    'RXR',
    'OBX',
    'OBX',
    'ORC',
    'RXA',
    'ORC',
    'RXA',
    'RXR',
    'OBX',
    'OBX',
  ]);
  assert.deepEqual(
    msg.getAllSegments('ORC').map((s) => s.getComponent(3, 1)),
    ['imm-admin-1', 'imm-hist-1', 'imm-admin-1'],
  );
  assert.deepEqual(
    msg.getAllSegments('RXA').map((s) => s.getComponent(9, 1)),
    ['00', '01', '00'],
  );
  assert.deepEqual(
    msg.getAllSegments('OBX').map((s) => s.getField(1).toString()),
    ['1', '2', '1', '2'],
  );
});

test('an administered dose without an amount reports 999 and no units', () => {
  const dose = clone(data.administered);
  delete dose.doseQuantity;
  const rxa = only(parse(buildVxu(input({ immunizations: [dose] }))), 'RXA');
  assert.equal(rxa.getField(6).toString(), '999');
  assert.equal(rxa.getField(7).toString(), '');
});

test('route and site: omitted when neither is known, HL70162 accepted', () => {
  const none = clone(data.administered);
  delete none.route;
  delete none.site;
  assert.equal(parse(buildVxu(input({ immunizations: [none] }))).getAllSegments('RXR').length, 0);
  const v2Route = clone(none);
  v2Route.route = { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0162', code: 'SC' }] };
  const rxr = only(parse(buildVxu(input({ immunizations: [v2Route] }))), 'RXR');
  assert.deepEqual(rxr.getField(1).components[0], ['SC', 'Subcutaneous', 'HL70162']);
});

test('FHIR program eligibility and CDC funding codes are translated', () => {
  const dose = clone(data.administered);
  dose.programEligibility = [
    {
      coding: [
        {
          system: 'http://terminology.hl7.org/CodeSystem/immunization-program-eligibility',
          code: 'uninsured',
        },
      ],
    },
  ];
  dose.fundingSource = { coding: [{ system: 'urn:iris:hl7v2:CDCPHINVS', code: 'VXC2' }] };
  const [vfc, funding] = parse(buildVxu(input({ immunizations: [dose] }))).getAllSegments('OBX') as [
    Hl7Segment,
    Hl7Segment,
  ];
  assert.equal(vfc.getComponent(5, 1), 'V03');
  assert.deepEqual(funding.getField(5).components[0], ['VXC2', 'State funds', 'CDCPHINVS']);
});

test('no NK1 without a contact; a deceased patient is permanently inactive in PD1-16', () => {
  const patient = clone(data.patient);
  delete patient.contact;
  patient.deceasedDateTime = '2025-01-02T08:00:00-06:00';
  const msg = parse(buildVxu(input({ patient, immunizations: [clone(data.historical)] })));
  assert.equal(msg.getAllSegments('NK1').length, 0);
  assert.equal(only(msg, 'PD1').getField(16).toString(), 'P');
  const pid = only(msg, 'PID');
  assert.equal(pid.getField(29).toString(), '20250102080000-0600');
  assert.equal(pid.getField(30).toString(), 'Y');
});

test('input the guide cannot express is refused with Hl7BuildError', () => {
  assert.throws(() => buildVxu(input({ controlId: 'X'.repeat(21), immunizations: [] })), Hl7BuildError);
  assert.throws(() => buildVxu(input({ controlId: '', immunizations: [] })), Hl7BuildError);
  const noCvx = { ...clone(data.administered), vaccineCode: { text: 'flu shot' } };
  assert.throws(() => buildVxu(input({ immunizations: [noCvx] })), /CVX/);
  const noDate: Immunization = { ...clone(data.administered), occurrenceString: 'last spring' };
  delete noDate.occurrenceDateTime;
  assert.throws(() => buildVxu(input({ immunizations: [noDate] })), /RXA-3/);
  const anonymous = clone(data.patient);
  delete anonymous.identifier;
  delete anonymous.id;
  assert.throws(() => buildVxu(input({ patient: anonymous, immunizations: [] })), /PID-3/);
  assert.ok(
    buildVxu(input({ controlId: 'X'.repeat(20), immunizations: [] })).includes('|XXXXXXXXXXXXXXXXXXXX|'),
  );
});

/** Two VIS handed out with one dose: a barcoded edition with every date, and one presented only. */
function withTwoVis(dose: Immunization): Immunization {
  dose.education = [
    {
      documentType: '253088698300008611230512',
      reference: 'https://www.cdc.gov/vaccines/hcp/vis/vis-statements/hep-b.html',
      publicationDate: '2023-05-12',
      presentationDate: '2024-05-15T10:25:00-05:00',
    },
    { documentType: '253088698300026411121116', presentationDate: '2024-05-15' },
  ];
  return dose;
}

function obxLines(text: string): string[] {
  return text.split('\r').filter((line) => line.startsWith('OBX|'));
}

test('VIS: two education entries match the golden OBX segments after VFC and funding', () => {
  const text = buildVxu(input({ immunizations: [withTwoVis(clone(data.administered))] }));
  assert.deepEqual(obxLines(text), [
    'OBX|1|CE|64994-7^Vaccine funding program eligibility category^LN|1|V02^VFC eligible - Medicaid/Medicaid Managed Care^HL70064||||||F|||20240515|||VXC40^Eligibility captured at the immunization level^CDCPHINVS',
    'OBX|2|CE|30963-3^Vaccine funding source^LN|2|VXC50^Public^CDCPHINVS||||||F|||20240515',
    'OBX|3|CE|69764-9^Document type^LN|3|253088698300008611230512^^cdcgs1vis||||||F|||20240515',
    'OBX|4|TS|29768-9^Date vaccine information statement published^LN|3|20230512||||||F|||20240515',
    'OBX|5|TS|29769-7^Date vaccine information statement presented^LN|3|20240515102500-0500||||||F|||20240515',
    'OBX|6|CE|69764-9^Document type^LN|4|253088698300026411121116^^cdcgs1vis||||||F|||20240515',
    'OBX|7|TS|29769-7^Date vaccine information statement presented^LN|4|20240515||||||F|||20240515',
  ]);
});

test('VIS: every field of the OBX group, set ids continuing and one sub-id per entry', () => {
  const msg = parse(buildVxu(input({ immunizations: [withTwoVis(clone(data.administered))] })));
  assert.deepEqual(names(msg).slice(4), [
    'ORC',
    'RXA',
    'RXR',
    'OBX',
    'OBX',
    'OBX',
    'OBX',
    'OBX',
    'OBX',
    'OBX',
  ]);
  const vis = msg.getAllSegments('OBX').slice(2);
  const row = (s: Hl7Segment) => ({
    setId: s.getField(1).toString(),
    type: s.getField(2).toString(),
    code: s.getField(3).components[0],
    subId: s.getField(4).toString(),
    value: s.getField(5).components[0],
    units: s.getField(6).toString(),
    status: s.getField(11).toString(),
    observed: s.getField(14).toString(),
    // Trailing empty fields are left out, so OBX-17 may not exist at all.
    method: s.fields.length > 17 ? s.getField(17).toString() : '',
  });
  const common = { units: '', status: 'F', observed: '20240515', method: '' };
  const documentType = ['69764-9', 'Document type', 'LN'];
  const published = ['29768-9', 'Date vaccine information statement published', 'LN'];
  const presented = ['29769-7', 'Date vaccine information statement presented', 'LN'];
  assert.deepEqual(vis.map(row), [
    {
      ...common,
      setId: '3',
      type: 'CE',
      code: documentType,
      subId: '3',
      value: ['253088698300008611230512', '', 'cdcgs1vis'],
    },
    { ...common, setId: '4', type: 'TS', code: published, subId: '3', value: ['20230512'] },
    { ...common, setId: '5', type: 'TS', code: presented, subId: '3', value: ['20240515102500-0500'] },
    {
      ...common,
      setId: '6',
      type: 'CE',
      code: documentType,
      subId: '4',
      value: ['253088698300026411121116', '', 'cdcgs1vis'],
    },
    { ...common, setId: '7', type: 'TS', code: presented, subId: '4', value: ['20240515'] },
  ]);
});

test('VIS without VFC or funding observations starts at set id and sub-id 1', () => {
  const dose = withTwoVis(clone(data.administered));
  delete dose.programEligibility;
  delete dose.fundingSource;
  const obx = parse(buildVxu(input({ immunizations: [dose] }))).getAllSegments('OBX');
  assert.deepEqual(
    obx.map((s) => [s.getField(1).toString(), s.getComponent(3, 1), s.getField(4).toString()]),
    [
      ['1', '69764-9', '1'],
      ['2', '29768-9', '1'],
      ['3', '29769-7', '1'],
      ['4', '69764-9', '2'],
      ['5', '29769-7', '2'],
    ],
  );
});

test('VIS without a barcode is named by the vaccine type; an entry naming nothing is left out', () => {
  const dose = clone(data.administered);
  dose.education = [
    { reference: 'https://www.cdc.gov/vaccines/hcp/vis/' },
    { documentType: 'Hepatitis B VIS', publicationDate: '2023-05-12', presentationDate: '2024-05-15' },
  ];
  const vis = parse(buildVxu(input({ immunizations: [dose] })))
    .getAllSegments('OBX')
    .slice(2);
  assert.deepEqual(
    vis.map((s) => [s.getField(1).toString(), s.getField(4).toString(), s.getComponent(3, 1)]),
    [
      ['3', '3', '30956-7'],
      ['4', '3', '29768-9'],
      ['5', '3', '29769-7'],
    ],
  );
  assert.equal((vis[0] as Hl7Segment).getField(2).toString(), 'CE');
  assert.deepEqual((vis[0] as Hl7Segment).getField(5).components[0], [
    '08',
    'Hep B, adolescent or pediatric',
    'CVX',
  ]);
});

test('VIS OBX only for administered doses: none for a historical dose or a refusal with education', () => {
  const historical = withTwoVis(clone(data.historical));
  const refusal = withTwoVis(clone(data.refusal));
  const msg = parse(buildVxu(input({ immunizations: [historical, refusal] })));
  assert.deepEqual(names(msg).slice(4), ['ORC', 'RXA', 'ORC', 'RXA']);
  assert.equal(
    buildVxu(input({ controlId: 'IRIS-0002', immunizations: [historical] })),
    golden('vxu-historical.hl7'),
  );
});

test('VIS with an unreadable date is refused with Hl7BuildError', () => {
  const dose = clone(data.administered);
  dose.education = [{ documentType: '253088698300026411121116', presentationDate: 'last Tuesday' }];
  assert.throws(() => buildVxu(input({ immunizations: [dose] })), Hl7BuildError);
});
