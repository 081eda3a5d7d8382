// The RFC 6962 / RFC 9162 Merkle tree over audit entries, kept as a
// frontier (one hash per perfect subtree) so a verifier needs constant
// memory whatever the length of the log, and the RFC 9162 consistency
// proof check (a port of `verify_consistency` in
// server/offline/src/audit/merkle.rs).

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

/** Why a consistency proof does not verify (the Rust `ProofError` kinds). */
export type ProofErrorKind = "bad_sizes" | "wrong_length" | "old_root_mismatch" | "new_root_mismatch";

/** A proof that does not verify. */
export class ProofError extends Error {
  override readonly name = "ProofError";
  constructor(
    readonly kind: ProofErrorKind,
    message: string,
  ) {
    super(message);
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

/**
 * Checks that `proof` shows the tree of `newSize` leaves with root
 * `newRoot` extends the tree of `oldSize` leaves with root `oldRoot`
 * (RFC 9162 §2.1.4.2; equal sizes need an empty proof and equal roots).
 * Resolves when it does; rejects with `ProofError` when it does not.
 */
export async function verifyConsistency(
  oldSize: bigint | number,
  newSize: bigint | number,
  oldRoot: Uint8Array,
  newRoot: Uint8Array,
  proof: readonly Uint8Array[],
): Promise<void> {
  const [from, to] = [BigInt(oldSize), BigInt(newSize)];
  if (from <= 0n || from > to) throw new ProofError("bad_sizes", `no consistency proof from tree size ${from} to ${to}`);
  const wrongLength = () => new ProofError("wrong_length", `a proof of ${proof.length} hashes does not fit these tree sizes`);
  const newRootMismatch = () => new ProofError("new_root_mismatch", "consistency proof does not lead to the given new root");
  if (from === to) {
    if (proof.length > 0) throw wrongLength();
    if (!sameBytes(oldRoot, newRoot)) throw newRootMismatch();
    return;
  }
  if (proof.length === 0) throw wrongLength();
  // A power-of-two old tree is a node of the new one, so its root is the
  // path's implicit first element.
  const powerOfTwo = (from & (from - 1n)) === 0n;
  const [first, rest] = powerOfTwo ? [oldRoot, proof] : [proof[0]!, proof.slice(1)];
  // `node` and `last` are the RFC's fn and sn; `oldHash` and `newHash` its
  // fr and sr.
  let [node, last] = [from - 1n, to - 1n];
  while ((node & 1n) === 1n) {
    node >>= 1n;
    last >>= 1n;
  }
  let [oldHash, newHash] = [first, first];
  for (const c of rest) {
    if (last === 0n) throw wrongLength();
    if ((node & 1n) === 1n || node === last) {
      oldHash = await nodeHash(c, oldHash);
      newHash = await nodeHash(c, newHash);
      while ((node & 1n) === 0n && node !== 0n) {
        node >>= 1n;
        last >>= 1n;
      }
    } else {
      newHash = await nodeHash(newHash, c);
    }
    node >>= 1n;
    last >>= 1n;
  }
  if (last !== 0n) throw wrongLength();
  if (!sameBytes(oldHash, oldRoot)) throw new ProofError("old_root_mismatch", "consistency proof does not lead to the given old root");
  if (!sameBytes(newHash, newRoot)) throw newRootMismatch();
}
