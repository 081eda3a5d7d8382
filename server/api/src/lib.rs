//! The Lictor HTTP contract.
//!
//! This crate is the single definition of Lictor's API: every type that
//! crosses the wire and, with the feature `endpoints`, the dropshot API
//! trait `LictorApi`. The OpenAPI document in `openapi/lictor.json` is
//! generated from it (`cargo xtask openapi`), and the SDKs and the
//! conformance suite are generated from that document.
//!
//! It is deliberately light: no database, no policy engine, no business
//! logic. The gateway (`lictor-server`) implements the trait. Without
//! `endpoints` it depends on no HTTP server, so what needs only the wire
//! types (`lictor-offline`, and through it the Rust SDK) builds without
//! dropshot.
//!
//! Conventions every operation follows:
//! - exactly one tag and an operation id `<resource>_<verb>`;
//! - errors answer [`ApiError`] (`{error_code, message, request_id}` plus
//!   `path`/`parameter` for validation errors) with a stable `error_code`;
//! - lists answer `{items, next_cursor}` with `limit`/`cursor` parameters;
//! - a `block` is a [`intents::Decision`] with HTTP 200, never an error.

pub mod access;
pub mod agents;
pub mod api_keys;
pub mod approvals;
pub mod audit;
pub mod discovery;
pub mod error;
pub mod extract;
pub mod ids;
pub mod integrations;
pub mod intents;
pub mod money;
pub mod operators;
pub mod pagination;
pub mod policies;
pub mod reports;
pub mod system;
pub mod tenants;
pub mod text;
pub mod tokens;
pub mod tools;
pub mod upstreams;

pub use error::{ApiError, ErrorCode};
pub use extract::{Checked, JsonBody, Lenient, QueryParams, RawJsonBody};

#[cfg(feature = "endpoints")]
mod endpoints;
#[cfg(feature = "endpoints")]
mod limited;
#[cfg(feature = "endpoints")]
pub use endpoints::*;
#[cfg(feature = "endpoints")]
pub use limited::{Limited, Report};
