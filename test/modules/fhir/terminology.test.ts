import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { fhirHarness, type FhirHarness } from './harness.js';

const CVX = 'http://hl7.org/fhir/sid/cvx';
type Param = { name: string; valueString?: string; valueBoolean?: boolean };
const param = (body: { parameter: Param[] }, name: string) => body.parameter.find((p) => p.name === name);

describe('terminology operations over CVX and MVX', () => {
  let h: FhirHarness;
  before(async () => {
    h = await fhirHarness();
  });
  after(() => h.close());

  test('$lookup returns the CDC display of a CVX code; unknown codes are 404', async () => {
    const res = await h.app.inject({ method: 'GET', url: `/fhir/CodeSystem/$lookup?system=${CVX}&code=08` });
    assert.equal(res.statusCode, 200);
    assert.equal(param(res.json(), 'display')?.valueString, 'Hep B, adolescent or pediatric');
    const missing = await h.app.inject({
      method: 'GET',
      url: `/fhir/CodeSystem/$lookup?system=${CVX}&code=nope`,
    });
    assert.equal(missing.statusCode, 404);
  });

  test('$validate-code answers true for a known code and false with a message otherwise', async () => {
    const ok = (
      await h.app.inject({ method: 'GET', url: `/fhir/ValueSet/$validate-code?url=${CVX}?vs&code=208` })
    ).json();
    assert.equal(param(ok, 'result')?.valueBoolean, true);
    const bad = (
      await h.app.inject({ method: 'GET', url: `/fhir/CodeSystem/$validate-code?system=${CVX}&code=99999` })
    ).json();
    assert.equal(param(bad, 'result')?.valueBoolean, false);
    const mvx = (
      await h.app.inject({
        method: 'GET',
        url: '/fhir/CodeSystem/$validate-code?system=http://hl7.org/fhir/sid/mvx&code=PFR',
      })
    ).json();
    assert.equal(param(mvx, 'result')?.valueBoolean, true);
  });

  test('$expand with filter finds codes by words of their names, fast enough for typeahead', async () => {
    const started = performance.now();
    const res = await h.app.inject({
      method: 'GET',
      url: '/fhir/ValueSet/$expand?url=http://iris.health/fhir/ValueSet/cvx&filter=hep%20b&count=5',
    });
    const elapsed = performance.now() - started;
    assert.equal(res.statusCode, 200);
    const vs = res.json();
    assert.ok(vs.expansion.total > 3);
    assert.equal(vs.expansion.contains.length, 5);
    assert.ok(vs.expansion.contains.every((c: { display: string }) => /hep/i.test(c.display)));
    assert.ok(elapsed < 200, `took ${elapsed} ms`);
    const pfizer = (
      await h.app.inject({
        method: 'POST',
        url: '/fhir/ValueSet/$expand',
        headers: { 'content-type': 'application/fhir+json' },
        payload: {
          resourceType: 'Parameters',
          parameter: [
            { name: 'url', valueUri: 'http://iris.health/fhir/ValueSet/mvx' },
            { name: 'filter', valueString: 'pfizer' },
          ],
        },
      })
    ).json();
    assert.ok(pfizer.expansion.contains.some((c: { code: string }) => c.code === 'PFR'));
  });

  test('the operations are in the CapabilityStatement', async () => {
    const cs = (await h.app.inject({ method: 'GET', url: '/fhir/metadata' })).json();
    const vs = cs.rest[0].resource.find((r: { type: string }) => r.type === 'ValueSet');
    assert.ok(vs.operation.some((o: { name: string }) => o.name === 'expand'));
  });
});
