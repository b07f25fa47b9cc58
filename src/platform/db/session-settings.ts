import type { Queryable } from './types.js';

/**
 * Custom `iris.*` settings that a statement depends on: the inputs of row-level security
 * policies. Put in effect on the statement's connection before it runs, and only when they
 * differ from what is already in effect there.
 */
export type SessionSettings = Readonly<Record<string, string>>;

/** The settings' names, each checked to be an `iris.*` name: nothing else may be set this way. */
function settingNames(settings: SessionSettings): string[] {
  const names = Object.keys(settings);
  for (const name of names) {
    if (!/^iris\.[a-z_]+$/.test(name)) throw new Error(`"${name}" is not an iris.* setting name`);
  }
  return names;
}

/** One statement that sets every setting: session-wide, or to the end of the transaction. */
export function settingsStatement(
  settings: SessionSettings,
  local: boolean,
): { sql: string; params: unknown[] } {
  const names = settingNames(settings);
  return {
    sql: 'SELECT set_config(s.name, s.value, $3) FROM unnest($1::text[], $2::text[]) AS s(name, value)',
    params: [names, names.map((name) => settings[name]), local],
  };
}

/**
 * The same statement with the values inlined through `quote` (the driver's literal quoting),
 * for a simple query that also opens the transaction: such a query carries no parameters.
 */
export function settingsLiteralStatement(
  settings: SessionSettings,
  local: boolean,
  quote: (value: string) => string,
): string {
  const calls = settingNames(settings).map(
    (name) => `set_config(${quote(name)}, ${quote(settings[name]!)}, ${local})`,
  );
  return `SELECT ${calls.join(', ')}`;
}

const keys = new WeakMap<SessionSettings, string>();

/** A stable key of a set of settings, to tell whether a connection already has them. */
export function settingsKey(settings: SessionSettings): string {
  let key = keys.get(settings);
  if (key === undefined) {
    key = JSON.stringify(Object.entries(settings).sort(([a], [b]) => (a < b ? -1 : 1)));
    keys.set(settings, key);
  }
  return key;
}

/** The settings last put in effect on one session or transaction, so unchanged ones are not set again. */
export class SettingsTracker {
  private inEffect: string | undefined;

  constructor(private readonly apply: (settings: SessionSettings) => Promise<void>) {}

  async use(settings: SessionSettings): Promise<void> {
    const key = settingsKey(settings);
    if (key === this.inEffect) return;
    // Forget first: if setting fails half-way, what is in effect is unknown.
    this.inEffect = undefined;
    await this.apply(settings);
    this.inEffect = key;
  }

  /** Another client changed the session: set the next settings whatever they are. */
  forget(): void {
    this.inEffect = undefined;
  }
}

/**
 * The connection's role when PostgreSQL exempts it from row-level security (a superuser or a
 * BYPASSRLS role), else null: policies fed by these settings then do not apply to it.
 */
export async function rowSecurityExemptRole(q: Queryable): Promise<string | null> {
  const { rows } = await q.query<{ role: string; exempt: boolean }>(
    'SELECT rolname AS role, rolsuper OR rolbypassrls AS exempt FROM pg_roles WHERE rolname = current_user',
  );
  return rows[0]?.exempt ? rows[0].role : null;
}
