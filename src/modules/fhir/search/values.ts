import { errors } from '../../../platform/http/errors.js';
import { parseDateRange, type DateRange } from '../indexing/dates.js';

export type Prefix = 'eq' | 'ne' | 'lt' | 'gt' | 'le' | 'ge' | 'sa' | 'eb' | 'ap';
const PREFIXES = new Set<string>(['eq', 'ne', 'lt', 'gt', 'le', 'ge', 'sa', 'eb', 'ap']);

export function splitPrefix(value: string): { prefix: Prefix; rest: string } {
  const head = value.slice(0, 2);
  if (PREFIXES.has(head) && /^[\d-]/.test(value.slice(2)))
    return { prefix: head as Prefix, rest: value.slice(2) };
  return { prefix: 'eq', rest: value };
}

export function searchDate(value: string): { prefix: Prefix; range: DateRange } {
  const { prefix, rest } = splitPrefix(value);
  const range = parseDateRange(rest);
  if (!range) throw errors.badRequest(`${JSON.stringify(value)} is not a FHIR date search value`);
  return { prefix, range };
}

/**
 * The SQL test of a stored range [low, high] against a searched range, as FHIR defines the
 * prefixes (eq: contained; ne: not contained; lt/gt: extends below/above; le/ge: also when
 * overlapping the edge; sa/eb: entirely after/before; ap: overlaps the range widened by 10%).
 */
export function rangeSql(
  prefix: Prefix,
  low: string,
  high: string,
  searchLow: () => string,
  searchHigh: () => string,
): string {
  // Parameters are added lazily: an unused placeholder has no type and fails the statement.
  const qLow = searchLow;
  const qHigh = searchHigh;
  switch (prefix) {
    case 'eq':
      return `(${low} >= ${qLow()} AND ${high} <= ${qHigh()})`;
    case 'ne':
      return `NOT (${low} >= ${qLow()} AND ${high} <= ${qHigh()})`;
    case 'lt':
      return `${low} < ${qLow()}`;
    case 'gt':
      return `${high} > ${qHigh()}`;
    case 'le':
      return `${low} <= ${qHigh()}`;
    case 'ge':
      return `${high} >= ${qLow()}`;
    case 'sa':
      return `${low} > ${qHigh()}`;
    case 'eb':
      return `${high} < ${qLow()}`;
    case 'ap':
      return `(${low} <= ${qHigh()} AND ${high} >= ${qLow()})`;
  }
}

/** Widens a searched date range by 10% of its distance from now (at least a day) for `ap`. */
export function approximate(range: DateRange): DateRange {
  const now = Date.now();
  const span = Math.max(Math.abs(now - range.low.getTime()) * 0.1, 86_400_000);
  return { ...range, low: new Date(range.low.getTime() - span), high: new Date(range.high.getTime() + span) };
}

/** A number's implied range from its precision (`1.5` means [1.45, 1.55)). */
export function numberRange(text: string): { low: string; high: string; value: string } {
  if (!/^-?\d+(\.\d+)?([eE][-+]?\d+)?$/.test(text))
    throw errors.badRequest(`${JSON.stringify(text)} is not a number`);
  const decimals = /\.(\d+)/.exec(text)?.[1]?.length ?? 0;
  const half = 0.5 * 10 ** -decimals;
  const n = Number(text);
  return { low: String(n - half), high: String(n + half), value: text };
}
