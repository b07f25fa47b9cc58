import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { fhirHarness, patient, putResource, type FhirHarness } from './harness.js';

const LOINC = 'http://loinc.org';
const UCUM = 'http://unitsofmeasure.org';

function quantity(value: number, code: string) {
  return { value, unit: code, system: UCUM, code };
}

function bloodPressure(id: string, patientId: string, systolic: number, diastolic: number) {
  return {
    resourceType: 'Observation',
    id,
    status: 'final',
    code: { coding: [{ system: LOINC, code: '85354-6' }] },
    subject: { reference: `Patient/${patientId}` },
    effectiveDateTime: '2024-03-01',
    component: [
      { code: { coding: [{ system: LOINC, code: '8480-6' }] }, valueQuantity: quantity(systolic, 'mm[Hg]') },
      { code: { coding: [{ system: LOINC, code: '8462-4' }] }, valueQuantity: quantity(diastolic, 'mm[Hg]') },
    ],
  };
}

describe('FHIR search: composite parameters', () => {
  let h: FhirHarness;
  const put = (resource: { resourceType: string; id: string; [key: string]: unknown }) =>
    putResource(h, resource);
  const search = async (query: string): Promise<string[]> => {
    const res = await h.app.inject({ method: 'GET', url: `/fhir/Observation?${query}` });
    assert.equal(res.statusCode, 200, `${query}: ${res.body}`);
    const bundle = res.json() as { entry?: Array<{ resource: { id: string } }> };
    return (bundle.entry ?? []).map((e) => e.resource.id).sort();
  };
  const weight = (value: number) => ({
    resourceType: 'Observation',
    id: 'cmp-weight',
    status: 'final',
    code: { coding: [{ system: LOINC, code: '29463-7' }] },
    subject: { reference: 'Patient/cmp-p' },
    effectiveDateTime: '2024-03-01',
    valueQuantity: quantity(value, 'kg'),
  });

  before(async () => {
    h = await fhirHarness();
    await put({ ...patient('Composite', 'Cora'), id: 'cmp-p' } as { resourceType: string; id: string });
    // Systolic 120 and diastolic 140: a diastolic value over 130 must not pass for a systolic one.
    await put(bloodPressure('cmp-bp1', 'cmp-p', 120, 140));
    await put(bloodPressure('cmp-bp2', 'cmp-p', 150, 90));
    await put(weight(72));
    await put({
      resourceType: 'Observation',
      id: 'cmp-smoking',
      status: 'final',
      code: { coding: [{ system: LOINC, code: '72166-2' }] },
      subject: { reference: 'Patient/cmp-p' },
      valueCodeableConcept: { coding: [{ system: 'http://snomed.info/sct', code: '8517006' }] },
    });
  });
  after(() => h.close());

  test('component parts match within one component, never across two', async () => {
    const systolic = encodeURIComponent(`${LOINC}|8480-6$gt130`);
    const diastolic = encodeURIComponent(`${LOINC}|8462-4$gt130`);
    assert.deepEqual(await search(`component-code-value-quantity=${systolic}`), ['cmp-bp2']);
    assert.deepEqual(await search(`component-code-value-quantity=${diastolic}`), ['cmp-bp1']);
    assert.deepEqual(
      await search(`component-code-value-quantity=${encodeURIComponent(`${LOINC}|8480-6$lt100`)}`),
      [],
    );
  });

  test('comma-separated composite values are alternatives', async () => {
    const either = [`${LOINC}|8480-6$gt130`, `${LOINC}|8462-4$gt130`].map(encodeURIComponent).join(',');
    assert.deepEqual(await search(`component-code-value-quantity=${either}`), ['cmp-bp1', 'cmp-bp2']);
  });

  test('code with value on the Observation itself: quantity (with units), concept', async () => {
    assert.deepEqual(await search(`code-value-quantity=${encodeURIComponent(`${LOINC}|29463-7$lt80`)}`), [
      'cmp-weight',
    ]);
    assert.deepEqual(await search(`code-value-quantity=${encodeURIComponent(`${LOINC}|29463-7$gt80`)}`), []);
    const withUnit = encodeURIComponent(`${LOINC}|29463-7$72|${UCUM}|kg`);
    assert.deepEqual(await search(`code-value-quantity=${withUnit}`), ['cmp-weight']);
    const wrongUnit = encodeURIComponent(`${LOINC}|29463-7$72|${UCUM}|g`);
    assert.deepEqual(await search(`code-value-quantity=${wrongUnit}`), []);
    const smoking = encodeURIComponent(`${LOINC}|72166-2$http://snomed.info/sct|8517006`);
    assert.deepEqual(await search(`code-value-concept=${smoking}`), ['cmp-smoking']);
  });

  test('combo parameters cover the Observation and its components alike', async () => {
    assert.deepEqual(
      await search(`combo-code-value-quantity=${encodeURIComponent(`${LOINC}|8480-6$gt130`)}`),
      ['cmp-bp2'],
    );
    assert.deepEqual(await search(`combo-code-value-quantity=${encodeURIComponent(`${LOINC}|29463-7$72`)}`), [
      'cmp-weight',
    ]);
  });

  test(':missing asks whether any complete group exists', async () => {
    assert.deepEqual(await search('code-value-quantity:missing=false'), ['cmp-weight']);
    assert.deepEqual(await search('code-value-quantity:missing=true'), ['cmp-bp1', 'cmp-bp2', 'cmp-smoking']);
  });

  test('an update re-indexes the groups', async () => {
    await put(weight(91));
    assert.deepEqual(await search(`code-value-quantity=${encodeURIComponent(`${LOINC}|29463-7$gt80`)}`), [
      'cmp-weight',
    ]);
    assert.deepEqual(await search(`code-value-quantity=${encodeURIComponent(`${LOINC}|29463-7$lt80`)}`), []);
  });

  test('a value without every part, or sorting by a composite, is a 400 OperationOutcome', async () => {
    for (const query of [
      `component-code-value-quantity=${encodeURIComponent(`${LOINC}|8480-6`)}`,
      `component-code-value-quantity=${encodeURIComponent(`${LOINC}|8480-6$1$2`)}`,
      '_sort=code-value-quantity',
      'code-value-quantity:exact=x$1',
    ]) {
      const res = await h.app.inject({ method: 'GET', url: `/fhir/Observation?${query}` });
      assert.equal(res.statusCode, 400, `${query}: ${res.body}`);
      assert.equal(res.json().resourceType, 'OperationOutcome');
    }
  });

  test('the CapabilityStatement lists the composites with their type', async () => {
    const res = await h.app.inject({ method: 'GET', url: '/fhir/metadata' });
    const observation = (
      res.json() as {
        rest: Array<{
          resource: Array<{ type: string; searchParam?: Array<{ name: string; type: string }> }>;
        }>;
      }
    ).rest[0]?.resource.find((r) => r.type === 'Observation');
    const composite = observation?.searchParam?.find((p) => p.name === 'component-code-value-quantity');
    assert.equal(composite?.type, 'composite');
  });
});
