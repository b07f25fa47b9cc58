import pg from 'pg';

/**
 * Runs `fn` and answers the texts of the queries node-postgres clients were given meanwhile,
 * in order (each is a round trip to the server): for tests of how many statements an
 * operation sends and which.
 */
export async function sentStatements<T>(fn: () => Promise<T>): Promise<{ value: T; texts: string[] }> {
  const texts: string[] = [];
  const original = pg.Client.prototype.query;
  pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
    const first = args[0] as string | { text: string };
    texts.push(typeof first === 'string' ? first : first.text);
    return (original as (...a: unknown[]) => unknown).apply(this, args);
  } as typeof original;
  try {
    return { value: await fn(), texts };
  } finally {
    pg.Client.prototype.query = original;
  }
}
