import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  fhirToHl7Date,
  fhirToHl7Ts,
  Hl7BuildError,
  Hl7ParseError,
  hl7TsToFhir,
  hl7TsToFhirDate,
  instantToHl7Ts,
} from '../../../../src/modules/registry/hl7/index.js';

test('FHIR dates stay dates; dateTimes keep their wall-clock time and offset', () => {
  assert.equal(fhirToHl7Ts('2024-05-15'), '20240515');
  assert.equal(fhirToHl7Ts('2024-05'), '202405');
  assert.equal(fhirToHl7Ts('2024'), '2024');
  assert.equal(fhirToHl7Ts('2024-05-15T10:30:00-05:00'), '20240515103000-0500');
  assert.equal(fhirToHl7Ts('2024-05-15T23:59:59.123Z'), '20240515235959.123+0000');
  assert.equal(fhirToHl7Date('2024-05-15T23:30:00+14:00'), '20240515');
  assert.throws(() => fhirToHl7Ts('15/05/2024'), Hl7BuildError);
});

test('instants are written in UTC to the second', () => {
  assert.equal(instantToHl7Ts(new Date('2024-05-15T10:30:00.987-05:00')), '20240515153000+0000');
  assert.throws(() => instantToHl7Ts(new Date('nope')), Hl7BuildError);
});

test('HL7 TS → FHIR: dates stay dates, times need an offset', () => {
  assert.equal(hl7TsToFhir('20240515'), '2024-05-15');
  assert.equal(hl7TsToFhir('202405'), '2024-05');
  assert.equal(hl7TsToFhir('20240515103000-0500'), '2024-05-15T10:30:00-05:00');
  assert.equal(hl7TsToFhir('202405151030+0100'), '2024-05-15T10:30:00+01:00');
  assert.equal(hl7TsToFhir('20240515103015.25-0500'), '2024-05-15T10:30:15.25-05:00');
  // A time without an offset cannot be placed on the timeline: only its date is kept...
  assert.equal(hl7TsToFhir('20240515103000'), '2024-05-15');
  // ...unless the caller knows the sender's zone.
  assert.equal(hl7TsToFhir('20240515103000', { defaultOffset: '-0600' }), '2024-05-15T10:30:00-06:00');
  assert.equal(hl7TsToFhirDate('20240515103000-0500'), '2024-05-15');
  assert.throws(() => hl7TsToFhir('2024-05-15'), Hl7ParseError);
  assert.throws(() => hl7TsToFhir('20240515', { defaultOffset: 'EST' }), Hl7ParseError);
  assert.throws(() => hl7TsToFhir('20240515103000', { defaultOffset: 'EST' }), Hl7ParseError);
});

test('a dateTime survives FHIR → HL7 → FHIR', () => {
  for (const value of ['2024-05-15', '2024-05-15T10:30:00-05:00', '1999-12-31T23:59:59+05:30']) {
    assert.equal(hl7TsToFhir(fhirToHl7Ts(value)), value);
  }
});
