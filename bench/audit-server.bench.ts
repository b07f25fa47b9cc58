/**
 * What auditing costs a FHIR read as a client pays for it: the server as deployed (HTTP, a
 * signed-in nurse, row-level security, the event bus, the audit sequencer and its alert rules in
 * the same process), with its audit trail and with auditing switched off by the harness
 * (lib/serve-audit-arm.ts). The in-process row of audit.bench.ts prices the same entry against
 * the bare store call, which is a much smaller denominator.
 *
 * Arms run one at a time, each in a fresh server process: two servers on one database would
 * chain each other's audit entries. They alternate (off-on, on-off, ...) so that drift of the
 * machine falls on both, and each row is the median of BENCH_AUDIT_ROUNDS runs (default 3).
 */
import { join } from 'node:path';
import { patientBundle } from './fhir.bench.js';
import { Accounts, call, FHIR_JSON, putOrganization } from './lib/accounts.js';
import { measureHttp } from './lib/http.js';
import type { BenchContext, Row, Suite } from './lib/suite.js';
import { startIris } from './lib/suites.js';

/** Issue 5: an audited read costs no more than 15% of the unaudited read's throughput. */
const TARGET_PERCENT = 15;
const PATIENTS = 100;
const PER_BUNDLE = 25;

type Arm = 'on' | 'off';

interface Loaded {
  nurse: string;
  patientIds: string[];
}

async function runArm(root: string, ctx: BenchContext, arm: Arm, loaded: Map<Arm, Loaded>): Promise<Row> {
  const server = await startIris(
    root,
    ctx.tmpDir,
    `audit-${arm}`,
    { BENCH_AUDIT: arm, IRIS_MFA_REQUIRED_ROLES: 'security_officer' },
    ['--import', 'tsx', join(root, 'bench', 'lib', 'serve-audit-arm.ts')],
  );
  try {
    const accounts = new Accounts(root, server.env);
    let data = loaded.get(arm);
    if (!data) {
      // Each arm its own organization and patients (an embedded arm has a database of its own).
      const tag = `audit-${arm}-${Date.now().toString(36)}`;
      const organization = `${tag}-clinic`;
      const admin = accounts.create(`admin-${tag}@bench.test`, 'system_admin');
      const nurse = accounts.create(`nurse-${tag}@bench.test`, 'nurse', organization);
      await putOrganization(server, accounts.token(admin), organization);
      const patientIds: string[] = [];
      for (let first = 0; first < PATIENTS; first += PER_BUNDLE) {
        const bundle = patientBundle(first, PER_BUNDLE, [organization], 1);
        const { json } = await call(server, accounts.token(nurse), 'POST', '/fhir', bundle);
        for (const entry of (json.entry ?? []) as Array<{ response?: { location?: string } }>) {
          const match = /^Patient\/([^/]+)/.exec(entry.response?.location ?? '');
          if (match?.[1]) patientIds.push(match[1]);
        }
      }
      if (patientIds.length !== PATIENTS)
        throw new Error(`loaded ${patientIds.length} of ${PATIENTS} patients`);
      data = { nurse, patientIds };
      loaded.set(arm, data);
    }
    const { nurse, patientIds } = data;
    return await measureHttp(`audit ${arm}`, server, '/fhir', ctx.settings, {
      headers: { authorization: `Bearer ${accounts.token(nurse)}`, accept: FHIR_JSON },
      next: (n) => ({ path: `/fhir/Patient/${patientIds[n % patientIds.length]}` }),
    });
  } finally {
    await server.stop();
  }
}

function median(rows: Row[]): Row {
  const sorted = [...rows].sort((a, b) => a.opsPerSec - b.opsPerSec);
  const middle = sorted[Math.floor(sorted.length / 2)] as Row;
  const failed = rows.reduce((sum, r) => sum + (r.failed ?? 0), 0);
  return {
    ...middle,
    rssMb: Math.max(...rows.map((r) => r.rssMb)),
    ...(failed > 0 ? { failed } : {}),
  };
}

async function run(root: string, ctx: BenchContext): Promise<Row[]> {
  const rounds = Number(process.env.BENCH_AUDIT_ROUNDS ?? 3);
  if (!Number.isInteger(rounds) || rounds < 1)
    throw new Error('BENCH_AUDIT_ROUNDS must be a whole number >= 1');
  const loaded = new Map<Arm, Loaded>();
  const runs: Record<Arm, Row[]> = { on: [], off: [] };
  for (let round = 0; round < rounds; round++) {
    const order: Arm[] = round % 2 === 0 ? ['off', 'on'] : ['on', 'off'];
    for (const arm of order) {
      const row = await runArm(root, ctx, arm, loaded);
      runs[arm].push(row);
      process.stderr.write(`bench: audit ${arm}, round ${round + 1}: ${Math.round(row.opsPerSec)} req/s\n`);
    }
  }
  const off = median(runs.off);
  const on = median(runs.on);
  const cost = Math.round((1 - on.opsPerSec / off.opsPerSec) * 100);
  const of = `median of ${rounds} alternating runs`;
  return [
    { ...off, operation: `FHIR read Patient by id over HTTP, auditing off (${of})` },
    {
      ...on,
      operation: `FHIR read Patient by id over HTTP, audited (${of}): ${cost}% below auditing off, target <= ${TARGET_PERCENT}%`,
    },
  ];
}

/** The suite for bench/run.ts. */
export function auditServerSuite(root: string): Suite {
  return { name: 'audit (server)', run: (ctx) => run(root, ctx) };
}
