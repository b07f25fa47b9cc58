/**
 * Identity benchmark: an authenticated no-op request (RS256 verification, cached session state,
 * principal, permission check) against the same kind of route without authentication, and
 * password sign-ins per second with the production argon2id parameters.
 *
 * The server is this file run with `--serve` in a child process (tsx, embedded PGlite, in-process
 * cache), loaded over loopback by autocannon from the parent, so load generation does not share
 * the server's event loop. RSS is the child's.
 * Standalone: node --import tsx bench/auth.bench.ts
 */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { createHistogram } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import autocannon from 'autocannon';

export interface AuthBenchRow {
  operation: string;
  opsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  rssMb: number;
}

interface ServerInfo {
  url: string;
  token: string;
  /** One session per connection, as real clients have: concurrent requests of one session share a lookup. */
  sessionTokens: string[];
  email: string;
  password: string;
}

const SECONDS = Number(process.env.BENCH_DURATION ?? 10);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 3);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);

async function serve(): Promise<void> {
  const { authHarness, STRONG_PASSWORD } = await import('../test/modules/auth/harness.js');
  const { DEFAULT_PASSWORD_HASH } = await import('../src/modules/auth/options.js');
  // BENCH_SESSION_LOCAL_CACHE_SECONDS=0 measures without the in-process session layer.
  const local = process.env.BENCH_SESSION_LOCAL_CACHE_SECONDS;
  const h = await authHarness(
    {
      passwordHash: DEFAULT_PASSWORD_HASH,
      mfaRequiredRoles: [],
      ...(local ? { sessionLocalCacheSeconds: Number(local) } : {}),
    },
    { RATE_LIMIT_MAX: '1000000000', LOG_LEVEL: 'warn' },
  );
  const user = await h.user(['nurse'], { organizationId: 'org1' });
  const token = await h.token(user);
  const sessionTokens: string[] = [];
  for (let i = 0; i < CONNECTIONS; i += 1)
    sessionTokens.push((await h.auth.admin.operatorToken(user.email, 900)).token);
  const url = await h.app.listen({ host: '127.0.0.1', port: 0 });
  const info: ServerInfo = { url, token, sessionTokens, email: user.email, password: STRONG_PASSWORD };
  process.stdout.write(`${JSON.stringify(info)}\n`);
  process.once('SIGTERM', () => {
    void h.close().then(() => process.exit(0));
  });
}

async function rssMb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1] ?? 0);
  return Math.round((kb / 1024) * 10) / 10;
}

function load(
  options: {
    url: string;
    method?: 'GET' | 'POST';
    headers?: Record<string, string>;
    body?: string;
    /** Bearer tokens handed out one per connection. */
    tokens?: string[];
  },
  seconds: number,
  connections: number,
): Promise<{ rps: number; p50Ms: number; p99Ms: number; failed: number }> {
  const micros = createHistogram();
  const { tokens, ...request } = options;
  let next = 0;
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        ...request,
        duration: seconds,
        connections,
        timeout: 30,
        ...(tokens
          ? {
              setupClient: (client: autocannon.Client) => {
                client.setHeaders({ authorization: `Bearer ${tokens[next++ % tokens.length]}` });
              },
            }
          : {}),
      },
      (error, result) => {
        if (error) reject(error);
        else
          resolve({
            rps: result.requests.average,
            p50Ms: Math.round(micros.percentile(50)) / 1000,
            p99Ms: Math.round(micros.percentile(99)) / 1000,
            failed: result.non2xx + result.errors,
          });
      },
    );
    instance.on('response', (_client, _status, _bytes, ms) =>
      micros.record(Math.max(1, Math.round(ms * 1000))),
    );
  });
}

async function measure(
  operation: string,
  pid: number,
  options: Parameters<typeof load>[0],
  connections: number,
): Promise<AuthBenchRow> {
  if (!new URL(options.url).hostname.startsWith('127.')) throw new Error('bench targets loopback only');
  if (WARMUP > 0) await load(options, WARMUP, connections);
  const run = await load(options, SECONDS, connections);
  if (run.failed > 0) throw new Error(`${operation}: ${run.failed} requests failed`);
  return {
    operation,
    opsPerSec: Math.round(run.rps),
    p50Ms: run.p50Ms,
    p99Ms: run.p99Ms,
    rssMb: await rssMb(pid),
  };
}

export async function runAuthBench(): Promise<AuthBenchRow[]> {
  const file = fileURLToPath(import.meta.url);
  const child = spawn(process.execPath, ['--import', 'tsx', file, '--serve'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    const info = await new Promise<ServerInfo>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        const line = out.split('\n').find((l) => l.startsWith('{'));
        if (line) resolve(JSON.parse(line) as ServerInfo);
      });
      child.once('exit', (code) => reject(new Error(`bench server exited with ${code}`)));
    });
    const pid = child.pid as number;
    const open = { url: `${info.url}/probe/public` };
    const authed = { url: `${info.url}/probe/noop`, tokens: info.sessionTokens };
    // Alternating runs, best of each: the two rows see the same machine load.
    const best = (a: AuthBenchRow, b: AuthBenchRow) => (a.opsPerSec >= b.opsPerSec ? a : b);
    let openRow = await measure('unauthenticated no-op request', pid, open, CONNECTIONS);
    let authedRow = await measure('authenticated no-op request', pid, authed, CONNECTIONS);
    openRow = best(openRow, await measure('unauthenticated no-op request', pid, open, CONNECTIONS));
    authedRow = best(authedRow, await measure('authenticated no-op request', pid, authed, CONNECTIONS));
    const rows = [
      openRow,
      authedRow,
      // Each sign-in hashes once (argon2id 19 MiB, t=2): the CPU count bounds the rate.
      await measure(
        'login (argon2id m=19MiB t=2 p=1)',
        pid,
        {
          url: `${info.url}/api/v1/auth/login`,
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ email: info.email, password: info.password }),
        },
        4,
      ),
    ];
    return rows;
  } finally {
    child.kill('SIGTERM');
  }
}

function printTable(rows: AuthBenchRow[]): void {
  const header = ['operation', 'ops/s', 'p50 (ms)', 'p99 (ms)', 'RSS (MB)'];
  const body = rows.map((r) => [
    r.operation,
    String(r.opsPerSec),
    String(r.p50Ms),
    String(r.p99Ms),
    String(r.rssMb),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => (b[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ');
  console.log([line(header), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n'));
  const [open, authed] = rows;
  if (open && authed)
    console.log(`authenticated / unauthenticated: ${Math.round((authed.opsPerSec / open.opsPerSec) * 100)}%`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  if (process.argv.includes('--serve')) {
    serve().catch((error: unknown) => {
      console.error(error);
      process.exit(1);
    });
  } else {
    runAuthBench().then(printTable, (error: unknown) => {
      console.error(error);
      process.exitCode = 1;
    });
  }
}
