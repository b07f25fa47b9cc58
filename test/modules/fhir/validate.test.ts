import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { EVERY_ROW, FHIR, fhirHarness, immunization, type FhirHarness } from './harness.js';

describe('FHIR $validate', () => {
  let h: FhirHarness;
  before(async () => {
    h = await fhirHarness();
  });
  after(() => h.close());

  test('a valid resource gets an informational outcome and nothing is stored', async () => {
    const res = await h.app.inject({
      method: 'POST',
      url: '/fhir/Immunization/$validate',
      headers: FHIR,
      payload: immunization('p1'),
    });
    assert.equal(res.statusCode, 200);
    assert.equal(res.json().issue[0].severity, 'information');
    const stored = await h.db.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM fhir_resource',
      [],
      EVERY_ROW,
    );
    assert.equal(stored.rows[0]?.n, 0);
  });

  test('problems come back as error issues with FHIRPath expressions', async () => {
    const bad = { ...immunization('p1'), status: 'finished', occurrenceDateTime: 'last tuesday' } as Record<
      string,
      unknown
    >;
    delete bad.vaccineCode;
    const res = await h.app.inject({
      method: 'POST',
      url: '/fhir/Immunization/$validate',
      headers: FHIR,
      payload: bad,
    });
    assert.equal(res.statusCode, 200);
    const expressions = res.json().issue.map((i: { expression?: string[] }) => i.expression?.[0]);
    assert.ok(expressions.includes('Immunization.vaccineCode'));
    assert.ok(
      expressions.includes('Immunization.occurrence[x]') ||
        expressions.includes('Immunization.occurrenceDateTime'),
      JSON.stringify(expressions),
    );
  });

  test('a Parameters body with a resource parameter is accepted', async () => {
    const res = await h.app.inject({
      method: 'POST',
      url: '/fhir/Immunization/$validate',
      headers: FHIR,
      payload: {
        resourceType: 'Parameters',
        parameter: [{ name: 'resource', resource: immunization('p1', '12345') }],
      },
    });
    assert.equal(res.json().issue[0].severity, 'error');
    assert.deepEqual(res.json().issue[0].expression, ['Immunization.vaccineCode.coding[0].code']);
  });
});
