//! The Rust SDK's tests: the shared conformance vectors offline, and the
//! SDK against a real gateway and a real upstream MCP server.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod live;
mod quickstart;
mod scenario;
mod support;
mod transport;
mod vectors;
