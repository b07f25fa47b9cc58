import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { BASE, FHIR, fhirHarness, patient, type FhirHarness } from './harness.js';

describe('FHIR update', () => {
  let h: FhirHarness;
  before(async () => {
    h = await fhirHarness();
  });
  after(() => h.close());

  async function create(family: string, extra: Record<string, unknown> = {}) {
    return (
      await h.app.inject({
        method: 'POST',
        url: '/fhir/Patient',
        headers: FHIR,
        payload: patient(family, 'U', extra),
      })
    ).json();
  }

  test('update makes version 2 (200) and publishes patient.updated', async () => {
    const p = await create('Before');
    const res = await h.app.inject({
      method: 'PUT',
      url: `/fhir/Patient/${p.id}`,
      headers: FHIR,
      payload: { ...p, gender: 'male' },
    });
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.json().meta.versionId, '2');
    assert.equal(res.headers.etag, 'W/"2"');
    assert.equal(res.headers.location, `${BASE}/Patient/${p.id}/_history/2`);
    assert.ok(h.events.events.some((e) => e.type === 'patient.updated' && e.aggregate.id === p.id));
    const read = await h.app.inject({ method: 'GET', url: `/fhir/Patient/${p.id}` });
    assert.equal(read.json().gender, 'male');
  });

  test('update of an unknown id creates it with that id (201)', async () => {
    const res = await h.app.inject({
      method: 'PUT',
      url: '/fhir/Patient/chosen-id-1',
      headers: FHIR,
      payload: { ...patient('Chosen', 'C'), id: 'chosen-id-1' },
    });
    assert.equal(res.statusCode, 201);
    assert.equal(res.json().id, 'chosen-id-1');
    assert.equal(res.json().meta.versionId, '1');
  });

  test('the body id must equal the URL id', async () => {
    const res = await h.app.inject({
      method: 'PUT',
      url: '/fhir/Patient/a1',
      headers: FHIR,
      payload: { ...patient('X', 'Y'), id: 'b2' },
    });
    assert.equal(res.statusCode, 400);
  });

  test('If-Match with the current version succeeds; a stale version is 412', async () => {
    const p = await create('Match');
    const ok = await h.app.inject({
      method: 'PUT',
      url: `/fhir/Patient/${p.id}`,
      headers: { ...FHIR, 'if-match': 'W/"1"' },
      payload: { ...p, gender: 'other' },
    });
    assert.equal(ok.statusCode, 200);
    const stale = await h.app.inject({
      method: 'PUT',
      url: `/fhir/Patient/${p.id}`,
      headers: { ...FHIR, 'if-match': 'W/"1"' },
      payload: { ...p, gender: 'female' },
    });
    assert.equal(stale.statusCode, 412);
    assert.equal(stale.json().resourceType, 'OperationOutcome');
    const read = await h.app.inject({ method: 'GET', url: `/fhir/Patient/${p.id}` });
    assert.equal(read.json().gender, 'other');
  });

  test('conditional update: no match creates, one match updates, several matches are 412', async () => {
    const created = await h.app.inject({
      method: 'PUT',
      url: '/fhir/Patient?identifier=urn:mrn|CU-1',
      headers: FHIR,
      payload: patient('Cond', 'Upd', { identifier: [{ system: 'urn:mrn', value: 'CU-1' }] }),
    });
    assert.equal(created.statusCode, 201);
    const id = created.json().id;
    const updated = await h.app.inject({
      method: 'PUT',
      url: '/fhir/Patient?identifier=urn:mrn|CU-1',
      headers: FHIR,
      payload: patient('Cond', 'Updated', { identifier: [{ system: 'urn:mrn', value: 'CU-1' }] }),
    });
    assert.equal(updated.statusCode, 200);
    assert.equal(updated.json().id, id);
    assert.equal(updated.json().meta.versionId, '2');
    await create('Many');
    await create('Many');
    const several = await h.app.inject({
      method: 'PUT',
      url: '/fhir/Patient?family=Many',
      headers: FHIR,
      payload: patient('Many', 'X'),
    });
    assert.equal(several.statusCode, 412);
  });

  test('invalid content is refused and the stored version is unchanged', async () => {
    const p = await create('Valid');
    const res = await h.app.inject({
      method: 'PUT',
      url: `/fhir/Patient/${p.id}`,
      headers: FHIR,
      payload: { ...p, gender: 42 },
    });
    assert.equal(res.statusCode, 422);
    const read = await h.app.inject({ method: 'GET', url: `/fhir/Patient/${p.id}` });
    assert.equal(read.json().meta.versionId, '1');
  });

  test('an update that changes nothing keeps the current version', async () => {
    const p = await create('Same');
    const res = await h.app.inject({
      method: 'PUT',
      url: `/fhir/Patient/${p.id}`,
      headers: FHIR,
      payload: p,
    });
    assert.equal(res.statusCode, 200);
    assert.equal(res.json().meta.versionId, '1');
    const history = await h.app.inject({ method: 'GET', url: `/fhir/Patient/${p.id}/_history` });
    assert.equal(history.json().entry.length, 1);
  });

  test('the same content in another key order is no change; a same-length change is one', async () => {
    const p = await create('Order');
    const reordered = Object.fromEntries(Object.entries(p).reverse());
    const same = await h.app.inject({
      method: 'PUT',
      url: `/fhir/Patient/${p.id}`,
      headers: FHIR,
      payload: reordered,
    });
    assert.equal(same.statusCode, 200);
    assert.equal(same.json().meta.versionId, '1');
    // One letter of the name changed: serialised, both versions are exactly as long.
    const renamed = structuredClone(p);
    renamed.name[0].family = 'Ordes';
    assert.equal(JSON.stringify(renamed).length, JSON.stringify(p).length);
    const changed = await h.app.inject({
      method: 'PUT',
      url: `/fhir/Patient/${p.id}`,
      headers: FHIR,
      payload: renamed,
    });
    assert.equal(changed.statusCode, 200);
    assert.equal(changed.json().meta.versionId, '2');
    assert.equal(changed.json().name[0].family, 'Ordes');
  });
});
