// Audit trail benchmark: append throughput with concurrent writers (with and without caller
// transactions), verification throughput, and an audited FHIR read against the same read unaudited.
// Uses DATABASE_URL (a fresh schema, dropped afterwards) when set, else in-memory PGlite.
// Standalone: node --import tsx bench/audit.bench.ts
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import pg from 'pg';
import { createAuditTrail, type AuditService } from '../src/modules/audit/index.js';
import { auditMigrations } from '../src/modules/audit/schema.js';
import {
  createFhirStore,
  fhirMigrations,
  fhirRuntime,
  SYSTEM_CONTEXT,
  type CallContext,
  type FhirStore,
} from '../src/modules/fhir/index.js';
import type { Resource } from 'fhir/r4.js';
import type { AuditRecord } from '../src/platform/audit/port.js';
import { Keyring } from '../src/platform/crypto/keyring.js';
import { migrate } from '../src/platform/db/migrations.js';
import { PgliteDatabase } from '../src/platform/db/pglite.js';
import { PostgresDatabase } from '../src/platform/db/postgres.js';
import type { Database } from '../src/platform/db/types.js';
import { createLogger } from '../src/platform/observability/logger.js';
import { LocalDiskStorage } from '../src/platform/storage/local-disk.js';
import type { verifyAuditLog as VerifyAuditLogFn } from '../src/modules/audit/verify.js';
import type { Row } from './lib/suite.js';
import { formatTable } from './lib/table.js';
import { percentile, processRssMb } from './lib/stats.js';

type VerifyAuditLog = typeof VerifyAuditLogFn;

interface Backend {
  db: Database;
  label: string;
  server: boolean;
  close(): Promise<void>;
}

async function openBackend(): Promise<Backend> {
  const url = process.env.DATABASE_URL;
  if (!url) {
    const db = await PgliteDatabase.open();
    await migrate(db, [...auditMigrations, ...fhirMigrations]);
    return { db, label: 'PGlite', server: false, close: () => db.close() };
  }
  const schema = `bench_audit_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  await admin.end();
  const db = new PostgresDatabase({ connectionString: url, schema, max: 24, applicationName: 'iris-bench' });
  await migrate(db, [...auditMigrations, ...fhirMigrations]);
  return {
    db,
    label: 'PostgreSQL',
    server: true,
    async close() {
      await db.close();
      const cleanup = new pg.Client({ connectionString: url });
      await cleanup.connect();
      await cleanup.query(`DROP SCHEMA ${schema} CASCADE`);
      await cleanup.end();
    },
  };
}

function record(i: number): AuditRecord {
  return {
    action: 'fhir.read',
    outcome: 'success',
    actor: { type: 'user', id: `user-${i % 40}` },
    patientIds: [`patient-${i % 5000}`],
    resource: { type: 'Immunization', id: `imm-${i}`, versionId: '1' },
    purposeOfUse: 'TREAT',
    sourceIp: '10.20.30.40',
    userAgent: 'iris-bench/1.0',
    requestId: `req-${i}`,
  };
}

/** `writers` loops appending `total` entries; throughput counts until the last one is chained. */
async function append(
  backend: Backend,
  audit: AuditService,
  total: number,
  writers: number,
  inTransaction: boolean,
): Promise<Row> {
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: writers }, async () => {
      while (next < total) {
        const i = next++;
        const t = performance.now();
        if (inTransaction) await backend.db.transaction((tx) => audit.record(record(i), tx));
        else await audit.record(record(i));
        latencies.push(performance.now() - t);
      }
    }),
  );
  await audit.flush();
  const seconds = (performance.now() - started) / 1000;
  return {
    operation: `audit append, ${writers} writers${inTransaction ? ', in caller transactions' : ''} (${backend.label})`,
    opsPerSec: Math.round(total / seconds),
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    rssMb: processRssMb(),
  };
}

/**
 * The verifier as operators run it (`iris audit verify`): compiled, so that its threads start
 * from dist/ in about 20 ms. Started from the sources, each thread first loads tsx (about 100 ms).
 */
async function compiledVerifier(): Promise<VerifyAuditLog> {
  const compiled = new URL('../dist/modules/audit/verify.js', import.meta.url);
  if (!existsSync(compiled)) throw new Error('bench: dist/ is missing; run "npm run build" first');
  return ((await import(compiled.href)) as { verifyAuditLog: VerifyAuditLog }).verifyAuditLog;
}

/** Three verifications of the whole log, on one thread or on as many as the verifier picks. */
async function verify(
  backend: Backend,
  audit: AuditService,
  keyring: Keyring,
  threads?: number,
): Promise<Row> {
  const verifyAuditLog = await compiledVerifier();
  const runs: number[] = [];
  let entries = 0;
  let used = 0;
  const started = performance.now();
  for (let r = 0; r < 3; r++) {
    const t = performance.now();
    const report = await verifyAuditLog(backend.db, keyring, { sinks: audit.sinks, threads });
    if (!report.ok) throw new Error(`verification failed: ${JSON.stringify(report.firstDamage)}`);
    entries += report.entriesChecked;
    used = report.threads;
    runs.push(performance.now() - t);
  }
  return {
    operation: `audit verify, ${entries / 3} entries, ${used} thread${used === 1 ? '' : 's'} (${backend.label})`,
    opsPerSec: Math.round(entries / ((performance.now() - started) / 1000)),
    p50Ms: percentile(runs, 50),
    p99Ms: percentile(runs, 99),
    rssMb: processRssMb(),
  };
}

/**
 * The same FHIR read (decrypt included) side by side: the store wired to the audit trail, and
 * the same store with auditing switched off, which only this harness can do.
 */
async function auditedRead(
  backend: Backend,
  keyring: Keyring,
  audit: AuditService,
  reads: number,
  concurrency: number,
): Promise<Row[]> {
  const deps = { db: backend.db, keyring, baseUrl: 'http://bench.invalid/fhir' };
  const audited = createFhirStore(fhirRuntime({ ...deps, audit }));
  const unaudited = createFhirStore(fhirRuntime(deps));
  const doses = 2000;
  await backend.db.transaction(async (tx) => {
    await unaudited.createMany(SYSTEM_CONTEXT, tx, [
      {
        resourceType: 'Patient',
        id: 'bench-p',
        name: [{ family: 'Bench' }],
        birthDate: '2020-01-01',
      } as Resource,
    ]);
    await unaudited.createMany(
      SYSTEM_CONTEXT,
      tx,
      Array.from({ length: doses }, (_, i) => ({
        resourceType: 'Immunization' as const,
        id: `imm-${i}`,
        status: 'completed' as const,
        vaccineCode: { coding: [{ system: 'http://hl7.org/fhir/sid/cvx', code: '08' }] },
        patient: { reference: 'Patient/bench-p' },
        occurrenceDateTime: '2020-02-01',
      })),
    );
  });
  // A clinician of one organization, as the API builds the call context for a request.
  const caller: CallContext = {
    actor: { type: 'user', id: 'bench-user' },
    scope: { kind: 'all' },
    requestId: 'bench',
    sourceIp: '10.20.30.40',
    userAgent: 'iris-bench/1.0',
  };
  const run = async (store: FhirStore, label: string): Promise<Row> => {
    const latencies: number[] = [];
    let next = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < reads) {
          const i = next++;
          const t = performance.now();
          await store.read(caller, 'Immunization', `imm-${i % doses}`);
          latencies.push(performance.now() - t);
        }
      }),
    );
    await audit.flush();
    return {
      operation: `FHIR store read by id in process, ${label} (${backend.label})`,
      opsPerSec: Math.round(reads / ((performance.now() - started) / 1000)),
      p50Ms: percentile(latencies, 50),
      p99Ms: percentile(latencies, 99),
      rssMb: processRssMb(),
    };
  };
  await run(unaudited, 'warm-up');
  const plain = await run(unaudited, 'auditing off');
  const withAudit = await run(audited, 'audited');
  return [plain, withAudit];
}

/** Rows: append (plain and in caller transactions), verify, and an audited read side by side. */
export async function runAuditBench(): Promise<Row[]> {
  const backend = await openBackend();
  const dir = await mkdtemp(join(tmpdir(), 'iris-audit-bench-'));
  const keyring = await Keyring.open(join(dir, 'keys'), { create: true });
  const audit = createAuditTrail(
    backend.db,
    keyring,
    new LocalDiskStorage({ root: join(dir, 'objects') }),
    createLogger('silent'),
    {
      checkpointDir: join(dir, 'checkpoints'),
      flushIntervalMs: 200,
    },
  );
  try {
    const scale = Number(process.env.BENCH_AUDIT_ENTRIES ?? (backend.server ? 100_000 : 20_000));
    await append(backend, audit, 2000, 64, false);
    const rows = [
      await append(backend, audit, scale, 256, false),
      await append(backend, audit, Math.round(scale / 5), backend.server ? 16 : 4, true),
    ];
    rows.push(await verify(backend, audit, keyring, 1), await verify(backend, audit, keyring));
    rows.push(
      ...(await auditedRead(backend, keyring, audit, Math.round(scale / 5), backend.server ? 16 : 8)),
    );
    return rows;
  } finally {
    await audit.close();
    await backend.close();
    await rm(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const rows = await runAuditBench();
  process.stdout.write(`${formatTable(rows)}\n`);
}
