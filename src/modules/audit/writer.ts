import type { AuditRecord, AuditTrail } from '../../platform/audit/port.js';
import type { Keyring } from '../../platform/crypto/keyring.js';
import type { Database, Queryable, Transaction } from '../../platform/db/types.js';
import type { Logger } from '../../platform/observability/logger.js';
import { canonicalParts, chainParts, decodeParts, encodeParts, normalizeRecord } from './chain.js';
import { exportPendingCheckpoints, signCheckpoint, type CheckpointSink } from './checkpoints.js';
import { MerkleFrontier } from './merkle.js';
import {
  deferAppendChained,
  deferIntake,
  deferIntakeBatch,
  deferUpdateHead,
  ensurePartition,
  insertCheckpoint,
  insertIntake,
  insertIntakeBatch,
  lockSequencer,
  readHead,
  takeIntake,
} from './repo.js';

export interface AuditWriterOptions {
  /** Entries chained per sequencer transaction (group commit). */
  batchSize?: number;
  /** Safety-net timer: chains what other processes committed, makes time-based checkpoints. */
  flushIntervalMs?: number;
  /**
   * Least time between the starts of two passes that recorded entries ask for (flush() does not
   * wait): entries gather meanwhile, so a pass chains many instead of each paying for its own.
   */
  passIntervalMs?: number;
  /** A checkpoint at least every N entries... */
  checkpointEvery?: number;
  /** ...and every T ms when anything new was chained. */
  checkpointIntervalMs?: number;
  sinks?: CheckpointSink[];
  /** Clock (tests move it to exercise partitions and retention). */
  now?: () => Date;
  /** False in tools that only read (verify, export): no timer. */
  timer?: boolean;
}

export interface ChainedBatch {
  firstSeq: number;
  lastSeq: number;
  /** The entries' canonical texts, `firstSeq` first. */
  canonicals: readonly string[];
}

interface Waiter {
  resolve: () => void;
  reject: (error: unknown) => void;
}

interface Buffered extends Waiter {
  occurredAt: string;
  body: string;
}

function isTransaction(q: Queryable): q is Transaction {
  return typeof (q as Partial<Transaction>).defer === 'function';
}

function isDatabase(q: Queryable): q is Database {
  return typeof (q as Partial<Database>).transaction === 'function';
}

/**
 * The audit trail writer.
 *
 * `record()` only inserts into `audit_intake`: inside the caller's transaction when given one
 * (so the entry commits or rolls back with the audited change; the row goes with the
 * transaction's next statement or its commit, not a round trip of its own), otherwise in a shared
 * multi-row INSERT with whatever else was recorded in the same tick. Nothing contends on the
 * chain there.
 *
 * The sequencer moves committed intake rows into `audit_log` in batches under a transaction-level
 * advisory lock, so exactly one sequencer runs at a time across every process on the database.
 * Taking the intake rows, chaining (seq, prevHash, hash), inserting into the log and advancing
 * the head all happen in that one transaction: a row is chained exactly once or not
 * at all. It runs after each commit that recorded something, and on a timer.
 */
export class AuditWriter implements AuditTrail {
  private readonly batchSize: number;
  private readonly checkpointEvery: number;
  private readonly checkpointIntervalMs: number;
  private readonly sinks: CheckpointSink[];
  private readonly now: () => Date;
  private readonly months = new Set<string>();
  private readonly listeners: Array<(batch: ChainedBatch) => void | Promise<void>> = [];
  /** Entries recorded without a transaction, waiting for the next shared intake INSERT. */
  private buffer: Buffered[] = [];
  private intakeRunning: Promise<void> | null = null;
  private waiters: Waiter[] = [];
  private sequencing = false;
  private timer: NodeJS.Timeout | null = null;
  private readonly passIntervalMs: number;
  private lastPassAt = 0;
  private soon: NodeJS.Timeout | null = null;
  private closed = false;
  private ticking: Promise<void> | null = null;
  private readonly inFlight = new Set<Promise<void>>();

  constructor(
    private readonly db: Database,
    private readonly keyring: Keyring,
    private readonly logger: Logger,
    options: AuditWriterOptions = {},
  ) {
    this.batchSize = options.batchSize ?? 5000;
    this.checkpointEvery = options.checkpointEvery ?? 10_000;
    this.checkpointIntervalMs = options.checkpointIntervalMs ?? 60_000;
    this.sinks = options.sinks ?? [];
    this.now = options.now ?? (() => new Date());
    this.passIntervalMs = options.passIntervalMs ?? 50;
    if (options.timer !== false) {
      this.timer = setInterval(() => {
        if (this.ticking) return;
        this.ticking = this.tick().finally(() => {
          this.ticking = null;
        });
      }, options.flushIntervalMs ?? 1000);
      this.timer.unref();
    }
  }

  /** Called with every batch once it has committed (alerts, metrics). */
  onChained(listener: (batch: ChainedBatch) => void | Promise<void>): void {
    this.listeners.push(listener);
  }

  async record(entry: AuditRecord, tx?: Queryable): Promise<void> {
    if (this.closed) throw new Error('the audit trail is closed');
    const normalized = normalizeRecord(entry, this.now());
    const body = encodeParts(canonicalParts(normalized));
    if (tx && isTransaction(tx)) {
      // Nothing in the transaction reads the row: it goes with the next statement or the commit.
      deferIntake(tx, normalized.time, body);
      tx.afterCommit(() => {
        this.sequenceSoon();
      });
      return;
    }
    if (tx && !isDatabase(tx)) {
      await insertIntake(tx, normalized.time, body);
      return;
    }
    await new Promise<void>((resolve, reject) => {
      this.buffer.push({ occurredAt: normalized.time, body, resolve, reject });
      if (!this.intakeRunning) this.intakeRunning = this.drainBuffer();
    });
  }

  async recordMany(entries: readonly AuditRecord[], tx: Queryable): Promise<void> {
    if (this.closed) throw new Error('the audit trail is closed');
    if (entries.length === 0) return;
    if (isDatabase(tx)) {
      await Promise.all(entries.map((entry) => this.record(entry)));
      return;
    }
    const now = this.now();
    const rows = entries.map((entry) => {
      const normalized = normalizeRecord(entry, now);
      return { occurredAt: normalized.time, body: encodeParts(canonicalParts(normalized)) };
    });
    if (isTransaction(tx)) {
      deferIntakeBatch(tx, rows);
      tx.afterCommit(() => {
        this.sequenceSoon();
      });
      return;
    }
    await insertIntakeBatch(tx, rows);
  }

  /** Chains everything committed to the intake before this call; resolves once it is in the log. */
  async flush(): Promise<void> {
    if (this.intakeRunning) await this.intakeRunning;
    await this.sequence();
  }

  /** Stops the timer and chains what is left. */
  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (this.soon) clearTimeout(this.soon);
    this.soon = null;
    if (this.ticking) await this.ticking;
    await this.flush();
    this.closed = true;
    // Listeners still running must finish before the caller closes the database.
    await Promise.all([...this.inFlight]);
  }

  /** Checkpoint now if anything was chained since the last one (shutdown, tests, operators). */
  async checkpointNow(): Promise<void> {
    await this.flush();
    await this.db.transaction(async (tx) => {
      await lockSequencer(tx);
      const head = await readHead(tx);
      if (head.seq === head.checkpointSeq) return;
      await this.writeCheckpoint(tx, head, MerkleFrontier.fromHex(head.seq, head.frontier));
      deferUpdateHead(tx, head);
    });
    await exportPendingCheckpoints(this.db, this.sinks, this.logger);
  }

  private sequenceSoon(): void {
    if (this.soon) return;
    const run = () => {
      this.soon = null;
      this.sequence().catch((error: unknown) => this.logger.error({ err: error }, 'audit sequencer failed'));
    };
    const wait = this.lastPassAt + this.passIntervalMs - performance.now();
    if (wait <= 0) return run();
    this.soon = setTimeout(run, wait);
    this.soon.unref();
  }

  private async tick(): Promise<void> {
    try {
      await this.sequence();
      await exportPendingCheckpoints(this.db, this.sinks, this.logger);
    } catch (error) {
      this.logger.error({ err: error }, 'audit sequencer failed');
    }
  }

  /** One multi-row INSERT for everything recorded meanwhile (group commit on the intake too). */
  private async drainBuffer(): Promise<void> {
    try {
      while (this.buffer.length > 0) {
        const batch = this.buffer.splice(0, 2000);
        try {
          await insertIntakeBatch(this.db, batch);
          for (const b of batch) b.resolve();
        } catch (error) {
          for (const b of batch) b.reject(error);
        }
      }
    } finally {
      this.intakeRunning = null;
    }
    this.sequenceSoon();
  }

  /**
   * Coalesces requests: a pass starts after the requests it serves were made, so whatever they
   * committed is visible to it; requests arriving meanwhile wait for the next pass.
   */
  private sequence(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.waiters.push({ resolve, reject });
      if (!this.sequencing) void this.runPasses();
    });
  }

  private async runPasses(): Promise<void> {
    this.sequencing = true;
    try {
      while (this.waiters.length > 0) {
        const served = this.waiters.splice(0);
        this.lastPassAt = performance.now();
        try {
          while ((await this.sequenceBatch()) === this.batchSize);
          for (const w of served) w.resolve();
        } catch (error) {
          for (const w of served) w.reject(error);
        }
      }
    } finally {
      this.sequencing = false;
    }
  }

  /** One group commit. Returns how many entries it chained. */
  private async sequenceBatch(): Promise<number> {
    const out: { chained: ChainedBatch | null; checkpointed: boolean } = {
      chained: null,
      checkpointed: false,
    };
    const count = await this.db
      .transaction(async (tx) => {
        await lockSequencer(tx);
        const head = await readHead(tx);
        const intake = await takeIntake(tx, this.batchSize);
        const bodies = intake.map((i) => i.body);
        const now = this.now();
        const timeDue =
          head.seq > head.checkpointSeq &&
          now.getTime() - head.checkpointAt.getTime() >= this.checkpointIntervalMs;
        if (bodies.length === 0 && !timeDue) return 0;

        const frontier = MerkleFrontier.fromHex(head.seq, head.frontier);
        if (bodies.length > 0) {
          // Monotonic along the chain even when process clocks disagree: it is the partition key.
          const recorded = head.recordedAt && head.recordedAt > now ? head.recordedAt : now;
          const recordedAt = recorded.toISOString();
          await this.ensureMonth(tx, recordedAt);
          const canonicals: string[] = [];
          const hashes: string[] = [];
          let prev = head.hash;
          let seq = head.seq;
          for (const body of bodies) {
            seq += 1;
            const { canonical, hash } = chainParts(decodeParts(body), seq, recordedAt, prev);
            canonicals.push(canonical);
            hashes.push(hash);
            frontier.pushEntryHash(hash);
            prev = hash;
          }
          deferAppendChained(tx, head.seq + 1, recordedAt, canonicals, hashes);
          out.chained = { firstSeq: head.seq + 1, lastSeq: seq, canonicals };
          head.seq = seq;
          head.hash = prev;
          head.recordedAt = recorded;
          head.frontier = frontier.toHex();
        }
        if (
          head.seq - head.checkpointSeq >= this.checkpointEvery ||
          (timeDue && head.seq > head.checkpointSeq)
        ) {
          await this.writeCheckpoint(tx, head, frontier);
          out.checkpointed = true;
        }
        deferUpdateHead(tx, head);
        return bodies.length;
      })
      .catch((error: unknown) => {
        // A partition created in the rolled-back transaction is gone again.
        this.months.clear();
        throw error;
      });
    const batch = out.chained;
    if (batch) {
      // Not awaited: listeners (alert rules) must not hold up the next group commit.
      for (const listener of this.listeners) {
        const running = Promise.resolve()
          .then(() => listener(batch))
          .catch((error: unknown) => this.logger.error({ err: error }, 'audit listener failed'))
          .finally(() => this.inFlight.delete(running));
        this.inFlight.add(running);
      }
    }
    if (out.checkpointed) await exportPendingCheckpoints(this.db, this.sinks, this.logger);
    return count;
  }

  private async writeCheckpoint(
    tx: Queryable,
    head: { seq: number; hash: string; checkpointSeq: number; checkpointAt: Date },
    frontier: MerkleFrontier,
  ): Promise<void> {
    const createdAt = this.now();
    const rootHash = frontier.root().toString('hex');
    const { signed } = signCheckpoint(this.keyring, {
      treeSize: head.seq,
      rootHash,
      lastHash: head.hash,
      createdAt: createdAt.toISOString(),
    });
    await insertCheckpoint(tx, {
      treeSize: head.seq,
      rootHash,
      lastHash: head.hash,
      createdAt: createdAt.toISOString(),
      kid: signed.kid,
      payload: signed.payload,
      signature: signed.signature,
      frontier: frontier.toHex(),
    });
    head.checkpointSeq = head.seq;
    head.checkpointAt = createdAt;
  }

  private async ensureMonth(tx: Queryable, iso: string): Promise<void> {
    const month = `${iso.slice(0, 7)}-01`;
    if (this.months.has(month)) return;
    await ensurePartition(tx, month);
    this.months.add(month);
  }
}
