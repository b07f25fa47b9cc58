import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { FHIR, fhirHarness, patient, type FhirHarness } from './harness.js';

describe('FHIR vread', () => {
  let h: FhirHarness;
  before(async () => {
    h = await fhirHarness();
  });
  after(() => h.close());

  test('each version is readable as it was stored', async () => {
    const v1 = (
      await h.app.inject({
        method: 'POST',
        url: '/fhir/Patient',
        headers: FHIR,
        payload: patient('Ver', 'One'),
      })
    ).json();
    await h.app.inject({
      method: 'PUT',
      url: `/fhir/Patient/${v1.id}`,
      headers: FHIR,
      payload: { ...v1, name: [{ family: 'Ver', given: ['Two'] }] },
    });
    const first = await h.app.inject({ method: 'GET', url: `/fhir/Patient/${v1.id}/_history/1` });
    assert.equal(first.statusCode, 200);
    assert.deepEqual(first.json().name[0].given, ['One']);
    assert.equal(first.headers.etag, 'W/"1"');
    const second = await h.app.inject({ method: 'GET', url: `/fhir/Patient/${v1.id}/_history/2` });
    assert.deepEqual(second.json().name[0].given, ['Two']);
    const none = await h.app.inject({ method: 'GET', url: `/fhir/Patient/${v1.id}/_history/3` });
    assert.equal(none.statusCode, 404);
    const junk = await h.app.inject({ method: 'GET', url: `/fhir/Patient/${v1.id}/_history/abc` });
    assert.equal(junk.statusCode, 404);
  });

  test('the version that records a deletion is 410', async () => {
    const p = (
      await h.app.inject({
        method: 'POST',
        url: '/fhir/Patient',
        headers: FHIR,
        payload: patient('Del', 'V'),
      })
    ).json();
    await h.app.inject({ method: 'DELETE', url: `/fhir/Patient/${p.id}` });
    const res = await h.app.inject({ method: 'GET', url: `/fhir/Patient/${p.id}/_history/2` });
    assert.equal(res.statusCode, 410);
  });
});
