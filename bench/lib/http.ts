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
function load(url: string, seconds: number, connections: number, request?: RequestPlan): Promise<LoadResult> {
  const micros = createHistogram();
  let sent = 0;
  const requests: autocannon.Request[] | undefined = request && [
    {
      method: request.method ?? 'GET',
      headers: request.headers,
      setupRequest: (req) => {
        const { path, body } = request.next(sent++);
        return { ...req, path, ...(body === undefined ? {} : { body }) };
      },
    },
  ];
  return new Promise((resolve, reject) => {
    const options = { url, duration: seconds, connections, timeout: 10, ...(requests ? { requests } : {}) };
    const instance = autocannon(options, (error, result) => {
      if (error) reject(error);
      else resolve({ result, p50Ms: micros.percentile(50) / 1000, p99Ms: micros.percentile(99) / 1000 });
    });
    instance.on('response', (_client, _status, _bytes, responseTimeMs) => {
      micros.record(Math.max(1, Math.round(responseTimeMs * 1000)));
    });
  });
}

/** Requests that differ from one to the next (ids, bodies), with fixed method and headers. */
export interface RequestPlan {
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  /** The n-th request's path (from the server root) and body. */
  next(n: number): { path: string; body?: string };
}

/** A warm-up run (JIT, pools, caches), then the measured run; the row carries the server's RSS after it. */
export async function measureHttp(
  operation: string,
  server: ServerHandle,
  path: string,
  settings: BenchSettings,
  request?: RequestPlan,
): Promise<Row> {
  const url = new URL(path, server.url).href;
  assertLoopback(url);
  if (settings.warmupSec > 0) await load(url, settings.warmupSec, settings.connections, request);
  const { result, p50Ms, p99Ms } = await load(url, settings.durationSec, settings.connections, request);
  const failed = result.non2xx + result.errors + result.timeouts;
  return {
    operation,
    opsPerSec: result.requests.average,
    p50Ms,
    p99Ms,
    rssMb: await server.rssMb(),
    ...(failed > 0 ? { failed } : {}),
  };
}
