import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { FHIR, fhirHarness, immunization, patient, type FhirHarness } from './harness.js';

describe('FHIR write events and audit name the patients concerned', () => {
  let h: FhirHarness;
  let ann = '';
  let ben = '';
  let dose = '';

  before(async () => {
    h = await fhirHarness();
    const add = async (family: string) =>
      (
        await h.app.inject({
          method: 'POST',
          url: '/fhir/Patient',
          headers: FHIR,
          payload: patient(family, 'E'),
        })
      ).json().id as string;
    ann = await add('Ann');
    ben = await add('Ben');
  });
  after(() => h.close());

  const eventOf = (type: string) =>
    h.events.events.findLast((e) => e.type === type && e.aggregate.id === dose);
  const auditOf = (action: string) =>
    h.audit.entries.findLast((e) => e.action === action && e.resource?.id === dose);

  test('create names the new patient', async () => {
    const res = await h.app.inject({
      method: 'POST',
      url: '/fhir/Immunization',
      headers: FHIR,
      payload: immunization(ann),
    });
    assert.equal(res.statusCode, 201, res.body);
    dose = res.json().id;
    assert.deepEqual(eventOf('immunization.recorded')?.payload, {
      resourceType: 'Immunization',
      id: dose,
      versionId: '1',
      patientIds: [ann],
    });
    assert.deepEqual(auditOf('fhir.create')?.patientIds, [ann]);
  });

  test('an update that keeps the patient names it once', async () => {
    const res = await h.app.inject({
      method: 'PUT',
      url: `/fhir/Immunization/${dose}`,
      headers: FHIR,
      payload: { ...immunization(ann, '208', '2021-04-02'), id: dose },
    });
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual(eventOf('immunization.updated')?.payload.patientIds, [ann]);
    assert.deepEqual(auditOf('fhir.update')?.patientIds, [ann]);
  });

  test('an update that moves the dose to another patient names the old and the new patient', async () => {
    const res = await h.app.inject({
      method: 'PUT',
      url: `/fhir/Immunization/${dose}`,
      headers: FHIR,
      payload: { ...immunization(ben, '208', '2021-04-02'), id: dose },
    });
    assert.equal(res.statusCode, 200, res.body);
    const event = eventOf('immunization.updated');
    assert.equal(event?.payload.versionId, '3');
    assert.deepEqual(event?.payload.patientIds, [ann, ben]);
    assert.deepEqual(auditOf('fhir.update')?.patientIds, [ann, ben]);
  });

  test('delete names the patient the dose belonged to, in the event and the audit entry', async () => {
    const res = await h.app.inject({ method: 'DELETE', url: `/fhir/Immunization/${dose}` });
    assert.equal(res.statusCode, 204, res.body);
    assert.deepEqual(eventOf('immunization.deleted')?.payload, {
      resourceType: 'Immunization',
      id: dose,
      versionId: '4',
      patientIds: [ben],
    });
    const entry = auditOf('fhir.delete');
    assert.equal(entry?.inTransaction, true);
    assert.deepEqual(entry?.patientIds, [ben]);
  });

  test('bringing a deleted dose back names only its new patient', async () => {
    const res = await h.app.inject({
      method: 'PUT',
      url: `/fhir/Immunization/${dose}`,
      headers: FHIR,
      payload: { ...immunization(ann), id: dose },
    });
    assert.equal(res.statusCode, 201, res.body);
    assert.deepEqual(eventOf('immunization.recorded')?.payload.patientIds, [ann]);
  });
});
