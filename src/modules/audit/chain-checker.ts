import { hash } from 'node:crypto';
import type { StoredEntry } from './chain-copy.js';
import { MerkleFrontier } from './merkle.js';

export type DamageKind =
  'modified' | 'deleted' | 'inserted' | 'reordered' | 'checkpoint_mismatch' | 'schema_altered';

export interface Damage {
  seq: number | null;
  kind: DamageKind;
  detail: string;
}

/**
 * What a checkpoint inside the range must agree with. `problem` is what was already found
 * without the entries (signature, stored columns, external copy); the entries are then not
 * compared with it.
 */
export interface CheckpointExpectation {
  problem: string | null;
  rootHash: string;
  lastHash: string;
}

/** Where a run of the chain starts: after `seq`, whose hash and Merkle frontier are trusted. */
export interface ChainStart {
  seq: number;
  hash: string;
  /** Hex nodes of the frontier after `seq` leaves, or null when the tree before it is unknown. */
  frontier: string[] | null;
}

export interface ChainCheckResult {
  issues: Damage[];
  entries: number;
  checkpoints: number;
  /** The stored hash of the last entry checked (the start's hash when none was). */
  lastHash: string;
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
function chainFields(canonical: Buffer): { prevHash: string; seq: number; recordedAt: number } | null {
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

// Hashing runs for seconds on large logs: on a shared thread, let other work in this often.
const YIELD_EVERY = 2048;

/**
 * Recomputes one run of the chain from its start, window by window. It needs neither the
 * database nor the keyring, so a run can be checked on another thread.
 *
 * For each seq: no row → deleted; more than one → inserted; SHA-256 of the canonical text
 * differs from the stored hash → modified; an authentic entry whose own seq differs from its
 * position → reordered; an entry whose `prevHash` differs from its predecessor's stored hash →
 * the predecessor was modified and its hash recomputed. Each checkpoint is compared with the
 * Merkle root recomputed up to its tree size and with the hash of its last entry.
 */
export class ChainChecker {
  private readonly issues: Damage[] = [];
  private frontierValid: boolean;
  private readonly frontier: MerkleFrontier;
  private prevHash: string;
  private linked = true;
  private entries = 0;
  private checkpointsChecked = 0;
  private lastReportedModified = -1;

  constructor(
    start: ChainStart,
    private readonly checkpoints: ReadonlyMap<number, CheckpointExpectation>,
    private readonly maxIssues: number,
    /** Lets other work run now and then; absent on a thread of its own. */
    private readonly pause?: () => Promise<void>,
  ) {
    this.prevHash = start.hash;
    this.frontier = start.frontier
      ? MerkleFrontier.fromHex(start.seq, start.frontier)
      : MerkleFrontier.empty();
    // Without a trusted frontier the tree is unknown: chain checks only.
    this.frontierValid = start.frontier !== null;
  }

  private report(d: Damage): void {
    if (this.issues.length < this.maxIssues) this.issues.push(d);
  }

  /** Checks seqs `windowStart..windowEnd` against `rows`, the stored entries of that window in seq order. */
  async window(rows: readonly StoredEntry[], windowStart: number, windowEnd: number): Promise<void> {
    let i = 0;
    for (let seq = windowStart; seq <= windowEnd; seq++) {
      if (this.pause && (seq - windowStart) % YIELD_EVERY === YIELD_EVERY - 1) await this.pause();
      // Rows come in seq order; collect those claiming this seq.
      let first = -1;
      let count = 0;
      while (i < rows.length && rows[i]!.seq === seq) {
        if (first < 0) first = i;
        count += 1;
        i += 1;
      }
      if (count === 0) {
        this.report({ seq, kind: 'deleted', detail: `entry ${seq} is missing` });
        this.linked = false;
        this.frontierValid = false;
        continue;
      }
      let row = rows[first]!;
      if (count > 1) {
        const candidates = rows.slice(first, first + count);
        row =
          candidates.find((r) => {
            const f = chainFields(r.canonical);
            return f?.prevHash === this.prevHash && f.seq === seq && sha256Hex(r.canonical) === r.hash;
          }) ?? row;
        this.report({ seq, kind: 'inserted', detail: `${count} entries claim seq ${seq}` });
      }
      this.entry(seq, row);
    }
  }

  private entry(seq: number, row: StoredEntry): void {
    this.entries += 1;
    const fields = chainFields(row.canonical);
    if (sha256Hex(row.canonical) !== row.hash || !fields) {
      this.report({ seq, kind: 'modified', detail: 'the entry does not hash to its stored hash' });
    } else if (fields.seq !== seq) {
      this.report({ seq, kind: 'reordered', detail: `the entry at position ${seq} is entry ${fields.seq}` });
    } else if (fields.recordedAt !== row.t) {
      this.report({ seq, kind: 'modified', detail: 'recorded_at differs from the hashed entry' });
    } else if (this.linked && fields.prevHash !== this.prevHash && this.lastReportedModified !== seq - 1) {
      this.report({
        seq: seq - 1,
        kind: 'modified',
        detail: `entry ${seq - 1} no longer has the hash entry ${seq} was chained to (hash recomputed)`,
      });
      this.lastReportedModified = seq - 1;
    }
    // Continue from what the row claims, so one damaged entry is reported once, not forever.
    this.linked = true;
    this.prevHash = row.hash;
    if (this.frontierValid) this.frontier.pushEntryHash(row.hash);

    const cp = this.checkpoints.get(seq);
    if (cp) {
      this.checkpointsChecked += 1;
      this.checkpoint(seq, cp);
    }
  }

  private checkpoint(seq: number, cp: CheckpointExpectation): void {
    const mismatch = (detail: string) => this.report({ seq, kind: 'checkpoint_mismatch', detail });
    if (cp.problem) return mismatch(cp.problem);
    if (this.frontierValid && !this.frontier.root().equals(Buffer.from(cp.rootHash, 'hex'))) {
      return mismatch(`the Merkle root over entries 1..${seq} differs from checkpoint ${seq}`);
    }
    if (cp.lastHash !== this.prevHash)
      mismatch(`entry ${seq} differs from the hash checkpoint ${seq} signed`);
  }

  result(): ChainCheckResult {
    return {
      issues: this.issues,
      entries: this.entries,
      checkpoints: this.checkpointsChecked,
      lastHash: this.prevHash,
    };
  }
}
