import type { Queryable } from '../../platform/db/types.js';
import { checkpointCovering, listCheckpoints, type CheckpointRow } from './checkpoints.js';
import { inclusionProof, leafHashHex, verifyInclusion } from './merkle.js';
import { readEntry, readHashes } from './repo.js';
import type { AuditEntryView } from './query.js';

export interface EntryProof {
  entry: AuditEntryView;
  /** RFC 6962 audit path from the leaf upwards, hex. */
  leafIndex: number;
  treeSize: number;
  leafHash: string;
  auditPath: string[];
  checkpoint: { treeSize: number; rootHash: string; payload: string; signature: string; kid: string };
}

export class ProofUnavailableError extends Error {
  override readonly name = 'ProofUnavailableError';
}

/**
 * An entry with its inclusion proof against the first checkpoint that covers it (or the one of
 * size `treeSize`). The proof is rebuilt from the leaf hashes up to that size and checked before
 * it is returned, so a damaged log yields an error rather than a proof that does not verify.
 */
export async function entryProof(db: Queryable, seq: number, treeSize?: number): Promise<EntryProof | null> {
  const row = await readEntry(db, seq);
  if (!row) return null;
  let checkpoint: CheckpointRow | null;
  if (treeSize !== undefined) {
    checkpoint = (await listCheckpoints(db, treeSize, treeSize))[0] ?? null;
    if (checkpoint && checkpoint.treeSize < seq)
      throw new ProofUnavailableError(`checkpoint ${treeSize} does not cover entry ${seq}`);
  } else {
    checkpoint = await checkpointCovering(db, seq);
  }
  if (!checkpoint) throw new ProofUnavailableError(`no checkpoint covers entry ${seq} yet`);
  const hashes = await readHashes(db, 1, checkpoint.treeSize);
  if (hashes.length !== checkpoint.treeSize || hashes[0]?.seq !== 1) {
    throw new ProofUnavailableError('entries under this checkpoint are archived or missing; use the archive');
  }
  const leaves = hashes.map((h) => leafHashHex(h.hash));
  const index = seq - 1;
  const path = inclusionProof(leaves, index);
  const root = Buffer.from(checkpoint.rootHash, 'hex');
  if (!verifyInclusion(leaves[index]!, index, checkpoint.treeSize, path, root)) {
    throw new ProofUnavailableError(
      `entry ${seq} does not verify against checkpoint ${checkpoint.treeSize}; run a verification`,
    );
  }
  return {
    entry: { ...row.doc, hash: row.hash },
    leafIndex: index,
    treeSize: checkpoint.treeSize,
    leafHash: leaves[index]!.toString('hex'),
    auditPath: path.map((p) => p.toString('hex')),
    checkpoint: {
      treeSize: checkpoint.treeSize,
      rootHash: checkpoint.rootHash,
      payload: checkpoint.payload,
      signature: checkpoint.signature,
      kid: checkpoint.kid,
    },
  };
}
