import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Bundle, Provenance } from 'fhir/r4.js';
import { startRegistrySim, type RegistrySim } from '../../../tools/registry-sim/index.js';
import { fhirStore, SYSTEM_CONTEXT } from '../../../src/modules/fhir/index.js';
import type { TestApp } from '../../helpers/app.js';
import {
  addSoapEndpoint,
  bearer,
  doseResource,
  eventually,
  patientResource,
  put,
  registryApp,
  reportElsewhere,
  settledSubmissions,
  SIM_SOAP,
  tokenFor,
} from './helpers.js';

const SOAP_PASSWORD = SIM_SOAP.password;

describe('registry sync over CDC SOAP against the simulator', () => {
  let t: TestApp;
  let sim: RegistrySim;
  let admin: string;
  let nurse: string;
  let physician: string;
  let endpointId: string;

  const settled = (immunizationId: string, count: number) =>
    settledSubmissions(t, nurse, immunizationId, count);

  before(async () => {
    sim = await startRegistrySim({ credentials: SIM_SOAP });
    t = await registryApp();
    admin = await tokenFor(t, ['system_admin']);
    nurse = await tokenFor(t, ['nurse'], { organizationId: 'org1' });
    physician = await tokenFor(t, ['physician'], { organizationId: 'org1' });
    endpointId = await addSoapEndpoint(t, admin, sim);
  });
  after(async () => {
    await t?.close();
    await sim?.close();
  });

  test('credentials are sealed at rest and never returned', async () => {
    const list = await t.app.inject({
      method: 'GET',
      url: '/api/v1/registry/endpoints',
      headers: bearer(admin),
    });
    assert.equal(list.statusCode, 200);
    assert.ok(!list.body.includes(SOAP_PASSWORD));
    assert.deepEqual((list.json() as Array<{ credentials: unknown }>)[0]?.credentials, {
      kind: 'soap',
      configured: true,
    });
    const rows = await t.runtime.ctx.db.query<{ row: string }>(
      'SELECT row_to_json(e)::text AS row FROM registry_endpoints e',
    );
    assert.ok(!rows.rows[0]?.row.includes(SOAP_PASSWORD));
    const test = await t.app.inject({
      method: 'POST',
      url: `/api/v1/registry/endpoints/${endpointId}/test`,
      headers: bearer(admin),
    });
    assert.equal(test.statusCode, 200, test.body);
    assert.equal((test.json() as { ok: boolean }).ok, true);
  });

  test('a recorded dose reaches the registry once, with a Provenance of its status', async () => {
    await put(t, nurse, patientResource('reg-p1'));
    await put(t, nurse, doseResource('reg-i1', 'reg-p1', '08', '2020-03-05'));
    const [submission] = await settled('reg-i1', 1);
    assert.equal(submission?.status, 'accepted');
    assert.equal(submission?.attemptLog[0]?.outcome, 'AA');
    const stored = sim.doses().filter((d) => d.patientId === 'reg-p1');
    assert.equal(stored.length, 1);
    assert.equal(stored[0]?.cvx, '08');
    assert.equal(stored[0]?.controlId, submission?.controlId);
    const prov = await t.app.inject({
      method: 'GET',
      url: '/fhir/Provenance?target=Immunization/reg-i1',
      headers: bearer(physician),
    });
    const bundle = prov.json() as Bundle;
    const status = (bundle.entry?.[0]?.resource as Provenance | undefined)?.extension?.[0]?.extension?.find(
      (e) => e.url === 'status',
    );
    assert.equal(status?.valueCode, 'accepted');
  });

  test('an update is sent as RXA-21 U and a delete retracts the dose', async () => {
    await put(t, nurse, doseResource('reg-i1', 'reg-p1', '08', '2020-03-05', 'LOT2'));
    await settled('reg-i1', 2);
    assert.equal(sim.doses().find((d) => d.patientId === 'reg-p1')?.lot, 'LOT2');
    // No built-in role deletes doses over the API; an administrator's correction goes through the store.
    const ctx = t.runtime.ctx;
    await ctx.db.transaction((tx) => fhirStore(ctx).delete(SYSTEM_CONTEXT, tx, 'Immunization', 'reg-i1'));
    const list = await settled('reg-i1', 3);
    assert.deepEqual(
      list.map((s) => [s.operation, s.status]),
      [
        ['submit', 'accepted'],
        ['submit', 'accepted'],
        ['delete', 'accepted'],
      ],
    );
    assert.equal(sim.doses().filter((d) => d.patientId === 'reg-p1').length, 0);
  });

  test('a rejection becomes a work item that is fixed and resubmitted', async () => {
    sim.setFaults({ forceAck: 'AR' });
    await put(t, nurse, patientResource('reg-p2', 'Reject', 'Rob'));
    await put(t, nurse, doseResource('reg-i2', 'reg-p2', '20', '2021-01-02'));
    const [rejected] = await settled('reg-i2', 1);
    assert.equal(rejected?.status, 'rejected');
    assert.equal(rejected?.workItem, 'open');
    assert.ok((rejected?.registryErrors.length ?? 0) > 0);
    const work = await t.app.inject({
      method: 'GET',
      url: '/api/v1/registry/work-items?status=rejected',
      headers: bearer(nurse),
    });
    assert.equal(work.statusCode, 200);
    assert.ok((work.json() as { items: Array<{ id: string }> }).items.some((i) => i.id === rejected?.id));
    sim.setFaults({ forceAck: null });
    const retry = await t.app.inject({
      method: 'POST',
      url: `/api/v1/registry/submissions/${rejected?.id}/retry`,
      headers: bearer(nurse),
    });
    assert.equal(retry.statusCode, 202, retry.body);
    const list = await settled('reg-i2', 2);
    assert.equal(list[1]?.status, 'accepted');
    assert.equal(list[0]?.workItem, 'resolved');
    const again = await t.app.inject({
      method: 'POST',
      url: `/api/v1/registry/submissions/${list[1]?.id}/retry`,
      headers: bearer(nurse),
    });
    assert.equal(again.statusCode, 409);
  });

  test('query and reconcile import the doses given elsewhere, once, and never send them back', async () => {
    // Another provider reported a dose for reg-p2 straight to the registry.
    const answer = await reportElsewhere(
      sim,
      patientResource('reg-p2', 'Reject', 'Rob'),
      doseResource('other-1', 'reg-p2', '03', '2021-06-01', 'MMRLOT'),
      'OTHER-0001',
    );
    assert.match(answer, /MSA\|A[AE]\|OTHER-0001/);

    const query = await t.app.inject({
      method: 'POST',
      url: '/api/v1/registry/patients/reg-p2/query',
      headers: bearer(nurse),
      payload: { endpointId },
    });
    assert.equal(query.statusCode, 200, query.body);
    assert.equal((query.json() as { status: string; immunizations: unknown[] }).status, 'found');
    assert.equal((query.json() as { immunizations: unknown[] }).immunizations.length, 2);

    const received = sim.stats().received;
    const reconcile = async () => {
      const res = await t.app.inject({
        method: 'POST',
        url: '/api/v1/registry/patients/reg-p2/reconcile',
        headers: bearer(nurse),
        payload: { endpointId },
      });
      assert.equal(res.statusCode, 200, res.body);
      return res.json() as { found: number; matched: number; imported: string[] };
    };
    const first = await reconcile();
    assert.deepEqual([first.found, first.matched, first.imported.length], [2, 1, 1]);
    const imported = await t.app.inject({
      method: 'GET',
      url: `/fhir/Immunization/${first.imported[0]}`,
      headers: bearer(nurse),
    });
    assert.equal((imported.json() as { primarySource: boolean }).primarySource, false);
    const second = await reconcile();
    assert.deepEqual([second.matched, second.imported.length], [2, 0]);
    // The imported dose is recorded as already held by this registry: nothing is sent back.
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.equal(sim.stats().received, received + 2);
  });

  test('bad input is refused with problem details and changes nothing', async () => {
    const before = await t.app.inject({
      method: 'GET',
      url: '/api/v1/registry/endpoints',
      headers: bearer(admin),
    });
    const cases = [
      { name: 'x', transport: 'cdc-soap', url: 'not a url', sender: { facility: 'A' } },
      {
        name: 'x',
        transport: 'fhir',
        url: 'https://iis.example/fhir',
        sender: { facility: 'A' },
        credentials: { kind: 'soap' },
      },
      { name: 'x', transport: 'smtp', url: 'https://iis.example', sender: { facility: 'A' } },
      { name: 'x', transport: 'cdc-soap', url: 'https://iis.example', sender: { facility: 'A|B' } },
    ];
    for (const payload of cases) {
      const res = await t.app.inject({
        method: 'POST',
        url: '/api/v1/registry/endpoints',
        headers: bearer(admin),
        payload,
      });
      assert.equal(res.statusCode, 400, `${JSON.stringify(payload)} → ${res.body}`);
      assert.match(String(res.headers['content-type']), /application\/problem\+json/);
    }
    const dup = await t.app.inject({
      method: 'POST',
      url: '/api/v1/registry/endpoints',
      headers: bearer(admin),
      payload: { name: 'State IIS', transport: 'cdc-soap', url: sim.soapUrl, sender: { facility: 'A' } },
    });
    assert.equal(dup.statusCode, 409);
    const after = await t.app.inject({
      method: 'GET',
      url: '/api/v1/registry/endpoints',
      headers: bearer(admin),
    });
    assert.equal(after.body, before.body);
    const missing = await t.app.inject({
      method: 'POST',
      url: '/api/v1/registry/immunizations/nope/submit',
      headers: bearer(nurse),
    });
    assert.equal(missing.statusCode, 404);
    const inUse = await t.app.inject({
      method: 'DELETE',
      url: `/api/v1/registry/endpoints/${endpointId}`,
      headers: bearer(admin),
    });
    assert.equal(inUse.statusCode, 409);
  });

  test('permissions: clinicians cannot configure registries, admins see no dose history', async () => {
    const nurseManage = await t.app.inject({
      method: 'GET',
      url: '/api/v1/registry/endpoints',
      headers: bearer(nurse),
    });
    assert.equal(nurseManage.statusCode, 403);
    // The administrator may read registry status, but no patient's record: the dose is not there.
    const adminHistory = await t.app.inject({
      method: 'GET',
      url: '/api/v1/registry/immunizations/reg-i2/submissions',
      headers: bearer(admin),
    });
    assert.equal(adminHistory.statusCode, 404);
    const registrar = await tokenFor(t, ['registrar'], { organizationId: 'org1' });
    const registrarHistory = await t.app.inject({
      method: 'GET',
      url: '/api/v1/registry/immunizations/reg-i2/submissions',
      headers: bearer(registrar),
    });
    assert.equal(registrarHistory.statusCode, 403);
    const anonymous = await t.app.inject({ method: 'GET', url: '/api/v1/registry/status' });
    assert.equal(anonymous.statusCode, 401);
    const status = await t.app.inject({
      method: 'GET',
      url: '/api/v1/registry/status',
      headers: bearer(nurse),
    });
    assert.equal(status.statusCode, 200);
    const metrics = await t.app.inject({ method: 'GET', url: '/metrics' });
    assert.match(metrics.body, /iris_registry_submissions\{registry="State IIS",status="accepted"\}/);
  });

  test('the scheduled tally fold leaves /status and /metrics equal to the submissions', async () => {
    const db = t.runtime.ctx.db;
    assert.ok(
      t.runtime.ctx.events.jobs().some((j) => j.name === 'registry.tally-fold' && j.cron === '* * * * *'),
    );
    await db.query(`UPDATE iris_jobs SET next_run_at = now() WHERE name = 'registry.tally-fold'`);
    const run = await eventually(
      async () =>
        (
          await db.query<{ status: string; error: string | null }>(
            `SELECT status, error FROM iris_job_runs WHERE job = 'registry.tally-fold' AND status <> 'running'`,
          )
        ).rows[0],
      'the scheduled tally fold',
    );
    assert.equal(run.status, 'succeeded', run.error ?? '');
    const truth = await db.query<{ endpoint_id: string; status: string; n: number }>(
      `SELECT endpoint_id, status, count(*)::int AS n FROM registry_submissions GROUP BY 1, 2 ORDER BY 1, 2`,
    );
    assert.ok(truth.rows.length > 0);
    const status = await t.app.inject({
      method: 'GET',
      url: '/api/v1/registry/status',
      headers: bearer(nurse),
    });
    const counts = (status.json() as { counts: Array<{ endpointId: string; status: string; count: number }> })
      .counts;
    assert.deepEqual(
      counts,
      truth.rows.map((r) => ({ endpointId: r.endpoint_id, status: r.status, count: r.n })),
    );
    const metrics = (await t.app.inject({ method: 'GET', url: '/metrics' })).body;
    const accepted = truth.rows.find((r) => r.endpoint_id === endpointId && r.status === 'accepted');
    assert.match(
      metrics,
      new RegExp(`iris_registry_submissions\\{registry="State IIS",status="accepted"\\} ${accepted?.n}\n`),
    );
  });
});
