import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import type { Keyring } from '../../platform/crypto/keyring.js';
import type { Database } from '../../platform/db/types.js';
import type { ObjectStorage } from '../../platform/storage/port.js';
import { listCheckpoints, signCheckpoint } from './checkpoints.js';
import { MerkleFrontier } from './merkle.js';
import { insertCheckpoint, lockSequencer } from './repo.js';

/** §164.316(b)(2): six years. The database refuses to drop anything younger, whatever this says. */
export const DEFAULT_RETENTION_YEARS = 6;

export interface ArchivedPartition {
  partition: string;
  entries: number;
  firstSeq: number | null;
  lastSeq: number | null;
  objectKey: string;
  sha256: string;
}

interface PartitionInfo {
  name: string;
  from: Date;
  to: Date;
}

export async function listPartitions(db: Database): Promise<PartitionInfo[]> {
  const { rows } = await db.query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
      WHERE i.inhparent = 'audit_log'::regclass ORDER BY c.relname`,
  );
  return rows
    .map((r) => /^audit_log_(\d{4})_(\d{2})$/.exec(r.name))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => {
      const y = Number(m[1]);
      const mo = Number(m[2]) - 1;
      return { name: m[0], from: new Date(Date.UTC(y, mo, 1)), to: new Date(Date.UTC(y, mo + 1, 1)) };
    });
}

/**
 * Archives every monthly partition that ended before the retention cutoff: its entries (the
 * canonical text and hash, exactly as chained) and the checkpoints covering them go to object
 * storage as gzip JSON Lines, a signed checkpoint is made at the partition's last entry (so
 * verification can start right after it), the archive is recorded, and only then the database
 * function detaches and drops the partition. Partitions inside retention are never touched.
 */
export async function archiveExpiredPartitions(
  db: Database,
  storage: ObjectStorage,
  keyring: Keyring,
  options: { retentionYears?: number; now?: Date } = {},
): Promise<ArchivedPartition[]> {
  const now = options.now ?? new Date();
  const years = Math.max(options.retentionYears ?? DEFAULT_RETENTION_YEARS, DEFAULT_RETENTION_YEARS);
  const cutoff = new Date(Date.UTC(now.getUTCFullYear() - years, now.getUTCMonth(), now.getUTCDate()));
  const done: ArchivedPartition[] = [];
  for (const part of await listPartitions(db)) {
    if (part.to > cutoff) continue;
    done.push(await archivePartition(db, storage, keyring, part));
  }
  return done;
}

async function archivePartition(
  db: Database,
  storage: ObjectStorage,
  keyring: Keyring,
  part: PartitionInfo,
): Promise<ArchivedPartition> {
  const { rows } = await db.query<{ seq: number; hash: string; canonical: string }>(
    `SELECT seq, hash, canonical FROM ${part.name} ORDER BY seq`,
  );
  const firstSeq = rows[0]?.seq ?? null;
  const lastSeq = rows[rows.length - 1]?.seq ?? null;
  const lastHash = rows[rows.length - 1]?.hash ?? null;
  if (lastSeq !== null && lastHash !== null) await ensureCheckpointAt(db, keyring, lastSeq);
  const checkpoints =
    firstSeq !== null && lastSeq !== null ? await listCheckpoints(db, firstSeq, lastSeq) : [];
  const lines = [
    JSON.stringify({
      kind: 'manifest',
      partition: part.name,
      from: part.from,
      to: part.to,
      firstSeq,
      lastSeq,
    }),
    ...rows.map(
      (r) => `{"entry":${r.canonical},"hash":${JSON.stringify(r.hash)},"kind":"entry","seq":${r.seq}}`,
    ),
    ...checkpoints.map((c) =>
      JSON.stringify({
        kind: 'checkpoint',
        treeSize: c.treeSize,
        kid: c.kid,
        payload: c.payload,
        signature: c.signature,
      }),
    ),
  ];
  const body = gzipSync(Buffer.from(`${lines.join('\n')}\n`, 'utf8'));
  const key = `audit/archive/${part.name}.jsonl.gz`;
  await storage.put(key, body, { contentType: 'application/gzip' });
  const sha256 = createHash('sha256').update(body).digest('hex');
  await db.transaction(async (tx) => {
    await tx.query(
      `INSERT INTO audit_archives (partition_name, range_from, range_to, first_seq, last_seq, last_hash, entries, object_key, sha256)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (partition_name) DO NOTHING`,
      [part.name, part.from, part.to, firstSeq, lastSeq, lastHash, rows.length, key, sha256],
    );
    await tx.query('SELECT audit_drop_archived_partition($1)', [part.name]);
  });
  return { partition: part.name, entries: rows.length, firstSeq, lastSeq, objectKey: key, sha256 };
}

/** Signs a checkpoint of tree size `seq` unless one exists, rebuilding the frontier from the nearest earlier one. */
async function ensureCheckpointAt(db: Database, keyring: Keyring, seq: number): Promise<void> {
  await db.transaction(async (tx) => {
    await lockSequencer(tx);
    const existing = await tx.query('SELECT 1 FROM audit_checkpoints WHERE tree_size = $1', [seq]);
    if (existing.rowCount > 0) return;
    const { rows: prior } = await tx.query<{ tree_size: number; frontier: string[] }>(
      'SELECT tree_size, frontier FROM audit_checkpoints WHERE tree_size < $1 ORDER BY tree_size DESC LIMIT 1',
      [seq],
    );
    const start = prior[0];
    const frontier = start ? MerkleFrontier.fromHex(start.tree_size, start.frontier) : MerkleFrontier.empty();
    const { rows: hashes } = await tx.query<{ seq: number; hash: string }>(
      'SELECT seq, hash FROM audit_log WHERE seq > $1 AND seq <= $2 ORDER BY seq',
      [frontier.treeSize, seq],
    );
    if (hashes.length !== seq - frontier.treeSize)
      throw new Error(`entries before ${seq} are missing; verify the log first`);
    for (const h of hashes) frontier.pushEntryHash(h.hash);
    const lastHash = hashes[hashes.length - 1]?.hash ?? '';
    const createdAt = new Date().toISOString();
    const rootHash = frontier.root().toString('hex');
    const { signed } = signCheckpoint(keyring, { treeSize: seq, rootHash, lastHash, createdAt });
    await insertCheckpoint(tx, {
      treeSize: seq,
      rootHash,
      lastHash,
      createdAt,
      kid: signed.kid,
      payload: signed.payload,
      signature: signed.signature,
      frontier: frontier.toHex(),
    });
  });
}
