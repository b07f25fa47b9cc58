import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { FHIR, fhirHarness, patient, type FhirHarness } from './harness.js';

describe('FHIR delete', () => {
  let h: FhirHarness;
  before(async () => {
    h = await fhirHarness();
  });
  after(() => h.close());

  const create = async (family: string) =>
    (
      await h.app.inject({
        method: 'POST',
        url: '/fhir/Patient',
        headers: FHIR,
        payload: patient(family, 'D'),
      })
    ).json();

  test('delete stores a deleted version: read is 410, vread of the old version still works', async () => {
    const p = await create('Gone');
    const del = await h.app.inject({ method: 'DELETE', url: `/fhir/Patient/${p.id}` });
    assert.equal(del.statusCode, 204);
    assert.equal(del.headers.etag, 'W/"2"');
    const read = await h.app.inject({ method: 'GET', url: `/fhir/Patient/${p.id}` });
    assert.equal(read.statusCode, 410);
    assert.equal(read.json().issue[0].code, 'deleted');
    const old = await h.app.inject({ method: 'GET', url: `/fhir/Patient/${p.id}/_history/1` });
    assert.equal(old.statusCode, 200);
    const search = await h.app.inject({ method: 'GET', url: '/fhir/Patient?family=gone' });
    assert.equal(search.json().entry.length, 0);
    assert.ok(h.events.events.some((e) => e.type === 'patient.deleted' && e.aggregate.id === p.id));
  });

  test('deleting again or deleting an unknown id is a no-op 204', async () => {
    const p = await create('Twice');
    await h.app.inject({ method: 'DELETE', url: `/fhir/Patient/${p.id}` });
    const again = await h.app.inject({ method: 'DELETE', url: `/fhir/Patient/${p.id}` });
    assert.equal(again.statusCode, 204);
    const history = await h.app.inject({ method: 'GET', url: `/fhir/Patient/${p.id}/_history` });
    assert.equal(history.json().entry.length, 2);
  });

  test('a deleted resource can be brought back by update (new version)', async () => {
    const p = await create('Phoenix');
    await h.app.inject({ method: 'DELETE', url: `/fhir/Patient/${p.id}` });
    const back = await h.app.inject({
      method: 'PUT',
      url: `/fhir/Patient/${p.id}`,
      headers: FHIR,
      payload: p,
    });
    assert.equal(back.statusCode, 201);
    assert.equal(back.json().meta.versionId, '3');
  });

  test('conditional delete removes the single match; several matches are 412', async () => {
    await create('Single');
    const one = await h.app.inject({ method: 'DELETE', url: '/fhir/Patient?family=Single' });
    assert.equal(one.statusCode, 204);
    const left = await h.app.inject({ method: 'GET', url: '/fhir/Patient?family=Single' });
    assert.equal(left.json().entry.length, 0);
    await create('Double');
    await create('Double');
    const two = await h.app.inject({ method: 'DELETE', url: '/fhir/Patient?family=Double' });
    assert.equal(two.statusCode, 412);
  });

  test('If-Match on a stale version is 412', async () => {
    const p = await create('Guarded');
    await h.app.inject({
      method: 'PUT',
      url: `/fhir/Patient/${p.id}`,
      headers: FHIR,
      payload: { ...p, gender: 'male' },
    });
    const res = await h.app.inject({
      method: 'DELETE',
      url: `/fhir/Patient/${p.id}`,
      headers: { 'if-match': 'W/"1"' },
    });
    assert.equal(res.statusCode, 412);
  });
});
