import { statfs } from 'node:fs/promises';

export interface HealthCheckResult {
  status: 'up' | 'down';
  durationMs: number;
  detail?: string;
}

export interface HealthCheck {
  name: string;
  run(): Promise<void | string>;
}

const CHECK_TIMEOUT_MS = 3000;

async function runOne(check: HealthCheck): Promise<HealthCheckResult> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    const detail = await Promise.race([
      check.run(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`timed out after ${CHECK_TIMEOUT_MS} ms`)),
          CHECK_TIMEOUT_MS,
        );
      }),
    ]);
    const result: HealthCheckResult = { status: 'up', durationMs: Math.round(performance.now() - started) };
    if (typeof detail === 'string') result.detail = detail;
    return result;
  } catch (error) {
    return {
      status: 'down',
      durationMs: Math.round(performance.now() - started),
      detail: (error as Error).message,
    };
  } finally {
    clearTimeout(timer);
  }
}

/** Runs every readiness check concurrently; ready only when all are up. */
export async function runHealthChecks(
  checks: readonly HealthCheck[],
): Promise<{ status: 'ok' | 'unavailable'; checks: Record<string, HealthCheckResult> }> {
  const results = await Promise.all(checks.map(async (c) => [c.name, await runOne(c)] as const));
  const byName = Object.fromEntries(results);
  return { status: results.every(([, r]) => r.status === 'up') ? 'ok' : 'unavailable', checks: byName };
}

export function diskSpaceCheck(dir: string, minFreeBytes: number): HealthCheck {
  return {
    name: 'disk',
    async run() {
      const fs = await statfs(dir);
      const free = fs.bavail * fs.bsize;
      const freeMb = Math.floor(free / 1024 / 1024);
      if (free < minFreeBytes)
        throw new Error(`${freeMb} MB free, below the ${Math.floor(minFreeBytes / 1024 / 1024)} MB floor`);
      return `${freeMb} MB free`;
    },
  };
}
