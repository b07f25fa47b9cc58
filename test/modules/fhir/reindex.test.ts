import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { INDEX_TABLES } from '../../../src/modules/fhir/schema.js';
import { reindexBatch, type ReindexPosition } from '../../../src/modules/fhir/store/reindex.js';
import { fhirHarness, patient, putResource, type FhirHarness } from './harness.js';

const LOINC = 'http://loinc.org';

describe('re-indexing stored resources', () => {
  let h: FhirHarness;
  const put = (resource: { resourceType: string; id: string; [key: string]: unknown }) =>
    putResource(h, resource);
  const weightSearch = async () => {
    const query = encodeURIComponent(`${LOINC}|29463-7$gt70`);
    const res = await h.app.inject({ method: 'GET', url: `/fhir/Observation?code-value-quantity=${query}` });
    return ((res.json() as { entry?: Array<{ resource: { id: string } }> }).entry ?? []).map(
      (e) => e.resource.id,
    );
  };
  /** Every index, compartment and organization row, as comparable text. */
  const snapshot = async () => {
    const out: string[] = [];
    for (const table of [...INDEX_TABLES, 'fhir_compartment', 'fhir_patient_organization']) {
      const { rows } = await h.db.query(`SELECT * FROM ${table}`);
      out.push(...rows.map((r) => `${table} ${JSON.stringify(r)}`));
    }
    return out.sort();
  };
  const reindexAll = async (batchSize: number) => {
    let total = 0;
    let position: ReindexPosition | null = null;
    do {
      const batch = await reindexBatch(h.rt, position, batchSize);
      total += batch.reindexed;
      position = batch.next;
    } while (position);
    return total;
  };

  before(async () => {
    h = await fhirHarness();
    await put({ resourceType: 'Organization', id: 'rx-org', name: 'Reindex Clinic' });
    await put({
      ...patient('Reindex', 'Rita'),
      id: 'rx-p',
      managingOrganization: { reference: 'Organization/rx-org' },
    });
    await put({
      resourceType: 'Observation',
      id: 'rx-weight',
      status: 'final',
      code: { coding: [{ system: LOINC, code: '29463-7' }] },
      subject: { reference: 'Patient/rx-p' },
      valueQuantity: { value: 80, system: 'http://unitsofmeasure.org', code: 'kg' },
    });
    await put({ resourceType: 'Organization', id: 'rx-gone', name: 'Closed Clinic' });
    const gone = await h.app.inject({ method: 'DELETE', url: '/fhir/Organization/rx-gone' });
    assert.equal(gone.statusCode < 300, true);
  });
  after(() => h.close());

  test('resources indexed before composites existed are found after a re-index', async () => {
    // What an older version wrote: no composite part rows.
    for (const table of INDEX_TABLES) await h.db.query(`DELETE FROM ${table} WHERE code LIKE '%$%'`);
    assert.deepEqual(await weightSearch(), []);
    // Batches of one walk every current resource; the deleted one is left alone.
    assert.equal(await reindexAll(1), 3);
    assert.deepEqual(await weightSearch(), ['rx-weight']);
  });

  test('re-indexing an up-to-date store changes nothing', async () => {
    const before = await snapshot();
    assert.ok(before.some((row) => row.startsWith('fhir_patient_organization')));
    assert.equal(await reindexAll(200), 3);
    assert.deepEqual(await snapshot(), before);
  });
});
