import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { FHIR, fhirHarness, patient, type FhirHarness } from './harness.js';

describe('FHIR history', () => {
  let h: FhirHarness;
  let id: string;
  let start: string;
  before(async () => {
    h = await fhirHarness();
    start = new Date().toISOString();
    const p = (
      await h.app.inject({
        method: 'POST',
        url: '/fhir/Patient',
        headers: FHIR,
        payload: patient('Hist', 'H'),
      })
    ).json();
    id = p.id;
    await h.app.inject({
      method: 'PUT',
      url: `/fhir/Patient/${id}`,
      headers: FHIR,
      payload: { ...p, gender: 'male' },
    });
    await h.app.inject({ method: 'DELETE', url: `/fhir/Patient/${id}` });
    await h.app.inject({
      method: 'POST',
      url: '/fhir/Organization',
      headers: FHIR,
      payload: { resourceType: 'Organization', name: 'Clinic' },
    });
  });
  after(() => h.close());

  test('instance history lists every version newest first, the deletion without a resource', async () => {
    const res = await h.app.inject({ method: 'GET', url: `/fhir/Patient/${id}/_history` });
    assert.equal(res.statusCode, 200);
    const bundle = res.json();
    assert.equal(bundle.type, 'history');
    assert.deepEqual(
      bundle.entry.map((e: { request: { method: string } }) => e.request.method),
      ['DELETE', 'PUT', 'POST'],
    );
    assert.equal(bundle.entry[0].resource, undefined);
    assert.equal(bundle.entry[1].resource.gender, 'male');
    assert.equal(bundle.entry[2].response.etag, 'W/"1"');
  });

  test('type history covers only that type; system history covers all', async () => {
    const type = (await h.app.inject({ method: 'GET', url: '/fhir/Patient/_history' })).json();
    assert.equal(type.entry.length, 3);
    const system = (await h.app.inject({ method: 'GET', url: '/fhir/_history' })).json();
    assert.equal(system.entry.length, 4);
  });

  test('_count pages through history with next links; _since filters', async () => {
    const page1 = (await h.app.inject({ method: 'GET', url: '/fhir/_history?_count=3' })).json();
    assert.equal(page1.entry.length, 3);
    const next = page1.link.find((l: { relation: string }) => l.relation === 'next');
    assert.ok(next);
    const url = new URL(next.url);
    const page2 = (await h.app.inject({ method: 'GET', url: `/fhir/_history${url.search}` })).json();
    assert.equal(page2.entry.length, 1);
    assert.equal(
      page2.link.find((l: { relation: string }) => l.relation === 'next'),
      undefined,
    );
    const future = (
      await h.app.inject({
        method: 'GET',
        url: `/fhir/_history?_since=${encodeURIComponent('2999-01-01T00:00:00Z')}`,
      })
    ).json();
    assert.equal(future.entry.length, 0);
    const since = (
      await h.app.inject({ method: 'GET', url: `/fhir/_history?_since=${encodeURIComponent(start)}` })
    ).json();
    assert.equal(since.entry.length, 4);
  });
});
