import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { fhirHarness, type FhirHarness } from './harness.js';

const GENDER_VS = 'http://hl7.org/fhir/ValueSet/administrative-gender';
const GENDER_CS = 'http://hl7.org/fhir/administrative-gender';
type Param = {
  name: string;
  valueString?: string;
  valueBoolean?: boolean;
  valueCode?: string;
  part?: Param[];
};
type Parameters = { parameter: Param[] };
type Contains = { system: string; code: string; display?: string };
const param = (body: Parameters, name: string) => body.parameter.find((p) => p.name === name);

describe('terminology operations over the core R4 code systems and value sets', () => {
  let h: FhirHarness;
  before(async () => {
    h = await fhirHarness();
  });
  after(() => h.close());

  const get = (url: string) => h.app.inject({ method: 'GET', url });

  test('$expand lists administrative-gender with system and display for each code', async () => {
    const res = await get(`/fhir/ValueSet/$expand?url=${GENDER_VS}`);
    assert.equal(res.statusCode, 200);
    const vs = res.json();
    assert.equal(vs.url, GENDER_VS);
    assert.equal(vs.expansion.total, 4);
    assert.deepEqual(
      vs.expansion.contains.map((c: Contains) => c.code),
      ['male', 'female', 'other', 'unknown'],
    );
    assert.ok(vs.expansion.contains.every((c: Contains) => c.system === GENDER_CS));
    const female = vs.expansion.contains.find((c: Contains) => c.code === 'female');
    assert.equal(female.display, 'Female');
  });

  test('$expand filter narrows by words of code and display', async () => {
    const vs = (await get(`/fhir/ValueSet/$expand?url=${GENDER_VS}&filter=fem`)).json();
    assert.equal(vs.expansion.total, 1);
    assert.equal(vs.expansion.contains[0].code, 'female');
    const none = (await get(`/fhir/ValueSet/$expand?url=${GENDER_VS}&filter=fem%20unk`)).json();
    assert.equal(none.expansion.total, 0);
  });

  test('$expand pages with count and offset and reports the total', async () => {
    const full = (await get(`/fhir/ValueSet/$expand?url=${GENDER_VS}`)).json();
    const page = (await get(`/fhir/ValueSet/$expand?url=${GENDER_VS}&count=2&offset=1`)).json();
    assert.equal(page.expansion.total, 4);
    assert.equal(page.expansion.offset, 1);
    assert.deepEqual(page.expansion.contains, full.expansion.contains.slice(1, 3));
    const sizeOnly = (await get(`/fhir/ValueSet/$expand?url=${GENDER_VS}&count=0`)).json();
    assert.equal(sizeOnly.expansion.total, 4);
    assert.equal(sizeOnly.expansion.contains, undefined);
    const bad = await get(`/fhir/ValueSet/$expand?url=${GENDER_VS}&count=-1`);
    assert.equal(bad.statusCode, 400);
  });

  test('$expand caps count at 1000 on a large value set', async () => {
    const vs = (
      await get('/fhir/ValueSet/$expand?url=http://hl7.org/fhir/ValueSet/c80-doc-typecodes&count=5000')
    ).json();
    assert.ok(vs.expansion.total > 1000);
    assert.equal(vs.expansion.contains.length, 1000);
  });

  test('$expand takes displays from the code system for v3 and v2 based value sets', async () => {
    const v3 = (
      await get(
        '/fhir/ValueSet/$expand?url=http://terminology.hl7.org/ValueSet/v3-ActCode&filter=inpatient%20encounter',
      )
    ).json();
    const imp = v3.expansion.contains.find((c: Contains) => c.code === 'IMP');
    assert.equal(imp.system, 'http://terminology.hl7.org/CodeSystem/v3-ActCode');
    assert.equal(imp.display, 'inpatient encounter');
    const v2 = (await get('/fhir/ValueSet/$expand?url=http://terminology.hl7.org/ValueSet/v2-0001')).json();
    assert.ok(v2.expansion.total > 0);
    assert.ok(
      v2.expansion.contains.every(
        (c: Contains) => c.system === 'http://terminology.hl7.org/CodeSystem/v2-0001',
      ),
    );
    assert.equal(v2.expansion.contains.find((c: Contains) => c.code === 'F').display, 'Female');
  });

  test('$expand fills in code-system displays for concepts listed without one', async () => {
    const vs = (
      await get('/fhir/ValueSet/$expand?url=http://hl7.org/fhir/ValueSet/immunization-status')
    ).json();
    assert.deepEqual(
      vs.expansion.contains.map((c: Contains) => [c.code, c.display]),
      [
        ['completed', 'Completed'],
        ['entered-in-error', 'Entered in Error'],
        ['not-done', 'Not Done'],
      ],
    );
  });

  test('$expand by POST with Parameters', async () => {
    const res = await h.app.inject({
      method: 'POST',
      url: '/fhir/ValueSet/$expand',
      headers: { 'content-type': 'application/fhir+json' },
      payload: {
        resourceType: 'Parameters',
        parameter: [
          { name: 'url', valueUri: GENDER_VS },
          { name: 'filter', valueString: 'male' },
          { name: 'count', valueInteger: 1 },
        ],
      },
    });
    assert.equal(res.statusCode, 200);
    const vs = res.json();
    assert.equal(vs.expansion.total, 2);
    assert.equal(vs.expansion.contains.length, 1);
  });

  test('$expand of a value set built by filter is 422 not-supported; an unknown one is 404', async () => {
    const res = await get('/fhir/ValueSet/$expand?url=http://hl7.org/fhir/ValueSet/example-filter');
    assert.equal(res.statusCode, 422);
    const oo = res.json();
    assert.equal(oo.resourceType, 'OperationOutcome');
    assert.equal(oo.issue[0].code, 'not-supported');
    assert.match(oo.issue[0].diagnostics, /filter/);
    const missing = await get('/fhir/ValueSet/$expand?url=http://example.org/ValueSet/nothing');
    assert.equal(missing.statusCode, 404);
    assert.equal(missing.json().resourceType, 'OperationOutcome');
  });

  test('$validate-code against a core value set: true, false, wrong system, display mismatch', async () => {
    const base = `/fhir/ValueSet/$validate-code?url=${GENDER_VS}`;
    const ok: Parameters = (await get(`${base}&code=female&system=${GENDER_CS}`)).json();
    assert.equal(param(ok, 'result')?.valueBoolean, true);
    assert.equal(param(ok, 'display')?.valueString, 'Female');
    assert.equal(param(ok, 'message'), undefined);
    const bad: Parameters = (await get(`${base}&code=woman`)).json();
    assert.equal(param(bad, 'result')?.valueBoolean, false);
    assert.match(param(bad, 'message')?.valueString ?? '', /woman/);
    const wrongSystem: Parameters = (await get(`${base}&code=female&system=http://example.org/sex`)).json();
    assert.equal(param(wrongSystem, 'result')?.valueBoolean, false);
    const mismatch: Parameters = (await get(`${base}&code=female&display=Woman`)).json();
    assert.equal(param(mismatch, 'result')?.valueBoolean, true);
    assert.match(param(mismatch, 'message')?.valueString ?? '', /Woman/);
  });

  test('$validate-code against a core code system, by url or system', async () => {
    const byUrl: Parameters = (
      await get(`/fhir/CodeSystem/$validate-code?url=${GENDER_CS}&code=other`)
    ).json();
    assert.equal(param(byUrl, 'result')?.valueBoolean, true);
    const bySystem: Parameters = (
      await get(`/fhir/CodeSystem/$validate-code?system=${GENDER_CS}&code=nonbinary`)
    ).json();
    assert.equal(param(bySystem, 'result')?.valueBoolean, false);
    const nested: Parameters = (
      await get(
        '/fhir/CodeSystem/$validate-code?system=http://terminology.hl7.org/CodeSystem/v3-ActCode&code=IMP',
      )
    ).json();
    assert.equal(param(nested, 'result')?.valueBoolean, true);
  });

  test('$lookup of a core code gives the code system name, display and definition', async () => {
    const res = await get(`/fhir/CodeSystem/$lookup?system=${GENDER_CS}&code=female`);
    assert.equal(res.statusCode, 200);
    const body: Parameters = res.json();
    assert.equal(param(body, 'name')?.valueString, 'AdministrativeGender');
    assert.equal(param(body, 'display')?.valueString, 'Female');
    assert.equal(param(body, 'definition')?.valueString, 'Female.');
    const missing = await get(`/fhir/CodeSystem/$lookup?system=${GENDER_CS}&code=woman`);
    assert.equal(missing.statusCode, 404);
    const unknownSystem = await get('/fhir/CodeSystem/$lookup?system=http://example.org/cs&code=x');
    assert.equal(unknownSystem.statusCode, 404);
  });

  test('$lookup of a nested v3 code names its parent', async () => {
    const body: Parameters = (
      await get('/fhir/CodeSystem/$lookup?system=http://terminology.hl7.org/CodeSystem/v3-ActCode&code=IMP')
    ).json();
    const parent = body.parameter.find(
      (p) => p.name === 'property' && p.part?.some((q) => q.name === 'code' && q.valueCode === 'parent'),
    );
    const value = parent?.part?.find((q) => q.name === 'value');
    assert.equal(value?.valueCode, '_ActEncounterCode');
  });
});
