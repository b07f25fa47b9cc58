import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { FHIR, fhirHarness, patient, type FhirHarness } from './harness.js';

const PATCH = { 'content-type': 'application/json-patch+json' };

describe('FHIR patch (JSON Patch)', () => {
  let h: FhirHarness;
  let id: string;
  before(async () => {
    h = await fhirHarness();
    id = (
      await h.app.inject({
        method: 'POST',
        url: '/fhir/Patient',
        headers: FHIR,
        payload: patient('Patchy', 'Pam', { active: true }),
      })
    ).json().id;
  });
  after(() => h.close());

  test('applies operations and stores a new version', async () => {
    const res = await h.app.inject({
      method: 'PATCH',
      url: `/fhir/Patient/${id}`,
      headers: PATCH,
      payload: [
        { op: 'test', path: '/active', value: true },
        { op: 'replace', path: '/active', value: false },
        { op: 'add', path: '/name/0/given/-', value: 'Q' },
        { op: 'add', path: '/gender', value: 'female' },
      ],
    });
    assert.equal(res.statusCode, 200, res.body);
    const body = res.json();
    assert.equal(body.active, false);
    assert.deepEqual(body.name[0].given, ['Pam', 'Q']);
    assert.equal(body.meta.versionId, '2');
    const found = await h.app.inject({ method: 'GET', url: '/fhir/Patient?given=q' });
    assert.equal(found.json().entry.length, 1);
  });

  test('a failing test operation is 422 and changes nothing', async () => {
    const res = await h.app.inject({
      method: 'PATCH',
      url: `/fhir/Patient/${id}`,
      headers: PATCH,
      payload: [
        { op: 'test', path: '/active', value: true },
        { op: 'remove', path: '/name' },
      ],
    });
    assert.equal(res.statusCode, 422);
    const read = await h.app.inject({ method: 'GET', url: `/fhir/Patient/${id}` });
    assert.ok(read.json().name);
  });

  test('a patch that makes the resource invalid is 422', async () => {
    const res = await h.app.inject({
      method: 'PATCH',
      url: `/fhir/Patient/${id}`,
      headers: PATCH,
      payload: [{ op: 'replace', path: '/gender', value: 17 }],
    });
    assert.equal(res.statusCode, 422);
    assert.deepEqual(res.json().issue[0].expression, ['Patient.gender']);
  });

  test('If-Match on a stale version is 412; a non-JSON-Patch body is 415; unknown id is 404', async () => {
    const stale = await h.app.inject({
      method: 'PATCH',
      url: `/fhir/Patient/${id}`,
      headers: { ...PATCH, 'if-match': 'W/"1"' },
      payload: [{ op: 'add', path: '/gender', value: 'male' }],
    });
    assert.equal(stale.statusCode, 412);
    const wrongType = await h.app.inject({
      method: 'PATCH',
      url: `/fhir/Patient/${id}`,
      headers: FHIR,
      payload: [{ op: 'add', path: '/gender', value: 'male' }],
    });
    assert.equal(wrongType.statusCode, 415);
    const missing = await h.app.inject({
      method: 'PATCH',
      url: '/fhir/Patient/nope',
      headers: PATCH,
      payload: [],
    });
    assert.equal(missing.statusCode, 404);
  });
});
