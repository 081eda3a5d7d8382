//! The approvals queue: escalated decisions waiting for a human.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::ids::{AgentId, ApprovalId, IntentId, TenantId};
use crate::intents::{ActionType, Reason, RiskLevel};
use crate::pagination::page_type;
use crate::tokens::Jti;

/// Where an approval request stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalStatus {
    /// Waiting for a human.
    Pending,
    /// Approved; the agent may resume the identical request once.
    Approved,
    /// Rejected.
    Rejected,
    /// Not decided (or not used) before it expired.
    Expired,
    /// Approved and consumed by the resumed request.
    Used,
}

impl ApprovalStatus {
    /// The wire string.
    pub const fn as_str(self) -> &'static str {
        match self {
            ApprovalStatus::Pending => "pending",
            ApprovalStatus::Approved => "approved",
            ApprovalStatus::Rejected => "rejected",
            ApprovalStatus::Expired => "expired",
            ApprovalStatus::Used => "used",
        }
    }

    /// Parses the wire string.
    pub fn parse(s: &str) -> Option<ApprovalStatus> {
        [
            ApprovalStatus::Pending,
            ApprovalStatus::Approved,
            ApprovalStatus::Rejected,
            ApprovalStatus::Expired,
            ApprovalStatus::Used,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    }
}

/// What was escalated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalKind {
    /// A declared intent.
    Intent,
    /// A tool call (`/v1/mcp` or `/v1/tool-call`).
    ToolCall,
}

/// An approval request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Approval {
    /// Identifier (send it back as `Lictor-Approval-Id` to resume).
    pub id: ApprovalId,
    /// The tenant.
    pub tenant: TenantId,
    /// The agent that asked.
    pub agent_id: AgentId,
    /// What was escalated.
    pub kind: ApprovalKind,
    /// The intent decided (the tool call's intent for tool calls).
    pub intent_id: IntentId,
    /// The tool, for tool calls (`<upstream>.<tool>`).
    pub tool: Option<String>,
    /// The capability token's jti, when the request carried one.
    pub jti: Option<Jti>,
    /// The action type.
    pub action_type: ActionType,
    /// The verb.
    pub verb: String,
    /// The request's one-line summary, if it gave one.
    pub summary: Option<String>,
    /// Why it was escalated.
    pub reasons: Vec<Reason>,
    /// Its risk level.
    pub risk_level: RiskLevel,
    /// Where it stands.
    pub status: ApprovalStatus,
    /// SHA-256 binding the approval to the exact request (tenant, agent,
    /// jti, tool or action, canonical arguments or payload, bundle hash).
    pub digest: String,
    /// When it was opened.
    pub created_at: DateTime<Utc>,
    /// When it expires if not decided, or not used once approved.
    pub expires_at: DateTime<Utc>,
    /// When it was decided.
    pub decided_at: Option<DateTime<Utc>>,
    /// Who decided (`superadmin` or `key:<id>`), from the authenticated key.
    pub decided_by: Option<String>,
    /// The decider's note.
    pub note: Option<String>,
    /// When the resumed request used it.
    pub used_at: Option<DateTime<Utc>>,
}

/// A human's decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalDecisionKind {
    /// Let the agent go ahead (once).
    Approve,
    /// Refuse.
    Reject,
}

/// Body of `POST /v1/admin/approvals/{approval_id}/decide`.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApprovalDecide {
    /// The decision.
    pub decision: ApprovalDecisionKind,
    /// Why (kept with the approval and in the audit log).
    #[serde(default)]
    #[schemars(length(max = 2000))]
    pub note: Option<String>,
}

/// Path parameters naming an approval.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
pub struct ApprovalPath {
    /// The approval.
    pub approval_id: ApprovalId,
}

/// Query parameters of `GET /v1/admin/approvals`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApprovalListParams {
    /// The tenant (see `TenantScope`).
    pub tenant: Option<TenantId>,
    /// Only approvals with this status.
    pub status: Option<ApprovalStatus>,
    /// Only this agent's.
    pub agent_id: Option<AgentId>,
    /// Page size (1–500, default 50).
    #[schemars(range(min = 1, max = 500))]
    pub limit: Option<u32>,
    /// Cursor from the previous page.
    pub cursor: Option<String>,
}

page_type!(
    /// A page of approvals, newest first.
    ApprovalPage, Approval
);

/// Query parameters of `GET /v1/approvals/{approval_id}`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApprovalWaitParams {
    /// The tenant (see `TenantScope`).
    pub tenant: Option<TenantId>,
    /// Wait up to this many seconds (0–60) for the approval to leave
    /// `pending` before answering.
    #[schemars(range(max = 60))]
    pub wait_seconds: Option<u32>,
}
