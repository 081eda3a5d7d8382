//! Integration tests: the real gateway over HTTP on loopback, against
//! SQLite and against PostgreSQL. Every test of a module runs on both
//! backends (see `on_both_backends!`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod support;

mod agents;
mod api_keys;
mod approvals;
mod async_intents;
mod audit;
mod audit_export_cli;
mod audit_seals;
mod audit_tree;
mod audit_witness;
mod budget;
mod caches;
mod cli;
mod contract;
mod crash;
mod discovery;
mod disk_full;
mod integrations;
mod intents;
mod keys;
mod lifecycle;
mod lost_commit;
mod mcp_upstream;
mod metrics;
mod notifications;
mod operators;
mod policies;
mod properties;
mod published;
mod rate_limits;
mod reports;
mod scenario;
mod scim;
mod sink_chaos;
mod sink_delivery;
mod sink_s3;
mod sinks;
mod store_failure;
mod system;
mod telemetry;
mod tenants;
mod tls;
mod tokens;
mod tools;
mod validation;
