import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startRegistrySim, type RegistrySim } from '../../../tools/registry-sim/index.js';
import type { TestApp } from '../../helpers/app.js';
import { bearer, doseResource, eventually, patientResource, put, registryApp, tokenFor } from './helpers.js';

/**
 * A registry outage, compressed in time: the registry drops every connection for a while
 * (the "five minutes"), then answers slowly enough that some calls time out after it has
 * stored the dose. Every submission must end accepted, the registry must hold each dose once,
 * and the breaker must have opened and closed again.
 */
let t: TestApp;
let sim: RegistrySim;

before(async () => {
  sim = await startRegistrySim({ faults: { outage: true, outageMode: 'drop' } });
  t = await registryApp();
});
after(async () => {
  await t?.close();
  await sim?.close();
});

test('an outage ends with every dose accepted once: none lost, none duplicated', async () => {
  const admin = await tokenFor(t, ['system_admin']);
  const nurse = await tokenFor(t, ['nurse'], { organizationId: 'org1' });
  const created = await t.app.inject({
    method: 'POST',
    url: '/api/v1/registry/endpoints',
    headers: bearer(admin),
    payload: {
      name: 'Flaky IIS',
      transport: 'cdc-soap',
      url: sim.soapUrl,
      sender: { facility: 'CLINIC1' },
      timeoutMs: 300,
      maxConcurrent: 4,
      maxAttempts: 100,
    },
  });
  assert.equal(created.statusCode, 201, created.body);

  const doses = 24;
  for (let p = 0; p < doses / 3; p += 1) {
    await put(t, nurse, patientResource(`out-p${p}`, `Outage${p}`));
    for (let d = 0; d < 3; d += 1) {
      await put(
        t,
        nurse,
        doseResource(`out-i${p}-${d}`, `out-p${p}`, ['08', '20', '10'][d] as string, `2021-0${d + 1}-10`),
      );
    }
  }
  const breakerOpened = await eventually(async () => {
    const res = await t.app.inject({
      method: 'GET',
      url: '/api/v1/registry/breakers',
      headers: bearer(nurse),
    });
    const states = res.json() as Array<{ state: string }>;
    return states.some((s) => s.state === 'open') ? true : undefined;
  }, 'the breaker to open');
  assert.ok(breakerOpened);
  await new Promise((resolve) => setTimeout(resolve, 1500));
  const during = await t.runtime.ctx.db.query<{ n: number }>(
    "SELECT count(*)::int AS n FROM registry_submissions WHERE status IN ('accepted', 'failed')",
  );
  assert.equal(during.rows[0]?.n, 0, 'nothing is accepted or given up while the registry is down');

  // The registry comes back slow: some answers arrive after the client gave up (resent, same id).
  sim.setFaults({ outage: false, latencyMs: [0, 450] });
  const statuses = await eventually(
    async () => {
      const r = await t.runtime.ctx.db.query<{ status: string; n: number }>(
        'SELECT status, count(*)::int AS n FROM registry_submissions GROUP BY status',
      );
      const map = Object.fromEntries(r.rows.map((row) => [row.status, row.n]));
      return map.accepted === doses && Object.keys(map).length === 1 ? map : undefined;
    },
    'every submission to be accepted',
    60_000,
  );
  assert.deepEqual(statuses, { accepted: doses });
  const stored = sim.doses().filter((d) => d.patientId.startsWith('out-p'));
  assert.equal(stored.length, doses, 'each dose stored exactly once');
  assert.equal(new Set(stored.map((d) => d.fillerOrder)).size, doses);
  const res = await t.app.inject({ method: 'GET', url: '/api/v1/registry/breakers', headers: bearer(nurse) });
  assert.equal((res.json() as Array<{ state: string }>)[0]?.state, 'closed');
});
