import { createHash, hash } from 'node:crypto';

/**
 * RFC 6962 (Certificate Transparency) Merkle tree hash over the audit log. The leaf data of
 * entry `seq` is its 32-byte chain hash, so leaf = SHA-256(0x00 || entryHash) and
 * node = SHA-256(0x01 || left || right). Leaf index i holds entry seq i + 1.
 */
// One-shot hashing over reused buffers: the verifier does this for every entry.
const leafInput = Buffer.alloc(33);
const nodeInput = Buffer.alloc(65);

export function leafHash(data: Buffer): Buffer {
  if (data.length !== 32) {
    return createHash('sha256')
      .update(Buffer.from([0x00]))
      .update(data)
      .digest();
  }
  leafInput[0] = 0x00;
  data.copy(leafInput, 1);
  return hash('sha256', leafInput, 'buffer');
}

/** Leaf hash of a hex chain hash, without an intermediate buffer. */
export function leafHashHex(hex: string): Buffer {
  leafInput[0] = 0x00;
  leafInput.write(hex, 1, 32, 'hex');
  return hash('sha256', leafInput, 'buffer');
}

export function nodeHash(left: Buffer, right: Buffer): Buffer {
  nodeInput[0] = 0x01;
  left.copy(nodeInput, 1);
  right.copy(nodeInput, 33);
  return hash('sha256', nodeInput, 'buffer');
}

/** SHA-256 of the empty string: the RFC 6962 hash of a tree with no leaves. */
export const EMPTY_ROOT = createHash('sha256').digest();

/** Largest power of two strictly smaller than n (n >= 2). */
function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** MTH over already-hashed leaves (RFC 6962 §2.1), recursive; for proofs and tests. */
export function rootOf(leaves: readonly Buffer[]): Buffer {
  if (leaves.length === 0) return EMPTY_ROOT;
  return subtree(leaves, 0, leaves.length);
}

function subtree(leaves: readonly Buffer[], lo: number, hi: number): Buffer {
  if (hi - lo === 1) return leaves[lo]!;
  const k = splitPoint(hi - lo);
  return nodeHash(subtree(leaves, lo, lo + k), subtree(leaves, lo + k, hi));
}

/**
 * The audit path of leaf `index` in the tree over `leaves` (RFC 6962 §2.1.1 PATH(m, D[n])),
 * ordered from the leaf upwards.
 */
export function inclusionProof(leaves: readonly Buffer[], index: number): Buffer[] {
  if (index < 0 || index >= leaves.length) throw new RangeError('leaf index outside the tree');
  const path: Buffer[] = [];
  const walk = (m: number, lo: number, hi: number): void => {
    if (hi - lo === 1) return;
    const k = splitPoint(hi - lo);
    if (m < k) {
      walk(m, lo, lo + k);
      path.push(subtree(leaves, lo + k, hi));
    } else {
      walk(m - k, lo + k, hi);
      path.push(subtree(leaves, lo, lo + k));
    }
  };
  walk(index, 0, leaves.length);
  return path;
}

/**
 * Verifies an inclusion proof (RFC 9162 §2.1.3.2, the algorithm RFC 6962 proofs satisfy):
 * true when `leaf` at `index` in a tree of `treeSize` leaves hashes up to `root` along `proof`.
 */
export function verifyInclusion(
  leaf: Buffer,
  index: number,
  treeSize: number,
  proof: readonly Buffer[],
  root: Buffer,
): boolean {
  if (index < 0 || index >= treeSize) return false;
  let fn = index;
  let sn = treeSize - 1;
  let r = leaf;
  for (const p of proof) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r);
      // Skip the levels where this node is a lone right-most child.
      while (fn % 2 === 0 && fn !== 0) {
        fn = Math.floor(fn / 2);
        sn = Math.floor(sn / 2);
      }
    } else {
      r = nodeHash(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && r.equals(root);
}

// The frontier keeps nodes as latin1 ('binary') strings, one char per byte: one-shot hashing into a
// string is several times faster than into a Buffer, and the verifier does it for every entry.
function leafOfHexFast(hex: string): string {
  leafInput[0] = 0x00;
  leafInput.write(hex, 1, 32, 'hex');
  return hash('sha256', leafInput, 'binary');
}

function nodeFast(left: string, right: string): string {
  nodeInput[0] = 0x01;
  nodeInput.write(left, 1, 32, 'latin1');
  nodeInput.write(right, 33, 32, 'latin1');
  return hash('sha256', nodeInput, 'binary');
}

/**
 * The right edge of a growing tree: the roots of its perfect subtrees, largest first (at most
 * 64). Appending a leaf merges equal-sized subtrees like a binary counter, so the sequencer
 * extends the tree in O(1) amortised per entry and stores only this edge between batches.
 */
export class MerkleFrontier {
  private constructor(
    private size: number,
    private readonly nodes: string[],
  ) {}

  static empty(): MerkleFrontier {
    return new MerkleFrontier(0, []);
  }

  /** Restores a frontier saved with {@link toHex}; throws when it cannot belong to `size` leaves. */
  static fromHex(size: number, hex: readonly string[]): MerkleFrontier {
    if (popcount(size) !== hex.length) {
      throw new Error(`a frontier of ${size} leaves has ${popcount(size)} nodes`);
    }
    return new MerkleFrontier(
      size,
      hex.map((h) => Buffer.from(h, 'hex').toString('latin1')),
    );
  }

  get treeSize(): number {
    return this.size;
  }

  /** Adds one already-hashed leaf. */
  push(leaf: Buffer): void {
    this.pushNode(leaf.toString('latin1'));
  }

  /** Adds the leaf of an entry given its hex chain hash: SHA-256(0x00 || hash). */
  pushEntryHash(hex: string): void {
    this.pushNode(leafOfHexFast(hex));
  }

  private pushNode(leaf: string): void {
    let node = leaf;
    let n = this.size;
    // Each trailing 1-bit of the old size is a perfect subtree of the new leaf's size to merge.
    while (n % 2 === 1) {
      node = nodeFast(this.nodes.pop()!, node);
      n = Math.floor(n / 2);
    }
    this.nodes.push(node);
    this.size += 1;
  }

  /** MTH of the leaves so far: folding the subtree roots right to left. */
  root(): Buffer {
    if (this.nodes.length === 0) return EMPTY_ROOT;
    let r = this.nodes[this.nodes.length - 1]!;
    for (let i = this.nodes.length - 2; i >= 0; i--) r = nodeFast(this.nodes[i]!, r);
    return Buffer.from(r, 'latin1');
  }

  toHex(): string[] {
    return this.nodes.map((n) => Buffer.from(n, 'latin1').toString('hex'));
  }

  clone(): MerkleFrontier {
    return new MerkleFrontier(this.size, [...this.nodes]);
  }
}

function popcount(n: number): number {
  let c = 0;
  for (let x = n; x > 0; x = Math.floor(x / 2)) c += x % 2;
  return c;
}
