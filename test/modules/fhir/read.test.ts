import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { FHIR, fhirHarness, patient, type FhirHarness } from './harness.js';

describe('FHIR read', () => {
  let h: FhirHarness;
  let id: string;
  before(async () => {
    h = await fhirHarness();
    const res = await h.app.inject({
      method: 'POST',
      url: '/fhir/Patient',
      headers: FHIR,
      payload: patient('Reader', 'Rita', {
        gender: 'female',
        birthDate: '1990-02-03',
        text: { status: 'generated', div: '<div xmlns="http://www.w3.org/1999/xhtml">Rita</div>' },
      }),
    });
    id = res.json().id;
  });
  after(() => h.close());

  test('returns the current version with ETag, Last-Modified and the FHIR media type', async () => {
    const res = await h.app.inject({ method: 'GET', url: `/fhir/Patient/${id}` });
    assert.equal(res.statusCode, 200);
    assert.match(res.headers['content-type'] as string, /^application\/fhir\+json/);
    assert.equal(res.headers.etag, 'W/"1"');
    assert.equal(
      new Date(res.headers['last-modified'] as string).toUTCString(),
      res.headers['last-modified'],
    );
    const body = res.json();
    assert.equal(body.id, id);
    assert.equal(body.birthDate, '1990-02-03');
    assert.equal(body.meta.versionId, '1');
  });

  test('audits the read with the patient id, outside any transaction', async () => {
    await h.app.inject({ method: 'GET', url: `/fhir/Patient/${id}` });
    const entry = h.audit.entries.findLast((e) => e.action === 'fhir.read');
    assert.ok(entry);
    assert.deepEqual(entry.patientIds, [id]);
    assert.equal(entry.inTransaction, false);
    assert.deepEqual(entry.resource, { type: 'Patient', id, versionId: '1' });
  });

  test('an unknown id is 404 and an unknown type is 404, both as OperationOutcome', async () => {
    const missing = await h.app.inject({ method: 'GET', url: '/fhir/Patient/does-not-exist' });
    assert.equal(missing.statusCode, 404);
    assert.equal(missing.json().resourceType, 'OperationOutcome');
    assert.equal(missing.json().issue[0].code, 'not-found');
    const badType = await h.app.inject({ method: 'GET', url: '/fhir/Spaceship/1' });
    assert.equal(badType.statusCode, 404);
  });

  test('_summary=text keeps text, id, meta and mandatory elements and marks the result SUBSETTED', async () => {
    const res = await h.app.inject({ method: 'GET', url: `/fhir/Patient/${id}?_summary=text` });
    const body = res.json();
    assert.ok(body.text);
    assert.equal(body.name, undefined);
    assert.ok(body.meta.tag.some((t: { code: string }) => t.code === 'SUBSETTED'));
  });

  test('_summary=data drops the narrative; _summary=true keeps summary elements only', async () => {
    const data = (await h.app.inject({ method: 'GET', url: `/fhir/Patient/${id}?_summary=data` })).json();
    assert.equal(data.text, undefined);
    assert.equal(data.gender, 'female');
    const summary = (await h.app.inject({ method: 'GET', url: `/fhir/Patient/${id}?_summary=true` })).json();
    assert.equal(summary.text, undefined);
    assert.equal(summary.birthDate, '1990-02-03');
  });

  test('_elements keeps the listed top-level elements', async () => {
    const body = (await h.app.inject({ method: 'GET', url: `/fhir/Patient/${id}?_elements=gender` })).json();
    assert.equal(body.gender, 'female');
    assert.equal(body.name, undefined);
    assert.equal(body.birthDate, undefined);
    assert.equal(body.id, id);
  });

  test('JSON formats are served; XML or Turtle through Accept or _format get 406', async () => {
    for (const accept of [
      'application/fhir+json',
      'application/json',
      '*/*',
      'application/fhir+json; fhirVersion=4.0',
    ]) {
      const ok = await h.app.inject({ method: 'GET', url: `/fhir/Patient/${id}`, headers: { accept } });
      assert.equal(ok.statusCode, 200, accept);
    }
    for (const format of ['json', 'application/fhir+json']) {
      const ok = await h.app.inject({
        method: 'GET',
        url: `/fhir/Patient/${id}?_format=${encodeURIComponent(format)}`,
      });
      assert.equal(ok.statusCode, 200, format);
    }
    const xml = await h.app.inject({
      method: 'GET',
      url: `/fhir/Patient/${id}`,
      headers: { accept: 'application/fhir+xml' },
    });
    assert.equal(xml.statusCode, 406);
    assert.equal(xml.json().resourceType, 'OperationOutcome');
    const ttl = await h.app.inject({ method: 'GET', url: `/fhir/Patient/${id}?_format=ttl` });
    assert.equal(ttl.statusCode, 406);
    const xmlFormat = await h.app.inject({
      method: 'GET',
      url: `/fhir/Patient/${id}?_format=xml`,
      headers: { accept: 'application/json' },
    });
    assert.equal(xmlFormat.statusCode, 406);
  });
});
