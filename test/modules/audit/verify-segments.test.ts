import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GENESIS_HASH } from '../../../src/modules/audit/chain.js';
import { checkSegmentsInThreads } from '../../../src/modules/audit/verify-segments.js';
import type { Database } from '../../../src/platform/db/types.js';

// Only copyBinary is reached: the threads get the bytes of each window from it.
function copying(chunks: () => Buffer[]): Database {
  return {
    async *copyBinary() {
      for (const chunk of chunks()) yield chunk;
    },
  } as unknown as Database;
}

const segment = (to: number) => ({
  start: { seq: 0, hash: GENESIS_HASH, frontier: [] },
  to,
  checkpoints: new Map(),
});

test('a window a verifier thread cannot parse fails the verification instead of passing it', async () => {
  const db = copying(() => [Buffer.from('this is not binary COPY output')]);
  await assert.rejects(
    checkSegmentsInThreads(db, [segment(10), segment(10)], 5, 10),
    /not binary COPY output/,
  );
});

test('an empty window reports every entry of the segment as deleted', async () => {
  // Header (signature, flags, extension length) and trailer of a COPY with no rows.
  const empty = Buffer.concat([
    Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1'),
    Buffer.alloc(8),
    Buffer.from([0xff, 0xff]),
  ]);
  const [result] = await checkSegmentsInThreads(
    copying(() => [empty]),
    [segment(3)],
    5,
    10,
  );
  assert.deepEqual(
    result?.issues.map((d) => [d.seq, d.kind]),
    [
      [1, 'deleted'],
      [2, 'deleted'],
      [3, 'deleted'],
    ],
  );
  assert.equal(result?.entries, 0);
});
