//! Liveness and readiness.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The process is up and serving HTTP.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct Health {
    /// Always `ok`.
    pub status: String,
    /// The gateway's version.
    pub version: String,
}

/// Which store backs the gateway.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StoreKind {
    /// Embedded SQLite (the default).
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// The gateway can serve decisions: its store answered just now.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct Readiness {
    /// Always `ready` (an unready gateway answers 503 `store_unavailable`,
    /// or `draining` while it shuts down).
    pub status: String,
    /// The store in use.
    pub store: StoreKind,
    /// How many tenants' audit logs this gateway found tampered or
    /// damaged and signs no more checkpoints for (0 when all verify). The
    /// gateway keeps deciding; which tenants and why is in its log and in
    /// `GET /v1/admin/audit/verify`.
    pub audit_logs_refused: u64,
}
