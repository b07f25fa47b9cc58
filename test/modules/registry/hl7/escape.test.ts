import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Hl7Context, Hl7Message } from '@medplum/core';
import type { Patient } from 'fhir/r4.js';
import { buildVxu, escapeHl7, parseRsp, unescapeHl7 } from '../../../../src/modules/registry/hl7/index.js';

const NASTY = 'O|Brien^Smith & Sons ~ \\back\\slash';

test('each delimiter gets its escape sequence, escape character first', () => {
  assert.equal(escapeHl7('a|b^c&d~e\\f'), 'a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f');
  assert.equal(unescapeHl7('a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f'), 'a|b^c&d~e\\f');
  // An escaped escape followed by letters must not be read as another escape sequence.
  assert.equal(unescapeHl7(escapeHl7('\\F\\')), '\\F\\');
});

test('line breaks become \\.br\\ and come back as newlines', () => {
  assert.equal(escapeHl7('line 1\r\nline 2\nline 3'), 'line 1\\.br\\line 2\\.br\\line 3');
  assert.equal(unescapeHl7('line 1\\.br\\line 2'), 'line 1\nline 2');
});

test('decode tolerates hex data, formatting commands and stray escape characters', () => {
  assert.equal(unescapeHl7('caf\\XC3A9\\ ok'), 'café ok');
  assert.equal(unescapeHl7('\\H\\bold\\N\\ text'), 'bold text');
  assert.equal(unescapeHl7('a\\.sp\\b'), 'a\nb');
  assert.equal(unescapeHl7('trailing \\'), 'trailing \\');
  assert.equal(unescapeHl7('\\Q\\'), '\\Q\\');
  assert.equal(unescapeHl7('bad hex \\XZZ\\'), 'bad hex \\XZZ\\');
});

test('the message delimiters in use drive the escapes', () => {
  const ctx = new Hl7Context('\r', '#', '*', '@', '/', '%');
  assert.equal(escapeHl7('a#b*c%d@e/f', ctx), 'a/F/b/S/c/T/d/R/e/E/f');
  assert.equal(unescapeHl7('a/F/b/S/c/T/d/R/e/E/f', ctx), 'a#b*c%d@e/f');
});

const patient: Patient = {
  resourceType: 'Patient',
  id: 'p1',
  identifier: [{ value: 'ID|^&~\\1', assigner: { display: 'A&B Clinic' } }],
  name: [{ use: 'official', family: NASTY, given: ['Ann~Marie', 'x^y'] }],
  birthDate: '2020-01-01',
  address: [
    { line: ['1 Pipe|Lane', 'Unit ^4 & 5'], city: 'Back\\slash City', state: 'NY', postalCode: '10001' },
  ],
  extension: [
    { url: 'http://hl7.org/fhir/StructureDefinition/patient-mothersMaidenName', valueString: 'Mc~Tilde&Amp' },
  ],
};

test('names and addresses with | ^ & ~ \\ survive encode → parse → decode unchanged', () => {
  const text = buildVxu({
    patient,
    immunizations: [],
    sender: { application: 'APP|1', facility: 'FAC^1' },
    receiver: { application: 'IIS', facility: 'STATE' },
    controlId: 'C1',
    timestamp: new Date('2024-01-01T00:00:00Z'),
  });
  const msg = Hl7Message.parse(text);
  // Escaping keeps the structure: still two segments and the fields in their places.
  assert.deepEqual(
    msg.segments.map((s) => s.name),
    ['MSH', 'PID', 'PD1'],
  );
  const decode = (raw: string) => unescapeHl7(raw, msg.context);
  assert.equal(decode(msg.header.getField(3).toString()), 'APP|1');
  assert.equal(decode(msg.header.getField(4).toString()), 'FAC^1');
  const pid = msg.getSegment('PID');
  assert.ok(pid);
  assert.equal(decode(pid.getComponent(3, 1)), 'ID|^&~\\1');
  assert.equal(decode(pid.getComponent(3, 4)), 'A&B Clinic');
  assert.equal(decode(pid.getComponent(5, 1)), NASTY);
  assert.equal(decode(pid.getComponent(5, 2)), 'Ann~Marie');
  assert.equal(decode(pid.getComponent(5, 3)), 'x^y');
  assert.equal(decode(pid.getComponent(6, 1)), 'Mc~Tilde&Amp');
  assert.equal(decode(pid.getComponent(11, 1)), '1 Pipe|Lane');
  assert.equal(decode(pid.getComponent(11, 2)), 'Unit ^4 & 5');
  assert.equal(decode(pid.getComponent(11, 3)), 'Back\\slash City');
});

test('the RSP parser decodes escaped PID values back into the Patient', () => {
  const msh =
    'MSH|^~\\&|IIS|STATE|IRIS|CLINIC|20240101120000-0500||RSP^K11^RSP_K11|R1|P|2.5.1|||NE|NE|||||Z32^CDCPHINVS';
  const pid = [
    'PID|1||ID\\F\\\\S\\\\T\\\\R\\\\E\\1^^^A\\T\\B Clinic^MR',
    '',
    'O\\F\\Brien\\S\\Smith \\T\\ Sons \\R\\ \\E\\back\\E\\slash^Ann\\R\\Marie^^^^^L',
    'Mc\\R\\Tilde\\T\\Amp',
    '20200101',
    'F',
    '',
    '',
    '1 Pipe\\F\\Lane^Unit \\S\\4 \\T\\ 5^Back\\E\\slash City^NY^10001',
  ].join('|');
  const result = parseRsp(
    [msh, 'MSA|AA|Q1', 'QAK|T1|OK|Z34^Request Immunization History^CDCPHINVS', pid].join('\r'),
  );
  const p = result.patient;
  assert.ok(p);
  assert.equal(p.identifier?.[0]?.value, 'ID|^&~\\1');
  assert.equal(p.identifier?.[0]?.assigner?.display, 'A&B Clinic');
  assert.equal(p.name?.[0]?.family, NASTY);
  assert.deepEqual(p.name?.[0]?.given, ['Ann~Marie']);
  assert.equal(p.extension?.[0]?.valueString, 'Mc~Tilde&Amp');
  assert.deepEqual(p.address?.[0]?.line, ['1 Pipe|Lane', 'Unit ^4 & 5']);
  assert.equal(p.address?.[0]?.city, 'Back\\slash City');
});
