import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { keysInUse, rewrapBatch } from '../../../src/modules/fhir/store/rewrap.js';
import { FHIR, fhirHarness, patient, type FhirHarness } from './harness.js';

describe('key-encryption key rotation and re-wrap', () => {
  let h: FhirHarness;
  before(async () => {
    h = await fhirHarness();
  });
  after(() => h.close());

  test('records move to the new key in batches and stay readable throughout', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await h.app.inject({
        method: 'POST',
        url: '/fhir/Patient',
        headers: FHIR,
        payload: patient(`Rot${i}`, 'R'),
      });
      ids.push(res.json().id);
    }
    const oldKid = h.keyring.active('data-encryption').kid;
    const newKey = await h.keyring.rotate('data-encryption');
    assert.deepEqual(await keysInUse(h.rt), [oldKid]);
    assert.equal(await rewrapBatch(h.rt, 2), 4);
    const mixed = await keysInUse(h.rt);
    assert.deepEqual(mixed.sort(), [newKey.kid, oldKid].sort());
    for (const id of ids) {
      const res = await h.app.inject({ method: 'GET', url: `/fhir/Patient/${id}` });
      assert.equal(res.statusCode, 200);
    }
    let moved = 0;
    for (let n = await rewrapBatch(h.rt, 2); n > 0; n = await rewrapBatch(h.rt, 2)) moved += n;
    assert.equal(moved, 6);
    assert.deepEqual(await keysInUse(h.rt), [newKey.kid]);
    const history = await h.app.inject({ method: 'GET', url: `/fhir/Patient/${ids[0]}/_history/1` });
    assert.equal(history.statusCode, 200);
  });
});
