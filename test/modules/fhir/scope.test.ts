import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FastifyRequest } from 'fastify';
import type { PatientScope } from '../../../src/platform/auth/port.js';
import { FHIR, fhirHarness, immunization, patient, type FhirHarness } from './harness.js';

/** Tests choose the caller's scope with a header (the identity module sets it from the token). */
function scopeFromHeader(request: FastifyRequest): PatientScope {
  const raw = request.headers['x-test-scope'];
  return typeof raw === 'string' ? (JSON.parse(raw) as PatientScope) : { kind: 'all' };
}

describe('patient scope inside the SQL', () => {
  let h: FhirHarness;
  const ids: Record<string, string> = {} as Record<string, string>;
  const as = (scope: PatientScope) => ({ 'x-test-scope': JSON.stringify(scope) });
  before(async () => {
    h = await fhirHarness({ access: { scopeOf: scopeFromHeader } });
    const post = async (body: object) =>
      (
        await h.app.inject({
          method: 'POST',
          url: `/fhir/${(body as { resourceType: string }).resourceType}`,
          headers: FHIR,
          payload: body,
        })
      ).json();
    ids.orgA = (await post({ resourceType: 'Organization', name: 'A' })).id;
    ids.orgB = (await post({ resourceType: 'Organization', name: 'B' })).id;
    ids.pa = (
      await post(
        patient('Scoped', 'Alpha', { managingOrganization: { reference: `Organization/${ids.orgA}` } }),
      )
    ).id;
    ids.pb = (
      await post(
        patient('Scoped', 'Beta', { managingOrganization: { reference: `Organization/${ids.orgB}` } }),
      )
    ).id;
    ids.ia = (await post(immunization(ids.pa as string))).id;
    ids.ib = (await post(immunization(ids.pb as string))).id;
  });
  after(() => h.close());

  test('an organization scope sees its patients and their records only; totals agree', async () => {
    const scope: PatientScope = {
      kind: 'organizations',
      organizationIds: [ids.orgA as string],
      extraPatientIds: [],
    };
    const res = await h.app.inject({
      method: 'GET',
      url: '/fhir/Immunization?_total=accurate',
      headers: as(scope),
    });
    const body = res.json();
    assert.equal(body.total, 1);
    assert.deepEqual(
      body.entry.map((e: { resource: { id: string } }) => e.resource.id),
      [ids.ia],
    );
    const pats = (
      await h.app.inject({ method: 'GET', url: '/fhir/Patient?family=scoped', headers: as(scope) })
    ).json();
    assert.deepEqual(
      pats.entry.map((e: { resource: { id: string } }) => e.resource.id),
      [ids.pa],
    );
  });

  test('a hidden record reads as 404 and its history is empty', async () => {
    const scope: PatientScope = { kind: 'patients', patientIds: [ids.pa as string] };
    const hidden = await h.app.inject({
      method: 'GET',
      url: `/fhir/Immunization/${ids.ib}`,
      headers: as(scope),
    });
    assert.equal(hidden.statusCode, 404);
    const hist = (
      await h.app.inject({ method: 'GET', url: `/fhir/Immunization/${ids.ib}/_history`, headers: as(scope) })
    ).json();
    assert.equal(hist.entry.length, 0);
    const own = await h.app.inject({
      method: 'GET',
      url: `/fhir/Immunization/${ids.ia}`,
      headers: as(scope),
    });
    assert.equal(own.statusCode, 200);
  });

  test('_include and _revinclude do not leak records outside the scope', async () => {
    const scope: PatientScope = { kind: 'patients', patientIds: [ids.pa as string] };
    const res = (
      await h.app.inject({
        method: 'GET',
        url: '/fhir/Patient?_revinclude=Immunization:patient',
        headers: as(scope),
      })
    ).json();
    const seen = res.entry.map((e: { resource: { id: string } }) => e.resource.id).sort();
    assert.deepEqual(seen, [ids.pa, ids.ia].sort());
  });

  test('scope none sees no patient records but still sees directory resources', async () => {
    const scope: PatientScope = { kind: 'none' };
    const imm = (await h.app.inject({ method: 'GET', url: '/fhir/Immunization', headers: as(scope) })).json();
    assert.equal(imm.entry.length, 0);
    const orgs = (
      await h.app.inject({ method: 'GET', url: '/fhir/Organization', headers: as(scope) })
    ).json();
    assert.equal(orgs.entry.length, 2);
  });

  test('writing a record for a patient outside the scope is 403; updating a hidden one is 404', async () => {
    const scope: PatientScope = { kind: 'patients', patientIds: [ids.pa as string] };
    const create = await h.app.inject({
      method: 'POST',
      url: '/fhir/Immunization',
      headers: { ...FHIR, ...as(scope) },
      payload: immunization(ids.pb as string),
    });
    assert.equal(create.statusCode, 403);
    const hidden = (await h.app.inject({ method: 'GET', url: `/fhir/Immunization/${ids.ib}` })).json();
    const update = await h.app.inject({
      method: 'PUT',
      url: `/fhir/Immunization/${ids.ib}`,
      headers: { ...FHIR, ...as(scope) },
      payload: hidden,
    });
    assert.equal(update.statusCode, 404);
  });

  test('an organization scope writes records of its own patients only; a refused write stores nothing', async () => {
    const scope: PatientScope = {
      kind: 'organizations',
      organizationIds: [ids.orgA as string],
      extraPatientIds: [],
    };
    const count = async () =>
      (await h.app.inject({ method: 'GET', url: '/fhir/Immunization?_total=accurate' })).json().total;
    const before = await count();
    const own = await h.app.inject({
      method: 'POST',
      url: '/fhir/Immunization',
      headers: { ...FHIR, ...as(scope) },
      payload: immunization(ids.pa as string),
    });
    assert.equal(own.statusCode, 201, own.body);
    const other = await h.app.inject({
      method: 'POST',
      url: '/fhir/Immunization',
      headers: { ...FHIR, ...as(scope) },
      payload: immunization(ids.pb as string),
    });
    assert.equal(other.statusCode, 403);
    assert.equal(other.json().resourceType, 'OperationOutcome');
    assert.equal(await count(), before + 1, 'the refused create stored nothing');

    // Moving its own record to another organization's patient is refused; the record stays as it was.
    const moved = { ...own.json(), patient: { reference: `Patient/${ids.pb}` } };
    const update = await h.app.inject({
      method: 'PUT',
      url: `/fhir/Immunization/${own.json().id}`,
      headers: { ...FHIR, ...as(scope) },
      payload: moved,
    });
    assert.equal(update.statusCode, 403);
    const current = (
      await h.app.inject({ method: 'GET', url: `/fhir/Immunization/${own.json().id}` })
    ).json();
    assert.equal(current.meta.versionId, '1');
    assert.equal(current.patient.reference, `Patient/${ids.pa}`);
    const byPatient = (
      await h.app.inject({ method: 'GET', url: `/fhir/Immunization?patient=${ids.pa}` })
    ).json();
    assert.ok(byPatient.entry.some((e: { resource: { id: string } }) => e.resource.id === own.json().id));

    // A transaction with one such entry is refused whole.
    const tx = await h.app.inject({
      method: 'POST',
      url: '/fhir',
      headers: { ...FHIR, ...as(scope) },
      payload: {
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [ids.pa, ids.pb].map((p) => ({
          request: { method: 'POST', url: 'Immunization' },
          resource: immunization(p as string),
        })),
      },
    });
    assert.equal(tx.statusCode, 403, tx.body);
    assert.equal(await count(), before + 1, 'the refused transaction stored nothing');
  });
});
