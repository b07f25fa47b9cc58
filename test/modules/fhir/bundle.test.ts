import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { FHIR, fhirHarness, immunization, patient, type FhirHarness } from './harness.js';

const URN_PAT = 'urn:uuid:6f1c1a52-1c8e-4c36-9b0f-3d1b5a0c9e11';

describe('FHIR batch and transaction bundles', () => {
  let h: FhirHarness;
  before(async () => {
    h = await fhirHarness();
  });
  after(() => h.close());

  const postBundle = (bundle: object, headers: Record<string, string> = {}) =>
    h.app.inject({ method: 'POST', url: '/fhir', headers: { ...FHIR, ...headers }, payload: bundle });
  const count = async (table: string) =>
    (await h.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`)).rows[0]?.n ?? 0;

  test('a transaction resolves urn:uuid references to the assigned ids', async () => {
    const res = await postBundle({
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        {
          request: { method: 'POST', url: 'Immunization' },
          resource: { ...immunization('x'), patient: { reference: URN_PAT } },
        },
        { fullUrl: URN_PAT, request: { method: 'POST', url: 'Patient' }, resource: patient('Trans', 'Tina') },
      ],
    });
    assert.equal(res.statusCode, 200, res.body);
    const body = res.json();
    assert.equal(body.type, 'transaction-response');
    assert.equal(body.entry[0].response.status, '201 Created');
    const patientId = body.entry[1].resource.id;
    assert.equal(body.entry[0].resource.patient.reference, `Patient/${patientId}`);
    assert.match(body.entry[1].response.location, new RegExp(`^Patient/${patientId}/_history/1$`));
    const search = await h.app.inject({ method: 'GET', url: `/fhir/Immunization?patient=${patientId}` });
    assert.equal(search.json().entry.length, 1);
  });

  test('a transaction is all or nothing: one invalid entry stores nothing and names the entry', async () => {
    const before = await count('fhir_resource_history');
    const res = await postBundle({
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        { request: { method: 'POST', url: 'Patient' }, resource: patient('Atomic', 'A') },
        { request: { method: 'POST', url: 'Immunization' }, resource: immunization('p', '00000') },
      ],
    });
    assert.equal(res.statusCode, 422);
    assert.match(res.json().issue[0].expression[0], /^Bundle\.entry\[1\]\.resource/);
    assert.equal(await count('fhir_resource_history'), before);
  });

  test('entries run in the order DELETE, POST, PUT, GET whatever their order in the bundle', async () => {
    const existing = (
      await h.app.inject({
        method: 'POST',
        url: '/fhir/Patient',
        headers: FHIR,
        payload: patient('Order', 'Old'),
      })
    ).json();
    const res = await postBundle({
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        { request: { method: 'GET', url: 'Patient?family=order' } },
        {
          request: { method: 'PUT', url: 'Patient/order-put' },
          resource: { ...patient('Order', 'Put'), id: 'order-put' },
        },
        { request: { method: 'POST', url: 'Patient' }, resource: patient('Order', 'New') },
        { request: { method: 'DELETE', url: `Patient/${existing.id}` } },
      ],
    });
    assert.equal(res.statusCode, 200, res.body);
    const entries = res.json().entry;
    assert.equal(entries[3].response.status, '204 No Content');
    const searchset = entries[0].resource;
    const given = searchset.entry
      .map((e: { resource: { name: Array<{ given: string[] }> } }) => e.resource.name[0]?.given[0])
      .sort();
    assert.deepEqual(given, ['New', 'Put']);
  });

  test('conditional create and conditional references inside a transaction', async () => {
    await h.app.inject({
      method: 'POST',
      url: '/fhir/Patient',
      headers: FHIR,
      payload: patient('Known', 'K', { identifier: [{ system: 'urn:mrn', value: 'K-1' }] }),
    });
    const res = await postBundle({
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        {
          fullUrl: 'urn:uuid:0a1b2c3d-0000-4000-8000-000000000001',
          request: { method: 'POST', url: 'Patient', ifNoneExist: 'identifier=urn:mrn|K-1' },
          resource: patient('Known', 'K', { identifier: [{ system: 'urn:mrn', value: 'K-1' }] }),
        },
        {
          request: { method: 'POST', url: 'Immunization' },
          resource: {
            ...immunization('x'),
            patient: { reference: 'urn:uuid:0a1b2c3d-0000-4000-8000-000000000001' },
          },
        },
        {
          request: { method: 'POST', url: 'Immunization' },
          resource: { ...immunization('x', '08'), patient: { reference: 'Patient?identifier=urn:mrn|K-1' } },
        },
      ],
    });
    assert.equal(res.statusCode, 200, res.body);
    const entries = res.json().entry;
    assert.equal(entries[0].response.status, '200 OK');
    const pid = entries[0].fullUrl.split('/').pop();
    assert.equal(entries[1].resource.patient.reference, `Patient/${pid}`);
    assert.equal(entries[2].resource.patient.reference, `Patient/${pid}`);
    const total = await h.app.inject({
      method: 'GET',
      url: '/fhir/Patient?identifier=urn:mrn|K-1&_total=accurate',
    });
    assert.equal(total.json().total, 1);
  });

  test('a batch runs entries independently and reports each failure in its entry', async () => {
    const res = await postBundle({
      resourceType: 'Bundle',
      type: 'batch',
      entry: [
        { request: { method: 'POST', url: 'Patient' }, resource: patient('Batch', 'Ok') },
        { request: { method: 'POST', url: 'Patient' }, resource: { resourceType: 'Patient', gender: 12 } },
        { request: { method: 'GET', url: 'Patient/does-not-exist' } },
      ],
    });
    assert.equal(res.statusCode, 200);
    const entries = res.json().entry;
    assert.equal(res.json().type, 'batch-response');
    assert.equal(entries[0].response.status, '201 Created');
    assert.equal(entries[1].response.status, '422');
    assert.equal(entries[1].response.outcome.resourceType, 'OperationOutcome');
    assert.equal(entries[2].response.status, '404');
  });

  test('anything but a batch or transaction Bundle is 400', async () => {
    const res = await postBundle({ resourceType: 'Bundle', type: 'collection', entry: [] });
    assert.equal(res.statusCode, 400);
  });
});
