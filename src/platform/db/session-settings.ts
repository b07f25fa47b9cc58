/**
 * Custom `iris.*` settings that a statement depends on: the inputs of row-level security
 * policies. Put in effect on the statement's connection before it runs, and only when they
 * differ from what is already in effect there.
 */
export type SessionSettings = Readonly<Record<string, string>>;

/** One statement that sets every setting: session-wide, or to the end of the transaction. */
export function settingsStatement(
  settings: SessionSettings,
  local: boolean,
): { sql: string; params: unknown[] } {
  const names = Object.keys(settings);
  for (const name of names) {
    if (!/^iris\.[a-z_]+$/.test(name)) throw new Error(`"${name}" is not an iris.* setting name`);
  }
  return {
    sql: 'SELECT set_config(s.name, s.value, $3) FROM unnest($1::text[], $2::text[]) AS s(name, value)',
    params: [names, names.map((name) => settings[name]), local],
  };
}

/** A stable key of a set of settings, to tell whether a connection already has them. */
export function settingsKey(settings: SessionSettings): string {
  return JSON.stringify(Object.entries(settings).sort(([a], [b]) => (a < b ? -1 : 1)));
}
