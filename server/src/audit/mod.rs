//! The audit log: one append-only hash chain per tenant.
//!
//! The byte formats — the entry hash, the Merkle tree, checkpoints and
//! exports — live in `lictor-offline` so that the SDKs verify with the
//! very code the gateway writes with; they are re-exported here under their
//! usual paths. Entries are appended only by the [`writer`], inside the
//! transaction that records the decision or the change they describe, so
//! an acknowledged decision always has its entry.
//!
//! - [`writer`]: the one writer per process, committing in groups:
//!   decisions, tool results, revocations, approval decisions and
//!   administrative changes, each with its entry;
//! - [`checkpointer`]: signed checkpoints of each tenant's Merkle tree;
//! - [`seal`]: the gateway's MAC over each chain head, keyed outside the
//!   store;
//! - [`verify`] and [`pages`]: walking a stored chain; [`stream`]: exports;
//! - [`monitor`]: a witness of the checkpoints, outside the gateway.

pub mod checkpointer;
pub mod monitor;
pub mod pages;
pub(crate) mod seal;
pub mod stream;
pub mod verify;
pub mod writer;

pub use lictor_offline::audit::{
    AuditRecord, ENTRY_VERSION, GENESIS_HASH, canonical_string, checkpoint, digest_json, digested, export,
    merkle,
};
