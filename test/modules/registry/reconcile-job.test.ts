import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Bundle, Immunization, Provenance } from 'fhir/r4.js';
import { startRegistrySim, type RegistrySim } from '../../../tools/registry-sim/index.js';
import { modules } from '../../../src/modules/index.js';
import type { JobDefinition } from '../../../src/platform/events/index.js';
import type { TestApp } from '../../helpers/app.js';
import {
  addSoapEndpoint,
  bearer,
  CVX,
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

interface AuditView {
  seq: number;
  action: string;
  outcome: string;
  actor: { type: string; id: string } | null;
  details: Record<string, unknown> | null;
}

interface QueryRow {
  status: string;
  doses_found: number;
  doses_matched: number;
  doses_imported: number;
}

describe('nightly registry reconciliation job against the simulator', () => {
  let t: TestApp;
  let sim: RegistrySim;
  let nurse: string;
  let physician: string;
  let auditor: string;
  let job: JobDefinition;
  let endpointId: string;

  const db = () => t.runtime.ctx.db;
  const run = (signal = new AbortController().signal) => job.run({ scheduledFor: new Date(), signal });
  const queriesAtSim = () => sim.stats().queries;
  const queryRows = async (patientId: string) =>
    (
      await db().query<QueryRow>(
        `SELECT status, doses_found, doses_matched, doses_imported FROM registry_queries
          WHERE patient_id = $1 ORDER BY created_at`,
        [patientId],
      )
    ).rows;
  /** Moves a patient's registry queries this many hours into the past. */
  const ageQueries = (patientId: string, hours: number) =>
    db().query(
      `UPDATE registry_queries SET created_at = created_at - $2 * interval '1 hour' WHERE patient_id = $1`,
      [patientId, hours],
    );
  const dosesOf = async (patientId: string) => {
    const res = await t.app.inject({
      method: 'GET',
      url: `/fhir/Immunization?patient=Patient/${patientId}`,
      headers: bearer(nurse),
    });
    assert.equal(res.statusCode, 200, res.body);
    return ((res.json() as Bundle).entry ?? []).map((e) => e.resource as Immunization);
  };
  const reconcileAudits = async (patientId: string) => {
    const res = await t.app.inject({
      method: 'GET',
      url: `/api/v1/audit/entries?patient=${patientId}&action=registry.reconcile`,
      headers: bearer(auditor),
    });
    assert.equal(res.statusCode, 200, res.body);
    return (res.json() as { entries: AuditView[] }).entries.sort((a, b) => a.seq - b.seq);
  };
  /** A patient with one dose the registry accepted. */
  const reported = async (patientId: string, family: string) => {
    await put(t, nurse, patientResource(patientId, family));
    await put(t, nurse, doseResource(`${patientId}-i1`, patientId, '08', '2020-03-05'));
    const [submission] = await settledSubmissions(t, nurse, `${patientId}-i1`);
    return submission?.status;
  };

  before(async () => {
    // Small enough that one oversized patient's query is refused (MessageTooLargeFault).
    sim = await startRegistrySim({ credentials: SIM_SOAP, maxMessageBytes: 16 * 1024 });
    t = await registryApp();
    const admin = await tokenFor(t, ['system_admin']);
    nurse = await tokenFor(t, ['nurse'], { organizationId: 'org1' });
    physician = await tokenFor(t, ['physician'], { organizationId: 'org1' });
    auditor = await tokenFor(t, ['security_officer']);
    endpointId = await addSoapEndpoint(t, admin, sim);
    const registered = modules
      .find((m) => m.name === 'registry')
      ?.jobs?.(t.runtime.ctx)
      .find((j) => j.name === 'registry.reconcile');
    assert.ok(registered, 'the registry module schedules registry.reconcile');
    job = registered;
  });
  after(async () => {
    await t?.close();
    await sim?.close();
  });

  test('the scheduled run imports a dose given elsewhere as historical, with Provenance', async () => {
    assert.equal(await reported('rj-p1', 'Nightly'), 'accepted');
    const ack = await reportElsewhere(
      sim,
      patientResource('rj-p1', 'Nightly'),
      doseResource('elsewhere-1', 'rj-p1', '03', '2021-06-01', 'MMRLOT'),
      'OTHER-RJ01',
    );
    assert.match(ack, /MSA\|A[AE]\|OTHER-RJ01/);
    assert.ok(
      t.runtime.ctx.events.jobs().some((j) => j.name === 'registry.reconcile' && j.cron === '30 2 * * *'),
    );

    const queries = queriesAtSim();
    // Make tonight's slot due now: the app's own scheduler claims and runs the registered job.
    await db().query(`UPDATE iris_jobs SET next_run_at = now() WHERE name = 'registry.reconcile'`);
    const jobRun = await eventually(
      async () =>
        (
          await db().query<{ status: string; error: string | null }>(
            `SELECT status, error FROM iris_job_runs WHERE job = 'registry.reconcile' AND status <> 'running'`,
          )
        ).rows[0],
      'the scheduled reconciliation run',
    );
    assert.equal(jobRun.status, 'succeeded', jobRun.error ?? '');
    assert.equal(queriesAtSim(), queries + 1);
    assert.deepEqual(await queryRows('rj-p1'), [
      { status: 'found', doses_found: 2, doses_matched: 1, doses_imported: 1 },
    ]);

    const doses = await dosesOf('rj-p1');
    assert.equal(doses.length, 2);
    const imported = doses.find((d) => d.id !== 'rj-p1-i1');
    assert.equal(imported?.primarySource, false);
    assert.equal(imported?.vaccineCode.coding?.find((c) => c.system === CVX)?.code, '03');
    assert.equal(imported?.lotNumber, 'MMRLOT');
    assert.equal(imported?.reportOrigin?.coding?.[0]?.code, 'record');
    const provenance = await t.app.inject({
      method: 'GET',
      url: `/fhir/Provenance?target=Immunization/${imported?.id}`,
      headers: bearer(physician),
    });
    assert.equal(provenance.statusCode, 200, provenance.body);
    const [source] = ((provenance.json() as Bundle).entry ?? []).map((e) => e.resource as Provenance);
    assert.equal(source?.activity?.coding?.[0]?.code, 'CREATE');
    assert.equal(source?.agent[0]?.who?.display, 'State IIS');
    assert.ok(source?.target.some((r) => r.reference === 'Patient/rj-p1'));

    const audits = await reconcileAudits('rj-p1');
    assert.equal(audits.length, 1);
    assert.equal(audits[0]?.outcome, 'success');
    assert.deepEqual(audits[0]?.actor, { type: 'system', id: 'iris' });
    assert.deepEqual(audits[0]?.details, { registry: 'State IIS', status: 'found', doses: 2 });
  });

  test('a patient is queried again only after 20 hours, and never gets a dose twice', async () => {
    const queries = queriesAtSim();
    await run();
    assert.equal(queriesAtSim(), queries, 'queried minutes ago: not due');
    await ageQueries('rj-p1', 19);
    await run();
    assert.equal(queriesAtSim(), queries, 'queried 19 hours ago: not due');
    await ageQueries('rj-p1', 2);
    await run();
    assert.equal(queriesAtSim(), queries + 1, 'queried 21 hours ago: due');
    const rows = await queryRows('rj-p1');
    assert.equal(rows.length, 2);
    assert.deepEqual(rows[1], { status: 'found', doses_found: 2, doses_matched: 2, doses_imported: 0 });
    assert.equal((await dosesOf('rj-p1')).length, 2);
    // The imported dose is held as already at the registry: not reported back.
    assert.equal(sim.doses().filter((d) => d.patientId === 'rj-p1').length, 2);
  });

  test('only patients with doses accepted within the lookback window are queried', async () => {
    assert.equal(await reported('rj-old', 'Lapsed'), 'accepted');
    assert.equal(await reported('rj-edge', 'Recent'), 'accepted');
    sim.setFaults({ forceAck: 'AR' });
    try {
      assert.equal(await reported('rj-rejected', 'Refused'), 'rejected');
    } finally {
      sim.setFaults({ forceAck: null });
    }
    const age = `UPDATE registry_submissions SET completed_at = now() - $2 * interval '1 day' WHERE patient_id = $1`;
    await db().query(age, ['rj-old', 31]);
    await db().query(age, ['rj-edge', 29]);

    const queries = queriesAtSim();
    await run();
    assert.equal(queriesAtSim(), queries + 1);
    assert.equal((await queryRows('rj-edge')).length, 1);
    assert.deepEqual(await queryRows('rj-old'), []);
    assert.deepEqual(await queryRows('rj-rejected'), []);
  });

  test("one patient's failure is audited and the next patient is still reconciled", async () => {
    assert.equal(await reported('rj-big', 'Oversized'), 'accepted');
    assert.equal(await reported('rj-next', 'Following'), 'accepted');
    // rj-big's query no longer fits the registry's message limit.
    const big = patientResource('rj-big', 'Oversized');
    await put(t, nurse, { ...big, address: [{ ...big.address?.[0], line: ['9'.repeat(20_000)] }] });
    const ack = await reportElsewhere(
      sim,
      patientResource('rj-next', 'Following'),
      doseResource('elsewhere-2', 'rj-next', '20', '2021-02-03', 'DTLOT'),
      'OTHER-RJ02',
    );
    assert.match(ack, /MSA\|A[AE]\|OTHER-RJ02/);
    // rj-next was reconciled a day ago, rj-big never: rj-big comes first in the run.
    const asked = await t.app.inject({
      method: 'POST',
      url: '/api/v1/registry/patients/rj-next/query',
      headers: bearer(nurse),
      payload: { endpointId },
    });
    assert.equal(asked.statusCode, 200, asked.body);
    await ageQueries('rj-next', 24);

    await run();
    assert.deepEqual(await queryRows('rj-big'), []);
    const next = await queryRows('rj-next');
    assert.deepEqual(next.at(-1), { status: 'found', doses_found: 2, doses_matched: 1, doses_imported: 1 });
    assert.equal((await dosesOf('rj-next')).length, 2);
    const [failure] = await reconcileAudits('rj-big');
    const [success] = await reconcileAudits('rj-next');
    assert.equal(failure?.outcome, 'failure');
    assert.deepEqual(failure?.actor, { type: 'system', id: 'iris' });
    assert.deepEqual(failure?.details, { registry: 'State IIS', status: 'error', error: 'IRIS_BAD_GATEWAY' });
    assert.equal(success?.outcome, 'success');
    assert.ok((failure?.seq ?? Infinity) < (success?.seq ?? 0), 'the failed patient came first');

    // A failed patient is not muted for 20 hours: the next run tries again.
    await put(t, nurse, big);
    await run();
    assert.deepEqual(
      (await queryRows('rj-big')).map((r) => r.status),
      ['found'],
    );
  });

  test('an aborted signal stops the run between patients', async () => {
    assert.equal(await reported('rj-a1', 'Abort'), 'accepted');
    assert.equal(await reported('rj-a2', 'Halt'), 'accepted');
    const due = ['rj-a1', 'rj-a2'];
    const queried = async () =>
      (await Promise.all(due.map(async (id) => ((await queryRows(id)).length > 0 ? id : null)))).filter(
        (id) => id !== null,
      );

    const queries = queriesAtSim();
    const stopped = new AbortController();
    stopped.abort();
    await run(stopped.signal);
    assert.equal(queriesAtSim(), queries);

    // The first query is held at the registry; the stop arrives while it is in flight.
    sim.setFaults({ latencyMs: 500 });
    const latency = () => sim.stats().faultsInjected.latency ?? 0;
    const held = latency();
    const stopping = new AbortController();
    try {
      const running = run(stopping.signal);
      await eventually(async () => (latency() > held ? true : undefined), 'a query at the registry');
      stopping.abort();
      await running;
    } finally {
      sim.setFaults({ latencyMs: 0 });
    }
    assert.equal(queriesAtSim(), queries + 1, 'the patient in flight is finished, the next is not started');
    const first = await queried();
    assert.equal(first.length, 1);

    await run();
    assert.equal(queriesAtSim(), queries + 2);
    assert.deepEqual((await queried()).sort(), due);
    assert.equal((await queryRows(first[0] as string)).length, 1, 'finished before the stop: not due again');
  });
});
