//! Upstream MCP servers configured through the API (per tenant).

use crate::clock::Timestamp;
use std::collections::BTreeMap;

use lictor_api::ids::TenantId;
use lictor_api::tokens::UpstreamName;
use lictor_api::upstreams::ToolOverride;
use sqlx::Row;

use super::{Store, StoreResult, StoreTx, corrupt, tenant_column};

/// A stored upstream.
#[derive(Clone, Debug, PartialEq)]
pub struct UpstreamRow {
    /// Owning tenant.
    pub tenant: TenantId,
    /// Name.
    pub name: UpstreamName,
    /// MCP endpoint.
    pub url: String,
    /// Credential header and value, sent upstream only.
    pub credential: Option<(String, String)>,
    /// Per-tool overrides.
    pub tools: BTreeMap<String, ToolOverride>,
    /// Added.
    pub created_at: Timestamp,
}

fn upstream_from_row(row: &sqlx::any::AnyRow) -> StoreResult<UpstreamRow> {
    let header: Option<String> = row.try_get("credential_header")?;
    let value: Option<String> = row.try_get("credential_value")?;
    let overrides: String = row.try_get("tool_overrides")?;
    Ok(UpstreamRow {
        tenant: tenant_column(row)?,
        name: UpstreamName::parse(row.try_get::<String, _>("name")?).map_err(corrupt)?,
        url: row.try_get("url")?,
        credential: header.zip(value),
        tools: serde_json::from_str(&overrides).map_err(corrupt)?,
        created_at: row.try_get("created_at")?,
    })
}

impl Store {
    /// A tenant's upstreams, by name.
    pub async fn list_upstreams(&self, tenant: &TenantId) -> StoreResult<Vec<UpstreamRow>> {
        let rows = sqlx::query(
            "SELECT tenant_id, name, url, credential_header, credential_value, tool_overrides, created_at
             FROM upstreams WHERE tenant_id = $1 ORDER BY name",
        )
        .bind(tenant.as_str())
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(upstream_from_row).collect()
    }
}

impl StoreTx {
    /// Adds an upstream; [`StoreError::Duplicate`] if the name is taken.
    pub async fn insert_upstream(&mut self, upstream: &UpstreamRow) -> StoreResult<()> {
        let overrides = serde_json::to_string(&upstream.tools).map_err(corrupt)?;
        let (header, value) = upstream.credential.clone().unzip();
        sqlx::query(
            "INSERT INTO upstreams (tenant_id, name, url, credential_header, credential_value, tool_overrides, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(upstream.tenant.as_str())
        .bind(upstream.name.as_str())
        .bind(&upstream.url)
        .bind(header)
        .bind(value)
        .bind(overrides)
        .bind(upstream.created_at)
        .execute(self.conn())
        .await?;
        Ok(())
    }

    /// Removes an upstream; `false` if it did not exist.
    pub async fn delete_upstream(&mut self, tenant: &TenantId, name: &UpstreamName) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM upstreams WHERE tenant_id = $1 AND name = $2")
            .bind(tenant.as_str())
            .bind(name.as_str())
            .execute(self.conn())
            .await?;
        Ok(done.rows_affected() == 1)
    }
}
