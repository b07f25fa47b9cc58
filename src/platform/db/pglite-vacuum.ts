import type { Queryable } from './types.js';

/** A table's activity since it was last vacuumed and analyzed, from the statistics views. */
export interface TableActivity {
  /** Schema-qualified and quoted, ready for a VACUUM or ANALYZE statement. */
  table: string;
  live: number;
  dead: number;
  /** Rows inserted, updated or deleted since the last analyze. */
  modified: number;
  /** Rows inserted since the last vacuum. */
  inserted: number;
  /** Rows at the last vacuum or analyze; -1 when there was none. */
  reltuples: number;
  /** Transactions since the table's oldest unfrozen row id. */
  xidAge: number;
  options: string[] | null;
}

export interface MaintenanceStep {
  table: string;
  sql: string;
  /** How far past its threshold the table is (1 = just due): the most overdue go first. */
  urgency: number;
}

// PostgreSQL's autovacuum defaults; a table's own autovacuum_* storage parameters override them.
const DEFAULTS = {
  autovacuum_vacuum_threshold: 50,
  autovacuum_vacuum_scale_factor: 0.2,
  autovacuum_vacuum_insert_threshold: 1000,
  autovacuum_vacuum_insert_scale_factor: 0.2,
  autovacuum_analyze_threshold: 50,
  autovacuum_analyze_scale_factor: 0.1,
};
// vacuum_freeze_table_age: from this age a vacuum scans the whole table and freezes it, well
// before autovacuum_freeze_max_age (200 million) would have forced one.
const FREEZE_AGE = 150_000_000;

function settingsOf(options: string[] | null): {
  enabled: boolean;
  value: (key: keyof typeof DEFAULTS) => number;
} {
  const own = new Map<string, string>();
  for (const option of options ?? []) {
    const at = option.indexOf('=');
    if (at > 0) own.set(option.slice(0, at), option.slice(at + 1));
  }
  return {
    enabled: own.get('autovacuum_enabled') !== 'false',
    value: (key) => {
      const v = Number(own.get(key));
      return own.has(key) && Number.isFinite(v) ? v : DEFAULTS[key];
    },
  };
}

/**
 * What autovacuum would do now, as statements, most overdue first: VACUUM for dead rows, for
 * many inserted rows (visibility map, so that index-only scans stay index-only) and for old
 * row ids (freezing); ANALYZE once enough rows changed for the statistics to drift.
 */
export function maintenanceSteps(tables: readonly TableActivity[]): MaintenanceStep[] {
  const steps: MaintenanceStep[] = [];
  for (const t of tables) {
    const s = settingsOf(t.options);
    const rows = t.reltuples >= 0 ? t.reltuples : t.live;
    const vacuumAt =
      s.value('autovacuum_vacuum_threshold') + s.value('autovacuum_vacuum_scale_factor') * rows;
    const insertAt =
      s.value('autovacuum_vacuum_insert_threshold') + s.value('autovacuum_vacuum_insert_scale_factor') * rows;
    const analyzeAt =
      s.value('autovacuum_analyze_threshold') + s.value('autovacuum_analyze_scale_factor') * rows;
    const freeze = t.xidAge / FREEZE_AGE;
    const vacuum = s.enabled ? Math.max(t.dead / vacuumAt, t.inserted / insertAt) : 0;
    const analyze = s.enabled ? t.modified / analyzeAt : 0;
    if (freeze > 1 || vacuum > 1) {
      const what = analyze > 1 ? 'VACUUM (ANALYZE)' : 'VACUUM';
      steps.push({ table: t.table, sql: `${what} ${t.table}`, urgency: Math.max(freeze, vacuum) });
    } else if (analyze > 1) {
      steps.push({ table: t.table, sql: `ANALYZE ${t.table}`, urgency: analyze });
    }
  }
  return steps.sort((a, b) => b.urgency - a.urgency);
}

/** Every table's activity (catalogs included, TOAST tables going with their owners). */
export async function tableActivity(db: Queryable): Promise<TableActivity[]> {
  // The counters reach the views when the session next reports: make that now, not in a second.
  await db.query('SELECT pg_stat_force_next_flush()');
  const { rows } = await db.query<TableActivity>(
    `SELECT format('%I.%I', s.schemaname, s.relname) AS "table", s.n_live_tup::float8 AS live,
            s.n_dead_tup::float8 AS dead, s.n_mod_since_analyze::float8 AS modified,
            s.n_ins_since_vacuum::float8 AS inserted, c.reltuples::float8 AS reltuples,
            age(c.relfrozenxid)::float8 AS "xidAge", c.reloptions AS options
       FROM pg_stat_all_tables s JOIN pg_class c ON c.oid = s.relid
      WHERE s.schemaname NOT IN ('pg_toast', 'information_schema') AND c.relkind IN ('r', 'm')`,
  );
  return rows;
}
