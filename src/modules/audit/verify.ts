import { hash } from 'node:crypto';
import type { Keyring } from '../../platform/crypto/keyring.js';
import type { Database, Queryable } from '../../platform/db/types.js';
import { readChainWindow } from './chain-copy.js';
import { GENESIS_HASH } from './chain.js';
import {
  checkRowAgainstPayload,
  checkSignature,
  listCheckpoints,
  type CheckpointRow,
  type CheckpointSink,
  type SignedCheckpoint,
} from './checkpoints.js';
import { MerkleFrontier } from './merkle.js';
import { archiveAnchor, firstSeq, readHead } from './repo.js';

export type DamageKind =
  'modified' | 'deleted' | 'inserted' | 'reordered' | 'checkpoint_mismatch' | 'schema_altered';

export interface Damage {
  seq: number | null;
  kind: DamageKind;
  detail: string;
}

export interface VerifyReport {
  ok: boolean;
  from: number;
  to: number;
  headSeq: number;
  entriesChecked: number;
  checkpointsChecked: number;
  /** The lowest damaged sequence number and what happened there. */
  firstDamage: Damage | null;
  /** Every finding, lowest seq first, at most `maxIssues`. */
  issues: Damage[];
  /** Non-fatal observations (disabled triggers, sinks that could not be read). */
  warnings: string[];
  durationMs: number;
  entriesPerSecond: number;
}

export interface VerifyOptions {
  from?: number;
  to?: number;
  /** Seqs read per query. */
  batchSize?: number;
  maxIssues?: number;
  /** External copies of the checkpoints to compare with the database's. */
  sinks?: readonly CheckpointSink[];
}

function sha256Hex(bytes: Buffer): string {
  return hash('sha256', bytes, 'hex');
}

const PREV_HASH = ',"prevHash":"';
const RECORDED_AT = ',"recordedAt":"';
const SEQ = ',"seq":';
const TAIL = 448;

// Entries of one sequencer batch share their recordedAt text: parse each text once.
let lastRecordedText = '';
let lastRecordedMs = Number.NaN;
const ISO_UTC = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

/**
 * The chain fields of a canonical entry, read without parsing the JSON. In the fixed top-level
 * key order `prevHash` comes after the only free-form member (`details`), so its last
 * occurrence is the top-level one; after it only fixed-shape members follow, whose string
 * values cannot hold a raw quote, so the first `recordedAt` and then the first `seq` are
 * top-level too. Null when the text is not an entry.
 */
export function chainFields(canonical: Buffer): { prevHash: string; seq: number; recordedAt: number } | null {
  // As latin1, one char per byte: the members sought are ASCII, and string searches are the
  // engine's fastest (a byte of a multi-byte character never equals an ASCII one). The tail
  // first: the members sought are near the end, and decoding less makes less garbage.
  let text = canonical.toString('latin1', Math.max(0, canonical.length - TAIL));
  let p = text.lastIndexOf(PREV_HASH);
  if (p < 0 && text.length < canonical.length) {
    text = canonical.toString('latin1');
    p = text.lastIndexOf(PREV_HASH);
  }
  if (p < 0) return null;
  const r = text.indexOf(RECORDED_AT, p + PREV_HASH.length);
  if (r < 0) return null;
  const s = text.indexOf(SEQ, r + RECORDED_AT.length);
  if (s < 0) return null;
  const end = text.indexOf(',', s + SEQ.length);
  const digits = text.slice(s + SEQ.length, end < 0 ? text.length : end);
  const seq = /^(0|[1-9]\d{0,14})$/.test(digits) ? Number(digits) : Number.NaN;
  const iso = text.slice(r + RECORDED_AT.length, r + RECORDED_AT.length + 24);
  if (iso !== lastRecordedText) {
    lastRecordedText = iso;
    lastRecordedMs = ISO_UTC.test(iso) ? Date.parse(iso) : Number.NaN;
  }
  if (Number.isNaN(seq) || Number.isNaN(lastRecordedMs)) return null;
  const start = p + PREV_HASH.length;
  return { prevHash: text.slice(start, start + 64), seq, recordedAt: lastRecordedMs };
}

// Hashing runs for seconds on large logs: let other work (requests, the next window's rows) in.
const yieldEvery = 2048;
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * Recomputes the chain and the checkpoints from the stored evidence and reports the first
 * damaged sequence number and the kind of damage.
 *
 * Streams in seq windows (keyset, never OFFSET), so memory stays flat. For each seq:
 * no row → deleted; more than one → inserted; SHA-256 of the canonical text differs from the
 * stored hash → modified; an authentic entry whose own seq differs from its position →
 * reordered; an entry whose `prevHash` differs from its predecessor's stored hash → the
 * predecessor was modified and its hash recomputed. Each checkpoint is checked against the
 * Merkle root recomputed up to its tree size, its signature and its stored columns. Only
 * sequenced entries are covered; the intake queue is not evidence yet.
 */
export async function verifyAuditLog(
  db: Database,
  keyring: Keyring,
  options: VerifyOptions = {},
): Promise<VerifyReport> {
  const started = performance.now();
  const batchSize = options.batchSize ?? 5_000;
  const maxIssues = options.maxIssues ?? 100;
  const issues: Damage[] = [];
  const warnings: string[] = [];
  const report = (d: Damage) => {
    if (issues.length < maxIssues) issues.push(d);
  };

  const head = await readHead(db);
  const to = Math.min(options.to ?? head.seq, head.seq);
  const present = await firstSeq(db);
  const anchor = present && present > 1 ? await archiveAnchor(db, present) : null;
  let from = Math.max(options.from ?? 1, 1, anchor ? anchor.lastSeq + 1 : 1);

  await checkSchema(db, report, warnings);

  // Start from the newest checkpoint before `from`, whose signed root vouches for its frontier.
  const all = await listCheckpoints(db, 0, to);
  const sinkCheckpoints = await readSinks(options.sinks ?? [], warnings);
  let base: { seq: number; hash: string; frontier: MerkleFrontier } = {
    seq: 0,
    hash: GENESIS_HASH,
    frontier: MerkleFrontier.empty(),
  };
  for (const cp of all) {
    if (cp.treeSize >= from) break;
    const frontier = usableFrontier(keyring, cp);
    if (frontier) base = { seq: cp.treeSize, hash: cp.lastHash, frontier };
  }
  if (anchor && base.seq < anchor.lastSeq) {
    report({
      seq: anchor.lastSeq,
      kind: 'checkpoint_mismatch',
      detail: 'no valid checkpoint at the archive boundary',
    });
    base = { seq: anchor.lastSeq, hash: anchor.lastHash, frontier: MerkleFrontier.empty() };
  }
  if (from > to + 1) from = to + 1;

  const toCheck = new Map<number, { db?: CheckpointRow; sink?: SignedCheckpoint & { treeSize: number } }>();
  for (const cp of all) if (cp.treeSize > base.seq) toCheck.set(cp.treeSize, { db: cp });
  for (const cp of sinkCheckpoints) {
    if (cp.treeSize <= base.seq || cp.treeSize > to) continue;
    toCheck.set(cp.treeSize, { ...toCheck.get(cp.treeSize), sink: cp });
  }

  // Without a checkpoint at the archive boundary the tree before it is unknown: chain checks only.
  let frontierValid = base.frontier.treeSize === base.seq;
  const frontier = base.frontier.clone();
  let prevHash = base.hash;
  let linked = true;
  let entries = 0;
  let checkpoints = 0;
  let lastReportedModified = -1;

  const fetch = (start: number) =>
    start <= to ? readChainWindow(db, start - 1, Math.min(start + batchSize - 1, to)) : Promise.resolve([]);
  let pending = fetch(base.seq + 1);
  for (let windowStart = base.seq + 1; windowStart <= to; windowStart += batchSize) {
    const windowEnd = Math.min(windowStart + batchSize - 1, to);
    const rows = await pending;
    // Read the next window while this one is hashed.
    pending = fetch(windowStart + batchSize);
    let i = 0;
    for (let seq = windowStart; seq <= windowEnd; seq++) {
      if ((seq - windowStart) % yieldEvery === yieldEvery - 1) await nextTurn();
      // Rows come in seq order; collect those claiming this seq.
      let first = -1;
      let count = 0;
      while (i < rows.length && rows[i]!.seq === seq) {
        if (first < 0) first = i;
        count += 1;
        i += 1;
      }
      if (count === 0) {
        report({ seq, kind: 'deleted', detail: `entry ${seq} is missing` });
        linked = false;
        frontierValid = false;
        continue;
      }
      let row = rows[first]!;
      if (count > 1) {
        const candidates = rows.slice(first, first + count);
        row =
          candidates.find((r) => {
            const f = chainFields(r.canonical);
            return f?.prevHash === prevHash && f.seq === seq && sha256Hex(r.canonical) === r.hash;
          }) ?? row;
        report({ seq, kind: 'inserted', detail: `${count} entries claim seq ${seq}` });
      }
      entries += 1;
      const fields = chainFields(row.canonical);
      if (sha256Hex(row.canonical) !== row.hash || !fields) {
        report({ seq, kind: 'modified', detail: 'the entry does not hash to its stored hash' });
      } else if (fields.seq !== seq) {
        report({ seq, kind: 'reordered', detail: `the entry at position ${seq} is entry ${fields.seq}` });
      } else if (fields.recordedAt !== row.t) {
        report({ seq, kind: 'modified', detail: 'recorded_at differs from the hashed entry' });
      } else if (linked && fields.prevHash !== prevHash && lastReportedModified !== seq - 1) {
        report({
          seq: seq - 1,
          kind: 'modified',
          detail: `entry ${seq - 1} no longer has the hash entry ${seq} was chained to (hash recomputed)`,
        });
        lastReportedModified = seq - 1;
      }
      // Continue from what the row claims, so one damaged entry is reported once, not forever.
      linked = true;
      prevHash = row.hash;
      if (frontierValid) frontier.pushEntryHash(row.hash);

      const cp = toCheck.get(seq);
      if (cp) {
        checkpoints += 1;
        checkCheckpoint(keyring, seq, cp, frontierValid ? frontier.root() : null, prevHash, report);
      }
    }
  }
  await pending;

  // An entry beyond the head was not written by the sequencer.
  const beyond = await db.query<{ seq: number }>('SELECT min(seq) AS seq FROM audit_log WHERE seq > $1', [
    head.seq,
  ]);
  const extra = beyond.rows[0]?.seq;
  if (extra !== null && extra !== undefined && (options.to === undefined || options.to >= head.seq)) {
    report({ seq: extra, kind: 'inserted', detail: `entry ${extra} is beyond the chain head ${head.seq}` });
  }
  if (to === head.seq && head.seq > 0 && prevHash !== head.hash && issues.length === 0) {
    report({ seq: head.seq, kind: 'modified', detail: 'the last entry differs from the chain head' });
  }

  issues.sort((a, b) => (a.seq ?? -1) - (b.seq ?? -1));
  const durationMs = performance.now() - started;
  return {
    ok: issues.length === 0,
    from,
    to,
    headSeq: head.seq,
    entriesChecked: entries,
    checkpointsChecked: checkpoints,
    firstDamage: issues[0] ?? null,
    issues,
    warnings,
    durationMs: Math.round(durationMs),
    entriesPerSecond: durationMs > 0 ? Math.round((entries / durationMs) * 1000) : entries,
  };
}

function usableFrontier(keyring: Keyring, cp: CheckpointRow): MerkleFrontier | null {
  if (checkSignature(keyring, cp) || checkRowAgainstPayload(cp)) return null;
  try {
    const frontier = MerkleFrontier.fromHex(cp.treeSize, cp.frontier);
    return frontier.root().toString('hex') === cp.rootHash ? frontier : null;
  } catch {
    return null;
  }
}

function checkCheckpoint(
  keyring: Keyring,
  seq: number,
  cp: { db?: CheckpointRow; sink?: SignedCheckpoint & { treeSize: number } },
  root: Buffer | null,
  lastHash: string,
  report: (d: Damage) => void,
): void {
  const mismatch = (detail: string) => report({ seq, kind: 'checkpoint_mismatch', detail });
  if (cp.sink && !cp.db)
    return mismatch(`checkpoint ${seq} exists in the external sink but not in the database`);
  if (cp.sink && cp.db && (cp.sink.payload !== cp.db.payload || cp.sink.signature !== cp.db.signature)) {
    return mismatch(`checkpoint ${seq} differs from its external copy`);
  }
  const row = cp.db!;
  const problem = checkSignature(keyring, row) ?? checkRowAgainstPayload(row);
  if (problem) return mismatch(`checkpoint ${seq}: ${problem}`);
  if (root && !root.equals(Buffer.from(row.rootHash, 'hex'))) {
    return mismatch(`the Merkle root over entries 1..${seq} differs from checkpoint ${seq}`);
  }
  if (row.lastHash !== lastHash) mismatch(`entry ${seq} differs from the hash checkpoint ${seq} signed`);
}

async function readSinks(
  sinks: readonly CheckpointSink[],
  warnings: string[],
): Promise<Array<SignedCheckpoint & { treeSize: number }>> {
  const out: Array<SignedCheckpoint & { treeSize: number }> = [];
  for (const sink of sinks) {
    if (!sink.list) continue;
    try {
      for await (const cp of sink.list()) out.push(cp);
    } catch (error) {
      warnings.push(`checkpoint sink ${sink.name} could not be read: ${(error as Error).message}`);
    }
  }
  return out;
}

/** The generated `doc` column and the append-only triggers are part of the evidence's protection. */
async function checkSchema(db: Queryable, report: (d: Damage) => void, warnings: string[]): Promise<void> {
  const generated = await db.query<{ relname: string }>(
    `SELECT c.relname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
      WHERE a.attname = 'doc' AND a.attgenerated <> 's' AND NOT a.attisdropped
        AND (c.oid = 'audit_log'::regclass OR c.oid IN (SELECT inhrelid FROM pg_inherits WHERE inhparent = 'audit_log'::regclass))`,
  );
  for (const r of generated.rows) {
    report({
      seq: null,
      kind: 'schema_altered',
      detail: `${r.relname}.doc is no longer generated from the evidence`,
    });
  }
  const disabled = await db.query<{ tgname: string; relname: string }>(
    `SELECT t.tgname, c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
      WHERE NOT t.tgisinternal AND t.tgenabled = 'D' AND t.tgname LIKE 'audit%'`,
  );
  for (const r of disabled.rows) warnings.push(`trigger ${r.tgname} on ${r.relname} is disabled`);
}
