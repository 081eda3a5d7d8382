//! The agent registry: which agents a tenant runs, who owns them, their
//! status and their budgets.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::ids::{AgentId, TenantId};
use crate::money::UsdAmount;
use crate::pagination::page_type;
use crate::text::{Description, Label, double_option};

/// Whether an agent may act.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AgentStatus {
    /// The agent's intents are evaluated.
    Active,
    /// Every intent of the agent is blocked at the `identity` stage.
    Suspended,
}

impl AgentStatus {
    /// The wire string.
    pub const fn as_str(self) -> &'static str {
        match self {
            AgentStatus::Active => "active",
            AgentStatus::Suspended => "suspended",
        }
    }

    /// Parses the wire string.
    pub fn parse(s: &str) -> Option<AgentStatus> {
        [AgentStatus::Active, AgentStatus::Suspended].into_iter().find(|v| v.as_str() == s)
    }
}

/// Limits over a rolling 24-hour window. An intent that would take the
/// agent past a limit escalates. Only approved intents count. Absent
/// limits are unlimited.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentBudget {
    /// Most approved decisions in any 24 hours.
    #[serde(default)]
    pub max_decisions_24h: Option<u64>,
    /// Most summed `financial_exposure_usd` of approved intents in any 24 hours.
    #[serde(default)]
    pub max_exposure_usd_24h: Option<UsdAmount>,
}

/// Body of `POST /v1/agents`.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentCreate {
    /// Identifier, unique within the tenant.
    pub id: AgentId,
    /// Display name.
    pub name: Label,
    /// The person or team answerable for the agent.
    pub owner: Label,
    /// What the agent does.
    #[serde(default)]
    pub description: Option<Description>,
    /// Budget limits (default: unlimited).
    #[serde(default)]
    pub budget: Option<AgentBudget>,
}

/// Body of `PATCH /v1/agents/{agent_id}`: only the fields present change.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentUpdate {
    /// New display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<Label>,
    /// New owner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<Label>,
    /// New description; `null` clears it.
    #[serde(default, deserialize_with = "double_option", skip_serializing_if = "Option::is_none")]
    pub description: Option<Option<Description>>,
    /// `active` or `suspended`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<AgentStatus>,
    /// Replaces the budget limits as a whole (`{}` removes every limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<AgentBudget>,
}

/// A registered agent.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct Agent {
    /// Identifier.
    pub id: AgentId,
    /// The tenant.
    pub tenant: TenantId,
    /// Display name.
    pub name: String,
    /// Who is answerable for it.
    pub owner: String,
    /// What it does.
    pub description: Option<String>,
    /// Whether it may act.
    pub status: AgentStatus,
    /// Its budget limits.
    pub budget: AgentBudget,
    /// When it was registered.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// Path parameters naming an agent.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
pub struct AgentPath {
    /// The agent.
    pub agent_id: AgentId,
}

/// Selects the tenant of a tenant-scoped operation. Tenant keys act on
/// their own tenant (naming another one answers 404); the superadmin key
/// must name one.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantScope {
    /// The tenant to act on.
    pub tenant: Option<TenantId>,
}

/// Query parameters of `GET /v1/agents`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentListParams {
    /// The tenant (see `TenantScope`).
    pub tenant: Option<TenantId>,
    /// Only agents with this status.
    pub status: Option<AgentStatus>,
    /// Page size (1–500, default 50).
    #[schemars(range(min = 1, max = 500))]
    pub limit: Option<u32>,
    /// Cursor from the previous page.
    pub cursor: Option<String>,
}

page_type!(
    /// A page of agents, ordered by id.
    AgentPage, Agent
);
