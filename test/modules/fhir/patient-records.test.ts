import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Resource } from 'fhir/r4.js';
import { IrisError } from '../../../src/platform/http/errors.js';
import { createFhirStore, type FhirStore } from '../../../src/modules/fhir/service.js';
import { SYSTEM_CONTEXT, type CallContext } from '../../../src/modules/fhir/store/context.js';
import { fhirHarness, immunization, patient, type FhirHarness } from './harness.js';

const CTX: CallContext = { ...SYSTEM_CONTEXT, requestId: 'records-test' };

const observation = (id: string, subject: string, performer?: string): Resource =>
  ({
    resourceType: 'Observation',
    id,
    status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] },
    subject: { reference: subject },
    ...(performer ? { performer: [{ reference: performer }] } : {}),
    valueQuantity: { value: 72, unit: '/min', system: 'http://unitsofmeasure.org', code: '/min' },
  }) as Resource;

async function statusOf(call: Promise<unknown>): Promise<number> {
  try {
    await call;
  } catch (error) {
    if (error instanceof IrisError) return error.statusCode;
    throw error;
  }
  return 200;
}

describe('FhirStore.patientRecords', () => {
  let h: FhirHarness;
  let store: FhirStore;
  before(async () => {
    h = await fhirHarness();
    store = createFhirStore(h.rt);
    const resources = [
      patient('Recordson', 'Ada', { id: 'rec-p1', birthDate: '2020-01-02' }),
      patient('Recordson', 'Ben', { id: 'rec-p2', birthDate: '2019-03-04' }),
      patient('Gonewell', 'Cy', { id: 'rec-gone', birthDate: '2018-05-06' }),
      immunization('rec-p1', '08', '2020-01-03', { id: 'rec-i2' }),
      immunization('rec-p1', '20', '2020-03-03', { id: 'rec-i1' }),
      immunization('rec-p1', '10', '2020-05-03', { id: 'rec-i3' }),
      immunization('rec-p2', '08', '2019-03-05', { id: 'rec-other' }),
      // rec-p1 performed it on rec-p2: in rec-p1's compartment, but not about rec-p1.
      observation('rec-o-performer', 'Patient/rec-p2', 'Patient/rec-p1'),
      observation('rec-o1', 'Patient/rec-p1'),
    ] as Resource[];
    await h.db.transaction((tx) => store.createMany(CTX, tx, resources));
    await h.db.transaction((tx) => store.delete(CTX, tx, 'Immunization', 'rec-i3'));
    await h.db.transaction((tx) => store.delete(CTX, tx, 'Patient', 'rec-gone'));
  });
  after(() => h.close());

  test('the patient and, per type, the current resources about them, by type then id', async () => {
    const records = await store.patientRecords(CTX, 'rec-p1', ['Immunization', 'Observation']);
    assert.equal(records.patient.resource.id, 'rec-p1');
    assert.equal(records.patient.versionId, '1');
    assert.deepEqual(
      records.resources.map((r) => `${r.resourceType}/${r.id}`),
      ['Immunization/rec-i1', 'Immunization/rec-i2', 'Observation/rec-o1'],
    );
  });

  test('answers what the per-type searches answer', async () => {
    for (const type of ['Immunization', 'Observation', 'Condition']) {
      const searched = (await store.search(CTX, type, { patient: 'Patient/rec-p1' })).map((r) => r.id).sort();
      const records = await store.patientRecords(CTX, 'rec-p1', [type]);
      assert.deepEqual(
        records.resources.map((r) => r.id),
        searched,
        type,
      );
    }
  });

  test('types not asked for are left out, and the limit applies to each type', async () => {
    const records = await store.patientRecords(CTX, 'rec-p1', ['Immunization', 'Observation'], 1);
    assert.deepEqual(
      records.resources.map((r) => r.id),
      ['rec-i1', 'rec-o1'],
    );
    const none = await store.patientRecords(CTX, 'rec-p1', []);
    assert.deepEqual(none.resources, []);
  });

  test('one audit entry names every patient whose records were read', async () => {
    const before = h.audit.entries.length;
    await store.patientRecords(CTX, 'rec-p1', ['Immunization', 'Observation']);
    const entries = h.audit.entries.slice(before);
    assert.equal(entries.length, 1);
    const [entry] = entries;
    assert.equal(entry?.action, 'fhir.search');
    assert.deepEqual(entry?.resource, { type: 'Patient', id: 'rec-p1', versionId: '1' });
    assert.deepEqual(entry?.patientIds, ['rec-p1']);
    assert.deepEqual(entry?.details, { types: ['Immunization', 'Observation'], matches: 3 });
  });

  test('an unknown patient is 404, a deleted one 410, one outside the scope 404', async () => {
    assert.equal(await statusOf(store.patientRecords(CTX, 'rec-nobody', ['Immunization'])), 404);
    assert.equal(await statusOf(store.patientRecords(CTX, 'rec-gone', ['Immunization'])), 410);
    const other: CallContext = {
      actor: { type: 'user', id: 'u1' },
      scope: { kind: 'patients', patientIds: ['rec-p2'] },
    };
    assert.equal(await statusOf(store.patientRecords(other, 'rec-p1', ['Immunization'])), 404);
    const own = await store.patientRecords(other, 'rec-p2', ['Immunization', 'Observation']);
    assert.deepEqual(
      own.resources.map((r) => r.id),
      ['rec-other', 'rec-o-performer'],
    );
  });
});
