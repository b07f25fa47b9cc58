import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ChainCopyParser, readChainWindow, type StoredEntry } from '../../../src/modules/audit/chain-copy.js';
import type { DatabaseHandle } from '../../../src/platform/db/open.js';
import { testDatabase } from '../../helpers/db.js';

const SELECT = `SELECT seq, canonical, hash, recorded_at FROM rows ORDER BY seq`;

async function copyOutput(handle: DatabaseHandle, select = SELECT): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of handle.db.copyBinary(select)) chunks.push(chunk);
  return Buffer.concat(chunks);
}

function parseInChunks(bytes: Buffer, size: number): StoredEntry[] {
  const parser = new ChainCopyParser();
  const out: StoredEntry[] = [];
  for (let i = 0; i < bytes.length; i += size) parser.push(bytes.subarray(i, i + size), out);
  parser.end();
  return out;
}

describe('binary COPY reader of the chain', () => {
  let handle: DatabaseHandle;
  before(async () => {
    handle = await testDatabase();
    await handle.db.exec(`
      CREATE TABLE rows (seq int8, canonical text, hash text, recorded_at timestamptz);
      INSERT INTO rows VALUES
        (1, '{"a":"é ✓ 𝄞"}', 'h1', '2026-11-27T10:00:00.123Z'),
        (4294967297, '', 'h2', '1999-12-31T23:59:59.999Z'),
        (3, NULL, NULL, '2026-11-27T10:00:00.124Z');`);
  });
  after(() => handle.close());

  test('fields come back as stored, whatever the chunk boundaries', async () => {
    const bytes = await copyOutput(handle);
    const whole = parseInChunks(bytes, bytes.length);
    assert.deepEqual(
      whole.map((r) => [r.seq, r.canonical.toString('utf8'), r.hash, new Date(r.t).toISOString()]),
      [
        [1, '{"a":"é ✓ 𝄞"}', 'h1', '2026-11-27T10:00:00.123Z'],
        [3, '', '', '2026-11-27T10:00:00.124Z'],
        [4294967297, '', 'h2', '1999-12-31T23:59:59.999Z'],
      ],
    );
    for (let size = 1; size <= 40; size++) {
      const rows = parseInChunks(bytes, size);
      assert.deepEqual(
        rows.map((r) => [r.seq, r.canonical.toString('hex'), r.hash, r.t]),
        whole.map((r) => [r.seq, r.canonical.toString('hex'), r.hash, r.t]),
        `chunks of ${size} bytes`,
      );
    }
  });

  test('output cut short, other columns or another format are errors, not fewer rows', async () => {
    const bytes = await copyOutput(handle);
    assert.throws(() => parseInChunks(bytes.subarray(0, bytes.length - 2), 7), /ended early/);
    assert.throws(() => parseInChunks(bytes.subarray(0, bytes.length - 30), 7), /ended early/);
    const wide = await copyOutput(handle, 'SELECT seq, canonical, hash, recorded_at, 1 FROM rows');
    assert.throws(() => parseInChunks(wide, 64), /expected 4 columns, got 5/);
    const swapped = await copyOutput(handle, 'SELECT recorded_at, canonical, hash, 1::int2 FROM rows');
    assert.throws(() => parseInChunks(swapped, 64), /recorded_at is not a timestamptz/);
    assert.throws(
      () => parseInChunks(Buffer.from('seq,canonical,hash,recorded_at\n1,x,h,2026-11-27\n'), 64),
      /not binary COPY output/,
    );
  });

  test('a window holds exactly the entries after its start up to its end, in seq order', async () => {
    await handle.db.exec(`
      CREATE TABLE audit_log (seq int8, recorded_at timestamptz, canonical text, hash text);
      INSERT INTO audit_log SELECT g, now(), 'e' || g, 'h' || g FROM generate_series(1, 50) g;
      INSERT INTO audit_log VALUES (20, now(), 'forged', 'x');`);
    const rows = await readChainWindow(handle.db, 10, 25);
    assert.deepEqual(
      rows.map((r) => r.seq),
      [11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 20, 21, 22, 23, 24, 25],
    );
    await assert.rejects(readChainWindow(handle.db, 0.5, 3), RangeError);
  });
});
