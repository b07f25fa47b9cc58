import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { after, before, describe, test } from 'node:test';
import { checkSignature } from '../../../src/modules/audit/checkpoints.js';
import { leafHashHex, verifyInclusion } from '../../../src/modules/audit/merkle.js';
import { entryProof } from '../../../src/modules/audit/proof.js';
import { archiveExpiredPartitions } from '../../../src/modules/audit/retention.js';
import { exportPage } from '../../../src/modules/audit/siem.js';
import { verifyAuditLog } from '../../../src/modules/audit/verify.js';
import { auditFixture, sampleRecord, type AuditFixture } from './setup.js';

describe('audit trail writer', () => {
  let fx: AuditFixture;
  before(async () => {
    fx = await auditFixture({ checkpointEvery: 25 });
    await fx.handle.db.exec('CREATE TABLE probe_writes (id int PRIMARY KEY)');
  });
  after(() => fx.close());

  test('an entry recorded in a transaction commits with it and rolls back with it', async () => {
    await fx.handle.db.transaction(async (tx) => {
      await tx.query('INSERT INTO probe_writes VALUES (1)');
      await fx.audit.record(sampleRecord(1, { action: 'fhir.create', requestId: 'committed' }), tx);
    });
    await assert.rejects(
      fx.handle.db.transaction(async (tx) => {
        await fx.audit.record(sampleRecord(2, { action: 'fhir.create', requestId: 'rolled-back' }), tx);
        await tx.query('INSERT INTO probe_writes VALUES (1)');
      }),
      /duplicate key/,
    );
    await fx.audit.flush();
    const { rows } = await fx.handle.db.query<{ request: string }>(
      `SELECT doc->>'requestId' AS request FROM audit_log WHERE doc->>'action' = 'fhir.create'`,
    );
    assert.deepEqual(
      rows.map((r) => r.request),
      ['committed'],
    );
  });

  test('concurrent writers, with and without transactions, produce one gap-free chain', async () => {
    const before = (await fx.handle.db.query<{ n: number }>('SELECT count(*)::int8 AS n FROM audit_log'))
      .rows[0]!.n;
    await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        i % 4 === 0
          ? fx.handle.db.transaction((tx) => fx.audit.record(sampleRecord(i), tx))
          : fx.audit.record(sampleRecord(i)),
      ),
    );
    await fx.audit.flush();
    const { rows } = await fx.handle.db.query<{ n: number; lo: number; hi: number }>(
      'SELECT count(*)::int8 AS n, min(seq) AS lo, max(seq) AS hi FROM audit_log',
    );
    assert.equal(rows[0]!.n, before + 200);
    assert.equal(rows[0]!.lo, 1);
    assert.equal(rows[0]!.hi, before + 200);
    const intake = await fx.handle.db.query<{ n: number }>('SELECT count(*)::int8 AS n FROM audit_intake');
    assert.equal(intake.rows[0]!.n, 0);
    const report = await verifyAuditLog(fx.handle.db, fx.keyring, { sinks: fx.audit.sinks });
    assert.equal(report.ok, true, JSON.stringify(report.issues));
  });

  test('checkpoints are signed with the audit-signing key and written to the directory sink', async () => {
    await fx.audit.writer.checkpointNow();
    const { rows } = await fx.handle.db.query<{
      tree_size: number;
      kid: string;
      payload: string;
      signature: string;
    }>('SELECT tree_size, kid, payload, signature FROM audit_checkpoints ORDER BY tree_size');
    // Made at the end of the group commit that crossed N entries, and by checkpointNow.
    assert.ok(rows.length >= 1, `${rows.length} checkpoints`);
    assert.equal(rows[rows.length - 1]!.tree_size, 201);
    for (const r of rows) {
      assert.equal(r.kid, fx.keyring.active('audit-signing').kid);
      assert.equal(checkSignature(fx.keyring, r), null);
    }
    const files = await readdir(join(fx.dir, 'audit-checkpoints'));
    assert.equal(files.length, rows.length);
    assert.ok(files.includes('checkpoint-0000000000000201.json'));
  });

  test('every entry has an inclusion proof that verifies against its checkpoint', async () => {
    for (const seq of [1, 2, 25, 26, 100, 201]) {
      const proof = await entryProof(fx.handle.db, seq);
      assert.ok(proof);
      assert.equal(proof.entry.seq, seq);
      assert.equal(proof.leafHash, leafHashHex(proof.entry.hash).toString('hex'));
      assert.ok(
        verifyInclusion(
          Buffer.from(proof.leafHash, 'hex'),
          proof.leafIndex,
          proof.treeSize,
          proof.auditPath.map((p) => Buffer.from(p, 'hex')),
          Buffer.from(proof.checkpoint.rootHash, 'hex'),
        ),
      );
      assert.ok(proof.treeSize >= seq);
    }
    assert.equal(await entryProof(fx.handle.db, 100_000), null);
  });

  test('SIEM export is incremental by sequence cursor and carries each entry as hashed', async () => {
    const first = await exportPage(fx.handle.db, 0, 150);
    assert.equal(first.count, 150);
    assert.equal(first.nextSeq, 150);
    const second = await exportPage(fx.handle.db, first.nextSeq, 150);
    assert.equal(second.count, 51);
    assert.equal(second.nextSeq, 201);
    const empty = await exportPage(fx.handle.db, second.nextSeq);
    assert.deepEqual([empty.count, empty.nextSeq, empty.lines], [0, 201, '']);
    const line = JSON.parse(first.lines.split('\n')[0]!) as {
      seq: number;
      hash: string;
      entry: { seq: number };
    };
    assert.equal(line.seq, 1);
    assert.equal(line.entry.seq, 1);
    assert.match(line.hash, /^[0-9a-f]{64}$/);
  });
});

describe('retention', () => {
  let fx: AuditFixture;
  let clock = new Date('2018-03-10T12:00:00Z');
  before(async () => {
    fx = await auditFixture({ checkpointEvery: 1000, now: () => clock });
  });
  after(() => fx.close());

  test('partitions past six years are archived with their checkpoints; younger ones stay', async () => {
    await Promise.all(Array.from({ length: 30 }, (_, i) => fx.audit.record(sampleRecord(i))));
    await fx.audit.flush();
    clock = new Date();
    await Promise.all(Array.from({ length: 10 }, (_, i) => fx.audit.record(sampleRecord(100 + i))));
    await fx.audit.flush();
    await fx.audit.writer.checkpointNow();

    // A shorter retention asked of the code is not honoured: six years is the floor.
    const archived = await archiveExpiredPartitions(fx.handle.db, fx.storage, fx.keyring, {
      retentionYears: 1,
    });
    assert.deepEqual(
      archived.map((a) => [a.partition, a.entries, a.firstSeq, a.lastSeq]),
      [['audit_log_2018_03', 30, 1, 30]],
    );
    const object = await fx.storage.get(archived[0]!.objectKey);
    const chunks: Buffer[] = [];
    for await (const c of object.body) chunks.push(c as Buffer);
    const lines = gunzipSync(Buffer.concat(chunks)).toString('utf8').trim().split('\n');
    assert.equal(lines.filter((l) => l.includes('"kind":"entry"')).length, 30);
    assert.ok(lines.some((l) => l.includes('"kind":"checkpoint"') && l.includes('"treeSize":30')));

    const left = await fx.handle.db.query<{ n: number }>('SELECT count(*)::int8 AS n FROM audit_log');
    assert.equal(left.rows[0]!.n, 10);
    // Verification continues from the checkpoint made at the archive boundary.
    const report = await fx.audit.verify();
    assert.equal(report.ok, true, JSON.stringify(report.issues));
    assert.equal(report.from, 31);
    assert.equal(report.entriesChecked, 10);
  });

  test('the database refuses to drop a partition inside retention, even when asked directly', async () => {
    const { rows } = await fx.handle.db.query<{ name: string }>(
      `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'audit_log'::regclass ORDER BY 1 DESC LIMIT 1`,
    );
    await assert.rejects(
      fx.handle.db.query('SELECT audit_drop_archived_partition($1)', [rows[0]!.name]),
      /not been archived/,
    );
  });
});
