import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { FHIR, fhirHarness, immunization, patient, type FhirHarness } from './harness.js';

describe('Patient/$everything', () => {
  let h: FhirHarness;
  let pid: string;
  let other: string;
  before(async () => {
    h = await fhirHarness();
    pid = (
      await h.app.inject({
        method: 'POST',
        url: '/fhir/Patient',
        headers: FHIR,
        payload: patient('Every', 'Thing'),
      })
    ).json().id;
    other = (
      await h.app.inject({
        method: 'POST',
        url: '/fhir/Patient',
        headers: FHIR,
        payload: patient('Other', 'One'),
      })
    ).json().id;
    for (const cvx of ['08', '208', '20']) {
      await h.app.inject({
        method: 'POST',
        url: '/fhir/Immunization',
        headers: FHIR,
        payload: immunization(pid, cvx),
      });
    }
    await h.app.inject({
      method: 'POST',
      url: '/fhir/Immunization',
      headers: FHIR,
      payload: immunization(other),
    });
    await h.app.inject({
      method: 'POST',
      url: '/fhir/AllergyIntolerance',
      headers: FHIR,
      payload: {
        resourceType: 'AllergyIntolerance',
        clinicalStatus: {
          coding: [
            { system: 'http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical', code: 'active' },
          ],
        },
        patient: { reference: `Patient/${pid}` },
        code: { text: 'peanut' },
      },
    });
  });
  after(() => h.close());

  test('returns the patient and every resource of its compartment, nothing of others', async () => {
    const bundle = (await h.app.inject({ method: 'GET', url: `/fhir/Patient/${pid}/$everything` })).json();
    const types = bundle.entry
      .map((e: { resource: { resourceType: string } }) => e.resource.resourceType)
      .sort();
    assert.deepEqual(types, [
      'AllergyIntolerance',
      'Immunization',
      'Immunization',
      'Immunization',
      'Patient',
    ]);
  });

  test('_type filters, _count pages with a next link', async () => {
    const only = (
      await h.app.inject({ method: 'GET', url: `/fhir/Patient/${pid}/$everything?_type=Immunization` })
    ).json();
    assert.equal(only.entry.length, 3);
    const page = (
      await h.app.inject({ method: 'GET', url: `/fhir/Patient/${pid}/$everything?_count=2` })
    ).json();
    assert.equal(page.entry.length, 2);
    const next = page.link.find((l: { relation: string }) => l.relation === 'next');
    const rest = (
      await h.app.inject({
        method: 'GET',
        url: `/fhir/Patient/${pid}/$everything${new URL(next.url).search}`,
      })
    ).json();
    assert.equal(rest.entry.length, 2);
    const since = (
      await h.app.inject({
        method: 'GET',
        url: `/fhir/Patient/${pid}/$everything?_since=2999-01-01T00:00:00Z`,
      })
    ).json();
    assert.equal(since.entry.length, 0);
  });

  test('an unknown patient is 404', async () => {
    const res = await h.app.inject({ method: 'GET', url: '/fhir/Patient/nobody/$everything' });
    assert.equal(res.statusCode, 404);
  });
});
