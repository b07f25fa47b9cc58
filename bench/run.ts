// `npm run bench`: loads 127.0.0.1 servers with autocannon and prints operation, req/s, p50, p99, RSS.
import { rmSync } from 'node:fs';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { auditServerSuite } from './audit-server.bench.js';
import { fhirServerSuite } from './fhir-server.bench.js';
import { ensureBuilt } from './lib/build.js';
import { killAllServers, type ServerHandle } from './lib/server.js';
import type { BenchContext, BenchSettings, Row, Suite } from './lib/suite.js';
import { bareFastifySuite, moduleSuite, OPERATIONS, platformSuite, startIris } from './lib/suites.js';
import { formatTable } from './lib/table.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
/** Issue 2: /health/live at no less than 60% of bare Fastify's req/s. */
const TARGET_PERCENT = 60;

function envSeconds(name: string, fallback: number, min: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min)
    throw new Error(`${name} must be a whole number >= ${min} (got ${raw})`);
  return value;
}

function describeBackend(): string {
  const at = (name: string) => {
    const raw = process.env[name];
    return raw ? new URL(raw).host : undefined; // host only: the URL may carry credentials
  };
  const db = at('DATABASE_URL');
  const redis = at('REDIS_URL');
  return `database ${db ? `PostgreSQL at ${db}` : 'PGlite (embedded)'}, cache ${redis ? `Redis at ${redis}` : 'in-process'}`;
}

let tmpDir: string | undefined;
const cleanUp = () => {
  killAllServers();
  // BENCH_KEEP_TMP=1 keeps the servers' logs and data for a look after the run.
  if (tmpDir && process.env.BENCH_KEEP_TMP !== '1') rmSync(tmpDir, { recursive: true, force: true });
  else if (tmpDir) process.stderr.write(`bench: kept ${tmpDir}\n`);
};
process.once('exit', cleanUp);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    process.stderr.write(`bench: ${signal}, stopping\n`);
    process.exit(130);
  });
}

async function main(): Promise<number> {
  const settings: BenchSettings = {
    durationSec: envSeconds('BENCH_DURATION', 10, 1),
    warmupSec: envSeconds('BENCH_WARMUP', 3, 0),
    connections: envSeconds('BENCH_CONNECTIONS', 50, 1),
  };
  const timeoutSec = envSeconds('BENCH_TIMEOUT', 600, 10);
  setTimeout(() => {
    process.stderr.write(`bench: gave up after ${timeoutSec} s (BENCH_TIMEOUT)\n`);
    process.exit(1);
  }, timeoutSec * 1000).unref();

  ensureBuilt(ROOT);
  tmpDir = await mkdtemp(join(tmpdir(), 'iris-bench-'));
  const scratch = tmpDir;
  let iris: Promise<ServerHandle> | undefined;
  const ctx: BenchContext = { settings, tmpDir: scratch, iris: () => (iris ??= startIris(ROOT, scratch)) };
  const all: Suite[] = [
    bareFastifySuite(ROOT),
    platformSuite,
    moduleSuite(ROOT, 'auth', 'auth.bench.ts', 'runAuthBench'),
    moduleSuite(ROOT, 'events', 'events.bench.ts', 'runEventsBench'),
    moduleSuite(ROOT, 'audit', 'audit.bench.ts', 'runAuditBench'),
    auditServerSuite(ROOT),
    moduleSuite(ROOT, 'fhir', 'fhir.bench.ts', 'runFhirBench'),
    fhirServerSuite(ROOT),
    moduleSuite(ROOT, 'forecast', 'forecast.bench.ts', 'runForecastBench'),
    moduleSuite(ROOT, 'registry', 'registry.bench.ts', 'runRegistryBench'),
  ];

  // BENCH_SUITES=fhir,auth runs only the suites whose names start with one of those.
  const only = process.env.BENCH_SUITES?.split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const suites = only?.length ? all.filter((s) => only.some((o) => s.name.startsWith(o))) : all;
  if (suites.length === 0)
    throw new Error(`BENCH_SUITES matches none of: ${all.map((s) => s.name).join(', ')}`);
  const backend = describeBackend();
  const setup = `${settings.durationSec} s per run after ${settings.warmupSec} s warm-up, ${settings.connections} connections`;
  process.stdout.write(
    `IRIS Health bench: ${setup}; node ${process.version}, ${cpus().length} CPUs; ${backend}\n`,
  );

  const rows: Row[] = [];
  const errors: string[] = [];
  try {
    for (const suite of suites) {
      process.stderr.write(`bench: ${suite.name} ...\n`);
      try {
        rows.push(...(await suite.run(ctx)));
      } catch (error) {
        errors.push(`${suite.name}: ${(error as Error).message}`);
      }
    }
  } finally {
    await iris?.then((server) => server.stop()).catch(() => undefined);
  }

  const bare = rows.find((r) => r.operation === OPERATIONS.bare);
  const live = rows.find((r) => r.operation === OPERATIONS.live);
  const percent = bare && live && bare.opsPerSec > 0 ? (live.opsPerSec / bare.opsPerSec) * 100 : undefined;
  const failedRows = rows.filter((r) => r.failed);
  const comparedToBare = suites.includes(all[0] as Suite) && suites.includes(platformSuite);
  const pass =
    (!comparedToBare || (percent !== undefined && percent >= TARGET_PERCENT)) &&
    errors.length === 0 &&
    failedRows.length === 0;

  process.stdout.write(`\n${formatTable(rows)}\n\n`);
  process.stdout.write(
    percent === undefined
      ? 'health/live vs bare fastify: not measured\n'
      : `health/live vs bare fastify: ${Math.round(percent)}% (target >= ${TARGET_PERCENT}%)\n`,
  );
  for (const row of failedRows)
    process.stdout.write(`invalid: ${row.operation} had ${row.failed} failed requests\n`);
  for (const error of errors) process.stdout.write(`error: ${error}\n`);
  process.stdout.write(`${pass ? 'PASS' : 'FAIL'}\n`);

  const resultsDir = join(ROOT, 'bench', 'results');
  await mkdir(resultsDir, { recursive: true });
  const report = {
    at: new Date().toISOString(),
    node: process.version,
    cpus: cpus().length,
    backend,
    settings,
    rows,
    liveVsBarePercent: percent ?? null,
    targetPercent: TARGET_PERCENT,
    errors,
    pass,
  };
  await writeFile(join(resultsDir, 'latest.json'), `${JSON.stringify(report, null, 2)}\n`);
  return pass ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`bench: ${(error as Error).message}\n`);
    process.exit(1);
  },
);
