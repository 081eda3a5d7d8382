//! The audit log as an RFC 9162 Merkle tree, computed from stored nodes.
//!
//! Each tenant's entry hashes are the leaves of one tree: entry `seq` s is
//! leaf index s − 1, and its raw 32 bytes are the leaf data. Hashing is
//! RFC 6962 / RFC 9162 §2.1: a leaf is SHA-256(0x00 ‖ data), an interior
//! node SHA-256(0x01 ‖ left ‖ right), the empty tree SHA-256(""), and a tree
//! of n > 1 leaves splits at the largest power of two below n. Proofs are
//! RFC 9162 inclusion (§2.1.3) and consistency (§2.1.4) proofs, lists of
//! 32-byte hashes, byte for byte those of Certificate Transparency.
//!
//! The store keeps only the hashes of perfect, aligned subtrees: node
//! (level, index) covers leaves [index·2^level, (index+1)·2^level) and exists
//! once all of them are appended. Every root and proof element is the hash
//! of a range made of a few such nodes, so serving one takes a query between
//! two pure steps: *planning* ([`root_nodes`], [`inclusion_proof_nodes`],
//! [`consistency_proof_nodes`]) names the nodes to load, and *assembly*
//! ([`root`], [`inclusion_proof`], [`consistency_proof`]) combines them.
//! Appends are planned by [`nodes_completed_by_append`] and assembled by
//! [`appended_nodes`], or done from a [`Frontier`] without any lookup.
//!
//! Verification ([`verify_inclusion`], [`verify_consistency`]) needs no
//! store: it is the RFC's own algorithm. [`Frontier`] rebuilds a root from a
//! stream of leaves in O(log n) memory (the offline verifier); [`MemoryTree`]
//! keeps every node, as the store does. No I/O here, and no tenants.

use sha2::{Digest, Sha256};

/// A SHA-256 output: a leaf, node or root hash.
pub type Hash = [u8; 32];

/// The hash of a leaf: SHA-256(0x00 ‖ `data`).
pub fn leaf_hash(data: &[u8]) -> Hash {
    Sha256::new().chain_update([0x00]).chain_update(data).finalize().into()
}

/// The hash of an interior node: SHA-256(0x01 ‖ `left` ‖ `right`).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    Sha256::new().chain_update([0x01]).chain_update(left).chain_update(right).finalize().into()
}

/// The root of the empty tree: SHA-256 of the empty string.
pub fn empty_root() -> Hash {
    Sha256::digest(b"").into()
}

/// A perfect, aligned subtree: the 2^`level` leaves from `index`·2^`level`.
/// Level 0 nodes are the leaves (their hashes are leaf hashes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId {
    /// Height above the leaves.
    pub level: u32,
    /// Position among the nodes of its level, from 0.
    pub index: u64,
}

impl NodeId {
    /// The leaf at `index`.
    pub fn leaf(index: u64) -> NodeId {
        NodeId { level: 0, index }
    }
}

/// A node an append completes, with the two children its hash combines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CompletedNode {
    /// The new node.
    pub node: NodeId,
    /// Its left child, stored by an earlier append.
    pub left: NodeId,
    /// Its right child, created by this append.
    pub right: NodeId,
}

/// Why a root, a proof or an append cannot be assembled.
///
/// Exhaustive on purpose: a new failure kind must break callers' matches.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TreeError {
    /// An inclusion proof was asked for a leaf the tree does not have.
    #[error("leaf index {leaf_index} is outside a tree of {tree_size} leaves")]
    LeafOutOfRange {
        /// The leaf index asked for.
        leaf_index: u64,
        /// The tree size asked for.
        tree_size: u64,
    },
    /// A consistency proof needs 0 < `old_size` ≤ `new_size` (RFC 9162
    /// defines none from the empty tree).
    #[error("no consistency proof from tree size {old_size} to {new_size}")]
    BadSizes {
        /// The older tree size.
        old_size: u64,
        /// The newer tree size.
        new_size: u64,
    },
    /// The lookup did not have a node the plan needs.
    #[error("node at level {}, index {} is not stored", .0.level, .0.index)]
    MissingNode(NodeId),
    /// A saved frontier does not have one hash per set bit of its size.
    #[error("a frontier of {size} leaves needs {} hashes, not {hashes}", .size.count_ones())]
    BadFrontier {
        /// The saved tree size.
        size: u64,
        /// How many hashes were saved.
        hashes: usize,
    },
}

/// Why a proof does not verify.
///
/// Exhaustive on purpose: a new failure kind must break callers' matches.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// The leaf index is not below the tree size.
    #[error("leaf index {leaf_index} is outside a tree of {tree_size} leaves")]
    LeafOutOfRange {
        /// The claimed leaf index.
        leaf_index: u64,
        /// The claimed tree size.
        tree_size: u64,
    },
    /// Not 0 < `old_size` ≤ `new_size`.
    #[error("no consistency proof from tree size {old_size} to {new_size}")]
    BadSizes {
        /// The claimed older size.
        old_size: u64,
        /// The claimed newer size.
        new_size: u64,
    },
    /// The proof is longer or shorter than these sizes require.
    #[error("a proof of {len} hashes does not fit these tree sizes")]
    WrongLength {
        /// Number of hashes in the proof.
        len: usize,
    },
    /// The inclusion proof leads to another root.
    #[error("inclusion proof does not lead to the given root")]
    RootMismatch,
    /// The consistency proof leads to another old root.
    #[error("consistency proof does not lead to the given old root")]
    OldRootMismatch,
    /// The consistency proof leads to another new root.
    #[error("consistency proof does not lead to the given new root")]
    NewRootMismatch,
}

/// Where RFC 9162 splits `n` ≥ 2 leaves: the largest power of two below `n`.
fn split(n: u64) -> u64 {
    1 << (63 - (n - 1).leading_zeros())
}

/// The nodes making up leaves [`lo`, `hi`), largest (leftmost) first; their
/// hashes folded right to left give the range's Merkle Tree Hash.
// INVARIANT: `lo` is a multiple of the smallest power of two ≥ hi − lo. Every
// range that RFC 9162's recursion names is of this kind (it starts at 0 or
// right after a power-of-two split at least as wide), so each node is aligned
// and the first node is exactly the left half of the range's split.
fn range_nodes(lo: u64, hi: u64) -> Vec<NodeId> {
    let mut nodes = Vec::new();
    let mut start = lo;
    while start < hi {
        let level = 63 - (hi - start).leading_zeros();
        nodes.push(NodeId { level, index: start >> level });
        start += 1 << level;
    }
    nodes
}

/// The nodes that appending leaf `leaf_index` completes above the leaves,
/// bottom-up. Leaf node (0, `leaf_index`) is created too; then, while the
/// newest node is a right child (odd index), its parent is complete.
pub fn nodes_completed_by_append(leaf_index: u64) -> Vec<CompletedNode> {
    let mut completed = Vec::new();
    let mut right = NodeId::leaf(leaf_index);
    while right.index & 1 == 1 {
        let node = NodeId { level: right.level + 1, index: right.index >> 1 };
        completed.push(CompletedNode { node, left: NodeId { index: right.index - 1, ..right }, right });
        right = node;
    }
    completed
}

/// Every node appending leaf `leaf_index` (with hash `leaf_hash`) creates,
/// hashed, bottom-up: the leaf node, then [`nodes_completed_by_append`].
/// `lookup` must return their left children, stored by earlier appends.
pub fn appended_nodes(
    leaf_index: u64,
    leaf_hash: Hash,
    lookup: impl Fn(NodeId) -> Option<Hash>,
) -> Result<Vec<(NodeId, Hash)>, TreeError> {
    let mut hash = leaf_hash;
    let mut created = vec![(NodeId::leaf(leaf_index), hash)];
    for completed in nodes_completed_by_append(leaf_index) {
        hash = node_hash(&fetch(&lookup, completed.left)?, &hash);
        created.push((completed.node, hash));
    }
    Ok(created)
}

/// The nodes whose hashes give the root of the first `tree_size` leaves:
/// one per set bit of `tree_size`, largest first (none for the empty tree).
pub fn root_nodes(tree_size: u64) -> Vec<NodeId> {
    range_nodes(0, tree_size)
}

/// For each element of the inclusion proof of leaf `leaf_index` in the
/// first `tree_size` leaves (RFC 9162 §2.1.3.1 `PATH`), the nodes it is
/// assembled from. Empty when `leaf_index` ≥ `tree_size`: [`inclusion_proof`]
/// reports that.
pub fn inclusion_proof_nodes(leaf_index: u64, tree_size: u64) -> Vec<Vec<NodeId>> {
    // PATH(m, D[lo:hi]) recurses into the half holding m and appends the
    // other half's hash, so the path is collected top-down and reversed.
    let mut path = Vec::new();
    let (mut lo, mut hi) = (0, tree_size);
    while leaf_index < hi && hi - lo > 1 {
        let mid = lo + split(hi - lo);
        if leaf_index < mid {
            path.push(range_nodes(mid, hi));
            hi = mid;
        } else {
            path.push(range_nodes(lo, mid));
            lo = mid;
        }
    }
    path.reverse();
    path
}

/// For each element of the consistency proof from the first `old_size`
/// leaves to the first `new_size` (RFC 9162 §2.1.4.1 `PROOF`), the nodes it
/// is assembled from. Empty when not 0 < `old_size` ≤ `new_size`:
/// [`consistency_proof`] reports that.
pub fn consistency_proof_nodes(old_size: u64, new_size: u64) -> Vec<Vec<NodeId>> {
    if old_size == 0 || old_size > new_size {
        return Vec::new();
    }
    // SUBPROOF(m, D[lo:hi], b), unrolled: `old_root_known` is b, and each step
    // appends the hash of the half that m's recursion leaves out.
    let mut proof = Vec::new();
    let (mut lo, mut hi) = (0, new_size);
    let mut old_root_known = true;
    while old_size < hi {
        let mid = lo + split(hi - lo);
        if old_size <= mid {
            proof.push(range_nodes(mid, hi));
            hi = mid;
        } else {
            proof.push(range_nodes(lo, mid));
            lo = mid;
            old_root_known = false;
        }
    }
    if !old_root_known {
        proof.push(range_nodes(lo, hi));
    }
    proof.reverse();
    proof
}

fn fetch(lookup: &impl Fn(NodeId) -> Option<Hash>, node: NodeId) -> Result<Hash, TreeError> {
    lookup(node).ok_or(TreeError::MissingNode(node))
}

/// The hash of the range `nodes` make up: their hashes folded right to left.
fn range_hash(nodes: &[NodeId], lookup: &impl Fn(NodeId) -> Option<Hash>) -> Result<Hash, TreeError> {
    let mut nodes = nodes.iter().rev();
    let Some(&last) = nodes.next() else {
        return Ok(empty_root());
    };
    let mut hash = fetch(lookup, last)?;
    for &node in nodes {
        hash = node_hash(&fetch(lookup, node)?, &hash);
    }
    Ok(hash)
}

/// The root of the first `tree_size` leaves, from the nodes [`root_nodes`]
/// names.
pub fn root(tree_size: u64, lookup: impl Fn(NodeId) -> Option<Hash>) -> Result<Hash, TreeError> {
    range_hash(&root_nodes(tree_size), &lookup)
}

/// The inclusion proof of leaf `leaf_index` in the first `tree_size`
/// leaves, from the nodes [`inclusion_proof_nodes`] names.
pub fn inclusion_proof(
    leaf_index: u64,
    tree_size: u64,
    lookup: impl Fn(NodeId) -> Option<Hash>,
) -> Result<Vec<Hash>, TreeError> {
    if leaf_index >= tree_size {
        return Err(TreeError::LeafOutOfRange { leaf_index, tree_size });
    }
    inclusion_proof_nodes(leaf_index, tree_size).iter().map(|nodes| range_hash(nodes, &lookup)).collect()
}

/// The consistency proof from the first `old_size` leaves to the first
/// `new_size`, from the nodes [`consistency_proof_nodes`] names. Empty when
/// the sizes are equal.
pub fn consistency_proof(
    old_size: u64,
    new_size: u64,
    lookup: impl Fn(NodeId) -> Option<Hash>,
) -> Result<Vec<Hash>, TreeError> {
    if old_size == 0 || old_size > new_size {
        return Err(TreeError::BadSizes { old_size, new_size });
    }
    consistency_proof_nodes(old_size, new_size).iter().map(|nodes| range_hash(nodes, &lookup)).collect()
}

/// Checks that `proof` shows the leaf hashing to `leaf_hash` at `leaf_index`
/// in the tree of `tree_size` leaves whose root is `root` (RFC 9162
/// §2.1.3.2).
pub fn verify_inclusion(
    leaf_hash: &Hash,
    leaf_index: u64,
    tree_size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    if leaf_index >= tree_size {
        return Err(ProofError::LeafOutOfRange { leaf_index, tree_size });
    }
    let wrong_length = ProofError::WrongLength { len: proof.len() };
    // `node` and `last` are the RFC's fn and sn: the positions of the running
    // hash and of the tree's last node on the current level.
    let (mut node, mut last) = (leaf_index, tree_size - 1);
    let mut hash = *leaf_hash;
    for p in proof {
        if last == 0 {
            return Err(wrong_length);
        }
        if node & 1 == 1 || node == last {
            hash = node_hash(p, &hash);
            while node & 1 == 0 && node != 0 {
                node >>= 1;
                last >>= 1;
            }
        } else {
            hash = node_hash(&hash, p);
        }
        node >>= 1;
        last >>= 1;
    }
    if last != 0 {
        return Err(wrong_length);
    }
    if hash != *root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// Checks that `proof` shows the tree of `new_size` leaves with root
/// `new_root` extends the tree of `old_size` leaves with root `old_root`
/// (RFC 9162 §2.1.4.2; equal sizes need an empty proof and equal roots).
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), ProofError> {
    if old_size == 0 || old_size > new_size {
        return Err(ProofError::BadSizes { old_size, new_size });
    }
    let wrong_length = ProofError::WrongLength { len: proof.len() };
    if old_size == new_size {
        if !proof.is_empty() {
            return Err(wrong_length);
        }
        if old_root != new_root {
            return Err(ProofError::NewRootMismatch);
        }
        return Ok(());
    }
    let Some((head, tail)) = proof.split_first() else {
        return Err(wrong_length);
    };
    // A power-of-two old tree is a node of the new one, so its root is the
    // path's implicit first element.
    let (first, rest) = if old_size.is_power_of_two() { (old_root, proof) } else { (head, tail) };
    // `node` and `last` are the RFC's fn and sn; `old_hash` and `new_hash`
    // its fr and sr.
    let (mut node, mut last) = (old_size - 1, new_size - 1);
    while node & 1 == 1 {
        node >>= 1;
        last >>= 1;
    }
    let (mut old_hash, mut new_hash) = (*first, *first);
    for c in rest {
        if last == 0 {
            return Err(wrong_length);
        }
        if node & 1 == 1 || node == last {
            old_hash = node_hash(c, &old_hash);
            new_hash = node_hash(c, &new_hash);
            while node & 1 == 0 && node != 0 {
                node >>= 1;
                last >>= 1;
            }
        } else {
            new_hash = node_hash(&new_hash, c);
        }
        node >>= 1;
        last >>= 1;
    }
    if last != 0 {
        return Err(wrong_length);
    }
    if old_hash != *old_root {
        return Err(ProofError::OldRootMismatch);
    }
    if new_hash != *new_root {
        return Err(ProofError::NewRootMismatch);
    }
    Ok(())
}

/// The Merkle Tree Hash of `leaves` (leaf data) by RFC 9162's recursive
/// definition: the reference the stored-node code is tested against.
pub fn root_from_leaves<T: AsRef<[u8]>>(leaves: &[T]) -> Hash {
    match leaves {
        [] => empty_root(),
        [leaf] => leaf_hash(leaf.as_ref()),
        _ => {
            let (left, right) = leaves.split_at(split(leaves.len() as u64) as usize);
            node_hash(&root_from_leaves(left), &root_from_leaves(right))
        }
    }
}

/// A growing tree kept as its [`root_nodes`] only: O(log n) memory. It
/// computes the root after each leaf for the offline verifier, and the nodes
/// each append creates for the store.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    // INVARIANT: the hashes of `root_nodes(size)`, one per set bit of `size`,
    // largest first.
    hashes: Vec<Hash>,
}

impl Frontier {
    /// The empty tree.
    pub fn new() -> Frontier {
        Frontier::default()
    }

    /// A saved frontier: the hashes of [`root_nodes`]`(size)`, in order.
    pub fn restore(size: u64, hashes: Vec<Hash>) -> Result<Frontier, TreeError> {
        if hashes.len() != size.count_ones() as usize {
            return Err(TreeError::BadFrontier { size, hashes: hashes.len() });
        }
        Ok(Frontier { size, hashes })
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The [`root_nodes`] of the current size with their hashes, largest
    /// first: what [`Frontier::restore`] takes back.
    pub fn nodes(&self) -> Vec<(NodeId, Hash)> {
        root_nodes(self.size).into_iter().zip(self.hashes.iter().copied()).collect()
    }

    /// Appends a leaf (its data, e.g. an entry hash) and returns the nodes
    /// this creates, as [`appended_nodes`] does.
    pub fn push(&mut self, data: &[u8]) -> Vec<(NodeId, Hash)> {
        let mut hash = leaf_hash(data);
        let mut created = vec![(NodeId::leaf(self.size), hash)];
        // The left children of the completed nodes are the frontier's
        // smallest nodes: one per trailing set bit of `size`.
        for completed in nodes_completed_by_append(self.size) {
            let Some(left) = self.hashes.pop() else { break };
            hash = node_hash(&left, &hash);
            created.push((completed.node, hash));
        }
        self.hashes.push(hash);
        self.size += 1;
        created
    }

    /// The root of the current tree.
    pub fn root(&self) -> Hash {
        let mut hashes = self.hashes.iter().rev();
        let Some(&last) = hashes.next() else {
            return empty_root();
        };
        hashes.fold(last, |right, left| node_hash(left, &right))
    }
}

/// Every stored node of a tree, in memory: the store's layout, for tests and
/// tools. Lookups go through [`MemoryTree::node`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemoryTree {
    // INVARIANT: levels[l][i] is the hash of node (l, i), and each level
    // holds every complete node of that level.
    levels: Vec<Vec<Hash>>,
}

impl MemoryTree {
    /// The empty tree.
    pub fn new() -> MemoryTree {
        MemoryTree::default()
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.levels.first().map_or(0, |leaves| leaves.len() as u64)
    }

    /// Appends a leaf (its data, e.g. an entry hash), storing the leaf node
    /// and every node it completes.
    pub fn push(&mut self, data: &[u8]) {
        let mut hash = leaf_hash(data);
        for level in 0.. {
            if self.levels.len() == level {
                self.levels.push(Vec::new());
            }
            let nodes = &mut self.levels[level];
            nodes.push(hash);
            // A node at an odd index completes its parent.
            match nodes.as_slice() {
                [.., left, right] if nodes.len().is_multiple_of(2) => hash = node_hash(left, right),
                _ => break,
            }
        }
    }

    /// The hash of `node`, if it is complete.
    pub fn node(&self, node: NodeId) -> Option<Hash> {
        let level = self.levels.get(usize::try_from(node.level).ok()?)?;
        level.get(usize::try_from(node.index).ok()?).copied()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use ct_merkle::mem_backed_tree::MemoryBackedTree;
    use ct_merkle::{ConsistencyProof, InclusionProof, RootHash};
    use proptest::collection::vec;
    use proptest::prelude::*;

    use super::*;

    fn hex32(s: &str) -> Hash {
        hex::decode(s).unwrap().try_into().unwrap()
    }

    fn tree_of<T: AsRef<[u8]>>(leaves: &[T]) -> MemoryTree {
        let mut tree = MemoryTree::new();
        for leaf in leaves {
            tree.push(leaf.as_ref());
        }
        tree
    }

    // The Certificate Transparency reference data, as kept by
    // transparency-dev/merkle (formerly google/trillian's merkle package):
    // leaves, node hashes and roots from `testonly/constants.go`; inclusion
    // and consistency proofs from `testonly/reference_test.go`, plus the
    // 6 → 7 consistency proof from `proof/verify_test.go`.
    const LEAVES: [&str; 8] =
        ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"];

    /// Roots by tree size, from 0.
    const ROOTS: [&str; 9] = [
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    /// Every perfect subtree of the 8-leaf tree, by level then index.
    const NODES: [&[&str]; 4] = [
        &[
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
            "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
        ],
        &[
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        ],
        &[
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
        &["5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"],
    ];

    /// (leaf index, tree size, proof).
    const INCLUSION: [(u64, u64, &[&str]); 7] = [
        (0, 1, &[]),
        (0, 2, &["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"]),
        (1, 2, &["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"]),
        (2, 3, &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
        (
            1,
            5,
            &[
                "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ],
        ),
        (
            0,
            8,
            &[
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            5,
            8,
            &[
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
    ];

    /// (old size, new size, proof).
    const CONSISTENCY: [(u64, u64, &[&str]); 5] = [
        (1, 1, &[]),
        (
            1,
            8,
            &[
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            2,
            5,
            &[
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ],
        ),
        (
            6,
            8,
            &[
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
        (
            6,
            7,
            &[
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
    ];

    fn reference_leaves() -> Vec<Vec<u8>> {
        LEAVES.iter().map(|l| hex::decode(l).unwrap()).collect()
    }

    fn flip(hash: &Hash, byte: usize, mask: u8) -> Hash {
        let mut flipped = *hash;
        flipped[byte % 32] ^= mask;
        flipped
    }

    /// `PATH(m, D[n])` straight from RFC 9162 §2.1.3.1.
    fn reference_path(m: usize, leaves: &[Hash]) -> Vec<Hash> {
        if leaves.len() <= 1 {
            return Vec::new();
        }
        let k = split(leaves.len() as u64) as usize;
        let (left, right) = leaves.split_at(k);
        let mut path = if m < k { reference_path(m, left) } else { reference_path(m - k, right) };
        path.push(root_from_leaves(if m < k { right } else { left }));
        path
    }

    /// `SUBPROOF(m, D[n], b)` straight from RFC 9162 §2.1.4.1.
    fn reference_subproof(m: usize, leaves: &[Hash], b: bool) -> Vec<Hash> {
        if m == leaves.len() {
            return if b { Vec::new() } else { vec![root_from_leaves(leaves)] };
        }
        let k = split(leaves.len() as u64) as usize;
        let (left, right) = leaves.split_at(k);
        if m <= k {
            let mut proof = reference_subproof(m, left, b);
            proof.push(root_from_leaves(right));
            proof
        } else {
            let mut proof = reference_subproof(m - k, right, false);
            proof.push(root_from_leaves(left));
            proof
        }
    }

    fn ct_tree(leaves: &[Hash]) -> MemoryBackedTree<Sha256, Hash> {
        let mut tree = MemoryBackedTree::new();
        for leaf in leaves {
            tree.push(*leaf);
        }
        tree
    }

    fn ct_root(root: &Hash, size: u64) -> RootHash<Sha256> {
        RootHash::new((*root).into(), size)
    }

    /// Our proofs equal ct-merkle's, byte for byte, and each side's
    /// verifier accepts the other's.
    fn cross_check_with_ct_merkle(leaves: &[Hash], tree: &MemoryTree) {
        let ct = ct_tree(leaves);
        let size = leaves.len() as u64;
        let root_hash = root(size, |id| tree.node(id)).unwrap();
        assert_eq!(ct.root().as_bytes().as_slice(), &root_hash[..]);
        for (index, leaf) in leaves.iter().enumerate() {
            let ours = inclusion_proof(index as u64, size, |id| tree.node(id)).unwrap();
            let theirs = ct.prove_inclusion(index);
            assert_eq!(theirs.as_bytes(), ours.concat(), "inclusion {index} in {size}");
            ct_root(&root_hash, size)
                .verify_inclusion(leaf, index as u64, &InclusionProof::from_bytes(ours.concat()))
                .unwrap_or_else(|e| panic!("ct-merkle rejects inclusion {index} in {size}: {e}"));
            let theirs: Vec<Hash> = theirs.as_bytes().chunks(32).map(|c| c.try_into().unwrap()).collect();
            verify_inclusion(&leaf_hash(leaf), index as u64, size, &theirs, &root_hash)
                .unwrap_or_else(|e| panic!("ct-merkle's inclusion {index} in {size}: {e}"));
        }
        for old in 1..=size {
            let old_root = root(old, |id| tree.node(id)).unwrap();
            let ours = consistency_proof(old, size, |id| tree.node(id)).unwrap();
            let theirs = ct.prove_consistency((size - old) as usize);
            assert_eq!(theirs.as_bytes(), ours.concat(), "consistency {old} → {size}");
            let proof = ConsistencyProof::try_from_bytes(ours.concat()).unwrap();
            ct_root(&root_hash, size)
                .verify_consistency(&ct_root(&old_root, old), &proof)
                .unwrap_or_else(|e| panic!("ct-merkle rejects consistency {old} → {size}: {e}"));
            let theirs: Vec<Hash> = theirs.as_bytes().chunks(32).map(|c| c.try_into().unwrap()).collect();
            verify_consistency(old, size, &old_root, &root_hash, &theirs)
                .unwrap_or_else(|e| panic!("ct-merkle's consistency {old} → {size}: {e}"));
        }
    }

    #[test]
    fn reference_roots_match_at_every_size() {
        let leaves = reference_leaves();
        let mut tree = MemoryTree::new();
        let mut frontier = Frontier::new();
        for (size, want) in ROOTS.iter().enumerate() {
            let want = hex32(want);
            assert_eq!(root_from_leaves(&leaves[..size]), want, "reference root of {size}");
            assert_eq!(root(size as u64, |id| tree.node(id)), Ok(want), "stored root of {size}");
            assert_eq!(frontier.root(), want, "frontier root of {size}");
            if let Some(leaf) = leaves.get(size) {
                tree.push(leaf);
                frontier.push(leaf);
            }
        }
        assert_eq!(empty_root(), hex32(ROOTS[0]));
    }

    #[test]
    fn reference_node_hashes_are_the_stored_nodes() {
        let tree = tree_of(&reference_leaves());
        for (level, nodes) in NODES.iter().enumerate() {
            for (index, want) in nodes.iter().enumerate() {
                let id = NodeId { level: level as u32, index: index as u64 };
                assert_eq!(tree.node(id), Some(hex32(want)), "{id:?}");
            }
            let past = NodeId { level: level as u32, index: nodes.len() as u64 };
            assert_eq!(tree.node(past), None);
        }
    }

    #[test]
    fn reference_inclusion_proofs_are_reproduced_and_verify() {
        let leaves = reference_leaves();
        let tree = tree_of(&leaves);
        for (index, size, want) in INCLUSION {
            let want: Vec<Hash> = want.iter().map(|h| hex32(h)).collect();
            let proof = inclusion_proof(index, size, |id| tree.node(id));
            assert_eq!(proof.as_ref(), Ok(&want), "{index} in {size}");
            let leaf = leaf_hash(&leaves[index as usize]);
            let size_root = hex32(ROOTS[size as usize]);
            assert_eq!(verify_inclusion(&leaf, index, size, &want, &size_root), Ok(()), "{index} in {size}");

            // The corruptions of transparency-dev/merkle's verifierCheck.
            let some_hash = hex32("abacaba000000000000000000000000000000000000000000060061e00123456");
            let mut bad = vec![
                (index.wrapping_sub(1), size, leaf, want.clone(), size_root),
                (index + 1, size, leaf, want.clone(), size_root),
                (index ^ 2, size, leaf, want.clone(), size_root),
                (index, size * 2, leaf, want.clone(), size_root),
                (index, size / 2, leaf, want.clone(), size_root),
                (index, size, leaf_hash(b"WrongLeaf"), want.clone(), size_root),
                (index, size, leaf, want.clone(), empty_root()),
                (index, size, leaf, want.clone(), some_hash),
                (index, size, leaf, [want.clone(), vec![size_root]].concat(), size_root),
                (index, size, leaf, [vec![size_root], want.clone()].concat(), size_root),
            ];
            for i in 0..want.len() {
                let mut wrong = want.clone();
                wrong[i][0] ^= 8;
                bad.push((index, size, leaf, wrong, size_root));
            }
            if let [head @ .., _] = want.as_slice() {
                bad.push((index, size, leaf, head.to_vec(), size_root));
            }
            if let [first, rest @ ..] = want.as_slice()
                && !rest.is_empty()
            {
                bad.push((index, size, leaf, [vec![*first, some_hash], rest.to_vec()].concat(), size_root));
            }
            for (i, n, leaf, proof, size_root) in bad {
                assert!(
                    verify_inclusion(&leaf, i, n, &proof, &size_root).is_err(),
                    "{index} in {size} verified as {i} in {n} with {} hashes",
                    proof.len()
                );
            }
        }
    }

    #[test]
    fn reference_consistency_proofs_are_reproduced_and_verify() {
        let tree = tree_of(&reference_leaves());
        for (old, new, want) in CONSISTENCY {
            let want: Vec<Hash> = want.iter().map(|h| hex32(h)).collect();
            let proof = consistency_proof(old, new, |id| tree.node(id));
            assert_eq!(proof.as_ref(), Ok(&want), "{old} → {new}");
            let (old_root, new_root) = (hex32(ROOTS[old as usize]), hex32(ROOTS[new as usize]));
            assert_eq!(verify_consistency(old, new, &old_root, &new_root, &want), Ok(()), "{old} → {new}");
            if want.is_empty() {
                continue;
            }

            // The corruptions of transparency-dev/merkle's verifierConsistencyCheck.
            let wrong_root = leaf_hash(b"WrongRoot");
            let mut bad = vec![
                (old - 1, new, old_root, new_root, want.clone()),
                (old + 1, new, old_root, new_root, want.clone()),
                (old ^ 2, new, old_root, new_root, want.clone()),
                (old, new * 2, old_root, new_root, want.clone()),
                (old, new / 2, old_root, new_root, want.clone()),
                (old, new, wrong_root, new_root, want.clone()),
                (old, new, old_root, wrong_root, want.clone()),
                (old, new, new_root, old_root, want.clone()),
                (old, new, old_root, new_root, Vec::new()),
                (old, new, old_root, new_root, [want.clone(), vec![old_root]].concat()),
                (old, new, old_root, new_root, [want.clone(), vec![new_root]].concat()),
                (old, new, old_root, new_root, [vec![old_root], want.clone()].concat()),
                (old, new, old_root, new_root, [vec![new_root], want.clone()].concat()),
                (old, new, old_root, new_root, [vec![want[0]], want.clone()].concat()),
                (old, new, old_root, new_root, want[..want.len() - 1].to_vec()),
            ];
            for i in 0..want.len() {
                let mut wrong = want.clone();
                wrong[i][0] ^= 16;
                bad.push((old, new, old_root, new_root, wrong));
            }
            for (o, n, o_root, n_root, proof) in bad {
                assert!(
                    verify_consistency(o, n, &o_root, &n_root, &proof).is_err(),
                    "{old} → {new} verified as {o} → {n} with {} hashes",
                    proof.len()
                );
            }
        }
    }

    #[test]
    fn reference_vectors_agree_with_ct_merkle() {
        let leaves = reference_leaves();
        let mut ct = MemoryBackedTree::<Sha256, Vec<u8>>::new();
        for (size, want) in ROOTS.iter().enumerate().skip(1) {
            ct.push(leaves[size - 1].clone());
            assert_eq!(ct.root().as_bytes().as_slice(), &hex32(want)[..], "root of {size}");
        }
    }

    #[test]
    fn proofs_match_the_rfc_definitions_and_ct_merkle_up_to_64_leaves() {
        let leaves: Vec<Hash> = (0..64u8).map(|i| leaf_hash(&[i])).collect();
        for size in 1..=leaves.len() {
            let leaves = &leaves[..size];
            let tree = tree_of(leaves);
            let n = size as u64;
            for m in 0..size {
                let proof = inclusion_proof(m as u64, n, |id| tree.node(id));
                assert_eq!(proof, Ok(reference_path(m, leaves)), "inclusion {m} in {size}");
            }
            for old in 1..=size {
                let proof = consistency_proof(old as u64, n, |id| tree.node(id));
                assert_eq!(proof, Ok(reference_subproof(old, leaves, true)), "consistency {old} → {size}");
            }
            cross_check_with_ct_merkle(leaves, &tree);
        }
    }

    #[test]
    fn appends_store_exactly_the_perfect_subtrees() {
        assert_eq!(nodes_completed_by_append(0), []);
        assert_eq!(nodes_completed_by_append(6), []);
        let id = |level, index| NodeId { level, index };
        let completed = |node, left, right| CompletedNode { node, left, right };
        assert_eq!(nodes_completed_by_append(1), [completed(id(1, 0), id(0, 0), id(0, 1))]);
        assert_eq!(
            nodes_completed_by_append(11),
            [completed(id(1, 5), id(0, 10), id(0, 11)), completed(id(2, 2), id(1, 4), id(1, 5))]
        );
        assert_eq!(nodes_completed_by_append(7).last().map(|c| c.node), Some(id(3, 0)));

        let mut tree = MemoryTree::new();
        let mut frontier = Frontier::new();
        let mut store = HashMap::new();
        for n in 0..130u64 {
            let data = n.to_be_bytes();
            let created = appended_nodes(n, leaf_hash(&data), |id| store.get(&id).copied());
            let created = created.unwrap();
            assert_eq!(frontier.push(&data), created, "append {n}");
            store.extend(created);
            tree.push(&data);
            let size = n + 1;
            // Node (l, i) is stored iff all its 2^l leaves are in.
            for level in 0..9 {
                let complete = size >> level;
                assert!(complete == 0 || store.contains_key(&id(level, complete - 1)));
                assert!(!store.contains_key(&id(level, complete)));
                assert_eq!(tree.node(id(level, complete)), None);
            }
            assert_eq!(store.len() as u64, (0..9).map(|l| size >> l).sum::<u64>());
            assert!(store.iter().all(|(&id, &hash)| tree.node(id) == Some(hash)));
            assert_eq!(frontier.nodes().iter().map(|(id, _)| *id).collect::<Vec<_>>(), root_nodes(size));
        }
    }

    #[test]
    fn frontiers_round_trip_and_reject_the_wrong_hash_count() {
        let mut frontier = Frontier::new();
        for i in 0..13u8 {
            frontier.push(&[i]);
        }
        let hashes: Vec<Hash> = frontier.nodes().into_iter().map(|(_, hash)| hash).collect();
        assert_eq!(hashes.len(), 3);
        let mut restored = Frontier::restore(13, hashes.clone()).unwrap();
        assert_eq!(restored, frontier);
        restored.push(&[13]);
        frontier.push(&[13]);
        assert_eq!(restored.root(), frontier.root());
        assert_eq!(Frontier::restore(12, hashes), Err(TreeError::BadFrontier { size: 12, hashes: 3 }));
        assert_eq!(Frontier::restore(0, Vec::new()), Ok(Frontier::new()));
    }

    #[test]
    fn edge_sizes() {
        let leaves: Vec<Hash> = (0..17u8).map(|i| [i; 32]).collect();
        let tree = tree_of(&leaves);
        let lookup = |id| tree.node(id);
        // One leaf: the root is the leaf hash and the proof is empty.
        assert_eq!(root(1, lookup), Ok(leaf_hash(&leaves[0])));
        assert_eq!(inclusion_proof(0, 1, lookup), Ok(Vec::new()));
        assert_eq!(verify_inclusion(&leaf_hash(&leaves[0]), 0, 1, &[], &leaf_hash(&leaves[0])), Ok(()));
        // Powers of two: a single stored node is the root.
        for level in 0..5 {
            assert_eq!(root_nodes(1 << level), [NodeId { level, index: 0 }]);
        }
        assert_eq!(root_nodes(0), []);
        assert_eq!(root(0, |_| None), Ok(empty_root()));
        // The last leaf of every size, and equal sizes.
        for size in 1..=17u64 {
            let size_root = root_from_leaves(&leaves[..size as usize]);
            let last = size - 1;
            let proof = inclusion_proof(last, size, lookup).unwrap();
            let leaf = leaf_hash(&leaves[last as usize]);
            assert_eq!(verify_inclusion(&leaf, last, size, &proof, &size_root), Ok(()), "{last} in {size}");
            assert_eq!(consistency_proof(size, size, lookup), Ok(Vec::new()));
            assert_eq!(verify_consistency(size, size, &size_root, &size_root, &[]), Ok(()));
            assert_eq!(
                verify_consistency(size, size, &size_root, &size_root, &[size_root]),
                Err(ProofError::WrongLength { len: 1 })
            );
            // From one leaf: the proof is the inclusion proof of leaf 0.
            let from_one = consistency_proof(1, size, lookup).unwrap();
            assert_eq!(Ok(&from_one), inclusion_proof(0, size, lookup).as_ref());
            let one_root = leaf_hash(&leaves[0]);
            assert_eq!(verify_consistency(1, size, &one_root, &size_root, &from_one), Ok(()));
        }
        let (one, two) = (leaf_hash(&leaves[0]), root_from_leaves(&leaves[..2]));
        assert_eq!(verify_consistency(2, 2, &one, &two, &[]), Err(ProofError::NewRootMismatch));
    }

    #[test]
    fn invalid_arguments_and_missing_nodes_are_typed_errors() {
        let tree = tree_of(&[[1u8; 32], [2; 32], [3; 32]]);
        let lookup = |id| tree.node(id);
        let out_of_range = |leaf_index, tree_size| TreeError::LeafOutOfRange { leaf_index, tree_size };
        assert_eq!(inclusion_proof(3, 3, lookup), Err(out_of_range(3, 3)));
        assert_eq!(inclusion_proof(0, 0, lookup), Err(out_of_range(0, 0)));
        assert_eq!(inclusion_proof_nodes(3, 3), Vec::<Vec<NodeId>>::new());
        let bad_sizes = |old_size, new_size| TreeError::BadSizes { old_size, new_size };
        assert_eq!(consistency_proof(0, 3, lookup), Err(bad_sizes(0, 3)));
        assert_eq!(consistency_proof(4, 3, lookup), Err(bad_sizes(4, 3)));
        assert_eq!(consistency_proof_nodes(0, 3), Vec::<Vec<NodeId>>::new());
        // Size 4 needs node (2, 0), which a 3-leaf tree does not have.
        let missing = TreeError::MissingNode(NodeId { level: 2, index: 0 });
        assert_eq!(root(4, lookup), Err(missing.clone()));
        assert_eq!(missing.to_string(), "node at level 2, index 0 is not stored");
        assert_eq!(inclusion_proof(0, 5, lookup), Err(TreeError::MissingNode(NodeId { level: 1, index: 1 })));
        assert!(matches!(appended_nodes(3, [0; 32], |_| None), Err(TreeError::MissingNode(_))));

        let hash = [7u8; 32];
        assert_eq!(
            verify_inclusion(&hash, 3, 3, &[], &hash),
            Err(ProofError::LeafOutOfRange { leaf_index: 3, tree_size: 3 })
        );
        assert_eq!(
            verify_consistency(0, 0, &hash, &hash, &[]),
            Err(ProofError::BadSizes { old_size: 0, new_size: 0 })
        );
        assert_eq!(
            verify_consistency(0, 1, &empty_root(), &hash, &[]),
            Err(ProofError::BadSizes { old_size: 0, new_size: 1 })
        );
        assert_eq!(
            verify_consistency(2, 1, &hash, &hash, &[]),
            Err(ProofError::BadSizes { old_size: 2, new_size: 1 })
        );
        assert_eq!(verify_consistency(1, 2, &hash, &hash, &[]), Err(ProofError::WrongLength { len: 0 }));
        assert_eq!(verify_consistency(3, 4, &hash, &hash, &[]), Err(ProofError::WrongLength { len: 0 }));
    }

    fn leaves_strategy(max: usize) -> impl Strategy<Value = Vec<Hash>> {
        vec(any::<Hash>(), 1..max)
    }

    proptest! {
        // The reference root at every size is quadratic: fewer, larger cases.
        #![proptest_config(ProptestConfig::with_cases(12))]

        #[test]
        fn frontier_and_stored_roots_equal_the_reference_at_every_size(leaves in leaves_strategy(300)) {
            let mut tree = MemoryTree::new();
            let mut frontier = Frontier::new();
            for size in 0..=leaves.len() {
                let want = root_from_leaves(&leaves[..size]);
                prop_assert_eq!(frontier.root(), want, "frontier at {}", size);
                prop_assert_eq!(root(size as u64, |id| tree.node(id)), Ok(want), "stored at {}", size);
                if let Some(leaf) = leaves.get(size) {
                    tree.push(leaf);
                    frontier.push(leaf);
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]

        #[test]
        fn inclusion_proofs_from_stored_nodes_verify(
            leaves in leaves_strategy(300),
            size_pick in any::<prop::sample::Index>(),
        ) {
            let tree = tree_of(&leaves);
            let size = size_pick.index(leaves.len()) + 1;
            let size_root = root_from_leaves(&leaves[..size]);
            let n = size as u64;
            let ct = ct_root(&size_root, n);
            for (index, leaf) in leaves[..size].iter().enumerate() {
                let proof = inclusion_proof(index as u64, n, |id| tree.node(id));
                let proof = proof.unwrap();
                prop_assert_eq!(verify_inclusion(&leaf_hash(leaf), index as u64, n, &proof, &size_root), Ok(()));
                let ct_proof = InclusionProof::from_bytes(proof.concat());
                prop_assert!(ct.verify_inclusion(leaf, index as u64, &ct_proof).is_ok());
            }
        }

        #[test]
        fn consistency_proofs_from_stored_nodes_verify(
            leaves in leaves_strategy(300),
            new_pick in any::<prop::sample::Index>(),
        ) {
            let tree = tree_of(&leaves);
            let new = new_pick.index(leaves.len()) + 1;
            let mut frontier = Frontier::new();
            let mut roots = vec![frontier.root()];
            for leaf in &leaves[..new] {
                frontier.push(leaf);
                roots.push(frontier.root());
            }
            prop_assert_eq!(roots[new], root_from_leaves(&leaves[..new]));
            let n = new as u64;
            for old in 1..=new {
                let proof = consistency_proof(old as u64, n, |id| tree.node(id));
                let proof = proof.unwrap();
                prop_assert_eq!(verify_consistency(old as u64, n, &roots[old], &roots[new], &proof), Ok(()));
                let ct_proof = ConsistencyProof::try_from_bytes(proof.concat());
                let ct_proof = ct_proof.unwrap();
                let ct_old = ct_root(&roots[old], old as u64);
                prop_assert!(ct_root(&roots[new], n).verify_consistency(&ct_old, &ct_proof).is_ok());
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn flipping_any_byte_breaks_an_inclusion_proof(
            leaves in leaves_strategy(300),
            picks in any::<(prop::sample::Index, prop::sample::Index)>(),
            byte in 0..32usize,
            mask in 1..=255u8,
        ) {
            let size = picks.0.index(leaves.len()) + 1;
            let index = picks.1.index(size);
            let tree = tree_of(&leaves[..size]);
            let (n, i) = (size as u64, index as u64);
            let proof = inclusion_proof(i, n, |id| tree.node(id)).unwrap();
            let leaf = leaf_hash(&leaves[index]);
            let size_root = root_from_leaves(&leaves[..size]);
            prop_assert_eq!(verify_inclusion(&leaf, i, n, &proof, &size_root), Ok(()));
            prop_assert!(verify_inclusion(&flip(&leaf, byte, mask), i, n, &proof, &size_root).is_err());
            prop_assert!(verify_inclusion(&leaf, i, n, &proof, &flip(&size_root, byte, mask)).is_err());
            for k in 0..proof.len() {
                let mut bad = proof.clone();
                bad[k] = flip(&bad[k], byte, mask);
                prop_assert!(verify_inclusion(&leaf, i, n, &bad, &size_root).is_err(), "element {}", k);
            }
        }

        #[test]
        fn flipping_any_byte_breaks_a_consistency_proof(
            leaves in leaves_strategy(300),
            picks in any::<(prop::sample::Index, prop::sample::Index)>(),
            byte in 0..32usize,
            mask in 1..=255u8,
        ) {
            let new = picks.0.index(leaves.len()) + 1;
            let old = picks.1.index(new) + 1;
            let tree = tree_of(&leaves[..new]);
            let (o, n) = (old as u64, new as u64);
            let proof = consistency_proof(o, n, |id| tree.node(id)).unwrap();
            let old_root = root_from_leaves(&leaves[..old]);
            let new_root = root_from_leaves(&leaves[..new]);
            prop_assert_eq!(verify_consistency(o, n, &old_root, &new_root, &proof), Ok(()));
            let (bad_old, bad_new) = (flip(&old_root, byte, mask), flip(&new_root, byte, mask));
            prop_assert!(verify_consistency(o, n, &bad_old, &new_root, &proof).is_err());
            prop_assert!(verify_consistency(o, n, &old_root, &bad_new, &proof).is_err());
            for k in 0..proof.len() {
                let mut bad = proof.clone();
                bad[k] = flip(&bad[k], byte, mask);
                prop_assert!(verify_consistency(o, n, &old_root, &new_root, &bad).is_err(), "element {}", k);
            }
        }
    }
}
