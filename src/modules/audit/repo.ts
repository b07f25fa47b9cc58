import type { Queryable, Transaction } from '../../platform/db/types.js';
import type { ChainedEntry } from './chain.js';

/** SQL of the audit module. Everything else goes through these functions. */

const SEQUENCER_LOCK = 727_274_101;
export const ALERTS_LOCK = 727_274_102;

export interface ChainHead {
  seq: number;
  hash: string;
  recordedAt: Date | null;
  frontier: string[];
  checkpointSeq: number;
  checkpointAt: Date;
}

// The statements of every audited request and of each group commit are prepared once per
// connection (names below); parsing them each time cost more than running some of them.
const INSERT_INTAKE = 'INSERT INTO audit_intake (occurred_at, body) VALUES ($1, $2)';

export async function insertIntake(q: Queryable, occurredAt: string, body: string): Promise<void> {
  await q.query(INSERT_INTAKE, [occurredAt, body], { name: 'audit_intake_insert' });
}

/** The intake row of an entry of `tx`, sent with the transaction's next statement or its commit. */
export function deferIntake(tx: Transaction, occurredAt: string, body: string): void {
  tx.defer(INSERT_INTAKE, [occurredAt, body], { name: 'audit_intake_insert' });
}

// Batches travel as one text parameter per column, rows separated by U+0002: canonical JSON
// never holds a raw control character and intake bodies use only U+0001, so nothing needs
// escaping, and splitting is far cheaper for the server than parsing JSON whose strings are
// themselves escaped JSON (that cost more than the rest of the insert).
const ROW_SEPARATOR = '\u0002';

// Ordered, so the entries are chained in the order given.
const INSERT_INTAKE_BATCH = `INSERT INTO audit_intake (occurred_at, body)
  SELECT o::timestamptz, b FROM unnest(string_to_array($1, chr(2)), string_to_array($2, chr(2)))
    WITH ORDINALITY AS r(o, b, n) ORDER BY n`;

type IntakeRows = ReadonlyArray<{ occurredAt: string; body: string }>;

const batchParams = (rows: IntakeRows) => [
  rows.map((r) => r.occurredAt).join(ROW_SEPARATOR),
  rows.map((r) => r.body).join(ROW_SEPARATOR),
];

export async function insertIntakeBatch(q: Queryable, rows: IntakeRows): Promise<void> {
  await q.query(INSERT_INTAKE_BATCH, batchParams(rows), { name: 'audit_intake_insert_batch' });
}

/** Intake rows of entries of `tx`, sent with the transaction's next statement or its commit. */
export function deferIntakeBatch(tx: Transaction, rows: IntakeRows): void {
  tx.defer(INSERT_INTAKE_BATCH, batchParams(rows), { name: 'audit_intake_insert_batch' });
}

/**
 * Takes the oldest intake rows out of the queue, in id order. One statement, one snapshot: the
 * rows up to the limit's highest id are exactly the rows it deletes and returns (a row committed
 * meanwhile, even with a lower id, is not in the snapshot and stays for the next pass); the
 * caller's transaction puts them back if chaining fails.
 */
export async function takeIntake(q: Queryable, limit: number): Promise<Array<{ id: number; body: string }>> {
  const { rows } = await q.query<{ id: number; body: string }>(
    `DELETE FROM audit_intake
      WHERE id <= (SELECT max(id) FROM (SELECT id FROM audit_intake ORDER BY id LIMIT $1) oldest)
     RETURNING id, body`,
    [limit],
    { name: 'audit_intake_take' },
  );
  // RETURNING follows the delete's scan, not the subquery's order.
  return rows.sort((a, b) => a.id - b.id);
}

export async function intakeBacklog(q: Queryable): Promise<number> {
  const { rows } = await q.query<{ n: number }>('SELECT count(*)::int8 AS n FROM audit_intake');
  return rows[0]?.n ?? 0;
}

export async function readHead(q: Queryable): Promise<ChainHead> {
  const { rows } = await q.query<{
    seq: number;
    hash: string;
    recorded_at: Date | null;
    frontier: string[];
    checkpoint_seq: number;
    checkpoint_at: Date;
  }>(
    'SELECT seq, hash, recorded_at, frontier, checkpoint_seq, checkpoint_at FROM audit_chain_head WHERE id = 1',
    [],
    { name: 'audit_head_read' },
  );
  const r = rows[0];
  if (!r) throw new Error('audit_chain_head is missing; run the audit migrations');
  return {
    seq: r.seq,
    hash: r.hash,
    recordedAt: r.recorded_at,
    frontier: r.frontier,
    checkpointSeq: r.checkpoint_seq,
    checkpointAt: r.checkpoint_at,
  };
}

export async function ensurePartition(q: Queryable, month: string): Promise<void> {
  await q.query('SELECT audit_ensure_partition($1::date)', [month]);
}

/**
 * Takes the sequencer lock for the rest of `tx`: one sequencer at a time across every process
 * on the database. Sent as a script, so it travels with the transaction's BEGIN.
 */
export async function lockSequencer(tx: Transaction): Promise<void> {
  await tx.exec(`SELECT pg_advisory_xact_lock(${SEQUENCER_LOCK})`);
}

/**
 * A group commit's entries: consecutive seqs from `firstSeq`, one `recordedAt`, hashes beside
 * texts. Deferred: nothing in the pass reads them back, so they go with the head's update.
 */
export function deferAppendChained(
  tx: Transaction,
  firstSeq: number,
  recordedAt: string,
  canonicals: readonly string[],
  hashes: readonly string[],
): void {
  tx.defer(
    `INSERT INTO audit_log (seq, recorded_at, canonical, hash)
     SELECT $1::int8 + r.n - 1, $2::timestamptz, r.c, h
       FROM unnest(string_to_array($3, chr(2)), string_to_array($4, chr(2))) WITH ORDINALITY AS r(c, h, n)`,
    [firstSeq, recordedAt, canonicals.join(ROW_SEPARATOR), hashes.join(ROW_SEPARATOR)],
    { name: 'audit_log_append' },
  );
}

/** The head after a pass, sent with the transaction's next statement or its commit. */
export function deferUpdateHead(tx: Transaction, head: ChainHead): void {
  tx.defer(
    `UPDATE audit_chain_head SET seq = $1, hash = $2, recorded_at = $3, frontier = $4,
            checkpoint_seq = $5, checkpoint_at = $6 WHERE id = 1`,
    [head.seq, head.hash, head.recordedAt, head.frontier, head.checkpointSeq, head.checkpointAt],
    { name: 'audit_head_update' },
  );
}

export async function insertCheckpoint(
  q: Queryable,
  cp: {
    treeSize: number;
    rootHash: string;
    lastHash: string;
    createdAt: string;
    kid: string;
    payload: string;
    signature: string;
    frontier: string[];
  },
): Promise<void> {
  await q.query(
    `INSERT INTO audit_checkpoints (tree_size, root_hash, last_hash, created_at, kid, payload, signature, frontier)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
    [cp.treeSize, cp.rootHash, cp.lastHash, cp.createdAt, cp.kid, cp.payload, cp.signature, cp.frontier],
  );
}

/** Chain hashes of entries `from..to` in seq order (Merkle leaves). */
export async function readHashes(
  q: Queryable,
  from: number,
  to: number,
): Promise<Array<{ seq: number; hash: string }>> {
  const { rows } = await q.query<{ seq: number; hash: string }>(
    'SELECT seq, hash FROM audit_log WHERE seq BETWEEN $1 AND $2 ORDER BY seq',
    [from, to],
  );
  return rows;
}

export interface LogRow {
  seq: number;
  hash: string;
  doc: ChainedEntry;
}

export async function readEntry(q: Queryable, seq: number): Promise<LogRow | null> {
  const { rows } = await q.query<LogRow>('SELECT seq, hash, doc FROM audit_log WHERE seq = $1', [seq]);
  return rows[0] ?? null;
}

export async function readEntriesAfter(q: Queryable, afterSeq: number, limit: number): Promise<LogRow[]> {
  const { rows } = await q.query<LogRow>(
    'SELECT seq, hash, doc FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2',
    [afterSeq, limit],
  );
  return rows;
}

/** Raw canonical lines for export: no parse and re-serialise on the way out. */
export async function readCanonicalAfter(
  q: Queryable,
  afterSeq: number,
  limit: number,
): Promise<Array<{ seq: number; hash: string; canonical: string }>> {
  const { rows } = await q.query<{ seq: number; hash: string; canonical: string }>(
    'SELECT seq, hash, canonical FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2',
    [afterSeq, limit],
  );
  return rows;
}

/** Lowest sequenced seq still in the database (after archival it is above 1). */
export async function firstSeq(q: Queryable): Promise<number | null> {
  const { rows } = await q.query<{ seq: number | null }>('SELECT min(seq) AS seq FROM audit_log');
  return rows[0]?.seq ?? null;
}

export interface ArchiveAnchor {
  lastSeq: number;
  lastHash: string;
}

/** The newest archived entry: where the chain in the database continues from. */
export async function archiveAnchor(q: Queryable, beforeSeq: number): Promise<ArchiveAnchor | null> {
  const { rows } = await q.query<{ last_seq: number; last_hash: string }>(
    `SELECT last_seq, last_hash FROM audit_archives WHERE last_seq IS NOT NULL AND last_seq < $1
      ORDER BY last_seq DESC LIMIT 1`,
    [beforeSeq],
  );
  const r = rows[0];
  return r ? { lastSeq: r.last_seq, lastHash: r.last_hash } : null;
}
