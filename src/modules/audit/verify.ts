import { availableParallelism } from 'node:os';
import type { Keyring } from '../../platform/crypto/keyring.js';
import type { Database, Queryable } from '../../platform/db/types.js';
import { readChainWindow } from './chain-copy.js';
import {
  ChainChecker,
  type ChainCheckResult,
  type ChainStart,
  type CheckpointExpectation,
  type Damage,
} from './chain-checker.js';
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
import { checkSegmentsInThreads, type Segment } from './verify-segments.js';

export type { Damage, DamageKind } from './chain-checker.js';

export interface VerifyReport {
  ok: boolean;
  from: number;
  to: number;
  headSeq: number;
  entriesChecked: number;
  checkpointsChecked: number;
  /** Threads that checked the chain: segments between checkpoints are checked side by side. */
  threads: number;
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
  /** Threads that check the chain side by side (default: one per core but one, at most 8). */
  threads?: number;
  /** Entries each thread gets at least: a smaller range is checked on this thread. */
  minEntriesPerThread?: number;
  /**
   * Called each time a window of the range has been checked, with the sequence numbers checked
   * so far and the number in the range (from the starting checkpoint to the end).
   */
  onProgress?: (checked: number, total: number) => void;
}

const MAX_DEFAULT_THREADS = 8;
const MAX_THREADS = 64;
// A new thread runs its first ~50,000 entries at half speed or less while V8 optimises its code
// (measured on the 2-core VM): below this many entries per thread, one warm thread is faster.
const MIN_ENTRIES_PER_THREAD = 100_000;

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
  const expected = new Map<number, CheckpointExpectation>();
  for (const [seq, cp] of toCheck) expected.set(seq, expectation(keyring, seq, cp));

  // Without a checkpoint at the archive boundary the tree before it is unknown: chain checks only.
  const start: ChainStart = {
    seq: base.seq,
    hash: base.hash,
    frontier: base.frontier.treeSize === base.seq ? base.frontier.toHex() : null,
  };
  // Seqs from the starting checkpoint to the end: what the threads share and progress counts.
  const total = Math.max(to - start.seq, 0);
  const segments = split(start, to, all, expected, threadCount(options, total));
  let checked = 0;
  const onChecked = (seqs: number) => {
    checked += seqs;
    options.onProgress?.(checked, total);
  };
  let results: ChainCheckResult[];
  if (segments.length > 1) {
    results = await checkSegmentsInThreads(db, segments, batchSize, maxIssues, onChecked);
  } else {
    results = [await checkHere(db, start, to, expected, batchSize, maxIssues, onChecked)];
  }
  for (const r of results) for (const d of r.issues) report(d);
  const entries = results.reduce((n, r) => n + r.entries, 0);
  const checkpoints = results.reduce((n, r) => n + r.checkpoints, 0);
  const prevHash = results[results.length - 1]?.lastHash ?? base.hash;

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
    threads: results.length,
    firstDamage: issues[0] ?? null,
    issues,
    warnings,
    durationMs: Math.round(durationMs),
    entriesPerSecond: durationMs > 0 ? Math.round((entries / durationMs) * 1000) : entries,
  };
}

function usableFrontier(keyring: Keyring, cp: CheckpointRow): MerkleFrontier | null {
  if (checkSignature(keyring, cp) || checkRowAgainstPayload(cp)) return null;
  return signedFrontier(cp);
}

/** The stored frontier of a checkpoint whose signature was checked, if it gives the signed root. */
function signedFrontier(cp: CheckpointRow): MerkleFrontier | null {
  try {
    const frontier = MerkleFrontier.fromHex(cp.treeSize, cp.frontier);
    return frontier.root().toString('hex') === cp.rootHash ? frontier : null;
  } catch {
    return null;
  }
}

/** What the entries must agree with at checkpoint `seq`, and what is wrong with it already. */
function expectation(
  keyring: Keyring,
  seq: number,
  cp: { db?: CheckpointRow; sink?: SignedCheckpoint & { treeSize: number } },
): CheckpointExpectation {
  const row = cp.db;
  const problem = (detail: string) => ({ problem: detail, rootHash: '', lastHash: '' });
  if (!row) return problem(`checkpoint ${seq} exists in the external sink but not in the database`);
  if (cp.sink && (cp.sink.payload !== row.payload || cp.sink.signature !== row.signature)) {
    return problem(`checkpoint ${seq} differs from its external copy`);
  }
  const found = checkSignature(keyring, row) ?? checkRowAgainstPayload(row);
  if (found) return problem(`checkpoint ${seq}: ${found}`);
  return { problem: null, rootHash: row.rootHash, lastHash: row.lastHash };
}

function threadCount(options: VerifyOptions, entries: number): number {
  // One core stays with this thread, which reads the windows, and with PostgreSQL producing them.
  const wanted = options.threads ?? Math.min(availableParallelism() - 1, MAX_DEFAULT_THREADS);
  const perThread = options.minEntriesPerThread ?? MIN_ENTRIES_PER_THREAD;
  return Math.max(1, Math.min(Math.floor(wanted), MAX_THREADS, Math.floor(entries / Math.max(1, perThread))));
}

/**
 * Cuts `start..to` into up to `count` segments of about equal length at checkpoints whose
 * signed root vouches for their frontier and whose hash starts the next segment. A segment's
 * last entry is compared with the checkpoint that starts the next one, so nothing between them
 * goes unchecked; a damaged checkpoint is never a cut.
 */
function split(
  start: ChainStart,
  to: number,
  all: readonly CheckpointRow[],
  expected: ReadonlyMap<number, CheckpointExpectation>,
  count: number,
): Segment[] {
  const cuts: Array<{ seq: number; start: ChainStart }> = [];
  if (count > 1) {
    const usable = all.filter((cp) => cp.treeSize > start.seq && cp.treeSize < to);
    const length = to - start.seq;
    for (let k = 1; k < count; k++) {
      const target = start.seq + Math.round((length * k) / count);
      const after = cuts[cuts.length - 1]?.seq ?? start.seq;
      const candidates = usable
        .filter((cp) => cp.treeSize > after && expected.get(cp.treeSize)?.problem === null)
        .sort((a, b) => Math.abs(a.treeSize - target) - Math.abs(b.treeSize - target));
      // No problem expected means the signature and the columns already checked out.
      for (const cp of candidates) {
        const frontier = signedFrontier(cp);
        if (!frontier) continue;
        cuts.push({
          seq: cp.treeSize,
          start: { seq: cp.treeSize, hash: cp.lastHash, frontier: frontier.toHex() },
        });
        break;
      }
    }
  }
  const starts = [start, ...cuts.map((c) => c.start)];
  return starts.map((s, i) => {
    const end = starts[i + 1]?.seq ?? to;
    const checkpoints = new Map([...expected].filter(([seq]) => seq > s.seq && seq <= end));
    return { start: s, to: end, checkpoints };
  });
}

/** The whole range on this thread, reading the next window while this one is hashed. */
async function checkHere(
  db: Database,
  start: ChainStart,
  to: number,
  expected: ReadonlyMap<number, CheckpointExpectation>,
  batchSize: number,
  maxIssues: number,
  onChecked: (seqs: number) => void,
): Promise<ChainCheckResult> {
  const checker = new ChainChecker(start, expected, maxIssues, nextTurn);
  const fetch = (from: number) =>
    from <= to ? readChainWindow(db, from - 1, Math.min(from + batchSize - 1, to)) : Promise.resolve([]);
  let pending = fetch(start.seq + 1);
  for (let from = start.seq + 1; from <= to; from += batchSize) {
    const rows = await pending;
    pending = fetch(from + batchSize);
    const end = Math.min(from + batchSize - 1, to);
    await checker.window(rows, from, end);
    onChecked(end - from + 1);
  }
  await pending;
  return checker.result();
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
