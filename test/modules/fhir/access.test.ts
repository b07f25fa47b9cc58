import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AccessGuards } from '../../../src/platform/auth/port.js';
import { errors } from '../../../src/platform/http/errors.js';
import { immunizationResource } from '../../helpers/fixtures.js';
import { EVERY_ROW, FHIR, fhirHarness, patient, type FhirHarness } from './harness.js';

/** A stand-in for the identity module: the permissions a caller holds come in a header. */
const guards: AccessGuards = {
  require(...permissions: string[]) {
    return async (request: FastifyRequest, _reply: FastifyReply) => {
      const held = String(request.headers['x-test-permissions'] ?? '').split(',');
      if (!request.headers['x-test-permissions']) throw errors.unauthorized();
      if (!permissions.every((p) => held.includes(p)))
        throw errors.forbidden(`needs ${permissions.join(', ')}`);
      request.principal = {
        kind: 'user',
        id: 'u1',
        roles: [],
        permissions: new Set(held),
        // A caller limited to some patients names them in a header.
        scope: request.headers['x-test-patients']
          ? { kind: 'patients', patientIds: String(request.headers['x-test-patients']).split(',') }
          : { kind: 'all' },
      };
    };
  },
  requireFreshMfa() {
    throw new Error('not used');
  },
};

describe('FHIR routes behind the identity guards', () => {
  let h: FhirHarness;
  before(async () => {
    h = await fhirHarness({ access: { guards } });
  });
  after(() => h.close());

  test('each interaction asks for the permission of the type in the URL', async () => {
    const anonymous = await h.app.inject({ method: 'GET', url: '/fhir/Patient' });
    assert.equal(anonymous.statusCode, 401);
    const readerOnly = { 'x-test-permissions': 'patient:read' };
    const write = await h.app.inject({
      method: 'POST',
      url: '/fhir/Patient',
      headers: { ...FHIR, ...readerOnly },
      payload: patient('G', 'H'),
    });
    assert.equal(write.statusCode, 403);
    const writer = { 'x-test-permissions': 'patient:read,patient:write' };
    const created = await h.app.inject({
      method: 'POST',
      url: '/fhir/Patient',
      headers: { ...FHIR, ...writer },
      payload: patient('G', 'H'),
    });
    assert.equal(created.statusCode, 201);
    const otherType = await h.app.inject({ method: 'GET', url: '/fhir/Immunization', headers: readerOnly });
    assert.equal(otherType.statusCode, 403);
    const del = await h.app.inject({
      method: 'DELETE',
      url: `/fhir/Patient/${created.json().id}`,
      headers: writer,
    });
    assert.equal(del.statusCode, 403);
  });

  test('the principal is the audited actor; metadata stays public', async () => {
    const headers = { ...FHIR, 'x-test-permissions': 'patient:write' };
    const created = await h.app.inject({
      method: 'POST',
      url: '/fhir/Patient',
      headers,
      payload: patient('A', 'B'),
    });
    const entry = h.audit.entries.find((e) => e.resource?.id === created.json().id);
    assert.deepEqual(entry?.actor, { type: 'user', id: 'u1' });
    const metadata = await h.app.inject({ method: 'GET', url: '/fhir/metadata' });
    assert.equal(metadata.statusCode, 200);
  });

  test("bundle entries are checked one by one against the caller's permissions", async () => {
    const headers = { ...FHIR, 'x-test-permissions': 'patient:read,patient:write' };
    const bundle = (type: string) => ({
      resourceType: 'Bundle',
      type,
      entry: [
        { request: { method: 'POST', url: 'Patient' }, resource: patient('Bun', 'Dle') },
        { request: { method: 'GET', url: 'Immunization?patient=x' } },
      ],
    });
    const tx = await h.app.inject({ method: 'POST', url: '/fhir', headers, payload: bundle('transaction') });
    assert.equal(tx.statusCode, 403);
    assert.deepEqual(tx.json().issue[0].expression, ['Bundle.entry[1].request']);
    const batch = await h.app.inject({ method: 'POST', url: '/fhir', headers, payload: bundle('batch') });
    assert.equal(batch.statusCode, 200);
    assert.equal(batch.json().entry[0].response.status, '201 Created');
    assert.equal(batch.json().entry[1].response.status, '403');
  });

  test("a transaction entry for a patient outside the caller's scope is refused by name, storing nothing", async () => {
    const headers = {
      ...FHIR,
      'x-test-permissions': 'immunization:read,immunization:write',
      'x-test-patients': 'scope-mine',
    };
    /** A transaction creating one dose per patient id. */
    const transaction = (patientIds: string[]) =>
      h.app.inject({
        method: 'POST',
        url: '/fhir',
        headers,
        payload: {
          resourceType: 'Bundle',
          type: 'transaction',
          entry: patientIds.map((patientId) => ({
            request: { method: 'POST', url: 'Immunization' },
            resource: immunizationResource('assigned-by-server', patientId, '08', '2024-01-02'),
          })),
        },
      });
    const count = async () =>
      (
        await h.db.query<{ n: number }>(
          "SELECT count(*)::int AS n FROM fhir_resource WHERE resource_type = 'Immunization'",
          [],
          EVERY_ROW,
        )
      ).rows[0]?.n;
    const before = await count();
    const tx = await transaction(['scope-mine', 'scope-mine', 'scope-other']);
    assert.equal(tx.statusCode, 403, tx.body);
    assert.deepEqual(tx.json().issue[0].expression, ['Bundle.entry[2].resource']);
    assert.equal(await count(), before);
    const allowed = await transaction(['scope-mine']);
    assert.equal(allowed.statusCode, 200, allowed.body);
    assert.equal(await count(), (before ?? 0) + 1);
  });
});
