import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { fhirHarness, putResource, type FhirHarness } from './harness.js';

function location(id: string, latitude?: number, longitude?: number) {
  return {
    resourceType: 'Location',
    id,
    name: id,
    ...(latitude === undefined ? {} : { position: { latitude, longitude } }),
  };
}

describe('FHIR search: Location near', () => {
  let h: FhirHarness;
  const near = async (value: string): Promise<string[]> => {
    const res = await h.app.inject({
      method: 'GET',
      url: `/fhir/Location?near=${encodeURIComponent(value)}`,
    });
    assert.equal(res.statusCode, 200, `${value}: ${res.body}`);
    return ((res.json() as { entry?: Array<{ resource: { id: string } }> }).entry ?? [])
      .map((e) => e.resource.id)
      .sort();
  };

  before(async () => {
    h = await fhirHarness();
    // Ypsilanti is about 11.6 km from Ann Arbor, Detroit about 58 km.
    await putResource(h, location('ann-arbor', 42.2808, -83.743));
    await putResource(h, location('ypsilanti', 42.2411, -83.613));
    await putResource(h, location('detroit', 42.3314, -83.0458));
    await putResource(h, location('no-position'));
    // Either side of the antimeridian, about 11 km apart.
    await putResource(h, location('east-of-180', 0, 179.95));
  });
  after(() => h.close());

  test('locations within the distance, in km by default', async () => {
    assert.deepEqual(await near('42.2808|-83.7430|5|km'), ['ann-arbor']);
    assert.deepEqual(await near('42.2808|-83.7430|15'), ['ann-arbor', 'ypsilanti']);
    assert.deepEqual(await near('42.2808|-83.7430|100|km'), ['ann-arbor', 'detroit', 'ypsilanti']);
  });

  test('other units, and the server default of 10 km without a distance', async () => {
    assert.deepEqual(await near('42.2808|-83.7430|10|[mi_i]'), ['ann-arbor', 'ypsilanti']);
    assert.deepEqual(await near('42.2808|-83.7430|11000|m'), ['ann-arbor']);
    assert.deepEqual(await near('42.2808|-83.7430'), ['ann-arbor']);
  });

  test('across the antimeridian', async () => {
    assert.deepEqual(await near('0|-179.95|20|km'), ['east-of-180']);
    assert.deepEqual(await near('0|-179.95|5|km'), []);
  });

  test('comma-separated points are alternatives', async () => {
    assert.deepEqual(await near('42.3314|-83.0458|5,0|179.95|1'), ['detroit', 'east-of-180']);
  });

  test('bad coordinates, units, distances, modifiers and sorting are 400 OperationOutcomes', async () => {
    for (const query of [
      'near=abc|1',
      'near=91|0',
      'near=10|181',
      `near=${encodeURIComponent('1|1|5|furlong')}`,
      'near=1|1|-3',
      'near:missing=true',
      '_sort=near',
    ]) {
      const res = await h.app.inject({ method: 'GET', url: `/fhir/Location?${query}` });
      assert.equal(res.statusCode, 400, `${query}: ${res.body}`);
      assert.equal(res.json().resourceType, 'OperationOutcome');
    }
  });
});
