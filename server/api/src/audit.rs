//! The tamper-evident audit log: one hash chain per tenant.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::api_keys::Environment;
use crate::ids::{AgentId, AuditEntryId, IntentId, TenantId};
use crate::intents::{Reason, StageName, Verdict};
use crate::operators::Person;
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
    /// A policy draft was created or saved.
    PolicyDraftSaved,
    /// A policy draft was deleted.
    PolicyDraftDeleted,
    /// A bundle was promoted: it decides from then on.
    PolicyPromoted,
    /// The previous bundle was restored.
    PolicyRolledBack,
    /// A promotion was proposed (two-person rule).
    PolicyProposed,
    /// A proposed promotion was rejected.
    PolicyProposalRejected,
    /// An integration (audit sink or notification channel) was added.
    IntegrationCreated,
    /// An integration's settings changed, or it was turned on or off.
    IntegrationUpdated,
    /// An integration was removed.
    IntegrationDeleted,
    /// A sink's dead letters were marked to be sent again.
    DeadLettersRedriven,
    /// A tenant's operator access changed (provider, role mappings, step-up).
    OperatorAccessChanged,
    /// A tenant's SCIM token was issued or replaced.
    ScimTokenRotated,
    /// A person's sessions were ended and their tokens cut off.
    OperatorSessionsEnded,
    /// SCIM provisioned a person.
    ScimUserCreated,
    /// SCIM changed a person (including deactivating them).
    ScimUserUpdated,
    /// SCIM deleted a person.
    ScimUserDeleted,
    /// SCIM created a group.
    ScimGroupCreated,
    /// SCIM changed a group (its name or members).
    ScimGroupUpdated,
    /// SCIM deleted a group.
    ScimGroupDeleted,
    /// A discovered agent was reviewed, owned or linked to a registered agent.
    DiscoveredAgentUpdated,
    /// An owner attested that a discovered agent's access is still needed.
    DiscoveredAgentAttested,
    /// A tenant's discovery settings changed (the attestation interval).
    DiscoverySettingsChanged,
    /// A tenant added or replaced one of its own AI services.
    DiscoveryServiceSaved,
    /// A tenant removed one of its own AI services.
    DiscoveryServiceDeleted,
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
            AuditKind::PolicyDraftSaved => "policy_draft_saved",
            AuditKind::PolicyDraftDeleted => "policy_draft_deleted",
            AuditKind::PolicyPromoted => "policy_promoted",
            AuditKind::PolicyRolledBack => "policy_rolled_back",
            AuditKind::PolicyProposed => "policy_proposed",
            AuditKind::PolicyProposalRejected => "policy_proposal_rejected",
            AuditKind::IntegrationCreated => "integration_created",
            AuditKind::IntegrationUpdated => "integration_updated",
            AuditKind::IntegrationDeleted => "integration_deleted",
            AuditKind::DeadLettersRedriven => "dead_letters_redriven",
            AuditKind::OperatorAccessChanged => "operator_access_changed",
            AuditKind::ScimTokenRotated => "scim_token_rotated",
            AuditKind::OperatorSessionsEnded => "operator_sessions_ended",
            AuditKind::ScimUserCreated => "scim_user_created",
            AuditKind::ScimUserUpdated => "scim_user_updated",
            AuditKind::ScimUserDeleted => "scim_user_deleted",
            AuditKind::ScimGroupCreated => "scim_group_created",
            AuditKind::ScimGroupUpdated => "scim_group_updated",
            AuditKind::ScimGroupDeleted => "scim_group_deleted",
            AuditKind::DiscoveredAgentUpdated => "discovered_agent_updated",
            AuditKind::DiscoveredAgentAttested => "discovered_agent_attested",
            AuditKind::DiscoverySettingsChanged => "discovery_settings_changed",
            AuditKind::DiscoveryServiceSaved => "discovery_service_saved",
            AuditKind::DiscoveryServiceDeleted => "discovery_service_deleted",
        }
    }

    /// Every kind.
    pub const ALL: [AuditKind; 39] = [
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
        AuditKind::PolicyDraftSaved,
        AuditKind::PolicyDraftDeleted,
        AuditKind::PolicyPromoted,
        AuditKind::PolicyRolledBack,
        AuditKind::PolicyProposed,
        AuditKind::PolicyProposalRejected,
        AuditKind::IntegrationCreated,
        AuditKind::IntegrationUpdated,
        AuditKind::IntegrationDeleted,
        AuditKind::DeadLettersRedriven,
        AuditKind::OperatorAccessChanged,
        AuditKind::ScimTokenRotated,
        AuditKind::OperatorSessionsEnded,
        AuditKind::ScimUserCreated,
        AuditKind::ScimUserUpdated,
        AuditKind::ScimUserDeleted,
        AuditKind::ScimGroupCreated,
        AuditKind::ScimGroupUpdated,
        AuditKind::ScimGroupDeleted,
        AuditKind::DiscoveredAgentUpdated,
        AuditKind::DiscoveredAgentAttested,
        AuditKind::DiscoverySettingsChanged,
        AuditKind::DiscoveryServiceSaved,
        AuditKind::DiscoveryServiceDeleted,
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
    /// When it was written: RFC 3339 in UTC with exactly six fractional
    /// digits, as the hash covers it.
    #[serde(with = "rfc3339_micros")]
    #[schemars(with = "DateTime<Utc>")]
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
    /// The person who acted, as their identity provider names them: a
    /// person signed in through OpenID Connect, or the person whose API key
    /// it was (absent for capability tokens, keys the superadmin key made,
    /// SCIM and the gateway's own entries, and in entries written before
    /// the field existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person: Option<Person>,
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
    #[schemars(range(min = 1, max = 500))]
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
    #[schemars(range(min = 1, max = 500))]
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
    /// Verify from this entry on (default 1): the entries before it are
    /// trusted through the proof that this one is in the checkpoint.
    #[schemars(range(min = 1))]
    pub from_seq: Option<u64>,
    /// Verify up to this entry (default: the head).
    #[schemars(range(min = 1))]
    pub to_seq: Option<u64>,
}

/// A signed checkpoint of a tenant's audit tree: a C2SP `tlog-checkpoint`
/// signed as a C2SP `signed-note` with Ed25519 (see `docs/audit.md`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AuditCheckpoint {
    /// The tenant.
    pub tenant: TenantId,
    /// The log's name in the note (`<gateway origin>/tenants/<tenant>`).
    pub origin: String,
    /// Entries covered (seq 1 to `tree_size`).
    pub tree_size: u64,
    /// RFC 6962 root hash of those entries' hashes (hex).
    pub root_hash: String,
    /// When it was signed.
    pub signed_at: DateTime<Utc>,
    /// The signing key's id (8 hex digits; see `/.well-known/lictor/keys`).
    pub key_id: String,
    /// The signed note, verbatim.
    pub note: String,
}

page_type!(
    /// A page of checkpoints, largest first.
    AuditCheckpointPage, AuditCheckpoint
);

/// Query parameters of `GET /v1/admin/audit/checkpoints`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckpointListParams {
    /// The tenant (required for the superadmin key).
    pub tenant: Option<TenantId>,
    /// Page size (1–500, default 50).
    #[schemars(range(min = 1, max = 500))]
    pub limit: Option<u32>,
    /// Cursor from the previous page.
    pub cursor: Option<String>,
}

/// Query parameters of `GET /v1/admin/audit/proof/inclusion`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InclusionProofParams {
    /// The tenant (required for the superadmin key).
    pub tenant: Option<TenantId>,
    /// The entry.
    #[schemars(range(min = 1))]
    pub seq: u64,
    /// The tree to prove it in (default: the latest checkpoint's).
    #[schemars(range(min = 1))]
    pub tree_size: Option<u64>,
}

/// An RFC 6962 inclusion proof of an entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct InclusionProof {
    /// The tenant.
    pub tenant: TenantId,
    /// The entry.
    pub seq: u64,
    /// Its leaf index (`seq - 1`).
    pub leaf_index: u64,
    /// The tree size the proof is for.
    pub tree_size: u64,
    /// The entry's hash (the leaf's data).
    pub entry_hash: String,
    /// The leaf hash, SHA-256(0x00 ‖ entry hash) (hex).
    pub leaf_hash: String,
    /// The tree's root hash (hex).
    pub root_hash: String,
    /// The audit path, bottom up (hex).
    pub proof: Vec<String>,
    /// The signed checkpoint of that size, when there is one.
    pub checkpoint: Option<AuditCheckpoint>,
}

/// Query parameters of `GET /v1/admin/audit/proof/consistency`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsistencyProofParams {
    /// The tenant (required for the superadmin key).
    pub tenant: Option<TenantId>,
    /// The older tree size (at least 1).
    #[schemars(range(min = 1))]
    pub from: u64,
    /// The newer tree size (default: the latest checkpoint's).
    #[schemars(range(min = 1))]
    pub to: Option<u64>,
}

/// An RFC 6962 consistency proof between two tree sizes: the newer tree
/// extends the older one without changing any of its entries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ConsistencyProof {
    /// The tenant.
    pub tenant: TenantId,
    /// The older size.
    pub from: u64,
    /// The newer size.
    pub to: u64,
    /// The older tree's root hash (hex).
    pub from_root: String,
    /// The newer tree's root hash (hex).
    pub to_root: String,
    /// The proof (hex).
    pub proof: Vec<String>,
}

/// A public key of the gateway.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PublicKey {
    /// What it signs (`audit-checkpoint`).
    pub purpose: String,
    /// `ed25519`.
    pub algorithm: String,
    /// The signer name in signed notes.
    pub name: String,
    /// The note key id (8 hex digits).
    pub key_id: String,
    /// The raw public key (base64).
    pub public_key: String,
    /// The C2SP note verifier key, `<name>+<key id>+<base64(0x01 ‖ key)>`.
    pub vkey: String,
    /// When the key was created.
    pub created_at: DateTime<Utc>,
}

/// Answer to `GET /.well-known/lictor/keys`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PublicKeys {
    /// Every key the gateway's signatures may come from, newest first.
    pub keys: Vec<PublicKey>,
}

/// Query parameters naming a payload.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PayloadParams {
    /// The tenant (required for the superadmin key).
    pub tenant: Option<TenantId>,
    /// Why it is erased (recorded; erasure only; at most 500 characters).
    #[schemars(length(max = 500))]
    pub reason: Option<String>,
}

/// Path parameters naming a payload.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
pub struct PayloadPath {
    /// The payload's SHA-256 (64 lowercase hex digits), as in the entries'
    /// `payload_digest`.
    #[schemars(regex(pattern = "^[0-9a-f]{64}$"))]
    pub digest: String,
}

/// A payload stored apart from the chain.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AuditPayload {
    /// Its digest.
    pub digest: String,
    /// The payload (absent once erased).
    pub body: Option<serde_json::Value>,
    /// When it was erased.
    pub erased_at: Option<DateTime<Utc>>,
    /// Who erased it.
    pub erased_by: Option<String>,
}

/// Query parameters of `GET /v1/admin/audit/export`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExportParams {
    /// The tenant (required for the superadmin key).
    pub tenant: Option<TenantId>,
    /// `ndjson` (default) or `csv`.
    pub format: Option<ExportFormatName>,
}

/// The formats of an export.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExportFormatName {
    /// One JSON object per line.
    #[default]
    Ndjson,
    /// RFC 4180 CSV.
    Csv,
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
    /// `hash_mismatch`, `broken_link`, `sequence_gap`, `head_mismatch`,
    /// `undecodable_entry`, `checkpoint_mismatch` (the entries do not have
    /// the signed root), `truncated` (fewer entries than a checkpoint
    /// covers), `bad_checkpoint` (a checkpoint whose signature does not
    /// verify), `unsealed_head` (the chain's head does not carry the
    /// gateway's seal: entries were appended, rewritten or cut outside the
    /// gateway), `tree_mismatch` (the stored tree is not the entries' tree)
    /// or `not_in_checkpoint` (a range's first or last entry is not in the
    /// signed tree).
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
    /// The latest signed checkpoint, checked against the entries.
    pub checkpoint: Option<AuditCheckpoint>,
    /// The range verified (`from_seq`–`to_seq`), when one was asked for.
    pub range: Option<SeqRange>,
    /// The first failure, if any.
    pub first_failure: Option<ChainFailure>,
}

/// A range of entries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SeqRange {
    /// First entry.
    pub from_seq: u64,
    /// Last entry.
    pub to_seq: u64,
}

/// Timestamps written exactly as the entry hash covers them
/// (`2026-11-22T10:00:00.123000Z`): the default form drops trailing zero
/// digits, which would change the canonical text.
mod rfc3339_micros {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(time: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&time.format("%Y-%m-%dT%H:%M:%S%.6fZ"))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<DateTime<Utc>, D::Error> {
        DateTime::<Utc>::deserialize(deserializer)
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn six_digits_always() {
            let time = chrono::DateTime::parse_from_rfc3339("2026-11-22T10:00:00.120Z").unwrap().to_utc();
            let mut out = Vec::new();
            super::serialize(&time, &mut serde_json::Serializer::new(&mut out)).unwrap();
            assert_eq!(String::from_utf8(out).unwrap(), "\"2026-11-22T10:00:00.120000Z\"");
        }
    }
}
