/**
 * FHIR store benchmark against the server as deployed: dist/main.js in its own process with the
 * audit trail, the event bus and row-level security on, every request signed in (an access token
 * from `iris token` for an organization-scoped nurse). This process only generates load
 * (autocannon over loopback), so the RSS column is the server's alone.
 *
 * The data is loaded as the issue asks, through transaction Bundles: BENCH_FHIR_PATIENTS patients
 * (default 1000) with BENCH_FHIR_DOSES immunizations each (default 3), split between two organizations. Each run uses
 * organizations and accounts of its own, so a PostgreSQL database that already holds data (an
 * earlier run) is not read by this one.
 */
import { performance } from 'node:perf_hooks';
import { dosesPerPatient, FAMILIES, GIVEN, measure, patientBundle } from './fhir.bench.js';
import { Accounts, call, FHIR_JSON, putOrganization } from './lib/accounts.js';
import { measureHttp } from './lib/http.js';
import type { ServerHandle } from './lib/server.js';
import type { BenchContext, Row, Suite } from './lib/suite.js';
import { startIris, startWorker } from './lib/suites.js';

const PER_BUNDLE = 25;

/**
 * Waits until the event bus has no delivery left to do (forecast refresh and registry sync of
 * the immunizations just written), so that work is not billed to the next row; answers seconds.
 */
async function drain(server: ServerHandle, limitSeconds = 3600): Promise<number> {
  const started = performance.now();
  for (;;) {
    const asked = performance.now();
    const text = await (await fetch(new URL('/metrics', server.url))).text();
    // Counting a queue of millions takes the embedded database most of a second: poll at most a
    // third of the time, or the polling slows the very work it waits for.
    const pause = Math.max(250, 2 * (performance.now() - asked));
    const open = text
      .split('\n')
      .filter((line) => line.startsWith('iris_events_queue_depth{') && !line.includes('status="retry_wait"'))
      .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
    const seconds = (performance.now() - started) / 1000;
    if (open === 0) return seconds;
    if (seconds > limitSeconds)
      throw new Error(`${open} event deliveries still open after ${limitSeconds} s`);
    await new Promise((resolve) => setTimeout(resolve, pause));
  }
}

/** Loads the patients through transaction Bundles, two in flight, each organization's by its own nurse. */
async function load(
  server: ServerHandle,
  accounts: Accounts,
  nurses: ReadonlyArray<{ email: string; organization: string }>,
  patients: number,
): Promise<Row> {
  const doses = dosesPerPatient();
  const row = await measure(
    `FHIR transaction bundle import, resources/s (${PER_BUNDLE} patients + ${PER_BUNDLE * doses} immunizations each)`,
    Math.ceil(patients / PER_BUNDLE),
    2,
    async (i) => {
      const nurse = nurses[i % nurses.length] as { email: string; organization: string };
      await call(
        server,
        accounts.token(nurse.email),
        'POST',
        '/fhir',
        patientBundle(i * PER_BUNDLE, PER_BUNDLE, [nurse.organization], doses),
      );
    },
    PER_BUNDLE * (1 + doses),
  );
  // The RSS that matters is the server's, not this load generator's.
  return { ...row, rssMb: await server.rssMb() };
}

async function run(root: string, ctx: BenchContext): Promise<Row[]> {
  const patients = Number(process.env.BENCH_FHIR_PATIENTS ?? 1000);
  if (!Number.isInteger(patients) || patients < PER_BUNDLE * 2)
    throw new Error(`BENCH_FHIR_PATIENTS must be a whole number >= ${PER_BUNDLE * 2}`);
  // BENCH_FHIR_WORKER=1: the server topology with `iris worker` in a process of its own.
  const separateWorker = process.env.BENCH_FHIR_WORKER === '1';
  if (separateWorker && !process.env.DATABASE_URL)
    throw new Error('BENCH_FHIR_WORKER=1 needs DATABASE_URL: an embedded database serves one process');
  // TOTP enrolment is a sign-in step this bench does not take; its accounts' roles are exempted.
  const server = await startIris(root, ctx.tmpDir, 'fhir-server', {
    IRIS_MFA_REQUIRED_ROLES: 'security_officer',
    ...(separateWorker ? { IRIS_EMBEDDED_WORKER: 'false' } : {}),
  });
  let worker: ServerHandle | undefined;
  try {
    if (separateWorker) worker = await startWorker(root, ctx.tmpDir, server.env);
    const accounts = new Accounts(root, server.env);
    const tag = `bench-${Date.now().toString(36)}`;
    const admin = accounts.create(`admin-${tag}@bench.test`, 'system_admin');
    const nurses = [1, 2].map((n) => {
      const organization = `${tag}-clinic-${n}`;
      return { organization, email: accounts.create(`nurse${n}-${tag}@bench.test`, 'nurse', organization) };
    });
    for (const { organization } of nurses) await putOrganization(server, accounts.token(admin), organization);
    const rows = [await load(server, accounts, nurses, patients)];
    await drain(server);

    const nurse = nurses[0] as { email: string; organization: string };
    const own = await call(
      server,
      accounts.token(nurse.email),
      'GET',
      '/fhir/Patient?_count=1000&_elements=id',
    );
    const ids = ((own.json.entry ?? []) as Array<{ resource: { id: string } }>).map((e) => e.resource.id);
    if (ids.length < 2) throw new Error('the nurse sees fewer than two of the loaded patients');
    // Reads and creates go to the first half; the create run gives each of those patients many
    // more doses, so the immunization search is measured on both halves: as loaded, and grown.
    const grown = ids.slice(0, Math.ceil(ids.length / 2));
    const asLoaded = ids.slice(grown.length);
    const pick = (n: number) => grown[n % grown.length] as string;
    // A fresh token per row: a row (warm-up and run) never outlives it.
    const as = () => ({ authorization: `Bearer ${accounts.token(nurse.email)}`, accept: FHIR_JSON });
    const measure = (operation: string, plan: Parameters<typeof measureHttp>[4]) =>
      measureHttp(operation, server, '/fhir', ctx.settings, plan);

    rows.push(
      await measure('FHIR read Patient by id', {
        headers: as(),
        next: (n) => ({ path: `/fhir/Patient/${pick(n)}` }),
      }),
    );
    const created = await measure('FHIR create Immunization', {
      method: 'POST',
      headers: { ...as(), 'content-type': FHIR_JSON, prefer: 'return=minimal' },
      next: (n) => ({
        path: '/fhir/Immunization',
        body: JSON.stringify({
          resourceType: 'Immunization',
          status: 'completed',
          vaccineCode: { coding: [{ system: 'http://hl7.org/fhir/sid/cvx', code: '208' }] },
          patient: { reference: `Patient/${pick(n)}` },
          occurrenceDateTime: '2024-05-05',
        }),
      }),
    });
    // Each dose recomputes its patient's forecast and queues registry sync after the response:
    // the same creates per second once that follow-up work is counted too.
    // The warm-up's creates queued follow-up work too, at about the same rate.
    const measured = ctx.settings.durationSec + ctx.settings.warmupSec;
    const followUp = await drain(server);
    rows.push(created, {
      ...created,
      operation: 'FHIR create Immunization, with its forecast refresh and registry events done',
      opsPerSec: (created.opsPerSec * measured) / (measured + followUp),
      rssMb: await server.rssMb(),
    });
    const doseSearch = (patient: string) => `/fhir/Immunization?patient=${patient}&date=ge2014-01-01`;
    /** Matches on the first page for one patient of the half (the page holds at most 20). */
    const matches = async (half: string[]) => {
      const page = await call(server, accounts.token(nurse.email), 'GET', doseSearch(half[0] as string));
      return ((page.json.entry ?? []) as Array<{ search?: { mode?: string } }>).filter(
        (e) => e.search?.mode === 'match',
      ).length;
    };
    const loadedMatches = await matches(asLoaded);
    const grownMatches = await matches(grown);
    rows.push(
      await measure('FHIR search Patient?family=&given=', {
        headers: as(),
        next: (n) => ({ path: `/fhir/Patient?family=${FAMILIES[n % 10]}${n % 10}&given=${GIVEN[n % 10]}` }),
      }),
      await measure(
        `FHIR search Immunization?patient=&date=ge, patients as loaded (${loadedMatches} per page)`,
        {
          headers: as(),
          next: (n) => ({ path: doseSearch(asLoaded[n % asLoaded.length] as string) }),
        },
      ),
      await measure(
        `FHIR search Immunization?patient=&date=ge, patients grown by the creates (${grownMatches} per page)`,
        { headers: as(), next: (n) => ({ path: doseSearch(pick(n)) }) },
      ),
    );
    return rows.map((row) => ({ ...row, operation: `${row.operation} [${patients} patients]` }));
  } finally {
    if (worker) process.stderr.write(`bench: iris worker RSS ${Math.round(await worker.rssMb())} MB\n`);
    await worker?.stop();
    await server.stop();
  }
}

/** The suite for bench/run.ts. */
export function fhirServerSuite(root: string): Suite {
  return { name: 'fhir (server)', run: (ctx) => run(root, ctx) };
}
