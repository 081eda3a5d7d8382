// The RFC 6962 / RFC 9162 Merkle tree over audit entries, kept as a
// frontier (one hash per perfect subtree) so a verifier needs constant
// memory whatever the length of the log.

import { sha256 } from "../crypto.js";
import { concat } from "../encoding.js";

const LEAF = new Uint8Array([0]);
const NODE = new Uint8Array([1]);

/** The leaf hash `SHA-256(0x00 ‖ data)`. */
export function leafHash(data: Uint8Array): Promise<Uint8Array> {
  return sha256(concat(LEAF, data));
}

/** The node hash `SHA-256(0x01 ‖ left ‖ right)`. */
export function nodeHash(left: Uint8Array, right: Uint8Array): Promise<Uint8Array> {
  return sha256(concat(NODE, left, right));
}

/** The right edge of a growing tree: its perfect subtrees, largest first. */
export class Frontier {
  // INVARIANT: sizes are distinct powers of two, strictly decreasing, and
  // sum to `size`.
  private readonly hashes: Uint8Array[] = [];
  private readonly sizes: number[] = [];
  private count = 0;

  /** Leaves appended so far. */
  get size(): number {
    return this.count;
  }

  /** Appends a leaf (its data, not its hash). */
  async push(data: Uint8Array): Promise<void> {
    let hash = await leafHash(data);
    let size = 1;
    while (this.sizes.length > 0 && this.sizes[this.sizes.length - 1] === size) {
      this.sizes.pop();
      hash = await nodeHash(this.hashes.pop()!, hash);
      size *= 2;
    }
    this.hashes.push(hash);
    this.sizes.push(size);
    this.count += 1;
  }

  /** The root of the leaves so far; SHA-256 of nothing for an empty tree. */
  async root(): Promise<Uint8Array> {
    if (this.hashes.length === 0) return sha256(new Uint8Array(0));
    let root = this.hashes[this.hashes.length - 1]!;
    for (let i = this.hashes.length - 2; i >= 0; i -= 1) root = await nodeHash(this.hashes[i]!, root);
    return root;
  }
}
