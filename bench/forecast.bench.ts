/**
 * CDSi engine benchmark: one forecast for a patient with 20 doses across all vaccine groups
 * (target <= 2 ms p50) and the whole CDC test-case run (target < 10 s).
 * Standalone: node --import tsx bench/forecast.bench.ts
 */
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { getSupportingData, runForecast } from '../src/modules/immunization/cdsi/index.js';
import type { ForecastInput } from '../src/modules/immunization/cdsi/index.js';
import { caseInput, compareCase, loadCdcCases } from '../test/modules/immunization/cdsi/cdc-cases.js';
import { percentile, processRssMb } from './lib/stats.js';

export interface ForecastBenchRow {
  operation: string;
  opsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  rssMb: number;
}

/** A 15-year-old with a typical childhood record: 20 doses touching most vaccine groups. */
export const TWENTY_DOSE_PATIENT: ForecastInput = {
  dob: '2010-03-15',
  gender: 'F',
  assessmentDate: '2025-11-10',
  doses: [
    { cvx: '08', date: '2010-03-16' },
    { cvx: '110', date: '2010-05-17' },
    { cvx: '48', date: '2010-05-17' },
    { cvx: '133', date: '2010-05-17' },
    { cvx: '116', date: '2010-05-17' },
    { cvx: '110', date: '2010-07-19' },
    { cvx: '133', date: '2010-07-19' },
    { cvx: '110', date: '2010-09-20' },
    { cvx: '94', date: '2011-03-21' },
    { cvx: '83', date: '2011-03-21' },
    { cvx: '48', date: '2011-06-20' },
    { cvx: '20', date: '2011-06-20' },
    { cvx: '83', date: '2011-09-19' },
    { cvx: '130', date: '2014-03-17' },
    { cvx: '94', date: '2014-03-17' },
    { cvx: '115', date: '2021-03-15' },
    { cvx: '114', date: '2021-03-15' },
    { cvx: '165', date: '2021-03-15' },
    { cvx: '165', date: '2021-09-20' },
    { cvx: '150', date: '2025-10-01' },
  ],
};

function measure(operation: string, iterations: number, fn: () => void): ForecastBenchRow {
  const times: number[] = [];
  for (let i = 0; i < iterations; i += 1) {
    const start = performance.now();
    fn();
    times.push(performance.now() - start);
  }
  const total = times.reduce((a, b) => a + b, 0);
  return {
    operation,
    opsPerSec: Math.round((iterations / total) * 1000 * 10) / 10,
    p50Ms: Math.round(percentile(times, 50) * 1000) / 1000,
    p99Ms: Math.round(percentile(times, 99) * 1000) / 1000,
    rssMb: processRssMb(),
  };
}

export async function runForecastBench(): Promise<ForecastBenchRow[]> {
  const data = getSupportingData();
  const cases = loadCdcCases();
  const inputs = cases.map((c) => caseInput(c, data));
  // Warm-up: JIT and the supporting-data cache are not what is being measured.
  for (let i = 0; i < 200; i += 1) runForecast(TWENTY_DOSE_PATIENT, data);
  const rows = [
    measure('cdsi forecast, 20 doses, all vaccine groups', 2000, () => {
      runForecast(TWENTY_DOSE_PATIENT, data);
    }),
    measure(`cdsi CDC case run (${cases.length} cases)`, 5, () => {
      let failed = 0;
      cases.forEach((c, i) => {
        if (compareCase(c, runForecast(inputs[i] as ForecastInput, data)).length > 0) failed += 1;
      });
      if (failed > 0) throw new Error(`${failed} CDC cases fail`);
    }),
  ];
  return rows;
}

function printTable(rows: ForecastBenchRow[]): void {
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
  runForecastBench().then(printTable, (err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
}
