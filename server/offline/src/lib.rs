//! What Lictor checks without a gateway: the byte formats an agent, an
//! auditor or an SDK needs offline.
//!
//! - [`token`]: capability tokens — parse, verify, mint and attenuate
//!   (`docs/tokens.md`);
//! - [`audit`]: the audit entry hash, the Merkle tree, signed checkpoints,
//!   and exports with their one-pass verifier (`docs/audit.md`);
//! - [`webhook`]: `Lictor-Signature` signing and verification
//!   (`docs/webhooks.md`).
//!
//! The gateway uses this crate for the same formats, so there is one
//! implementation of each, pinned by `conformance/vectors/`. It is
//! deliberately not a client: no network, no store, no file system, no
//! async runtime — which keeps it light enough for the SDK and the CLI.

pub mod audit;
pub mod time;
pub mod token;
pub mod webhook;
