//! Budget usage: per agent, per minute bucket, approved decisions and their
//! summed financial exposure. A rolling 24-hour window is the sum of the
//! last 1,440 buckets.

use lictor_api::ids::{AgentId, TenantId};
use sqlx::{Any, Executor, Row};

use super::{Store, StoreError, StoreResult, StoreTx};

/// What an agent consumed inside a window.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct BudgetUsage {
    /// Approved decisions.
    pub decisions: u64,
    /// Summed financial exposure (USD).
    pub exposure_usd: f64,
}

pub(super) async fn read_usage<'c, E: Executor<'c, Database = Any>>(
    executor: E,
    tenant: &TenantId,
    agent: &AgentId,
    first_minute: i64,
) -> StoreResult<BudgetUsage> {
    let row = sqlx::query(
        "SELECT CAST(COALESCE(SUM(decisions), 0) AS BIGINT) AS decisions,
                CAST(COALESCE(SUM(exposure_usd), 0) AS DOUBLE PRECISION) AS exposure_usd
         FROM budget_usage WHERE tenant_id = $1 AND agent_id = $2 AND minute >= $3",
    )
    .bind(tenant.as_str())
    .bind(agent.as_str())
    .bind(first_minute)
    .fetch_one(executor)
    .await?;
    // The casts give both backends the same column types (PostgreSQL's
    // SUM over BIGINT is NUMERIC; SQLite's SUM of nothing is an integer 0).
    let decisions: i64 = row.try_get("decisions")?;
    let exposure_usd: f64 = row.try_get("exposure_usd")?;
    // A negative count is damage, not zero: reading it as 0 would let the
    // budget check pass (fail open).
    let decisions = u64::try_from(decisions).map_err(|_| {
        StoreError::Corrupt(
            format!("budget_usage of `{agent}` in `{tenant}` sums to {decisions} decisions").into(),
        )
    })?;
    if !exposure_usd.is_finite() || exposure_usd < 0.0 {
        return Err(StoreError::Corrupt(
            format!("budget_usage of `{agent}` in `{tenant}` sums to {exposure_usd} USD").into(),
        ));
    }
    Ok(BudgetUsage { decisions, exposure_usd })
}

impl Store {
    /// Usage in buckets `>= first_minute`.
    pub async fn budget_usage(
        &self,
        tenant: &TenantId,
        agent: &AgentId,
        first_minute: i64,
    ) -> StoreResult<BudgetUsage> {
        read_usage(self.pool(), tenant, agent, first_minute).await
    }
}

impl StoreTx {
    /// Locks the agent's row until commit, serialising budget checks of one
    /// agent across gateways (PostgreSQL; SQLite's write lock already does).
    pub async fn lock_agent(&mut self, tenant: &TenantId, agent: &AgentId) -> StoreResult<()> {
        if self.backend() == super::Backend::Postgres {
            sqlx::query("SELECT id FROM agents WHERE tenant_id = $1 AND id = $2 FOR UPDATE")
                .bind(tenant.as_str())
                .bind(agent.as_str())
                .fetch_optional(self.conn())
                .await?;
        }
        Ok(())
    }
}
