import { sign, verify as verifySignature } from 'node:crypto';
import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Keyring } from '../../platform/crypto/keyring.js';
import type { Queryable } from '../../platform/db/types.js';
import type { Logger } from '../../platform/observability/logger.js';
import type { ObjectStorage } from '../../platform/storage/port.js';
import { canonicalize } from './canonical.js';

/** What a checkpoint signs: the canonical JSON of this object. */
export interface CheckpointPayload {
  log: 'iris-audit';
  v: 1;
  treeSize: number;
  rootHash: string;
  /** Chain hash of entry `treeSize`, binding the checkpoint to the hash chain as well. */
  lastHash: string;
  createdAt: string;
  kid: string;
}

export interface SignedCheckpoint {
  payload: string;
  signature: string;
  kid: string;
}

export interface CheckpointRow extends SignedCheckpoint {
  treeSize: number;
  rootHash: string;
  lastHash: string;
  createdAt: Date;
  frontier: string[];
}

/** Signs a checkpoint with the keyring's active `audit-signing` (Ed25519) key. */
export function signCheckpoint(
  keyring: Keyring,
  fields: Omit<CheckpointPayload, 'log' | 'v' | 'kid'>,
): { payload: CheckpointPayload; signed: SignedCheckpoint } {
  const key = keyring.active('audit-signing');
  const payload: CheckpointPayload = { log: 'iris-audit', v: 1, ...fields, kid: key.kid };
  const text = canonicalize(payload);
  const signature = sign(null, Buffer.from(text, 'utf8'), key.key).toString('base64');
  return { payload, signed: { payload: text, signature, kid: key.kid } };
}

export type CheckpointProblem = 'unknown key' | 'bad signature' | 'payload mismatch';

/** Checks the signature with the key named by `kid` (older keys stay in the keyring for this). */
export function checkSignature(keyring: Keyring, cp: SignedCheckpoint): CheckpointProblem | null {
  const key = keyring.find('audit-signing', cp.kid);
  if (!key?.publicKey) return 'unknown key';
  const ok = verifySignature(
    null,
    Buffer.from(cp.payload, 'utf8'),
    key.publicKey,
    Buffer.from(cp.signature, 'base64'),
  );
  return ok ? null : 'bad signature';
}

/** The stored columns must say what the signed payload says. */
export function checkRowAgainstPayload(row: CheckpointRow): CheckpointProblem | null {
  let payload: CheckpointPayload;
  try {
    payload = JSON.parse(row.payload) as CheckpointPayload;
  } catch {
    return 'payload mismatch';
  }
  const same =
    payload.treeSize === row.treeSize &&
    payload.rootHash === row.rootHash &&
    payload.lastHash === row.lastHash &&
    payload.kid === row.kid &&
    canonicalize(payload) === row.payload;
  return same ? null : 'payload mismatch';
}

/**
 * Somewhere outside the database that receives every checkpoint, so that rewriting history
 * in the database alone is detectable. `list` lets the verifier compare against it.
 */
export interface CheckpointSink {
  readonly name: string;
  write(checkpoint: SignedCheckpoint & { treeSize: number }): Promise<void>;
  list?(): AsyncIterable<SignedCheckpoint & { treeSize: number }>;
}

function fileName(treeSize: number): string {
  return `checkpoint-${String(treeSize).padStart(16, '0')}.json`;
}

function body(cp: SignedCheckpoint & { treeSize: number }): string {
  return `${JSON.stringify({ treeSize: cp.treeSize, kid: cp.kid, payload: cp.payload, signature: cp.signature })}\n`;
}

/** A directory (default `<data dir>/audit-checkpoints`), ideally on other storage or WORM media. */
export class DirectoryCheckpointSink implements CheckpointSink {
  readonly name = 'directory';
  constructor(private readonly dir: string) {}

  async write(cp: SignedCheckpoint & { treeSize: number }): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const target = join(this.dir, fileName(cp.treeSize));
    const temp = `${target}.${process.pid}.tmp`;
    await writeFile(temp, body(cp), { mode: 0o644 });
    await rename(temp, target);
  }

  async *list(): AsyncIterable<SignedCheckpoint & { treeSize: number }> {
    let names: string[];
    try {
      names = (await readdir(this.dir)).filter((n) => /^checkpoint-\d+\.json$/.test(n)).sort();
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw error;
    }
    for (const name of names) {
      yield JSON.parse(await readFile(join(this.dir, name), 'utf8')) as SignedCheckpoint & {
        treeSize: number;
      };
    }
  }
}

/** An object-storage prefix (S3 with object lock, or local disk). */
export class StorageCheckpointSink implements CheckpointSink {
  readonly name = 'object-storage';
  constructor(
    private readonly storage: ObjectStorage,
    private readonly prefix = 'audit/checkpoints',
  ) {}

  async write(cp: SignedCheckpoint & { treeSize: number }): Promise<void> {
    await this.storage.put(`${this.prefix}/${fileName(cp.treeSize)}`, Buffer.from(body(cp)), {
      contentType: 'application/json',
    });
  }

  async *list(): AsyncIterable<SignedCheckpoint & { treeSize: number }> {
    for await (const entry of this.storage.list(`${this.prefix}/`)) {
      const object = await this.storage.get(entry.key);
      const chunks: Buffer[] = [];
      for await (const chunk of object.body) chunks.push(chunk as Buffer);
      yield JSON.parse(Buffer.concat(chunks).toString('utf8')) as SignedCheckpoint & { treeSize: number };
    }
  }
}

/** POSTs each checkpoint as JSON; any 2xx counts as received. */
export class WebhookCheckpointSink implements CheckpointSink {
  readonly name = 'webhook';
  constructor(
    private readonly url: string,
    private readonly timeoutMs = 5000,
  ) {}

  async write(cp: SignedCheckpoint & { treeSize: number }): Promise<void> {
    const response = await fetch(this.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: body(cp),
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    if (!response.ok) throw new Error(`checkpoint webhook answered ${response.status}`);
  }
}

/**
 * Hands checkpoints not yet received by a sink to it, and records each delivery. Runs after the
 * checkpoint commits and again on the writer's timer, so a sink that was down catches up.
 */
export async function exportPendingCheckpoints(
  db: Queryable,
  sinks: readonly CheckpointSink[],
  logger: Logger,
): Promise<number> {
  let delivered = 0;
  for (const sink of sinks) {
    const { rows } = await db.query<{ tree_size: number; payload: string; signature: string; kid: string }>(
      `SELECT c.tree_size, c.payload, c.signature, c.kid FROM audit_checkpoints c
        WHERE NOT EXISTS (SELECT 1 FROM audit_checkpoint_exports e WHERE e.tree_size = c.tree_size AND e.sink = $1)
        ORDER BY c.tree_size LIMIT 100`,
      [sink.name],
    );
    for (const row of rows) {
      try {
        await sink.write({
          treeSize: row.tree_size,
          payload: row.payload,
          signature: row.signature,
          kid: row.kid,
        });
        await db.query(
          'INSERT INTO audit_checkpoint_exports (tree_size, sink) VALUES ($1, $2) ON CONFLICT DO NOTHING',
          [row.tree_size, sink.name],
        );
        delivered += 1;
      } catch (error) {
        logger.warn(
          { sink: sink.name, treeSize: row.tree_size, err: error },
          'audit checkpoint export failed',
        );
        break;
      }
    }
  }
  return delivered;
}

export async function listCheckpoints(
  db: Queryable,
  from = 0,
  to = Number.MAX_SAFE_INTEGER,
): Promise<CheckpointRow[]> {
  const { rows } = await db.query<{
    tree_size: number;
    root_hash: string;
    last_hash: string;
    created_at: Date;
    kid: string;
    payload: string;
    signature: string;
    frontier: string[];
  }>(
    `SELECT tree_size, root_hash, last_hash, created_at, kid, payload, signature, frontier
       FROM audit_checkpoints WHERE tree_size BETWEEN $1 AND $2 ORDER BY tree_size`,
    [from, to],
  );
  return rows.map(toCheckpoint);
}

export async function checkpointCovering(db: Queryable, seq: number): Promise<CheckpointRow | null> {
  const { rows } = await db.query<Parameters<typeof toCheckpoint>[0]>(
    `SELECT tree_size, root_hash, last_hash, created_at, kid, payload, signature, frontier
       FROM audit_checkpoints WHERE tree_size >= $1 ORDER BY tree_size LIMIT 1`,
    [seq],
  );
  return rows[0] ? toCheckpoint(rows[0]) : null;
}

function toCheckpoint(r: {
  tree_size: number;
  root_hash: string;
  last_hash: string;
  created_at: Date;
  kid: string;
  payload: string;
  signature: string;
  frontier: string[];
}): CheckpointRow {
  return {
    treeSize: r.tree_size,
    rootHash: r.root_hash,
    lastHash: r.last_hash,
    createdAt: r.created_at,
    kid: r.kid,
    payload: r.payload,
    signature: r.signature,
    frontier: r.frontier,
  };
}
