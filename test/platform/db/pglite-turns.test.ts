import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { PgliteDatabase } from '../../../src/platform/db/pglite.js';

// The embedded database settles its statements without giving the event loop back. Units of
// work queued at its gate must still leave room for timers and socket reads between them, or an
// embedded server's HTTP requests wait behind a busy background subscriber.
let db: PgliteDatabase;
before(async () => {
  db = await PgliteDatabase.open();
  await db.query('CREATE TABLE turns (id int PRIMARY KEY, v text NOT NULL)');
});
after(() => db.close());

test('a timer fires while the queued statements and transactions are still waiting', async () => {
  const total = 40 * 10;
  let completed = 0;
  const work = Promise.all(
    Array.from({ length: 40 }, async (_, worker) => {
      for (let i = 0; i < 10; i++) {
        const id = worker * 100 + i;
        if (i % 2 === 0) {
          await db.query('INSERT INTO turns VALUES ($1, $2)', [id, 'statement']);
        } else {
          await db.transaction((tx) => tx.query('INSERT INTO turns VALUES ($1, $2)', [id, 'transaction']));
        }
        completed += 1;
      }
    }),
  );
  const seenByTimer = await new Promise<number>((resolve) => setTimeout(() => resolve(completed), 1));
  const seenByImmediate = await new Promise<number>((resolve) => setImmediate(() => resolve(completed)));
  await work;
  assert.ok(seenByTimer < total, `the timer waited for all ${total} units`);
  assert.ok(seenByImmediate < total, `setImmediate waited for all ${total} units`);
  const { rows } = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM turns');
  assert.equal(rows[0]?.n, total);
});
