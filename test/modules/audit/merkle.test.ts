import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  EMPTY_ROOT,
  inclusionProof,
  leafHash,
  MerkleFrontier,
  rootOf,
  verifyInclusion,
} from '../../../src/modules/audit/merkle.js';

// The leaves and roots of the RFC 6962 reference tests (certificate-transparency merkle_tree_test).
const LEAVES = [
  '',
  '00',
  '10',
  '2021',
  '3031',
  '40414243',
  '5051525354555657',
  '606162636465666768696a6b6c6d6e6f',
].map((h) => leafHash(Buffer.from(h, 'hex')));
const ROOTS = [
  '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
  'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
  'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
  'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
  '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
  '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
  'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
  '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
];

describe('RFC 6962 Merkle tree', () => {
  test('the empty tree hashes to SHA-256 of nothing', () => {
    assert.equal(
      EMPTY_ROOT.toString('hex'),
      'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    );
    assert.deepEqual(MerkleFrontier.empty().root(), EMPTY_ROOT);
  });

  test('roots of trees of 1..8 leaves match the reference values, recursively and incrementally', () => {
    const frontier = MerkleFrontier.empty();
    for (let n = 1; n <= 8; n++) {
      frontier.push(LEAVES[n - 1]!);
      assert.equal(rootOf(LEAVES.slice(0, n)).toString('hex'), ROOTS[n - 1], `recursive root of ${n}`);
      assert.equal(frontier.root().toString('hex'), ROOTS[n - 1], `frontier root of ${n}`);
    }
  });

  test('the audit path of leaf 0 in the 8-leaf tree matches the reference', () => {
    assert.deepEqual(
      inclusionProof(LEAVES, 0).map((b) => b.toString('hex')),
      [
        '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
        '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
        '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4',
      ],
    );
  });

  test('every leaf of every tree size 1..8 has a proof that verifies, and only for itself', () => {
    for (let n = 1; n <= 8; n++) {
      const leaves = LEAVES.slice(0, n);
      const root = Buffer.from(ROOTS[n - 1]!, 'hex');
      for (let i = 0; i < n; i++) {
        const proof = inclusionProof(leaves, i);
        assert.ok(verifyInclusion(leaves[i]!, i, n, proof, root), `leaf ${i} of ${n}`);
        const other = leaves[(i + 1) % n]!;
        if (n > 1) assert.ok(!verifyInclusion(other, i, n, proof, root), `wrong leaf ${i} of ${n}`);
        if (proof.length > 0) {
          const bent = proof.map((p, k) => (k === 0 ? Buffer.alloc(32, 7) : p));
          assert.ok(!verifyInclusion(leaves[i]!, i, n, bent, root), `altered proof ${i} of ${n}`);
        }
        assert.ok(!verifyInclusion(leaves[i]!, n, n, proof, root), `index outside the tree ${i} of ${n}`);
      }
    }
  });

  test('proofs verify in larger, unbalanced trees and a frontier survives a save and restore', () => {
    const leaves = Array.from({ length: 1000 }, (_, i) => leafHash(Buffer.from(`entry ${i}`)));
    const frontier = MerkleFrontier.empty();
    for (const [i, leaf] of leaves.entries()) {
      frontier.push(leaf);
      if ([1, 2, 3, 63, 64, 65, 500, 999].includes(i)) {
        const saved = MerkleFrontier.fromHex(frontier.treeSize, frontier.toHex());
        assert.deepEqual(saved.root(), rootOf(leaves.slice(0, i + 1)));
      }
    }
    const root = frontier.root();
    for (const i of [0, 1, 511, 512, 513, 998, 999]) {
      assert.ok(verifyInclusion(leaves[i]!, i, 1000, inclusionProof(leaves, i), root));
    }
    assert.throws(() => MerkleFrontier.fromHex(5, ['00']), /5 leaves has 2 nodes/);
  });
});
