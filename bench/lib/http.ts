import { createHistogram } from 'node:perf_hooks';
import autocannon from 'autocannon';
import type { ServerHandle } from './server.js';
import type { BenchSettings, Row } from './suite.js';

/** Load goes to loopback only: the bench must never hit a remote host by mistake. */
function assertLoopback(url: string): void {
  const host = new URL(url).hostname;
  if (host !== '127.0.0.1') throw new Error(`bench targets 127.0.0.1 only, not ${host}`);
}

interface LoadResult {
  result: autocannon.Result;
  p50Ms: number;
  p99Ms: number;
}

/**
 * One autocannon run. Latency is recorded here in microseconds because autocannon's own
 * histogram truncates to whole milliseconds, which reads as 0 for a fast route.
 */
function load(url: string, seconds: number, connections: number): Promise<LoadResult> {
  const micros = createHistogram();
  return new Promise((resolve, reject) => {
    const instance = autocannon({ url, duration: seconds, connections, timeout: 10 }, (error, result) => {
      if (error) reject(error);
      else resolve({ result, p50Ms: micros.percentile(50) / 1000, p99Ms: micros.percentile(99) / 1000 });
    });
    instance.on('response', (_client, _status, _bytes, responseTimeMs) => {
      micros.record(Math.max(1, Math.round(responseTimeMs * 1000)));
    });
  });
}

/** A warm-up run (JIT, pools, caches), then the measured run; the row carries the server's RSS after it. */
export async function measureHttp(
  operation: string,
  server: ServerHandle,
  path: string,
  settings: BenchSettings,
): Promise<Row> {
  const url = new URL(path, server.url).href;
  assertLoopback(url);
  if (settings.warmupSec > 0) await load(url, settings.warmupSec, settings.connections);
  const { result, p50Ms, p99Ms } = await load(url, settings.durationSec, settings.connections);
  const failed = result.non2xx + result.errors;
  return {
    operation,
    opsPerSec: result.requests.average,
    p50Ms,
    p99Ms,
    rssMb: await server.rssMb(),
    ...(failed > 0 ? { failed } : {}),
  };
}
