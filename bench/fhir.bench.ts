/**
 * FHIR store benchmark, in process (Fastify inject, no sockets): loads patients and
 * immunizations through transaction Bundles, then measures read, create, the two key searches
 * and bundle import, and prints the EXPLAIN plans of the searches.
 * Embedded PGlite by default; DATABASE_URL runs it on a PostgreSQL server.
 * Standalone: node --import tsx bench/fhir.bench.ts   (BENCH_FHIR_PATIENTS, default 1000)
 */
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { analyzeStore } from '../src/modules/fhir/repo.js';
import { EVERY_ROW, fhirHarness, type FhirHarness } from '../test/modules/fhir/harness.js';
import { percentile, processRssMb } from './lib/stats.js';

export interface FhirBenchRow {
  operation: string;
  opsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  rssMb: number;
}

const FHIR = { 'content-type': 'application/fhir+json' };
export const FAMILIES = [
  'Smith',
  'Johnson',
  'Williams',
  'Brown',
  'Jones',
  'Garcia',
  'Miller',
  'Davis',
  'Lopez',
  'Wilson',
];
export const GIVEN = ['Ava', 'Liam', 'Mia', 'Noah', 'Emma', 'Oliver', 'Sofia', 'Elijah', 'Isla', 'Lucas'];
const ORGANIZATIONS = ['bench-clinic-1', 'bench-clinic-2', 'bench-clinic-3', 'bench-clinic-4'];
/** A request carrying this header reads as a user of that organization (row-level security on). */
const ORG_HEADER = 'x-bench-organization';
const CVX = ['08', '20', '10', '03', '21', '62', '83', '115', '133', '208'];

/** Runs `fn` `total` times with `concurrency` in flight; `units` counts work per call (resources). */
export async function measure(
  operation: string,
  total: number,
  concurrency: number,
  fn: (i: number) => Promise<void>,
  units = 1,
) {
  const times: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) {
        const i = next++;
        const t = performance.now();
        await fn(i);
        times.push(performance.now() - t);
      }
    }),
  );
  const elapsed = performance.now() - started;
  const row: FhirBenchRow = {
    operation,
    opsPerSec: Math.round(((total * units) / elapsed) * 1000 * 10) / 10,
    p50Ms: Math.round(percentile(times, 50) * 100) / 100,
    p99Ms: Math.round(percentile(times, 99) * 100) / 100,
    rssMb: processRssMb(),
  };
  return row;
}

/** Immunizations per loaded patient (BENCH_FHIR_DOSES, default 3; 10 with 100k patients is the 1M). */
export function dosesPerPatient(): number {
  const doses = Number(process.env.BENCH_FHIR_DOSES ?? 3);
  if (!Number.isInteger(doses) || doses < 3 || doses > 10)
    throw new Error('BENCH_FHIR_DOSES must be a whole number from 3 to 10');
  return doses;
}

/**
 * Patients `start`..`start+count-1` with `doses` immunizations each, managed by the given
 * organizations in turn. Dose d is given in 2010 + (4d mod 15): 2010, 2014, 2018, 2022, 2011...,
 * so `date=ge2014-01-01` finds at least two of each patient's doses.
 */
export function patientBundle(
  start: number,
  count: number,
  organizations: readonly string[] = ORGANIZATIONS,
  doses = 3,
) {
  const entry = [];
  for (let i = start; i < start + count; i++) {
    const url = `urn:uuid:00000000-0000-4000-8000-${String(i).padStart(12, '0')}`;
    entry.push({
      fullUrl: url,
      request: { method: 'POST', url: 'Patient' },
      resource: {
        resourceType: 'Patient',
        identifier: [{ system: 'urn:bench:mrn', value: `MRN${i}` }],
        name: [
          { family: `${FAMILIES[i % 10]}${Math.floor(i / 100)}`, given: [GIVEN[Math.floor(i / 10) % 10]] },
        ],
        gender: i % 2 ? 'male' : 'female',
        birthDate: `${1950 + (i % 60)}-0${1 + (i % 9)}-1${i % 10}`,
        managingOrganization: { reference: `Organization/${organizations[i % organizations.length]}` },
      },
    });
    for (let d = 0; d < doses; d++) {
      entry.push({
        request: { method: 'POST', url: 'Immunization' },
        resource: {
          resourceType: 'Immunization',
          status: 'completed',
          vaccineCode: { coding: [{ system: 'http://hl7.org/fhir/sid/cvx', code: CVX[(i + d) % 10] }] },
          patient: { reference: url },
          occurrenceDateTime: `${2010 + ((d * 4) % 15)}-0${1 + (d % 9)}-15`,
        },
      });
    }
  }
  return { resourceType: 'Bundle', type: 'transaction', entry };
}

async function explain(h: FhirHarness, label: string, sql: string, params: unknown[]): Promise<void> {
  const plan = await h.db.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${sql}`, params, EVERY_ROW);
  console.log(`\nEXPLAIN ${label}\n${plan.rows.map((r) => r['QUERY PLAN']).join('\n')}`);
}

export async function runFhirBench(): Promise<FhirBenchRow[]> {
  const patients = Number(process.env.BENCH_FHIR_PATIENTS ?? 1000);
  const h = await fhirHarness({
    access: {
      scopeOf: (request) => {
        const org = request.headers[ORG_HEADER];
        return typeof org === 'string'
          ? { kind: 'organizations', organizationIds: [org], extraPatientIds: [] }
          : { kind: 'all' };
      },
    },
  });
  try {
    for (const id of ORGANIZATIONS) {
      const res = await h.app.inject({
        method: 'PUT',
        url: `/fhir/Organization/${id}`,
        headers: FHIR,
        payload: { resourceType: 'Organization', id, name: id },
      });
      if (res.statusCode !== 201) throw new Error(`organization ${id}: ${res.statusCode}`);
    }
    const perBundle = 25;
    const doses = dosesPerPatient();
    const rows: FhirBenchRow[] = [];
    rows.push(
      await measure(
        `transaction bundle import (${perBundle} patients + ${perBundle * doses} immunizations per bundle)`,
        Math.ceil(patients / perBundle),
        2,
        async (i) => {
          const res = await h.app.inject({
            method: 'POST',
            url: '/fhir',
            headers: FHIR,
            payload: patientBundle(i * perBundle, perBundle, ORGANIZATIONS, doses),
          });
          if (res.statusCode !== 200)
            throw new Error(`bundle ${i}: ${res.statusCode} ${res.body.slice(0, 200)}`);
        },
        perBundle * (1 + doses),
      ),
    );
    // As `iris import` does after a load, and autovacuum would soon after bundles like these.
    await analyzeStore(h.db);
    const owned = (
      await h.db.query<{ id: string; org: string }>(
        'SELECT patient_id AS id, organization_id AS org FROM fhir_patient_organization ORDER BY 1 LIMIT 500',
        [],
        EVERY_ROW,
      )
    ).rows;
    const ids = owned.map((r) => r.id);
    const pick = (i: number) => ids[i % ids.length] as string;
    rows.push(
      await measure('read Patient by id', 2000, 16, async (i) => {
        const res = await h.app.inject({ method: 'GET', url: `/fhir/Patient/${pick(i)}` });
        if (res.statusCode !== 200) throw new Error(`read ${res.statusCode}`);
      }),
    );
    rows.push(
      await measure('read Patient by id (organization scope)', 2000, 16, async (i) => {
        const patient = owned[i % owned.length] as { id: string; org: string };
        const res = await h.app.inject({
          method: 'GET',
          url: `/fhir/Patient/${patient.id}`,
          headers: { [ORG_HEADER]: patient.org },
        });
        if (res.statusCode !== 200) throw new Error(`scoped read ${res.statusCode}`);
      }),
    );
    rows.push(
      await measure('create Immunization', 500, 8, async (i) => {
        const res = await h.app.inject({
          method: 'POST',
          url: '/fhir/Immunization',
          headers: FHIR,
          payload: {
            resourceType: 'Immunization',
            status: 'completed',
            vaccineCode: { coding: [{ system: 'http://hl7.org/fhir/sid/cvx', code: '208' }] },
            patient: { reference: `Patient/${pick(i)}` },
            occurrenceDateTime: '2024-05-05',
          },
        });
        if (res.statusCode !== 201) throw new Error(`create ${res.statusCode}`);
      }),
    );
    rows.push(
      await measure('search Patient?family=&given=', 1000, 16, async (i) => {
        const res = await h.app.inject({
          method: 'GET',
          url: `/fhir/Patient?family=${FAMILIES[i % 10]}${i % 10}&given=${GIVEN[i % 10]}`,
        });
        if (res.statusCode !== 200) throw new Error(`search ${res.statusCode}`);
      }),
    );
    rows.push(
      await measure('search Immunization?patient=&date=ge', 1000, 16, async (i) => {
        const res = await h.app.inject({
          method: 'GET',
          url: `/fhir/Immunization?patient=${pick(i)}&date=ge2014-01-01`,
        });
        if (res.statusCode !== 200) throw new Error(`search ${res.statusCode}`);
      }),
    );
    rows.push(
      await measure('search Immunization?patient=&date=ge (organization scope)', 1000, 16, async (i) => {
        const patient = owned[i % owned.length] as { id: string; org: string };
        const res = await h.app.inject({
          method: 'GET',
          url: `/fhir/Immunization?patient=${patient.id}&date=ge2014-01-01`,
          headers: { [ORG_HEADER]: patient.org },
        });
        if (res.statusCode !== 200 || !(res.json().entry?.length >= 2))
          throw new Error(`scoped search ${res.statusCode} ${res.body.slice(0, 300)}`);
      }),
    );
    const blind = h.rt.blind.candidates('p|Patient|family', 'smith1');
    await explain(
      h,
      'Patient?family=smith1 (prefix blind index)',
      `SELECT r.id FROM fhir_resource r WHERE r.resource_type = 'Patient' AND NOT r.deleted AND EXISTS (
         SELECT 1 FROM fhir_idx_string i WHERE i.resource_type = 'Patient' AND i.resource_id = r.id AND i.code = 'family'
         AND EXISTS (SELECT 1 FROM fhir_idx_string_prefix sp WHERE sp.resource_type = i.resource_type
           AND sp.resource_id = i.resource_id AND sp.code = i.code AND sp.prefix = ANY($1::text[]))) LIMIT 21`,
      [blind],
    );
    await explain(
      h,
      'Immunization?patient=&date=ge2014-01-01',
      `SELECT r.id FROM fhir_resource r WHERE r.resource_type = 'Immunization' AND NOT r.deleted
         AND EXISTS (SELECT 1 FROM fhir_idx_reference i WHERE i.resource_type = 'Immunization' AND i.resource_id = r.id
           AND i.code = 'patient' AND i.target_type = 'Patient' AND i.target_id = $1)
         AND EXISTS (SELECT 1 FROM fhir_idx_date i WHERE i.resource_type = 'Immunization' AND i.resource_id = r.id
           AND i.code = 'date' AND i.high >= $2::timestamptz) LIMIT 21`,
      [pick(0), '2014-01-01T00:00:00Z'],
    );
    return rows;
  } finally {
    await h.close();
  }
}

function printTable(rows: FhirBenchRow[]): void {
  const header = ['operation', 'ops/s', 'p50 (ms)', 'p99 (ms)', 'RSS (MB)'];
  const body = rows.map((r) => [
    r.operation,
    String(r.opsPerSec),
    String(r.p50Ms),
    String(r.p99Ms),
    String(r.rssMb),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => (b[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ');
  console.log([line(header), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n'));
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  runFhirBench().then(printTable, (err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
}
