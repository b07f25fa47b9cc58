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

interface Prepared {
  statement: DeferredStatement;
  /** Its own CTEs, lifted, and its main statement, with placeholders past `offset`. */
  ctes: string[];
  main: string;
}

/**
 * The longest run of statements from the first that can share one WITH list (their CTE names,
 * and the `d<i>` names the combined statement gives their main statements, all differ).
 */
function combinable(statements: readonly DeferredStatement[]): { parts: Prepared[]; params: unknown[] } {
  const params: unknown[] = [];
  const parts: Prepared[] = [];
  const names = new Set<string>();
  for (const [i, statement] of statements.entries()) {
    const offset = params.length;
    const split = splitWith(statement.sql.replace(PLACEHOLDER, (_m, n: string) => `$${Number(n) + offset}`));
    const own = [...split.ctes.map((c) => c.name.toLowerCase()), `d${i}`];
    const clash = own.some((name, k) => names.has(name) || own.indexOf(name) !== k);
    // The first always goes, alone if need be: sent by itself it is left as it is.
    if (clash && i > 0) break;
    for (const name of own) names.add(name);
    params.push(...statement.params);
    parts.push({ statement, ctes: split.ctes.map((c) => `${c.name} AS (${c.body})`), main: split.main });
    if (clash) break;
  }
  return { parts, params };
}

/**
 * One statement doing what `parts` do: each becomes a data-modifying CTE (all of them run, in
 * one snapshot, whether or not the main query reads them) with its placeholders renumbered, so
 * deferred SQL must not hold `$<n>` anywhere but in its placeholders. The rows a RETURNING
 * clause gives come back as JSON through the main query, tagged with their statement.
 */
function combined(parts: readonly Prepared[], params: unknown[]): CombinedStatement {
  const statements = parts.map((p) => p.statement);
  const only = statements.length === 1 ? statements[0] : undefined;
  if (only) {
    return {
      sql: only.sql,
      params: [...only.params],
      ...(only.name ? { name: only.name } : {}),
      deliver: (rows) => only.rows?.([...rows]),
    };
  }
  const ctes = parts.flatMap((p, i) => [...p.ctes, `d${i} AS (${p.main})`]);
  const returning = statements.flatMap((s, i) =>
    s.rows ? [`SELECT ${i} AS d, row_to_json(d${i})::text AS r FROM d${i}`] : [],
  );
  const names = statements.map((s) => s.name);
  return {
    sql: `WITH ${ctes.join(', ')} ${returning.length > 0 ? returning.join(' UNION ALL ') : 'SELECT NULL::int AS d, NULL::text AS r WHERE FALSE'}`,
    params,
    // Named only when every part is: the combined text is then one of a few fixed shapes.
    ...(names.every(Boolean) ? { name: `deferred:${names.join('+')}` } : {}),
    deliver(rows) {
      const byStatement = statements.map((): Record<string, unknown>[] => []);
      for (const row of rows) byStatement[row.d as number]?.push(JSON.parse(row.r as string));
      statements.forEach((s, i) => s.rows?.(byStatement[i] ?? []));
    },
  };
}

/** The statements as one, or undefined when their own CTE names clash (they go apart then). */
export function combineDeferred(statements: readonly DeferredStatement[]): CombinedStatement | undefined {
  const { parts, params } = combinable(statements);
  return parts.length === statements.length ? combined(parts, params) : undefined;
}

/**
 * The deferred statements as few combined statements as their CTE names allow, in order: one,
 * unless two of them use the same CTE name (two events published in one transaction).
 */
export function deferredBatches(statements: readonly DeferredStatement[]): CombinedStatement[] {
  const batches: CombinedStatement[] = [];
  for (let start = 0; start < statements.length;) {
    const { parts, params } = combinable(statements.slice(start));
    batches.push(combined(parts, params));
    start += parts.length;
  }
  return batches;
}

/** A transaction's deferred statements, waiting for its next query or its commit. */
export class DeferredQueue {
  private statements: DeferredStatement[] = [];

  add(sql: string, params: readonly unknown[], options: DeferOptions = {}): void {
    this.statements.push({ sql, params, ...options });
  }

  /** Everything queued, as few statements as can be, leaving the queue empty. */
  take(): CombinedStatement[] {
    const batches = deferredBatches(this.statements);
    this.statements = [];
    return batches;
  }
}

/** Runs combined statements in order, handing each statement its returned rows. */
export async function sendDeferred(
  batches: readonly CombinedStatement[],
  run: (statement: CombinedStatement) => Promise<Record<string, unknown>[]>,
): Promise<void> {
  for (const statement of batches) statement.deliver(await run(statement));
}
