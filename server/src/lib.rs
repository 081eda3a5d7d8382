//! The Lictor gateway.
//!
//! Implements the contract of `lictor-api`: every intent an agent
//! declares runs through one pipeline, see [`pipeline`]:
//! identity → capability → risk → policy → budget → decide → audit,
//! and is answered only after its audit entry is durable. Storage is SQLite by default or PostgreSQL
//! ([`store`]); policies are Rego evaluated by regorus ([`policy`]).
//!
//! This crate is the server and the `lictor` binary. It is not a client
//! library: integrators use the generated SDKs, and nothing but this
//! crate's own tests and benchmarks depends on it.

// What other crates use (the binary, the tests, the benchmarks, the
// conformance suite's embedded mode) is `pub`; everything else is
// `pub(crate)`, and this lint keeps it so.
#![warn(unreachable_pub)]

pub(crate) mod app;
pub mod audit;
pub(crate) mod auth;
pub mod cache;
pub(crate) mod caller;
pub mod catalog;
pub mod clock;
pub mod config;
pub(crate) mod credentials;
pub(crate) mod cursor;
pub(crate) mod degraded;
pub mod demo;
pub mod error;
pub mod events;
pub mod gateway;
pub mod http;
pub mod ids;
pub mod integrations;
pub(crate) mod logging;
pub mod mcp;
pub mod metrics;
pub mod notify;
pub mod operators;
pub(crate) mod pending;
pub mod pipeline;
pub mod policy;
pub mod rate_limit;
pub mod revocations;
pub mod signing;
pub mod sinks;
pub(crate) mod state;
pub mod store;
pub mod telemetry;
pub mod tls;
pub(crate) mod tool_call;
pub use lictor_offline::token;
pub mod webhooks;

pub use config::Config;
pub use gateway::{Gateway, StartError, start};
pub use state::GatewayState;
