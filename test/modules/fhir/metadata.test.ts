import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { CapabilityStatement } from 'fhir/r4.js';
import { testApp } from '../../helpers/app.js';
import { fhirHarness, type FhirHarness } from './harness.js';

const IMMDS_FORECAST = 'http://hl7.org/fhir/us/immds/OperationDefinition/immds-forecast';

describe('FHIR CapabilityStatement', () => {
  let h: FhirHarness;
  before(async () => {
    h = await fhirHarness();
  });
  after(() => h.close());

  test('lists every R4 resource type with the interactions and search parameters served', async () => {
    const res = await h.app.inject({ method: 'GET', url: '/fhir/metadata' });
    assert.equal(res.statusCode, 200);
    const cs = res.json();
    assert.equal(cs.resourceType, 'CapabilityStatement');
    assert.equal(cs.fhirVersion, '4.0.1');
    assert.deepEqual(cs.format, ['application/fhir+json', 'json']);
    const rest = cs.rest[0];
    assert.ok(rest.resource.length >= 140);
    const imm = rest.resource.find((r: { type: string }) => r.type === 'Immunization');
    const codes = imm.interaction.map((i: { code: string }) => i.code).sort();
    assert.deepEqual(codes, [
      'create',
      'delete',
      'history-instance',
      'history-type',
      'patch',
      'read',
      'search-type',
      'update',
      'vread',
    ]);
    const params = imm.searchParam.map((p: { name: string }) => p.name);
    for (const name of ['patient', 'date', 'vaccine-code', 'lot-number', '_id', '_lastUpdated'])
      assert.ok(params.includes(name), name);
    assert.equal(imm.conditionalCreate, true);
    assert.equal(imm.conditionalDelete, 'single');
    assert.deepEqual(rest.interaction.map((i: { code: string }) => i.code).sort(), [
      'batch',
      'history-system',
      'transaction',
    ]);
    assert.ok(imm.operation.some((o: { name: string }) => o.name === 'validate'));
  });

  test('an operation of another module is listed only when its route is registered', async () => {
    const cs = (await h.app.inject({ method: 'GET', url: '/fhir/metadata' })).json();
    assert.equal(
      cs.rest[0].operation.some((o: { name: string }) => o.name === 'immds-forecast'),
      false,
    );
    const patient = cs.rest[0].resource.find((r: { type: string }) => r.type === 'Patient');
    assert.equal(
      patient.operation.some((o: { name: string }) => o.name === 'immds-forecast'),
      false,
    );
  });
});

describe('FHIR CapabilityStatement of the full app', () => {
  test('lists $immds-forecast at the system level and on Patient instances, where the immunization module serves it', async () => {
    const t = await testApp();
    try {
      const res = await t.app.inject({ method: 'GET', url: '/fhir/metadata' });
      assert.equal(res.statusCode, 200, res.body);
      const rest = (res.json() as CapabilityStatement).rest?.[0];
      const forecast = { name: 'immds-forecast', definition: IMMDS_FORECAST };
      assert.deepEqual(
        rest?.operation?.filter((o) => o.name === 'immds-forecast'),
        [forecast],
      );
      const byType = (type: string) =>
        rest?.resource?.find((r) => r.type === type)?.operation?.filter((o) => o.name === 'immds-forecast');
      assert.deepEqual(byType('Patient'), [forecast]);
      assert.deepEqual(byType('Immunization'), []);
    } finally {
      await t.close();
    }
  });
});
