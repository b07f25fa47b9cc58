// Registry benchmark: submissions end to end (queue → VXU → CDC SOAP → simulator → ACK →
// status, Provenance, audit) with faults off, and RSS across rounds (memory must stay flat).
// The simulator runs in its own process. Uses DATABASE_URL when set, else embedded PGlite.
// Standalone: node --import tsx bench/registry.bench.ts   (BENCH_REGISTRY_SUBMISSIONS=100000)
import { spawn } from 'node:child_process';
import type { Immunization, Patient } from 'fhir/r4.js';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { loadConfig } from '../src/config.js';
import { createFhirStore, fhirRuntime, SYSTEM_CONTEXT } from '../src/modules/fhir/index.js';
import { EndpointRepository } from '../src/modules/registry/endpoints.js';
import { enqueue } from '../src/modules/registry/submissions.js';
import { createLogger } from '../src/platform/observability/logger.js';
import { openRuntime } from '../src/runtime.js';
import type { Row } from './lib/suite.js';
import { formatTable } from './lib/table.js';
import { percentile, processRssMb } from './lib/stats.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const DOSES = 1_000;
const doseId = (j: number) => `bench-${j < DOSES ? 'a' : 'b'}${j % DOSES}`;

async function startSimulator(): Promise<{ url: string; stop: () => void }> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', join(ROOT, 'tools/registry-sim/main.ts'), '--port', '0'],
    {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const match = /(http:\/\/127\.0\.0\.1:\d+)\/iis\/soap/.exec(out);
      if (match?.[1]) resolve(match[1]);
    });
    child.once('exit', (code) => reject(new Error(`registry simulator exited (${code})`)));
  });
  return { url, stop: () => child.kill('SIGTERM') };
}

export async function runRegistryBench(): Promise<Row[]> {
  const total = Number(process.env.BENCH_REGISTRY_SUBMISSIONS ?? 20_000);
  const sim = await startSimulator();
  const dataDir = await mkdtemp(join(tmpdir(), 'iris-bench-registry-'));
  const config = loadConfig({
    ...process.env,
    NODE_ENV: 'test',
    IRIS_DATA_DIR: dataDir,
    LOG_LEVEL: 'silent',
    REGISTRY_POLL_MS: '50',
  });
  const runtime = await openRuntime(config, createLogger('silent'), { server: true, migrate: true });
  const { ctx } = runtime;
  const rows: Row[] = [];
  try {
    // Setup writes skip events and audit: only the bench's own submissions should run.
    const store = createFhirStore(
      fhirRuntime({ db: ctx.db, keyring: ctx.keyring, baseUrl: 'http://bench.invalid/fhir' }),
    );
    await ctx.db.transaction((tx) =>
      store.create(SYSTEM_CONTEXT, tx, {
        resourceType: 'Patient',
        id: 'bench-p',
        name: [{ family: 'Bench', given: ['Reg'] }],
        gender: 'female',
        birthDate: '2019-01-01',
      } as Patient),
    );
    for (let i = 0; i < 2 * DOSES; i += 100) {
      await ctx.db.transaction(async (tx) => {
        for (let j = i; j < i + 100; j += 1) {
          await store.create(SYSTEM_CONTEXT, tx, {
            resourceType: 'Immunization',
            id: doseId(j),
            status: 'completed',
            vaccineCode: { coding: [{ system: 'http://hl7.org/fhir/sid/cvx', code: '08' }] },
            patient: { reference: 'Patient/bench-p' },
            occurrenceDateTime: '2019-01-02',
            primarySource: false,
          } as Immunization);
        }
      });
    }
    // Endpoint added after the doses exist, so only the bench's own submissions are sent.
    const endpoint = await new EndpointRepository(ctx.db, ctx.keyring, {
      consecutiveFailures: 5,
      halfOpenAfterMs: 1000,
    }).create({
      name: 'Bench IIS',
      transport: 'cdc-soap',
      url: `${sim.url}/iis/soap`,
      sender: { facility: 'BENCH' },
      maxConcurrent: 32,
      rateLimitPerSecond: 0,
      timeoutMs: 5000,
    });
    await ctx.events.start('embedded');
    const rounds = Math.max(1, Math.ceil(total / DOSES));
    const latencies: number[] = [];
    let rssFirst = 0;
    let rssMid = 0;
    const started = performance.now();
    // Two sets of doses take turns, so the next round is queued while the last one is still
    // being sent (no idle gap between rounds); a set is queued again only once its previous
    // round is finished, because a newer submission would supersede an unsent older one.
    const openIn = async (set: number) => {
      const open = await ctx.db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM registry_submissions
          WHERE status IN ('pending', 'sent') AND immunization_id LIKE $1`,
        [`bench-${set === 0 ? 'a' : 'b'}%`],
      );
      return open.rows[0]?.n ?? 0;
    };
    const waitFor = async (set: number) => {
      while ((await openIn(set)) > 0) await new Promise((resolve) => setTimeout(resolve, 20));
    };
    for (let round = 0; round < rounds; round += 1) {
      const set = round % 2;
      await waitFor(set);
      if (round === 2) rssFirst = processRssMb();
      if (round === Math.floor(rounds / 2)) rssMid = processRssMb();
      await ctx.db.transaction(async (tx) => {
        for (let j = 0; j < DOSES; j += 1) {
          await enqueue(tx, {
            endpointId: endpoint.id,
            immunizationId: doseId(set * DOSES + j),
            immunizationVersion: 1,
            patientId: 'bench-p',
            operation: 'submit',
            trigger: 'manual',
          });
        }
      });
    }
    await waitFor(0);
    await waitFor(1);
    const seconds = (performance.now() - started) / 1000;
    const stats = await ctx.db.query<{ status: string; ms: number }>(
      `SELECT status, extract(epoch FROM completed_at - created_at) * 1000 AS ms FROM registry_submissions`,
    );
    for (const row of stats.rows) latencies.push(Number(row.ms));
    const bad = stats.rows.filter((r) => r.status !== 'accepted').length;
    rows.push({
      operation: `registry submit end to end (${stats.rows.length} via CDC SOAP, queue → ACK)`,
      opsPerSec: stats.rows.length / seconds,
      p50Ms: percentile(latencies, 50),
      p99Ms: percentile(latencies, 99),
      rssMb: processRssMb(),
      ...(bad > 0 ? { failed: bad } : {}),
    });
    for (const [round, rssMb] of [
      [2, rssFirst],
      [Math.floor(rounds / 2), rssMid],
    ] as const) {
      rows.push({
        operation: `registry RSS after round ${round} of ${rounds} (flat memory check)`,
        opsPerSec: 0,
        p50Ms: 0,
        p99Ms: 0,
        rssMb,
      });
    }
  } finally {
    await runtime.close();
    sim.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
  return rows;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const rows = await runRegistryBench();
  console.log(formatTable(rows));
}
