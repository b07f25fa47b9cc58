import { errors } from '../../../platform/http/errors.js';
import { identifying } from '../indexing/policy.js';
import type { SortKey } from './parse.js';
import type { Params } from './scope.js';

/** A sort key as SQL, with the cast its cursor value needs. */
export interface SqlSortKey {
  expr: string;
  cast: 'text' | 'timestamptz' | 'numeric';
  descending: boolean;
}

const TABLES = {
  string: ['fhir_idx_string', 'value', 'text'],
  token: ['fhir_idx_token', 'value', 'text'],
  uri: ['fhir_idx_uri', 'value', 'text'],
  reference: ['fhir_idx_reference', 'reference', 'text'],
  number: ['fhir_idx_number', 'value', 'numeric'],
  quantity: ['fhir_idx_quantity', 'value', 'numeric'],
} as const;

/** The SQL sort keys of a request; the resource id always ends the list (a total order). */
export function sortKeys(keys: SortKey[], type: string, params: Params): SqlSortKey[] {
  const out: SqlSortKey[] = [];
  const list = keys.length > 0 ? keys : [{ code: '_lastUpdated', descending: false }];
  for (const key of list) {
    if (key.code === '_id') {
      out.push({ expr: 'r.id', cast: 'text', descending: key.descending });
      continue;
    }
    if (key.code === '_lastUpdated') {
      out.push({ expr: 'r.last_updated', cast: 'timestamptz', descending: key.descending });
      continue;
    }
    const param = key.param;
    if (!param) throw errors.badRequest(`cannot sort by ${key.code}`);
    if (identifying(type, param)) {
      throw errors.badRequest(`cannot sort by ${key.code}: its values are stored as blind indexes`);
    }
    const where = `s.resource_type = ${params.add(type)} AND s.resource_id = r.id AND s.code = ${params.add(param.code)}`;
    if (param.type === 'date') {
      const col = key.descending ? 'max(s.high)' : 'min(s.low)';
      out.push({
        expr: `(SELECT ${col} FROM fhir_idx_date s WHERE ${where})`,
        cast: 'timestamptz',
        descending: key.descending,
      });
      continue;
    }
    if (param.type === 'composite' || param.type === 'special')
      throw errors.badRequest(`cannot sort by ${key.code}: it is a ${param.type} parameter`);
    const [table, column, cast] = TABLES[param.type];
    const agg = key.descending ? 'max' : 'min';
    out.push({
      expr: `(SELECT ${agg}(s.${column}) FROM ${table} s WHERE ${where})`,
      cast,
      descending: key.descending,
    });
  }
  if (!out.some((k) => k.expr === 'r.id')) out.push({ expr: 'r.id', cast: 'text', descending: false });
  return out;
}

export function orderBy(keys: SqlSortKey[], reverse: boolean): string {
  return keys
    .map((k) => {
      const desc = k.descending !== reverse;
      // Missing values sort after present ones in the forward direction.
      return `${k.expr} ${desc ? 'DESC' : 'ASC'} NULLS ${reverse ? 'FIRST' : 'LAST'}`;
    })
    .join(', ');
}

/**
 * Keyset condition: rows strictly after (or, `before`, strictly before) the row whose sort
 * values are `values`, in the order of `keys` with missing values last.
 */
export function keysetSql(
  keys: SqlSortKey[],
  values: Array<string | null>,
  before: boolean,
  params: Params,
): string {
  const build = (i: number): string => {
    const key = keys[i];
    if (!key) return 'FALSE';
    const v = values[i] ?? null;
    const e = key.expr;
    const lit = v === null ? '' : `${params.add(v)}::${key.cast}`;
    let strictly: string;
    let equal: string;
    if (!before) {
      strictly = v === null ? 'FALSE' : `(${e} ${key.descending ? '<' : '>'} ${lit} OR ${e} IS NULL)`;
      equal = v === null ? `${e} IS NULL` : `${e} = ${lit}`;
    } else {
      strictly = v === null ? `${e} IS NOT NULL` : `${e} ${key.descending ? '>' : '<'} ${lit}`;
      equal = v === null ? `${e} IS NULL` : `${e} = ${lit}`;
    }
    const rest = build(i + 1);
    return rest === 'FALSE' ? strictly : `(${strictly} OR (${equal} AND ${rest}))`;
  };
  return build(0);
}

export interface Cursor {
  direction: 'next' | 'previous';
  values: Array<string | null>;
}

export function encodeCursor(cursor: Cursor): string {
  return Buffer.from(JSON.stringify([cursor.direction === 'next' ? 'n' : 'p', ...cursor.values])).toString(
    'base64url',
  );
}

export function decodeCursor(text: string): Cursor {
  try {
    const [d, ...values] = JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) as unknown[];
    if ((d !== 'n' && d !== 'p') || !values.every((v) => v === null || typeof v === 'string'))
      throw new Error();
    return { direction: d === 'n' ? 'next' : 'previous', values: values as Array<string | null> };
  } catch {
    throw errors.badRequest('_cursor is not a cursor this server issued');
  }
}

export function cursorValue(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  if (value instanceof Date) return value.toISOString();
  return String(value);
}
