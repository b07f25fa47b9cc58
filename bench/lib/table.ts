import type { Row } from './suite.js';

const HEADERS = ['operation', 'req/s', 'p50 ms', 'p99 ms', 'RSS MB'] as const;

const whole = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const fine = new Intl.NumberFormat('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 });
const tenth = new Intl.NumberFormat('en-US', { minimumFractionDigits: 1, maximumFractionDigits: 1 });

function cells(row: Row): string[] {
  const operation = row.failed ? `${row.operation} [${row.failed} failed]` : row.operation;
  return [
    operation,
    whole.format(row.opsPerSec),
    fine.format(row.p50Ms),
    fine.format(row.p99Ms),
    tenth.format(row.rssMb),
  ];
}

/** A plain-text table: operation left-aligned, numbers right-aligned. */
export function formatTable(rows: readonly Row[]): string {
  const body = rows.map(cells);
  const widths = HEADERS.map((h, i) => Math.max(h.length, ...body.map((r) => r[i]?.length ?? 0)));
  const line = (values: readonly string[]) =>
    values.map((v, i) => (i === 0 ? v.padEnd(widths[i] ?? 0) : v.padStart(widths[i] ?? 0))).join('  ');
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  return [line(HEADERS), rule, ...body.map(line)].join('\n');
}
