//! Capability tokens: minted roots, revocations and the counters of
//! `max_calls`, `max_usd` and `rate_per_min` caveats.

use crate::clock::Timestamp;
use lictor_api::ids::{AgentId, TenantId};
use sqlx::Row;

use super::{Store, StoreError, StoreResult, StoreTx, tenant_column};

/// A token the gateway minted.
#[derive(Clone, Debug)]
pub struct MintedTokenRow {
    /// Tenant.
    pub tenant: TenantId,
    /// Its jti.
    pub jti: String,
    /// The agent it acts for.
    pub subject: AgentId,
    /// Signing key id.
    pub kid: String,
    /// Issued.
    pub issued_at: Timestamp,
    /// Expires.
    pub expires_at: Timestamp,
    /// Who minted it.
    pub minted_by: String,
}

/// A revoked jti.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RevocationRow {
    /// Tenant.
    pub tenant: TenantId,
    /// The jti.
    pub jti: String,
    /// Why.
    pub reason: String,
    /// When.
    pub revoked_at: Timestamp,
    /// Who.
    pub revoked_by: String,
}

/// What allowed calls consumed under one scope jti.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TokenUsage {
    /// Calls over the token's life.
    pub calls: u64,
    /// Summed exposure, in cents.
    pub cents: u64,
    /// Calls in the current minute.
    pub calls_this_minute: u64,
}

fn revocation_from_row(row: &sqlx::any::AnyRow) -> StoreResult<RevocationRow> {
    Ok(RevocationRow {
        tenant: tenant_column(row)?,
        jti: row.try_get("jti")?,
        reason: row.try_get("reason")?,
        revoked_at: row.try_get("revoked_at")?,
        revoked_by: row.try_get("revoked_by")?,
    })
}

impl Store {
    /// The revocation of `jti`, if any.
    pub async fn get_revocation(&self, tenant: &TenantId, jti: &str) -> StoreResult<Option<RevocationRow>> {
        let row = sqlx::query(
            "SELECT tenant_id, jti, reason, revoked_at, revoked_by FROM token_revocations
             WHERE tenant_id = $1 AND jti = $2",
        )
        .bind(tenant.as_str())
        .bind(jti)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(revocation_from_row).transpose()
    }

    /// Every revoked jti of a tenant (the revocation cache's source).
    pub async fn revoked_jtis(&self, tenant: &TenantId) -> StoreResult<Vec<String>> {
        Ok(sqlx::query_scalar("SELECT jti FROM token_revocations WHERE tenant_id = $1")
            .bind(tenant.as_str())
            .fetch_all(self.pool())
            .await?)
    }

    /// A tenant's revocations, oldest first, after `(revoked_at, jti)`.
    pub async fn list_revocations(
        &self,
        tenant: &TenantId,
        after: Option<(i64, String)>,
        limit: u32,
    ) -> StoreResult<Vec<RevocationRow>> {
        let (after_ts, after_jti) = after.unwrap_or((i64::MIN, String::new()));
        let rows = sqlx::query(
            "SELECT tenant_id, jti, reason, revoked_at, revoked_by FROM token_revocations
             WHERE tenant_id = $1 AND (revoked_at > $2 OR (revoked_at = $2 AND jti > $3))
             ORDER BY revoked_at, jti LIMIT $4",
        )
        .bind(tenant.as_str())
        .bind(after_ts)
        .bind(after_jti)
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(revocation_from_row).collect()
    }

    /// What allowed calls consumed under `scope_jti` (for the stage's check).
    pub async fn token_usage(
        &self,
        tenant: &TenantId,
        scope_jti: &str,
        minute: i64,
    ) -> StoreResult<TokenUsage> {
        let mut conn = self.pool().acquire().await?;
        read_usage(&mut conn, tenant, scope_jti, minute).await
    }
}

pub(super) async fn read_usage(
    conn: &mut sqlx::AnyConnection,
    tenant: &TenantId,
    scope_jti: &str,
    minute: i64,
) -> StoreResult<TokenUsage> {
    let total = sqlx::query("SELECT calls, cents FROM token_usage WHERE tenant_id = $1 AND scope_jti = $2")
        .bind(tenant.as_str())
        .bind(scope_jti)
        .fetch_optional(&mut *conn)
        .await?;
    let this_minute: Option<i64> = sqlx::query_scalar(
        "SELECT calls FROM token_rate WHERE tenant_id = $1 AND scope_jti = $2 AND minute = $3",
    )
    .bind(tenant.as_str())
    .bind(scope_jti)
    .bind(minute)
    .fetch_optional(&mut *conn)
    .await?;
    let (calls, cents) = match total {
        Some(row) => (row.try_get::<i64, _>("calls")?, row.try_get::<i64, _>("cents")?),
        None => (0, 0),
    };
    // A negative counter is damage, not zero: reading it as 0 would let the
    // token's limits pass (fail open).
    let counter = |what: &str, value: i64| {
        u64::try_from(value).map_err(|_| {
            StoreError::Corrupt(
                format!("the {what} counter of token scope `{scope_jti}` in `{tenant}` is {value}").into(),
            )
        })
    };
    Ok(TokenUsage {
        calls: counter("calls", calls)?,
        cents: counter("cents", cents)?,
        calls_this_minute: counter("rate", this_minute.unwrap_or(0))?,
    })
}

impl StoreTx {
    /// The first of `jtis` the tenant revoked, if any.
    pub async fn first_revoked(&mut self, tenant: &TenantId, jtis: &[String]) -> StoreResult<Option<String>> {
        if jtis.is_empty() {
            return Ok(None);
        }
        let placeholders: Vec<String> = (2..jtis.len() + 2).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT jti FROM token_revocations WHERE tenant_id = $1 AND jti IN ({}) LIMIT 1",
            placeholders.join(", ")
        );
        // Only numbered placeholders are formatted in; every value is bound.
        let mut query = sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).bind(tenant.as_str());
        for jti in jtis {
            query = query.bind(jti.as_str());
        }
        Ok(query.fetch_optional(self.conn()).await?)
    }

    /// Records a revocation (the first one of a jti wins); returns the
    /// stored revocation.
    pub async fn revoke_jti(&mut self, revocation: &RevocationRow) -> StoreResult<RevocationRow> {
        sqlx::query(
            "INSERT INTO token_revocations (tenant_id, jti, reason, revoked_at, revoked_by)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        )
        .bind(revocation.tenant.as_str())
        .bind(&revocation.jti)
        .bind(&revocation.reason)
        .bind(revocation.revoked_at)
        .bind(&revocation.revoked_by)
        .execute(self.conn())
        .await?;
        let row = sqlx::query(
            "SELECT tenant_id, jti, reason, revoked_at, revoked_by FROM token_revocations
             WHERE tenant_id = $1 AND jti = $2",
        )
        .bind(revocation.tenant.as_str())
        .bind(&revocation.jti)
        .fetch_one(self.conn())
        .await?;
        revocation_from_row(&row)
    }

    /// Locks (creating if needed) the usage row of a scope until commit, so
    /// gateways sharing PostgreSQL count one scope's calls one at a time.
    pub async fn lock_token_usage(&mut self, tenant: &TenantId, scope_jti: &str) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO token_usage (tenant_id, scope_jti, calls, cents) VALUES ($1, $2, 0, 0) ON CONFLICT DO NOTHING",
        )
        .bind(tenant.as_str())
        .bind(scope_jti)
        .execute(self.conn())
        .await?;
        let lock = self.backend().for_update();
        let sql = format!("SELECT calls FROM token_usage WHERE tenant_id = $1 AND scope_jti = $2{lock}");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant.as_str())
            .bind(scope_jti)
            .fetch_one(self.conn())
            .await?;
        Ok(())
    }
}

impl StoreTx {
    /// Records a minted root token.
    pub async fn insert_minted_token(
        &mut self,
        token: &MintedTokenRow,
        caveats: &serde_json::Value,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO tokens (tenant_id, jti, subject, kid, issued_at, expires_at, minted_by, caveats)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(token.tenant.as_str())
        .bind(&token.jti)
        .bind(token.subject.as_str())
        .bind(&token.kid)
        .bind(token.issued_at)
        .bind(token.expires_at)
        .bind(&token.minted_by)
        .bind(caveats.to_string())
        .execute(self.conn())
        .await?;
        Ok(())
    }
}
