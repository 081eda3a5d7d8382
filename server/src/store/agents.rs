//! The agent registry.

use crate::clock::Timestamp;
use lictor_api::agents::{AgentBudget, AgentStatus};
use lictor_api::ids::{AgentId, TenantId};
use lictor_api::money::UsdAmount;
use sqlx::Row;

use super::{Store, StoreError, StoreResult, StoreTx, parse_req, tenant_column};

/// A stored agent.
#[derive(Clone, Debug, PartialEq)]
pub struct AgentRow {
    /// Owning tenant.
    pub tenant: TenantId,
    /// Identifier.
    pub id: AgentId,
    /// Display name.
    pub name: String,
    /// Who answers for it.
    pub owner: String,
    /// What it does.
    pub description: Option<String>,
    /// Whether it may act.
    pub status: AgentStatus,
    /// Budget limits.
    pub budget: AgentBudget,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
}

macro_rules! select_agents {
    ($rest:literal) => {
        concat!(
            "SELECT tenant_id, id, name, owner, description, status, max_decisions_24h, max_exposure_usd_24h, ",
            "created_at, updated_at ",
            $rest
        )
    };
}

fn agent_from_row(row: &sqlx::any::AnyRow) -> StoreResult<AgentRow> {
    let corrupt = |e: String| StoreError::Corrupt(e.into());
    let status: String = row.try_get("status")?;
    let max_decisions: Option<i64> = row.try_get("max_decisions_24h")?;
    let max_usd: Option<f64> = row.try_get("max_exposure_usd_24h")?;
    Ok(AgentRow {
        tenant: tenant_column(row)?,
        id: AgentId::parse(row.try_get::<String, _>("id")?).map_err(|e| corrupt(e.to_string()))?,
        name: row.try_get("name")?,
        owner: row.try_get("owner")?,
        description: row.try_get("description")?,
        status: parse_req(&status, AgentStatus::parse, "agent status")?,
        budget: AgentBudget {
            max_decisions_24h: max_decisions.map(|v| u64::try_from(v).unwrap_or_default()),
            max_exposure_usd_24h: max_usd
                .map(UsdAmount::new)
                .transpose()
                .map_err(|e| corrupt(e.to_string()))?,
        },
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn limit_decisions(budget: &AgentBudget) -> Option<i64> {
    budget.max_decisions_24h.map(|v| i64::try_from(v).unwrap_or(i64::MAX))
}

impl Store {
    /// One agent of a tenant.
    pub async fn get_agent(&self, tenant: &TenantId, id: &AgentId) -> StoreResult<Option<AgentRow>> {
        let row = sqlx::query(select_agents!("FROM agents WHERE tenant_id = $1 AND id = $2"))
            .bind(tenant.as_str())
            .bind(id.as_str())
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(agent_from_row).transpose()
    }

    /// A tenant's agents ordered by id, after `after`.
    pub async fn list_agents(
        &self,
        tenant: &TenantId,
        status: Option<AgentStatus>,
        after: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<AgentRow>> {
        let rows = sqlx::query(select_agents!(
            "FROM agents WHERE tenant_id = $1 AND ($2 = '' OR status = $2) AND id > $3 ORDER BY id LIMIT $4"
        ))
        .bind(tenant.as_str())
        .bind(status.map(AgentStatus::as_str).unwrap_or(""))
        .bind(after.unwrap_or(""))
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(agent_from_row).collect()
    }
}

impl StoreTx {
    /// Registers an agent; [`StoreError::Duplicate`] if the id is taken.
    pub async fn insert_agent(&mut self, agent: &AgentRow) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO agents (tenant_id, id, name, owner, description, status, max_decisions_24h,
                                 max_exposure_usd_24h, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(agent.tenant.as_str())
        .bind(agent.id.as_str())
        .bind(&agent.name)
        .bind(&agent.owner)
        .bind(agent.description.clone())
        .bind(agent.status.as_str())
        .bind(limit_decisions(&agent.budget))
        .bind(agent.budget.max_exposure_usd_24h.map(UsdAmount::get))
        .bind(agent.created_at)
        .bind(agent.updated_at)
        .execute(self.conn())
        .await?;
        Ok(())
    }

    /// Applies `change` to the agent, locked for the transaction, and
    /// answers it as it was and as it is; `None` if it does not exist.
    pub async fn update_agent(
        &mut self,
        tenant: &TenantId,
        id: &AgentId,
        change: impl FnOnce(&mut AgentRow),
    ) -> StoreResult<Option<(AgentRow, AgentRow)>> {
        let lock = self.backend().for_update();
        let sql = format!("{}{lock}", select_agents!("FROM agents WHERE tenant_id = $1 AND id = $2"));
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant.as_str())
            .bind(id.as_str())
            .fetch_optional(self.conn())
            .await?;
        let Some(row) = row else { return Ok(None) };
        let before = agent_from_row(&row)?;
        let mut agent = before.clone();
        change(&mut agent);
        sqlx::query(
            "UPDATE agents SET name = $1, owner = $2, description = $3, status = $4, max_decisions_24h = $5,
                               max_exposure_usd_24h = $6, updated_at = $7
             WHERE tenant_id = $8 AND id = $9",
        )
        .bind(&agent.name)
        .bind(&agent.owner)
        .bind(agent.description.clone())
        .bind(agent.status.as_str())
        .bind(limit_decisions(&agent.budget))
        .bind(agent.budget.max_exposure_usd_24h.map(UsdAmount::get))
        .bind(agent.updated_at)
        .bind(tenant.as_str())
        .bind(id.as_str())
        .execute(self.conn())
        .await?;
        Ok(Some((before, agent)))
    }
}
