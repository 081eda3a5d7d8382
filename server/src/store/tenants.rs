//! Tenants.

use crate::clock::Timestamp;
use lictor_api::ids::TenantId;
use lictor_api::tenants::{RateLimit, RateLimits, StoreFailureMode};
use sqlx::Row;

use super::{Store, StoreError, StoreResult, StoreTx};

/// A tenant to create.
#[derive(Clone, Debug)]
pub struct NewTenant {
    /// Identifier.
    pub id: TenantId,
    /// Display name.
    pub name: String,
    /// Webhook signing secret.
    pub webhook_secret: String,
    /// Creation time.
    pub created_at: Timestamp,
    /// Its own rate limits.
    pub rate_limits: TenantRateLimits,
}

/// A tenant's own rate limits; `None` is the default.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TenantRateLimits {
    /// Each credential's bucket.
    pub per_key: Option<RateLimit>,
    /// The tenant's shared bucket.
    pub per_tenant: Option<RateLimit>,
}

impl TenantRateLimits {
    /// The limits in force.
    pub fn effective(&self) -> RateLimits {
        let defaults = RateLimits::default();
        RateLimits {
            per_key: self.per_key.unwrap_or(defaults.per_key),
            per_tenant: self.per_tenant.unwrap_or(defaults.per_tenant),
        }
    }
}

/// A stored tenant.
#[derive(Clone, Debug)]
pub struct TenantRow {
    /// Identifier.
    pub id: TenantId,
    /// Display name.
    pub name: String,
    /// Creation time.
    pub created_at: Timestamp,
    /// What decisions do while the store cannot be written.
    pub store_failure: StoreFailureMode,
    /// Whether promotions need a second administrator.
    pub policy_two_person: bool,
    /// Its own rate limits.
    pub rate_limits: TenantRateLimits,
}

/// Activity counters shown with a tenant.
#[derive(Clone, Copy, Debug, Default)]
pub struct TenantStats {
    /// Approval requests waiting.
    pub pending_approvals: u64,
    /// Decisions made since the given time.
    pub recent_decisions: u64,
}

fn tenant_from_row(row: &sqlx::any::AnyRow) -> StoreResult<TenantRow> {
    let id: String = row.try_get("id")?;
    Ok(TenantRow {
        id: TenantId::parse(id).map_err(|e| StoreError::Corrupt(e.to_string().into()))?,
        name: row.try_get("name")?,
        created_at: row.try_get("created_at")?,
        store_failure: super::parse_req(
            &row.try_get::<String, _>("store_failure")?,
            StoreFailureMode::parse,
            "store failure mode",
        )?,
        policy_two_person: row.try_get::<i64, _>("policy_two_person")? != 0,
        rate_limits: TenantRateLimits {
            per_key: rate_limit(row, "rate_key_per_minute", "rate_key_burst")?,
            per_tenant: rate_limit(row, "rate_tenant_per_minute", "rate_tenant_burst")?,
        },
    })
}

/// The tenant columns every read selects.
const TENANT_COLUMNS: &str = "id, name, created_at, store_failure, policy_two_person, rate_key_per_minute, \
                              rate_key_burst, rate_tenant_per_minute, rate_tenant_burst";

fn rate_limit(row: &sqlx::any::AnyRow, per_minute: &str, burst: &str) -> StoreResult<Option<RateLimit>> {
    let per_minute: Option<i64> = row.try_get(per_minute)?;
    let burst: Option<i64> = row.try_get(burst)?;
    let (Some(per_minute), Some(burst)) = (per_minute, burst) else { return Ok(None) };
    let bounded = |value: i64, max: u32| u32::try_from(value).ok().filter(|v| (1..=max).contains(v));
    match (bounded(per_minute, RateLimit::MAX_PER_MINUTE), bounded(burst, RateLimit::MAX_BURST)) {
        (Some(per_minute), Some(burst)) => Ok(Some(RateLimit { per_minute, burst })),
        _ => Err(StoreError::Corrupt(
            format!("rate limit {per_minute}/min, burst {burst} is out of range").into(),
        )),
    }
}

impl Store {
    /// One tenant.
    pub async fn get_tenant(&self, id: &TenantId) -> StoreResult<Option<TenantRow>> {
        let row =
            sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {TENANT_COLUMNS} FROM tenants WHERE id = $1")))
                .bind(id.as_str())
                .fetch_optional(self.pool())
                .await?;
        row.as_ref().map(tenant_from_row).transpose()
    }

    /// Tenants ordered by id, after `after`, at most `limit`.
    pub async fn list_tenants(&self, after: Option<&str>, limit: u32) -> StoreResult<Vec<TenantRow>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {TENANT_COLUMNS} FROM tenants WHERE id > $1 ORDER BY id LIMIT $2"
        )))
        .bind(after.unwrap_or(""))
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(tenant_from_row).collect()
    }

    /// Pending approvals and decisions since `since` for a tenant.
    pub async fn tenant_stats(&self, id: &TenantId, since: Timestamp) -> StoreResult<TenantStats> {
        let pending: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM approvals WHERE tenant_id = $1 AND status = 'pending'")
                .bind(id.as_str())
                .fetch_one(self.pool())
                .await?;
        let recent: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM intents WHERE tenant_id = $1 AND created_at >= $2 AND status = 'decided'",
        )
        .bind(id.as_str())
        .bind(since)
        .fetch_one(self.pool())
        .await?;
        Ok(TenantStats {
            pending_approvals: u64::try_from(pending).unwrap_or_default(),
            recent_decisions: u64::try_from(recent).unwrap_or_default(),
        })
    }

    /// The tenant's webhook signing secret.
    pub async fn webhook_secret(&self, id: &TenantId) -> StoreResult<Option<String>> {
        Ok(sqlx::query_scalar("SELECT webhook_secret FROM tenants WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(self.pool())
            .await?)
    }
}

impl StoreTx {
    /// Creates a tenant; [`StoreError::Duplicate`] if the id is taken.
    pub async fn insert_tenant(&mut self, tenant: &NewTenant) -> StoreResult<()> {
        sqlx::query("INSERT INTO tenants (id, name, webhook_secret, created_at) VALUES ($1, $2, $3, $4)")
            .bind(tenant.id.as_str())
            .bind(&tenant.name)
            .bind(&tenant.webhook_secret)
            .bind(tenant.created_at)
            .execute(self.conn())
            .await?;
        self.set_rate_limits(&tenant.id, tenant.rate_limits).await?;
        Ok(())
    }

    /// Sets the tenant's rate limits; `true` if they changed.
    pub async fn set_rate_limits(&mut self, id: &TenantId, limits: TenantRateLimits) -> StoreResult<bool> {
        let split = |limit: Option<RateLimit>| match limit {
            Some(l) => (Some(i64::from(l.per_minute)), Some(i64::from(l.burst))),
            None => (None, None),
        };
        let (key_rate, key_burst) = split(limits.per_key);
        let (tenant_rate, tenant_burst) = split(limits.per_tenant);
        let done = sqlx::query(
            "UPDATE tenants SET rate_key_per_minute = $1, rate_key_burst = $2, rate_tenant_per_minute = $3, \
             rate_tenant_burst = $4 WHERE id = $5 AND NOT (rate_key_per_minute IS NOT DISTINCT FROM $1 \
             AND rate_key_burst IS NOT DISTINCT FROM $2 AND rate_tenant_per_minute IS NOT DISTINCT FROM $3 \
             AND rate_tenant_burst IS NOT DISTINCT FROM $4)",
        )
        .bind(key_rate)
        .bind(key_burst)
        .bind(tenant_rate)
        .bind(tenant_burst)
        .bind(id.as_str())
        .execute(self.conn())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Replaces the webhook secret; `false` if the tenant does not exist.
    pub async fn set_webhook_secret(&mut self, id: &TenantId, secret: &str) -> StoreResult<bool> {
        let done = sqlx::query("UPDATE tenants SET webhook_secret = $1 WHERE id = $2")
            .bind(secret)
            .bind(id.as_str())
            .execute(self.conn())
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Sets whether promotions need a second administrator; `true` if it
    /// changed.
    pub async fn set_policy_two_person(&mut self, id: &TenantId, on: bool) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE tenants SET policy_two_person = $1 WHERE id = $2 AND policy_two_person <> $1",
        )
        .bind(i64::from(on))
        .bind(id.as_str())
        .execute(self.conn())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Sets what decisions do while the store is down; `true` if it changed.
    pub async fn set_store_failure(&mut self, id: &TenantId, mode: StoreFailureMode) -> StoreResult<bool> {
        let done = sqlx::query("UPDATE tenants SET store_failure = $1 WHERE id = $2 AND store_failure <> $1")
            .bind(mode.as_str())
            .bind(id.as_str())
            .execute(self.conn())
            .await?;
        Ok(done.rows_affected() == 1)
    }
}
