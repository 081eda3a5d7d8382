//! The policy lifecycle: drafts, dry-runs, promotion, rollback and
//! two-person proposals.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::ids::{AgentId, IntentId, PolicyDraftId, PolicyProposalId, TenantId};
use crate::intents::{Alternative, AuditRef, PatchOperation, Verdict};
use crate::pagination::page_type;
use crate::text::{Description, Label};

/// Body of `POST /v1/admin/policies/drafts` and of `PUT` on a draft (which
/// replaces it whole).
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyDraftWrite {
    /// Display name.
    pub name: Label,
    /// What the policy is for.
    #[serde(default)]
    pub description: Option<Description>,
    /// Rego v1 modules by file name (letters, digits and `_ - . /`, ending
    /// in `.rego`; 1 to 64, not all of them tests).
    /// Files ending in `_test.rego` are unit tests: kept with the draft,
    /// never part of decisions or of the bundle hash. One module must define
    /// `data.lictor.decision`.
    #[schemars(schema_with = "crate::policies::modules_schema")]
    pub modules: BTreeMap<String, String>,
    /// The data document the modules read as `data` (an object).
    #[serde(default)]
    pub data: Option<Map<String, Value>>,
}

/// A draft.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct PolicyDraft {
    /// Identifier.
    pub id: PolicyDraftId,
    /// The owning tenant.
    pub tenant: TenantId,
    /// Display name.
    pub name: String,
    /// What the policy is for.
    pub description: Option<String>,
    /// Modules by file name, test modules included.
    pub modules: BTreeMap<String, String>,
    /// The data document.
    pub data: Map<String, Value>,
    /// SHA-256 (hex) of the bundle the draft makes: the RFC 8785 canonical
    /// JSON of `{"data": …, "modules": {…}}` without test modules.
    pub bundle_hash: String,
    /// Whether this draft's bundle decides now (it cannot be changed).
    pub active: bool,
    /// Whether a rollback would return to it (it cannot be changed).
    pub rollback_target: bool,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// Who created it.
    pub created_by: String,
    /// When it was last saved.
    pub updated_at: DateTime<Utc>,
    /// Who saved it last.
    pub updated_by: String,
}

/// A draft in a list (without its modules).
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct PolicyDraftSummary {
    /// Identifier.
    pub id: PolicyDraftId,
    /// The owning tenant.
    pub tenant: TenantId,
    /// Display name.
    pub name: String,
    /// What the policy is for.
    pub description: Option<String>,
    /// The bundle hash.
    pub bundle_hash: String,
    /// File names of its modules.
    pub files: Vec<String>,
    /// Whether its bundle decides now.
    pub active: bool,
    /// Whether a rollback would return to it.
    pub rollback_target: bool,
    /// When it was last saved.
    pub updated_at: DateTime<Utc>,
    /// Who saved it last.
    pub updated_by: String,
}

page_type!(
    /// A page of drafts, oldest first.
    PolicyDraftPage, PolicyDraftSummary
);

/// Path parameters naming a draft.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
pub struct PolicyDraftPath {
    /// The draft.
    pub draft_id: PolicyDraftId,
}

/// Query parameters of `GET /v1/admin/policies/drafts`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyDraftListParams {
    /// The tenant (see `TenantScope`).
    pub tenant: Option<TenantId>,
    /// Page size (1–500, default 50).
    #[schemars(range(min = 1, max = 500))]
    pub limit: Option<u32>,
    /// Cursor from the previous page.
    pub cursor: Option<String>,
}

/// Recorded decisions to replay in a dry-run.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HistoryReplay {
    /// Decisions made at or after this time (default: 24 hours before `to`).
    #[serde(default)]
    pub from: Option<DateTime<Utc>>,
    /// Decisions made before this time (default: now).
    #[serde(default)]
    pub to: Option<DateTime<Utc>>,
    /// Only this agent's decisions.
    #[serde(default)]
    pub agent_id: Option<AgentId>,
    /// At most this many decisions, newest first (1–5000, default 1000).
    #[serde(default)]
    #[schemars(range(min = 1, max = 5000))]
    pub limit: Option<u32>,
}

/// Body of `POST /v1/admin/policies/dry-run`: a candidate (`draft_id`, or
/// `modules` with optional `data`) and what to evaluate it on.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyDryRunRequest {
    /// A saved draft to evaluate.
    #[serde(default)]
    pub draft_id: Option<PolicyDraftId>,
    /// Modules to evaluate, unsaved (instead of `draft_id`).
    #[serde(default)]
    #[schemars(schema_with = "crate::policies::optional_modules_schema")]
    pub modules: Option<BTreeMap<String, String>>,
    /// The data document for `modules`.
    #[serde(default)]
    pub data: Option<Map<String, Value>>,
    /// Synthetic input documents (the shape policies see; at most 100),
    /// each a JSON object.
    #[serde(default)]
    #[schemars(with = "Vec<Map<String, Value>>", length(max = 100))]
    pub inputs: Vec<Value>,
    /// Recorded decisions to replay on their recorded inputs.
    #[serde(default)]
    pub history: Option<HistoryReplay>,
}

/// A reason a policy gave.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PolicyReason {
    /// Stable code.
    pub code: String,
    /// Explanation.
    pub message: String,
}

/// The candidate's answer to one input. An evaluation error (`error`) is a
/// `block`, as it would be in the pipeline.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct PolicyEvaluation {
    /// The verdict.
    pub verdict: Verdict,
    /// Every reason.
    pub reasons: Vec<PolicyReason>,
    /// The patch on the payload (`approve_modified`, `escalate`).
    pub patch: Vec<PatchOperation>,
    /// What the agent could do instead, as the policy suggests it.
    #[serde(default)]
    pub alternatives: Vec<Alternative>,
    /// Why evaluation failed (`policy_evaluation_error`, `policy_limit_exceeded`,
    /// `policy_undefined`, `policy_malformed_output`).
    pub error: Option<PolicyReason>,
    /// Evaluation time in microseconds.
    pub duration_us: u64,
}

/// A recorded decision whose policy verdict the candidate changes.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct ReplaySample {
    /// The recorded intent.
    pub intent_id: IntentId,
    /// Its agent.
    pub agent_id: AgentId,
    /// When it was decided.
    pub decided_at: DateTime<Utc>,
    /// The bundle that decided it.
    pub recorded_bundle_hash: String,
    /// The candidate's reasons.
    pub reasons: Vec<PolicyReason>,
}

/// How many replayed decisions went from one policy verdict to another.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct VerdictChange {
    /// The recorded policy verdict.
    pub from: Verdict,
    /// The candidate's verdict.
    pub to: Verdict,
    /// How many.
    pub count: u64,
    /// Up to 10 of them, newest first.
    pub samples: Vec<ReplaySample>,
}

/// The replay of recorded decisions.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct HistoryDiff {
    /// The window replayed.
    pub from: DateTime<Utc>,
    /// The window's end.
    pub to: DateTime<Utc>,
    /// Decisions in the window that reached the policy stage and were
    /// replayed on their recorded input.
    pub replayed: u64,
    /// Decisions in the window decided before the policy stage (bad
    /// credentials, capability, suspended agent): no policy would change them.
    pub skipped: u64,
    /// Replayed decisions with the same policy verdict.
    pub unchanged: u64,
    /// Replayed decisions with another policy verdict.
    pub changed: u64,
    /// Replayed decisions on which the candidate failed (counted as `block`).
    pub errors: u64,
    /// Whether `limit` cut the window short (the oldest were left out).
    pub truncated: bool,
    /// The changes by (from, to), most frequent first.
    pub changes: Vec<VerdictChange>,
    /// The candidate's verdicts over the replayed decisions.
    pub verdicts: BTreeMap<String, u64>,
}

/// Something about the candidate worth a second look.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct DryRunWarning {
    /// `mass_block` (blocks at least half of what was allowed),
    /// `allows_everything` (approves every evaluated input, including
    /// recorded blocks), `policy_errors` (fails on some inputs),
    /// `no_history` (nothing to replay in the window),
    /// `history_truncated` (`limit` left decisions out).
    pub code: String,
    /// Explanation with the figures.
    pub message: String,
}

/// Answer of `POST /v1/admin/policies/dry-run`.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct PolicyDryRun {
    /// The candidate's bundle hash.
    pub bundle_hash: String,
    /// The bundle deciding for the tenant now.
    pub active_bundle_hash: String,
    /// One evaluation per synthetic input, in order.
    pub inputs: Vec<PolicyEvaluation>,
    /// The replay, when `history` was asked for.
    pub history: Option<HistoryDiff>,
    /// Warnings.
    pub warnings: Vec<DryRunWarning>,
}

/// Where a bundle came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PolicySource {
    /// The bundle built into the gateway (`policies/default`).
    Default,
    /// A tenant's draft.
    Draft,
}

/// One bundle in the active slot or the rollback slot.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PolicyVersion {
    /// Its hash.
    pub bundle_hash: String,
    /// Its name.
    pub bundle_name: String,
    /// Where it came from.
    pub source: PolicySource,
    /// The draft it was promoted from (it may have been deleted since, if
    /// it is neither active nor the rollback target).
    pub draft_id: Option<PolicyDraftId>,
    /// Who promoted it (absent for the built-in default never promoted).
    pub promoted_by: Option<String>,
    /// When.
    pub promoted_at: Option<DateTime<Utc>>,
}

/// Answer of `GET /v1/admin/policies/active`.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct ActivePolicy {
    /// The tenant.
    pub tenant: TenantId,
    /// What decides now.
    pub current: PolicyVersion,
    /// What a rollback returns to.
    pub previous: Option<PolicyVersion>,
    /// Grows with every promotion and rollback.
    pub generation: u64,
    /// Whether promotions need a second administrator.
    pub two_person_rule: bool,
}

/// Body of `POST /v1/admin/policies/active`.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyPromote {
    /// The draft to promote.
    pub draft_id: PolicyDraftId,
    /// Its bundle hash as last seen: the promotion is refused (409) if the
    /// draft changed since.
    #[schemars(regex(pattern = "^[0-9a-f]{64}$"))]
    pub expected_hash: String,
}

/// Body of `POST /v1/admin/policies/rollback`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyRollback {
    /// The active bundle hash as last seen: the rollback is refused (409)
    /// if another change came first.
    #[serde(default)]
    #[schemars(regex(pattern = "^[0-9a-f]{64}$"))]
    pub expected_hash: Option<String>,
}

/// What a lifecycle request did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PolicyChangeOutcome {
    /// The bundle decides from now on.
    Promoted,
    /// A proposal waits for a second administrator (two-person rule).
    Proposed,
    /// The previous bundle decides again.
    RolledBack,
    /// The proposal was rejected.
    Rejected,
}

/// Status of a proposal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProposalStatus {
    /// Waiting for a second administrator.
    Pending,
    /// Approved: the bundle was promoted.
    Approved,
    /// Rejected.
    Rejected,
}

impl ProposalStatus {
    /// The wire string.
    pub const fn as_str(self) -> &'static str {
        match self {
            ProposalStatus::Pending => "pending",
            ProposalStatus::Approved => "approved",
            ProposalStatus::Rejected => "rejected",
        }
    }

    /// Parses the wire string.
    pub fn parse(s: &str) -> Option<ProposalStatus> {
        [ProposalStatus::Pending, ProposalStatus::Approved, ProposalStatus::Rejected]
            .into_iter()
            .find(|p| p.as_str() == s)
    }
}

/// A promotion waiting for (or decided by) a second administrator.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct PolicyProposal {
    /// Identifier.
    pub id: PolicyProposalId,
    /// The tenant.
    pub tenant: TenantId,
    /// The draft proposed.
    pub draft_id: PolicyDraftId,
    /// Its bundle hash when proposed: what is promoted on approval.
    pub bundle_hash: String,
    /// Its name.
    pub bundle_name: String,
    /// Who proposed it.
    pub proposed_by: String,
    /// When.
    pub proposed_at: DateTime<Utc>,
    /// Status.
    pub status: ProposalStatus,
    /// Who approved or rejected it.
    pub decided_by: Option<String>,
    /// When.
    pub decided_at: Option<DateTime<Utc>>,
}

page_type!(
    /// A page of proposals, newest first.
    PolicyProposalPage, PolicyProposal
);

/// Path parameters naming a proposal.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
pub struct PolicyProposalPath {
    /// The proposal.
    pub proposal_id: PolicyProposalId,
}

/// Query parameters of `GET /v1/admin/policies/proposals`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyProposalListParams {
    /// The tenant (see `TenantScope`).
    pub tenant: Option<TenantId>,
    /// Only proposals with this status.
    pub status: Option<ProposalStatus>,
    /// Page size (1–500, default 50).
    #[schemars(range(min = 1, max = 500))]
    pub limit: Option<u32>,
    /// Cursor from the previous page.
    pub cursor: Option<String>,
}

/// Answer of promotion, rollback and proposal decisions.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct PolicyChange {
    /// What happened.
    pub outcome: PolicyChangeOutcome,
    /// The tenant's policy afterwards.
    pub active: ActivePolicy,
    /// The proposal made or decided (two-person rule).
    pub proposal: Option<PolicyProposal>,
    /// The audit entry recording the change.
    pub audit: AuditRef,
}

/// A starting point for a tenant's policy (`policies/templates`).
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct PolicyTemplate {
    /// Name.
    pub name: String,
    /// What it does.
    pub description: String,
    /// Its files: modules (tests included) and `data.json`.
    pub files: BTreeMap<String, String>,
    /// The hash of the bundle it makes as is.
    pub bundle_hash: String,
}

/// Answer of `GET /v1/admin/policies/templates`.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct PolicyTemplateList {
    /// Every template, by name.
    pub items: Vec<PolicyTemplate>,
}

/// Most modules in a bundle.
pub const MAX_MODULES: u32 = 64;

/// A bundle's modules: 1 to [`MAX_MODULES`]. The rules on their file names
/// (letters, digits and `_ - . /`, ending in `.rego`, neither absolute nor
/// climbing) and that they must not all be tests are checked, not stated:
/// OpenAPI 3.0 has no way to constrain a map's keys.
pub(crate) fn modules_schema(_: &mut schemars::r#gen::SchemaGenerator) -> schemars::schema::Schema {
    use schemars::schema::{InstanceType, ObjectValidation, Schema, SchemaObject};
    let string = SchemaObject { instance_type: Some(InstanceType::String.into()), ..Default::default() };
    Schema::Object(SchemaObject {
        instance_type: Some(InstanceType::Object.into()),
        object: Some(Box::new(ObjectValidation {
            min_properties: Some(1),
            max_properties: Some(MAX_MODULES),
            additional_properties: Some(Box::new(Schema::Object(string))),
            ..Default::default()
        })),
        ..Default::default()
    })
}

/// [`modules_schema`], for an optional field (`null` allowed).
pub(crate) fn optional_modules_schema(
    generator: &mut schemars::r#gen::SchemaGenerator,
) -> schemars::schema::Schema {
    let mut schema = modules_schema(generator);
    if let schemars::schema::Schema::Object(object) = &mut schema {
        object.extensions.insert("nullable".into(), serde_json::Value::Bool(true));
    }
    schema
}
