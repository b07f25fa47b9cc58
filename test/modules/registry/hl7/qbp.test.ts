import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { Hl7Message, type Hl7Segment } from '@medplum/core';
import type { Patient } from 'fhir/r4.js';
import { buildQbp, Hl7BuildError, type QbpInput } from '../../../../src/modules/registry/hl7/index.js';

const FIXTURES = new URL('../../../fixtures/registry/hl7/', import.meta.url);
const patient = (
  JSON.parse(readFileSync(new URL('vxu-input.json', FIXTURES), 'utf8')) as { patient: Patient }
).patient;

function qbp(overrides: Partial<QbpInput>): Hl7Message {
  return Hl7Message.parse(
    buildQbp({
      patient: structuredClone(patient),
      profile: 'Z34',
      sender: { application: 'IRIS', facility: 'IRISCLINIC' },
      receiver: { application: 'IIS', facility: 'ILSTATE' },
      controlId: 'Q-0001',
      queryTag: 'QT-0001',
      timestamp: new Date('2024-05-15T15:45:10Z'),
      ...overrides,
    }),
  );
}

function segment(msg: Hl7Message, name: string): Hl7Segment {
  const found = msg.getSegment(name);
  assert.ok(found, `missing ${name}`);
  return found;
}

test('Z34 QBP: request complete immunization history', () => {
  const msg = qbp({ profile: 'Z34' });
  assert.deepEqual(
    msg.segments.map((s) => s.name),
    ['MSH', 'QPD', 'RCP'],
  );
  const msh = msg.header;
  assert.deepEqual(msh.getField(9).components[0], ['QBP', 'Q11', 'QBP_Q11']);
  assert.equal(msh.getField(10).toString(), 'Q-0001');
  assert.equal(msh.getField(12).toString(), '2.5.1');
  assert.deepEqual(msh.getField(21).components[0], ['Z34', 'CDCPHINVS']);
  const qpd = segment(msg, 'QPD');
  assert.deepEqual(qpd.getField(1).components[0], ['Z34', 'Request Immunization History', 'CDCPHINVS']);
  assert.equal(qpd.getField(2).toString(), 'QT-0001');
  assert.deepEqual(qpd.getField(3).components[0], ['MRN-10042', '', '', 'IRISCLINIC', 'MR']);
  assert.equal(qpd.getField(3).components.length, 2);
  assert.deepEqual(qpd.getField(4).components[0], ['Ortega', 'Amelia', 'Rose', 'Jr', '', '', 'L']);
  assert.equal(qpd.getComponent(5, 1), 'Salas');
  assert.equal(qpd.getField(6).toString(), '20240315');
  assert.equal(qpd.getField(7).toString(), 'F');
  assert.deepEqual(qpd.getField(8).components, [
    ['412 Elm Street', 'Apt 3', 'Springfield', 'IL', '62704', 'USA', 'H'],
  ]);
  // One phone number, the home one, not every contact point.
  assert.deepEqual(qpd.getField(9).components, [['', 'PRN', 'PH', '', '', '217', '5550143']]);
  assert.equal(qpd.getField(10).toString(), 'Y');
  assert.equal(qpd.getField(11).toString(), '2');
  const rcp = segment(msg, 'RCP');
  assert.equal(rcp.getField(1).toString(), 'I');
  assert.equal(rcp.getComponent(2, 1), '20');
  assert.equal(rcp.getComponent(2, 2), 'RD&records&HL70126');
});

test('Z44 QBP: request evaluated history and forecast', () => {
  const msg = qbp({ profile: 'Z44', queryTag: 'QT-0002', processingId: 'T' });
  assert.deepEqual(msg.header.getField(21).components[0], ['Z44', 'CDCPHINVS']);
  assert.equal(msg.header.getField(11).toString(), 'T');
  const qpd = segment(msg, 'QPD');
  assert.deepEqual(qpd.getField(1).components[0], [
    'Z44',
    'Request Evaluated History and Forecast',
    'CDCPHINVS',
  ]);
  assert.equal(qpd.getField(2).toString(), 'QT-0002');
  assert.equal(qpd.getComponent(3, 1), 'MRN-10042');
});

test('sparse demographics leave the optional QPD fields empty', () => {
  const minimal: Patient = {
    resourceType: 'Patient',
    id: 'p-9',
    name: [{ family: 'Lee', given: ['Kim'] }],
    gender: 'male',
  };
  const qpd = segment(qbp({ patient: minimal }), 'QPD');
  // Without identifiers the resource id stands in, assigned by the sending facility.
  assert.deepEqual(qpd.getField(3).components[0], ['p-9', '', '', 'IRISCLINIC', 'MR']);
  assert.equal(qpd.getField(5)?.toString() ?? '', '');
  assert.equal(qpd.getField(6)?.toString() ?? '', '');
  assert.equal(qpd.getField(7).toString(), 'M');
  assert.equal(qpd.fields.length, 8);
});

test('bad query tag or control id is refused', () => {
  assert.throws(() => qbp({ queryTag: '' }), Hl7BuildError);
  assert.throws(() => qbp({ queryTag: 'x'.repeat(33) }), Hl7BuildError);
  assert.throws(() => qbp({ controlId: 'c'.repeat(21) }), Hl7BuildError);
});
