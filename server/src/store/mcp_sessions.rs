//! MCP sessions of clients speaking the 2025 revisions (`initialize` →
//! `Mcp-Session-Id`). Sessions are stored, not kept in memory, so any
//! gateway sharing the store can serve any session.

use crate::clock::Timestamp;
use lictor_api::ids::TenantId;
use sqlx::Row;

use super::{Store, StoreResult, tenant_column};

/// A stored session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct McpSessionRow {
    /// The session id (visible ASCII, unguessable).
    pub id: String,
    /// Tenant.
    pub tenant: TenantId,
    /// Who opened it (`key:<id>` or `token:<root jti>`); only they may use it.
    pub principal: String,
    /// The negotiated protocol revision.
    pub protocol_version: String,
    /// The client's name from `clientInfo`.
    pub client_name: Option<String>,
    /// Opened.
    pub created_at: Timestamp,
    /// Closed by `DELETE /v1/mcp`.
    pub closed_at: Option<Timestamp>,
}

impl Store {
    /// Stores a new session.
    pub async fn insert_mcp_session(&self, session: &McpSessionRow) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO mcp_sessions (id, tenant_id, principal, protocol_version, client_name, created_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&session.id)
        .bind(session.tenant.as_str())
        .bind(&session.principal)
        .bind(&session.protocol_version)
        .bind(session.client_name.clone())
        .bind(session.created_at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// One session.
    pub async fn get_mcp_session(&self, id: &str) -> StoreResult<Option<McpSessionRow>> {
        let row = sqlx::query(
            "SELECT id, tenant_id, principal, protocol_version, client_name, created_at, closed_at
             FROM mcp_sessions WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        row.map(|row| {
            Ok(McpSessionRow {
                id: row.try_get("id")?,
                tenant: tenant_column(&row)?,
                principal: row.try_get("principal")?,
                protocol_version: row.try_get("protocol_version")?,
                client_name: row.try_get("client_name")?,
                created_at: row.try_get("created_at")?,
                closed_at: row.try_get("closed_at")?,
            })
        })
        .transpose()
    }

    /// Closes a session; `false` if it was not open.
    pub async fn close_mcp_session(&self, id: &str, now: Timestamp) -> StoreResult<bool> {
        let done = sqlx::query("UPDATE mcp_sessions SET closed_at = $1 WHERE id = $2 AND closed_at IS NULL")
            .bind(now)
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() == 1)
    }
}
