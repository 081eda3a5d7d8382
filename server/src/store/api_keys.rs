//! API keys (stored as SHA-256 hashes, never in clear).

use crate::clock::Timestamp;
use lictor_api::api_keys::{Environment, Role};
use lictor_api::ids::{AgentId, ApiKeyId, TenantId};
use lictor_api::operators::Person;
use sqlx::Row;

use super::{Store, StoreError, StoreResult, StoreTx, parse_req, tenant_column};

/// A key to store.
#[derive(Clone, Debug)]
pub struct NewApiKey {
    /// Identifier.
    pub id: ApiKeyId,
    /// Owning tenant.
    pub tenant: TenantId,
    /// Display name.
    pub name: String,
    /// Environment it acts in.
    pub environment: Environment,
    /// Role.
    pub role: Role,
    /// Agent restriction.
    pub agent_id: Option<AgentId>,
    /// First characters of the key.
    pub prefix: String,
    /// Hex SHA-256 of the key.
    pub key_hash: String,
    /// Creation time.
    pub created_at: Timestamp,
    /// Who it acts for in two-person rules (`person:…`, or the key
    /// lineage's first key); `None`: itself.
    pub acts_for: Option<String>,
    /// The person it acts for (its creator's, inherited).
    pub person: Option<Person>,
}

/// A stored key.
#[derive(Clone, Debug)]
pub struct ApiKeyRow {
    /// Identifier.
    pub id: ApiKeyId,
    /// Owning tenant.
    pub tenant: TenantId,
    /// Display name.
    pub name: String,
    /// Environment it acts in.
    pub environment: Environment,
    /// Role.
    pub role: Role,
    /// Agent restriction.
    pub agent_id: Option<AgentId>,
    /// First characters of the key.
    pub prefix: String,
    /// Creation time.
    pub created_at: Timestamp,
    /// Revocation time.
    pub revoked_at: Option<Timestamp>,
    /// Who it acts for in two-person rules; `None`: itself.
    pub acts_for: Option<String>,
    /// The person it acts for.
    pub person: Option<Person>,
}

/// `SELECT <every key column> <rest>` as a static string.
macro_rules! select_keys {
    ($rest:literal) => {
        concat!(
            "SELECT id, tenant_id, name, environment, role, agent_id, prefix, created_at, revoked_at, acts_for, person ",
            $rest
        )
    };
}

fn key_from_row(row: &sqlx::any::AnyRow) -> StoreResult<ApiKeyRow> {
    let corrupt = |e: lictor_api::ids::InvalidId| StoreError::Corrupt(e.to_string().into());
    let environment: String = row.try_get("environment")?;
    let role: String = row.try_get("role")?;
    let agent_id: Option<String> = row.try_get("agent_id")?;
    Ok(ApiKeyRow {
        id: ApiKeyId::parse(row.try_get::<String, _>("id")?).map_err(corrupt)?,
        tenant: tenant_column(row)?,
        name: row.try_get("name")?,
        environment: parse_req(&environment, Environment::parse, "environment")?,
        role: parse_req(&role, Role::parse, "role")?,
        agent_id: agent_id.map(AgentId::parse).transpose().map_err(corrupt)?,
        prefix: row.try_get("prefix")?,
        created_at: row.try_get("created_at")?,
        revoked_at: row.try_get("revoked_at")?,
        acts_for: row.try_get("acts_for")?,
        person: row.try_get::<Option<String>, _>("person")?.as_deref().map(super::json_column).transpose()?,
    })
}

impl Store {
    /// The unrevoked key with this hash.
    pub async fn find_live_api_key(&self, key_hash: &str) -> StoreResult<Option<ApiKeyRow>> {
        let sql = select_keys!("FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL");
        let row = sqlx::query(sql).bind(key_hash).fetch_optional(self.pool()).await?;
        row.as_ref().map(key_from_row).transpose()
    }

    /// One key by id.
    pub async fn get_api_key(&self, id: &ApiKeyId) -> StoreResult<Option<ApiKeyRow>> {
        let sql = select_keys!("FROM api_keys WHERE id = $1");
        let row = sqlx::query(sql).bind(id.as_str()).fetch_optional(self.pool()).await?;
        row.as_ref().map(key_from_row).transpose()
    }

    /// Keys oldest first, optionally of one tenant, after the `(created_at,
    /// id)` position `after`.
    pub async fn list_api_keys(
        &self,
        tenant: Option<&TenantId>,
        after: Option<(i64, String)>,
        limit: u32,
    ) -> StoreResult<Vec<ApiKeyRow>> {
        let (after_ts, after_id) = after.unwrap_or((i64::MIN, String::new()));
        let sql = select_keys!(
            "FROM api_keys WHERE ($1 = '' OR tenant_id = $1)
               AND (created_at > $2 OR (created_at = $2 AND id > $3))
             ORDER BY created_at, id LIMIT $4"
        );
        let rows = sqlx::query(sql)
            .bind(tenant.map(|t| t.as_str()).unwrap_or(""))
            .bind(after_ts)
            .bind(after_id)
            .bind(i64::from(limit))
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(key_from_row).collect()
    }
}

impl StoreTx {
    /// Stores a new key.
    pub async fn insert_api_key(&mut self, key: &NewApiKey) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO api_keys (id, tenant_id, name, environment, role, agent_id, prefix, key_hash, created_at,
                acts_for, person)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(key.id.as_str())
        .bind(key.tenant.as_str())
        .bind(&key.name)
        .bind(key.environment.as_str())
        .bind(key.role.as_str())
        .bind(key.agent_id.as_ref().map(|a| a.as_str().to_string()))
        .bind(&key.prefix)
        .bind(&key.key_hash)
        .bind(key.created_at)
        .bind(&key.acts_for)
        .bind(key.person.as_ref().map(|p| serde_json::to_string(p).unwrap_or_default()))
        .execute(self.conn())
        .await?;
        Ok(())
    }

    /// Revokes a key (idempotent: the first revocation time is kept);
    /// `true` if this call revoked it.
    pub async fn revoke_api_key(&mut self, id: &ApiKeyId, now: Timestamp) -> StoreResult<bool> {
        let done = sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(now)
            .bind(id.as_str())
            .execute(self.conn())
            .await?;
        Ok(done.rows_affected() == 1)
    }
}
