//! The tamper-evident audit log: one hash chain per tenant.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::api_keys::Environment;
use crate::ids::{AgentId, AuditEntryId, IntentId, TenantId};
use crate::intents::{Reason, StageName, Verdict};
use crate::pagination::page_type;

/// What an audit entry records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuditKind {
    /// A decision on an intent or a tool call.
    Decision,
    /// A human's decision on an approval request.
    ApprovalDecision,
    /// What happened when an approved tool call was forwarded.
    ToolResult,
    /// A capability token's jti was revoked.
    TokenRevoked,
    /// A tenant was created (the first entry of its chain).
    TenantCreated,
    /// A tenant's settings changed.
    TenantUpdated,
    /// A tenant's webhook signing secret was replaced.
    WebhookSecretRotated,
    /// An API key was created.
    ApiKeyCreated,
    /// An API key was revoked.
    ApiKeyRevoked,
    /// An agent was registered.
    AgentCreated,
    /// An agent changed (status, budget, description…).
    AgentUpdated,
    /// A capability token was minted.
    TokenMinted,
    /// An upstream MCP server was added.
    UpstreamCreated,
    /// An upstream MCP server was removed.
    UpstreamDeleted,
    /// A stored payload was erased (its digest stays in the chain).
    PayloadErased,
}

impl AuditKind {
    /// The wire string.
    pub const fn as_str(self) -> &'static str {
        match self {
            AuditKind::Decision => "decision",
            AuditKind::ApprovalDecision => "approval_decision",
            AuditKind::ToolResult => "tool_result",
            AuditKind::TokenRevoked => "token_revoked",
            AuditKind::TenantCreated => "tenant_created",
            AuditKind::TenantUpdated => "tenant_updated",
            AuditKind::WebhookSecretRotated => "webhook_secret_rotated",
            AuditKind::ApiKeyCreated => "api_key_created",
            AuditKind::ApiKeyRevoked => "api_key_revoked",
            AuditKind::AgentCreated => "agent_created",
            AuditKind::AgentUpdated => "agent_updated",
            AuditKind::TokenMinted => "token_minted",
            AuditKind::UpstreamCreated => "upstream_created",
            AuditKind::UpstreamDeleted => "upstream_deleted",
            AuditKind::PayloadErased => "payload_erased",
        }
    }

    /// Every kind.
    pub const ALL: [AuditKind; 15] = [
        AuditKind::Decision,
        AuditKind::ApprovalDecision,
        AuditKind::ToolResult,
        AuditKind::TokenRevoked,
        AuditKind::TenantCreated,
        AuditKind::TenantUpdated,
        AuditKind::WebhookSecretRotated,
        AuditKind::ApiKeyCreated,
        AuditKind::ApiKeyRevoked,
        AuditKind::AgentCreated,
        AuditKind::AgentUpdated,
        AuditKind::TokenMinted,
        AuditKind::UpstreamCreated,
        AuditKind::UpstreamDeleted,
        AuditKind::PayloadErased,
    ];

    /// Parses the wire string.
    pub fn parse(s: &str) -> Option<AuditKind> {
        AuditKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// One entry of a tenant's audit chain.
///
/// `hash` is the hex SHA-256 of the RFC 8785 (JCS) canonical JSON of every
/// other field (absent values as `null`); `prev_hash` is the previous
/// entry's `hash` (64 zeros for `seq` 1). See `docs/audit.md`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AuditEntry {
    /// Format version of the entry (1).
    pub version: u32,
    /// The entry's id.
    pub entry_id: AuditEntryId,
    /// The tenant whose chain it belongs to.
    pub tenant: TenantId,
    /// Position in the chain, from 1, without gaps.
    pub seq: u64,
    /// When it was written (microsecond precision).
    pub ts: DateTime<Utc>,
    /// What it records.
    pub kind: AuditKind,
    /// The intent decided.
    pub intent_id: Option<IntentId>,
    /// The agent.
    pub agent_id: Option<AgentId>,
    /// The environment of the decision.
    pub environment: Option<Environment>,
    /// Whether the verdict was enforced (`false` in `shadow`).
    pub enforced: Option<bool>,
    /// The verdict the pipeline reached (in `shadow`, the would-be verdict).
    pub verdict: Option<Verdict>,
    /// The stage that settled the verdict.
    pub stage: Option<StageName>,
    /// The reasons given.
    pub reasons: Vec<Reason>,
    /// The policy bundle that decided.
    pub bundle_hash: Option<String>,
    /// SHA-256 of the canonical policy input document.
    pub input_digest: Option<String>,
    /// SHA-256 of the canonical intent payload or tool result (stored apart).
    pub payload_digest: Option<String>,
    /// Who acted (absent when unknown, as in entries written before the
    /// field existed): the key that declared or called (`key:<id>`), the token
    /// (`token:<jti>`), or the administrator of an administrative entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    /// The capability token's effective jti, when one was presented.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    /// The tool (`<upstream>.<tool>`), for tool calls and their results.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
    /// The approval request concerned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_id: Option<String>,
    /// For `tool_result`: `ok`, `tool_error` or `upstream_error`; for
    /// `approval_decision`: `approved` or `rejected`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    /// The previous entry's hash.
    pub prev_hash: String,
    /// This entry's hash.
    pub hash: String,
}

page_type!(
    /// A page of audit entries, by `seq`.
    AuditEntryPage, AuditEntry
);

/// Query parameters of `GET /v1/intents/{intent_id}/audit`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IntentAuditParams {
    /// The tenant (see `TenantScope`).
    pub tenant: Option<TenantId>,
    /// Page size (1–500, default 50).
    pub limit: Option<u32>,
    /// Cursor from the previous page.
    pub cursor: Option<String>,
}

/// Query parameters of `GET /v1/admin/audit`: every filter given must
/// match; entries come in `seq` order.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuditListParams {
    /// The tenant (required for the superadmin key).
    pub tenant: Option<TenantId>,
    /// Entries about this agent.
    pub agent_id: Option<AgentId>,
    /// Entries with this verdict.
    pub verdict: Option<Verdict>,
    /// Entries settled by this stage.
    pub stage: Option<StageName>,
    /// Entries of this kind.
    pub kind: Option<AuditKind>,
    /// Entries about this intent.
    pub intent_id: Option<IntentId>,
    /// Entries about this capability token jti.
    pub jti: Option<String>,
    /// Entries written at or after this time.
    pub from: Option<DateTime<Utc>>,
    /// Entries written before this time.
    pub to: Option<DateTime<Utc>>,
    /// Page size (1–500, default 50).
    pub limit: Option<u32>,
    /// Cursor from the previous page.
    pub cursor: Option<String>,
}

/// Query parameters of `GET /v1/admin/audit/verify`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuditVerifyParams {
    /// The tenant whose chain to verify (required for the superadmin key).
    pub tenant: Option<TenantId>,
}

/// The last entry of a chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ChainHead {
    /// Its position.
    pub seq: u64,
    /// Its hash.
    pub hash: String,
}

/// The first place a chain does not verify.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ChainFailure {
    /// The position where verification failed.
    pub seq: u64,
    /// What was expected there (a hash, a sequence number).
    pub expected: String,
    /// What was found.
    pub found: String,
    /// `hash_mismatch`, `broken_link`, `sequence_gap`, `head_mismatch` or
    /// `undecodable_entry`.
    pub reason: String,
}

/// Answer to `GET /v1/admin/audit/verify`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AuditVerification {
    /// The tenant.
    pub tenant: TenantId,
    /// Whether the whole chain verified.
    pub ok: bool,
    /// How many entries verified before the first failure (all, when `ok`).
    pub verified: u64,
    /// The recorded head of the chain (absent while the chain is empty).
    pub head: Option<ChainHead>,
    /// The first failure, if any.
    pub first_failure: Option<ChainFailure>,
}
