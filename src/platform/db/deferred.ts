import type { DeferOptions } from './types.js';

/** A statement a transaction holds back until its next query or its commit. */
export interface DeferredStatement extends DeferOptions {
  sql: string;
  params: readonly unknown[];
}

export interface CombinedStatement {
  sql: string;
  params: unknown[];
  name?: string;
  /** Hands each statement the rows it returned, from the combined result. */
  deliver(rows: ReadonlyArray<Record<string, unknown>>): void;
}

const PLACEHOLDER = /\$(\d+)/g;
const CTE_HEAD = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s+AS\s*\(/i;

/**
 * A statement split into the CTEs of its leading WITH and its main statement. PostgreSQL allows
 * data-modifying CTEs only at the top level, so a deferred statement's own CTEs are lifted
 * into the combined statement's WITH list.
 */
function splitWith(sql: string): { ctes: Array<{ name: string; body: string }>; main: string } {
  const head = /^\s*WITH\s+/i.exec(sql);
  if (!head || /^\s*WITH\s+RECURSIVE\b/i.test(sql)) return { ctes: [], main: sql };
  const ctes: Array<{ name: string; body: string }> = [];
  let rest = sql.slice(head[0].length);
  for (;;) {
    const cte = CTE_HEAD.exec(rest);
    if (!cte) return { ctes: [], main: sql };
    let depth = 1;
    let quoted = false;
    let i = cte[0].length;
    for (; i < rest.length && depth > 0; i++) {
      const c = rest[i];
      if (c === "'") quoted = !quoted;
      else if (!quoted && c === '(') depth++;
      else if (!quoted && c === ')') depth--;
    }
    if (depth !== 0) return { ctes: [], main: sql };
    ctes.push({ name: cte[1] as string, body: rest.slice(cte[0].length, i - 1) });
    rest = rest.slice(i);
    const comma = /^\s*,/.exec(rest);
    if (!comma) return { ctes, main: rest.trim() };
    rest = rest.slice(comma[0].length);
  }
}

/**
 * One statement doing what the deferred ones do: each becomes a data-modifying CTE (all of them
 * run, in one snapshot, whether or not the main query reads them) with its placeholders
 * renumbered, so deferred SQL must not hold `$<n>` anywhere but in its placeholders. The rows a
 * RETURNING clause gives come back as JSON through the main query, tagged with their statement.
 * Answers undefined when the statements' own CTE names clash (they would have to be sent apart).
 */
export function combineDeferred(statements: readonly DeferredStatement[]): CombinedStatement | undefined {
  const only = statements.length === 1 ? statements[0] : undefined;
  if (only) {
    return {
      sql: only.sql,
      params: [...only.params],
      ...(only.name ? { name: only.name } : {}),
      deliver: (rows) => only.rows?.([...rows]),
    };
  }
  const params: unknown[] = [];
  const ctes: string[] = [];
  const names = new Set<string>();
  for (const [i, s] of statements.entries()) {
    const offset = params.length;
    params.push(...s.params);
    const split = splitWith(s.sql.replace(PLACEHOLDER, (_m, n: string) => `$${Number(n) + offset}`));
    for (const name of [...split.ctes.map((c) => c.name.toLowerCase()), `d${i}`]) {
      if (names.has(name)) return undefined;
      names.add(name);
    }
    for (const cte of split.ctes) ctes.push(`${cte.name} AS (${cte.body})`);
    ctes.push(`d${i} AS (${split.main})`);
  }
  const returning = statements.flatMap((s, i) =>
    s.rows ? [`SELECT ${i} AS d, row_to_json(d${i})::text AS r FROM d${i}`] : [],
  );
  const statementNames = statements.map((s) => s.name);
  return {
    sql: `WITH ${ctes.join(', ')} ${returning.length > 0 ? returning.join(' UNION ALL ') : 'SELECT NULL::int AS d, NULL::text AS r WHERE FALSE'}`,
    params,
    // Named only when every part is: the combined text is then one of a few fixed shapes.
    ...(statementNames.every(Boolean) ? { name: `deferred:${statementNames.join('+')}` } : {}),
    deliver(rows) {
      const byStatement = statements.map((): Record<string, unknown>[] => []);
      for (const row of rows) byStatement[row.d as number]?.push(JSON.parse(row.r as string));
      statements.forEach((s, i) => s.rows?.(byStatement[i] ?? []));
    },
  };
}

/**
 * The deferred statements as few combined statements as their CTE names allow, in order: one,
 * unless two of them use the same CTE name (two events published in one transaction).
 */
export function deferredBatches(statements: readonly DeferredStatement[]): CombinedStatement[] {
  const batches: CombinedStatement[] = [];
  let start = 0;
  while (start < statements.length) {
    let end = statements.length;
    let combined = combineDeferred(statements.slice(start, end));
    while (!combined) combined = combineDeferred(statements.slice(start, --end));
    batches.push(combined);
    start = end;
  }
  return batches;
}
