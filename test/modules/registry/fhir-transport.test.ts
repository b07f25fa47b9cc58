import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startRegistrySim, type RegistrySim } from '../../../tools/registry-sim/index.js';
import type { TestApp } from '../../helpers/app.js';
import { bearer, doseResource, eventually, patientResource, put, registryApp, tokenFor } from './helpers.js';

/** The same sync over the FHIR transport: OAuth2 client credentials, transaction Bundles. */
let t: TestApp;
let sim: RegistrySim;
before(async () => {
  sim = await startRegistrySim({
    oauth: { clientId: 'iris-client', clientSecret: 'fhir-secret-do-not-leak' },
  });
  t = await registryApp();
});
after(async () => {
  await t?.close();
  await sim?.close();
});

test('doses reach a FHIR registry with OAuth2, come back in a query, and the secret never shows', async () => {
  const admin = await tokenFor(t, ['system_admin']);
  const nurse = await tokenFor(t, ['nurse'], { organizationId: 'org1' });
  const created = await t.app.inject({
    method: 'POST',
    url: '/api/v1/registry/endpoints',
    headers: bearer(admin),
    payload: {
      name: 'FHIR IIS',
      transport: 'fhir',
      url: sim.fhirUrl,
      sender: { facility: 'CLINIC1' },
      credentials: {
        kind: 'oauth2',
        tokenUrl: sim.tokenUrl,
        clientId: 'iris-client',
        clientSecret: 'fhir-secret-do-not-leak',
      },
    },
  });
  assert.equal(created.statusCode, 201, created.body);
  assert.ok(!created.body.includes('fhir-secret-do-not-leak'));
  const endpointId = (created.json() as { id: string }).id;
  const check = await t.app.inject({
    method: 'POST',
    url: `/api/v1/registry/endpoints/${endpointId}/test`,
    headers: bearer(admin),
  });
  assert.equal((check.json() as { ok: boolean }).ok, true, check.body);

  await put(t, nurse, patientResource('fhir-p1'));
  await put(t, nurse, doseResource('fhir-i1', 'fhir-p1', '08', '2020-03-05'));
  const statusOf = (id: string) =>
    eventually(async () => {
      const res = await t.app.inject({
        method: 'GET',
        url: `/api/v1/registry/immunizations/${id}/submissions`,
        headers: bearer(nurse),
      });
      const [first] = res.json() as Array<{ status: string }>;
      return first && !['pending', 'sent'].includes(first.status) ? first : undefined;
    }, `the submission of ${id}`);
  assert.equal((await statusOf('fhir-i1')).status, 'accepted');
  const stored = sim.doses().filter((d) => d.cvx === '08' && d.date === '20200305');
  assert.equal(stored.length, 1);

  const query = await t.app.inject({
    method: 'POST',
    url: '/api/v1/registry/patients/fhir-p1/query',
    headers: bearer(nurse),
    payload: { endpointId },
  });
  assert.equal(query.statusCode, 200, query.body);
  assert.ok((query.json() as { immunizations: unknown[] }).immunizations.length >= 1);
});
