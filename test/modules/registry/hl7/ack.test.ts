import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { Hl7ParseError, parseAck } from '../../../../src/modules/registry/hl7/index.js';

const FIXTURES = new URL('../../../fixtures/registry/hl7/', import.meta.url);

/** Fixtures keep one segment per line; registries send CR-separated segments. */
function fixture(name: string): string {
  return readFileSync(new URL(name, FIXTURES), 'utf8').trimEnd().split('\n').join('\r');
}

test('AA: accepted, no errors', () => {
  const ack = parseAck(fixture('ack-aa.hl7'));
  assert.deepEqual(ack, { controlId: 'ACK-7731', ackCode: 'AA', ackedControlId: 'IRIS-0001', errors: [] });
});

test('AE with a warning: severity W, table 0357 and 0533 codes, location and decoded message', () => {
  const ack = parseAck(fixture('ack-ae-warning.hl7'));
  assert.equal(ack.ackCode, 'AE');
  assert.equal(ack.ackedControlId, 'IRIS-0002');
  assert.deepEqual(ack.errors, [
    {
      severity: 'W',
      code: '102',
      codeText: 'Data type error',
      applicationCode: '4',
      location: 'PID^1^11^1^5',
      message: 'Zip code 6270 is not 5 or 9 digits & was not stored',
    },
  ]);
});

test('AR with an error: 101 required field missing at RXA^1^5', () => {
  const ack = parseAck(fixture('ack-ar-error.hl7'));
  assert.equal(ack.ackCode, 'AR');
  assert.equal(ack.ackedControlId, 'IRIS-0003');
  assert.equal(ack.text, 'Message rejected');
  assert.equal(ack.errors.length, 1);
  const [error] = ack.errors;
  assert.equal(error?.severity, 'E');
  assert.equal(error?.code, '101');
  assert.equal(error?.codeText, 'Required field missing');
  assert.equal(error?.location, 'RXA^1^5');
  assert.equal(error?.applicationCode, undefined);
  assert.equal(error?.message, 'RXA-5 (vaccine administered) is required');
});

test('several ERR segments are returned in order with their own severities', () => {
  const ack = parseAck(fixture('ack-multiple-err.hl7'));
  assert.deepEqual(
    ack.errors.map((e) => [e.severity, e.code, e.location, e.applicationCode]),
    [
      ['W', '102', 'PID^1^7', '2'],
      ['W', '103', 'RXA^1^17', '5'],
      ['I', '103', 'NK1^1^3', undefined],
    ],
  );
  assert.equal(ack.errors[2]?.message, 'Relationship code ignored');
});

test('LF line endings, MLLP framing and the withdrawn ERR-1 are tolerated', () => {
  const text =
    '\u000bMSH|^~\\&|IIS|ST|IRIS|CL|20240515||ACK^V04^ACK|A9|P|2.5.1\n' +
    'MSA|AE|IRIS-0009\n' +
    'ERR|RXR^1^2^103&Table value not found&HL70357\n\u001c\r';
  const ack = parseAck(text);
  assert.equal(ack.ackedControlId, 'IRIS-0009');
  // No ERR-4: a reported problem without a severity counts as an error.
  assert.deepEqual(ack.errors, [
    { severity: 'E', code: '103', codeText: 'Table value not found', location: 'RXR^1^2' },
  ]);
});

test('a fatal severity (F) is kept', () => {
  const ack = parseAck(
    'MSH|^~\\&|IIS|ST|IRIS|CL|20240515||ACK|A1|P|2.5.1\rMSA|AR|X1\rERR||MSH^1^12|203^Unsupported version id^HL70357|F',
  );
  assert.equal(ack.errors[0]?.severity, 'F');
  assert.equal(ack.errors[0]?.code, '203');
});

test('anything that is not an ACK with MSA is an Hl7ParseError', () => {
  const cases = [
    '',
    'not hl7 at all',
    '<soap:Envelope/>',
    'MSH',
    'MSH|^~\\&|IIS|ST|IRIS|CL|20240515||ACK^V04^ACK|A1|P|2.5.1',
    'MSH|^~\\&|IIS|ST|IRIS|CL|20240515||ACK^V04^ACK|A1|P|2.5.1\rERR||RXA^1^5|101|E',
    'MSH|^~\\&|IIS|ST|IRIS|CL|20240515||ACK^V04^ACK|A1|P|2.5.1\rMSA|OK|IRIS-1',
    'MSH|^~\\&|IRIS|CL|IIS|ST|20240515||VXU^V04^VXU_V04|C1|P|2.5.1\rMSA|AA|IRIS-1',
  ];
  for (const text of cases) {
    assert.throws(() => parseAck(text), Hl7ParseError, JSON.stringify(text));
  }
  assert.throws(() => parseAck('MSH|^~\\&|IIS|ST|IRIS|CL|20240515||ACK|A1|P|2.5.1'), /no MSA segment/);
});
