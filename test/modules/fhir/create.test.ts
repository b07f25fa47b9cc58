import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { BASE, FHIR, fhirHarness, immunization, patient, type FhirHarness } from './harness.js';

describe('FHIR create', () => {
  let h: FhirHarness;
  before(async () => {
    h = await fhirHarness();
  });
  after(() => h.close());

  test('201 with Location [base]/Type/id/_history/vid, ETag and Last-Modified; server-owned meta', async () => {
    const res = await h.app.inject({
      method: 'POST',
      url: '/fhir/Patient',
      headers: FHIR,
      payload: patient('Smith', 'Ann', {
        id: 'client-chosen',
        meta: { versionId: '99', lastUpdated: '2000-01-01T00:00:00Z' },
      }),
    });
    assert.equal(res.statusCode, 201, res.body);
    const body = res.json();
    assert.notEqual(body.id, 'client-chosen');
    assert.equal(body.meta.versionId, '1');
    assert.notEqual(body.meta.lastUpdated, '2000-01-01T00:00:00Z');
    assert.equal(res.headers.location, `${BASE}/Patient/${body.id}/_history/1`);
    assert.equal(res.headers.etag, 'W/"1"');
    assert.equal(res.headers['last-modified'], new Date(body.meta.lastUpdated).toUTCString());
  });

  test('the write is audited and publishes patient.created inside the transaction', async () => {
    const res = await h.app.inject({
      method: 'POST',
      url: '/fhir/Patient',
      headers: FHIR,
      payload: patient('Evt', 'Eve'),
    });
    const id = res.json().id;
    const entry = h.audit.entries.find((e) => e.action === 'fhir.create' && e.resource?.id === id);
    assert.ok(entry);
    assert.equal(entry.inTransaction, true);
    assert.deepEqual(entry.patientIds, [id]);
    const event = h.events.events.find((e) => e.aggregate.id === id);
    assert.equal(event?.type, 'patient.created');
    assert.deepEqual(event?.payload, { resourceType: 'Patient', id, versionId: '1', patientIds: [id] });
  });

  test('a new Immunization publishes immunization.recorded', async () => {
    const p = (
      await h.app.inject({
        method: 'POST',
        url: '/fhir/Patient',
        headers: FHIR,
        payload: patient('Vax', 'Val'),
      })
    ).json();
    const res = await h.app.inject({
      method: 'POST',
      url: '/fhir/Immunization',
      headers: FHIR,
      payload: immunization(p.id),
    });
    assert.equal(res.statusCode, 201, res.body);
    const event = h.events.events.find((e) => e.aggregate.id === res.json().id);
    assert.equal(event?.type, 'immunization.recorded');
    assert.deepEqual((event?.payload as { patientIds: string[] }).patientIds, [p.id]);
  });

  test('invalid content is 422 with FHIRPath locations, and nothing is stored', async () => {
    const before = await h.db.query<{ n: number }>('SELECT count(*)::int AS n FROM fhir_resource_history');
    const res = await h.app.inject({
      method: 'POST',
      url: '/fhir/Patient',
      headers: FHIR,
      payload: { resourceType: 'Patient', birthDate: '1980-13-45', name: [{ family: 7 }] },
    });
    assert.equal(res.statusCode, 422);
    const outcome = res.json();
    assert.equal(outcome.resourceType, 'OperationOutcome');
    const paths = outcome.issue.map((i: { expression: string[] }) => i.expression[0]).sort();
    assert.deepEqual(paths, ['Patient.birthDate', 'Patient.name[0].family']);
    const afterCount = await h.db.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM fhir_resource_history',
    );
    assert.equal(afterCount.rows[0]?.n, before.rows[0]?.n);
  });

  test('an Immunization needs an existing CVX code', async () => {
    const unknown = await h.app.inject({
      method: 'POST',
      url: '/fhir/Immunization',
      headers: FHIR,
      payload: immunization('p1', '99999'),
    });
    assert.equal(unknown.statusCode, 422);
    assert.deepEqual(unknown.json().issue[0].expression, ['Immunization.vaccineCode.coding[0].code']);
    const noCvx = immunization('p1');
    noCvx.vaccineCode = { coding: [{ system: 'http://snomed.info/sct', code: '1119349007' }] };
    const missing = await h.app.inject({
      method: 'POST',
      url: '/fhir/Immunization',
      headers: FHIR,
      payload: noCvx,
    });
    assert.equal(missing.statusCode, 422);
    assert.match(missing.json().issue[0].diagnostics, /CVX/);
  });

  test('a body of another type than the URL is 400', async () => {
    const res = await h.app.inject({
      method: 'POST',
      url: '/fhir/Observation',
      headers: FHIR,
      payload: patient('X', 'Y'),
    });
    assert.equal(res.statusCode, 400);
  });

  test('Prefer: return=minimal sends no body; return=OperationOutcome sends an outcome', async () => {
    const minimal = await h.app.inject({
      method: 'POST',
      url: '/fhir/Patient',
      headers: { ...FHIR, prefer: 'return=minimal' },
      payload: patient('Min', 'Max'),
    });
    assert.equal(minimal.statusCode, 201);
    assert.equal(minimal.body, '');
    assert.ok(minimal.headers.location);
    const outcome = await h.app.inject({
      method: 'POST',
      url: '/fhir/Patient',
      headers: { ...FHIR, prefer: 'return=OperationOutcome' },
      payload: patient('Oo', 'Out'),
    });
    assert.equal(outcome.statusCode, 201);
    assert.equal(outcome.json().resourceType, 'OperationOutcome');
    assert.equal(outcome.json().issue[0].severity, 'information');
  });

  test('If-None-Exist returns the existing match (200) instead of creating another', async () => {
    const headers = { ...FHIR, 'if-none-exist': 'identifier=urn:mrn|C-1' };
    const body = patient('Cond', 'Carl', { identifier: [{ system: 'urn:mrn', value: 'C-1' }] });
    const first = await h.app.inject({ method: 'POST', url: '/fhir/Patient', headers, payload: body });
    assert.equal(first.statusCode, 201);
    const second = await h.app.inject({ method: 'POST', url: '/fhir/Patient', headers, payload: body });
    assert.equal(second.statusCode, 200);
    assert.equal(second.json().id, first.json().id);
  });

  test('64 parallel identical conditional creates make exactly one resource', async () => {
    const headers = { ...FHIR, 'if-none-exist': 'identifier=urn:mrn|PAR-64' };
    const body = patient('Parallel', 'Pat', { identifier: [{ system: 'urn:mrn', value: 'PAR-64' }] });
    const answers = await Promise.all(
      Array.from({ length: 64 }, () =>
        h.app.inject({ method: 'POST', url: '/fhir/Patient', headers, payload: body }),
      ),
    );
    const created = answers.filter((a) => a.statusCode === 201);
    const found = answers.filter((a) => a.statusCode === 200);
    assert.equal(created.length, 1);
    assert.equal(found.length, 63);
    assert.ok(found.every((a) => a.json().id === created[0]?.json().id));
    const search = await h.app.inject({
      method: 'GET',
      url: '/fhir/Patient?identifier=urn:mrn|PAR-64&_total=accurate',
    });
    assert.equal(search.json().total, 1);
  });

  test('If-None-Exist matching several resources is 412', async () => {
    for (const given of ['One', 'Two']) {
      await h.app.inject({
        method: 'POST',
        url: '/fhir/Patient',
        headers: FHIR,
        payload: patient('Twin', given),
      });
    }
    const res = await h.app.inject({
      method: 'POST',
      url: '/fhir/Patient',
      headers: { ...FHIR, 'if-none-exist': 'family=Twin' },
      payload: patient('Twin', 'Three'),
    });
    assert.equal(res.statusCode, 412);
  });
});
