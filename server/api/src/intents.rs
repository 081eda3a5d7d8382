//! Intents and decisions: an agent declares what it is about to do and the
//! gateway answers with a verdict.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::api_keys::Environment;
use crate::error::ApiError;
use crate::extract::Lenient;
use crate::ids::{AgentId, ApprovalId, AuditEntryId, IntentId, TenantId, id_type};
use crate::money::UsdAmount;
use crate::pagination::page_type;
use crate::tenants::PolicyRef;
use crate::text::{Description, Identifier, Label};

fn verb_first(c: char) -> bool {
    c.is_ascii_alphabetic()
}

fn verb_rest(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '-')
}

fn domain_first(c: char) -> bool {
    c.is_ascii_alphanumeric()
}

fn domain_rest(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')
}

id_type!(
    /// The verb of an action (`send`, `delete`, `transfer`, …): a letter, then
    /// letters, digits and `_ . : -`. Policies compare verbs case-insensitively.
    Verb, kind = "verb", max = 64, pattern = "^[A-Za-z][A-Za-z0-9_.:-]{0,63}$",
    first = verb_first, rest = verb_rest
);

id_type!(
    /// A regulatory domain tag (`gdpr`, `hipaa`, `pci`, `sox`, …). Compared
    /// case-insensitively.
    RegulatoryDomain, kind = "regulatory domain", max = 32,
    pattern = "^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$",
    first = domain_first, rest = domain_rest
);

/// The kind of action an agent intends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActionType {
    /// Send a message to people (email, chat, SMS).
    Communicate,
    /// Move money or commit to a purchase.
    Transact,
    /// Read data.
    Access,
    /// Change the state of a system (deploy, restart, configure).
    Control,
    /// Make content public or broadcast it.
    Publish,
    /// Suggest something to a person who decides.
    Recommend,
    /// Create, change or delete records.
    Modify,
}

impl ActionType {
    /// Every action type.
    pub const ALL: [ActionType; 7] = [
        ActionType::Communicate,
        ActionType::Transact,
        ActionType::Access,
        ActionType::Control,
        ActionType::Publish,
        ActionType::Recommend,
        ActionType::Modify,
    ];

    /// The wire string.
    pub const fn as_str(self) -> &'static str {
        match self {
            ActionType::Communicate => "communicate",
            ActionType::Transact => "transact",
            ActionType::Access => "access",
            ActionType::Control => "control",
            ActionType::Publish => "publish",
            ActionType::Recommend => "recommend",
            ActionType::Modify => "modify",
        }
    }

    /// Parses the wire string.
    pub fn parse(s: &str) -> Option<ActionType> {
        ActionType::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// How sensitive the target of an action is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Sensitivity {
    /// Anyone may see it.
    Public,
    /// Inside the organisation.
    Internal,
    /// A need-to-know group.
    Confidential,
    /// The most protected data (secrets, regulated records).
    Restricted,
}

impl Sensitivity {
    /// The wire string.
    pub const fn as_str(self) -> &'static str {
        match self {
            Sensitivity::Public => "public",
            Sensitivity::Internal => "internal",
            Sensitivity::Confidential => "confidential",
            Sensitivity::Restricted => "restricted",
        }
    }
}

/// The agent declaring the intent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentRef {
    /// The agent's id in the tenant's registry.
    pub id: AgentId,
    /// The framework the agent runs on (`langchain`, `openai-agents`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub framework: Option<Label>,
}

/// What the action is applied to.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Target {
    /// The kind of target (`email`, `database`, `account`, …).
    #[serde(rename = "type")]
    pub target_type: Label,
    /// Which one (an address, a table, an account number, …).
    pub identifier: Identifier,
    /// How sensitive it is (risk treats an absent value as `internal`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sensitivity: Option<Sensitivity>,
}

/// The caller's estimate of what the action could cost or reach.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EstimatedImpact {
    /// Whether the action can be undone (absent: unknown).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reversible: Option<bool>,
    /// Money at stake, in US dollars.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub financial_exposure_usd: Option<UsdAmount>,
    /// How many people or records the action reaches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience_size: Option<u64>,
    /// Regulatory regimes the action falls under (at most 32).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 32))]
    pub regulatory_domains: Option<Vec<RegulatoryDomain>>,
}

/// The content of the action.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Payload {
    /// One-line summary for humans (approvers, audit readers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// The content itself (message body, query, document): any JSON value,
    /// a string or a structured object such as `{"recipient": …,
    /// "channel": "email", "message_body": …}`. `null` is read as absent.
    /// Policies read every string inside it (the default bundle redacts
    /// card numbers and SSNs at their JSON Pointer, e.g.
    /// `/content/message_body`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<serde_json::Value>,
    /// Structured arguments (a tool call's arguments land here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arguments: Option<serde_json::Map<String, serde_json::Value>>,
    /// What the action could cost or reach.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimated_impact: Option<EstimatedImpact>,
}

/// The action an agent intends to take.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Action {
    /// The kind of action.
    #[serde(rename = "type")]
    pub action_type: ActionType,
    /// The verb (`send`, `delete`, `transfer`, …).
    pub verb: Verb,
    /// What it is applied to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<Target>,
    /// Its content and estimated impact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<Payload>,
}

/// An intent: who wants to do what.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Intent {
    /// The agent.
    pub agent: AgentRef,
    /// The action.
    pub action: Action,
}

/// Body of `POST /v1/intents`. Only `intent.agent.id`,
/// `intent.action.type` and `intent.action.verb` are required.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IntentRequest {
    /// The intent.
    pub intent: Intent,
    /// Free-form context handed to policy as `input.intent.context`
    /// (conversation id, user, ticket, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<serde_json::Map<String, serde_json::Value>>,
}

/// Body of `POST /v1/intents/async`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AsyncIntentRequest {
    /// The intent.
    pub intent: Intent,
    /// Free-form context handed to policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<serde_json::Map<String, serde_json::Value>>,
    /// Where to POST the Decision once made (`http` or `https`), signed
    /// with the tenant's webhook secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_url: Option<CallbackUrl>,
}

/// An absolute `http` or `https` URL of at most 2048 characters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(try_from = "String", into = "String")]
pub struct CallbackUrl(#[schemars(length(min = 1, max = 2048), url)] String);

impl CallbackUrl {
    /// Validates `value`.
    pub fn parse(value: impl Into<String>) -> Result<CallbackUrl, String> {
        let value = value.into();
        if value.len() > 2048 {
            return Err("callback url must be at most 2048 characters".into());
        }
        let uri: http::Uri = value.parse().map_err(|e| format!("invalid callback url `{value}`: {e}"))?;
        match uri.scheme_str() {
            Some("http") | Some("https") => {}
            _ => return Err(format!("callback url `{value}` must use http or https")),
        }
        if uri.host().is_none_or(str::is_empty) {
            return Err(format!("callback url `{value}` has no host"));
        }
        Ok(CallbackUrl(value))
    }

    /// The URL as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for CallbackUrl {
    type Error = String;
    fn try_from(value: String) -> Result<CallbackUrl, String> {
        CallbackUrl::parse(value)
    }
}

impl From<CallbackUrl> for String {
    fn from(v: CallbackUrl) -> String {
        v.0
    }
}

/// The gateway's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Go ahead.
    Approve,
    /// Go ahead with the modified payload in `modifications`.
    ApproveModified,
    /// Wait: a human must approve first.
    Escalate,
    /// Do not do it.
    Block,
}

impl Verdict {
    /// The wire string.
    pub const fn as_str(self) -> &'static str {
        match self {
            Verdict::Approve => "approve",
            Verdict::ApproveModified => "approve_modified",
            Verdict::Escalate => "escalate",
            Verdict::Block => "block",
        }
    }

    /// Parses the wire string.
    pub fn parse(s: &str) -> Option<Verdict> {
        [Verdict::Approve, Verdict::ApproveModified, Verdict::Escalate, Verdict::Block]
            .into_iter()
            .find(|v| v.as_str() == s)
    }

    /// Whether the agent may go ahead (possibly with modifications).
    pub const fn allows(self) -> bool {
        matches!(self, Verdict::Approve | Verdict::ApproveModified)
    }
}

/// A stage of the decision pipeline, in the order they run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StageName {
    /// The credentials were checked.
    Authenticate,
    /// The request was validated against the schema.
    Validate,
    /// The agent exists, is active and may be named by this key.
    Identity,
    /// The capability token's caveats allow the request (skipped for API keys).
    Capability,
    /// The risk score was computed.
    Risk,
    /// The tenant's Rego bundle was evaluated.
    Policy,
    /// The agent's rolling budget was checked.
    Budget,
    /// The verdict was settled.
    Decide,
    /// The decision was written to the audit log.
    Audit,
}

impl StageName {
    /// Every stage, in pipeline order.
    pub const ALL: [StageName; 9] = [
        StageName::Authenticate,
        StageName::Validate,
        StageName::Identity,
        StageName::Capability,
        StageName::Risk,
        StageName::Policy,
        StageName::Budget,
        StageName::Decide,
        StageName::Audit,
    ];

    /// The wire string.
    pub const fn as_str(self) -> &'static str {
        match self {
            StageName::Authenticate => "authenticate",
            StageName::Validate => "validate",
            StageName::Identity => "identity",
            StageName::Capability => "capability",
            StageName::Risk => "risk",
            StageName::Policy => "policy",
            StageName::Budget => "budget",
            StageName::Decide => "decide",
            StageName::Audit => "audit",
        }
    }

    /// Parses the wire string.
    pub fn parse(s: &str) -> Option<StageName> {
        StageName::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// How a stage ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StageOutcome {
    /// The stage let the intent through.
    Pass,
    /// The stage blocked the intent.
    Fail,
    /// The stage did not run (an earlier stage settled the verdict, or the
    /// environment does not use it).
    Skip,
    /// The stage asked for human approval.
    Escalate,
}

/// One stage's report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StageReport {
    /// The stage.
    pub name: StageName,
    /// How it ended.
    pub outcome: StageOutcome,
    /// How long it took, in microseconds.
    pub duration_us: u64,
}

/// Why a verdict was reached. Every matching rule reports one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Reason {
    /// The stage that produced it.
    pub stage: StageName,
    /// Stable machine-readable code (`unknown_agent`, `transact_over_limit`, …).
    pub code: String,
    /// Human-readable explanation.
    pub message: String,
}

/// Risk level bands of the score.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RiskLevel {
    /// Score below 0.25.
    Low,
    /// Score from 0.25 to below 0.5.
    Medium,
    /// Score from 0.5 to below 0.75.
    High,
    /// Score of 0.75 or more.
    Critical,
}

/// One input to the risk score.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RiskFactor {
    /// The factor (`reversibility`, `financial_exposure`, `audience_size`,
    /// `target_sensitivity`, `regulatory_domains`, `action_type`).
    pub name: String,
    /// The factor's normalised value in [0, 1].
    pub value: f64,
    /// Its weight in the score (weights sum to 1).
    pub weight: f64,
    /// `value × weight`.
    pub contribution: f64,
    /// What the value was derived from.
    pub detail: String,
}

/// A deterministic risk assessment of the intent (see `docs/risk.md`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Risk {
    /// The score in [0, 1], rounded to 4 decimals.
    pub score: f64,
    /// The band the score falls in.
    pub level: RiskLevel,
    /// The factors, in a fixed order.
    pub factors: Vec<RiskFactor>,
}

/// An RFC 6902 JSON Patch operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PatchOp {
    /// Add a value.
    Add,
    /// Remove a value.
    Remove,
    /// Replace a value.
    Replace,
    /// Move a value.
    Move,
    /// Copy a value.
    Copy,
    /// Check a value.
    Test,
}

/// One operation of an RFC 6902 JSON Patch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchOperation {
    /// The operation.
    pub op: PatchOp,
    /// JSON Pointer to the target location.
    pub path: String,
    /// Source location, for `move` and `copy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// The value, for `add`, `replace` and `test`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<serde_json::Value>,
}

/// For `approve_modified`: what to change before acting.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Modifications {
    /// The RFC 6902 patch, relative to `intent.action.payload`.
    pub patch: Vec<PatchOperation>,
    /// The payload with the patch applied: act on this.
    pub modified_payload: Payload,
}

/// What a suggested alternative needs before it can go ahead.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AlternativeRequirement {
    /// A person approves first: declared, the suggested action is expected
    /// to escalate, and goes ahead once an approver (`role`) approves it.
    Approval,
    /// A person does it instead of the agent: hand the task to `role`.
    Human,
}

impl AlternativeRequirement {
    /// The wire string.
    pub const fn as_str(self) -> &'static str {
        match self {
            AlternativeRequirement::Approval => "approval",
            AlternativeRequirement::Human => "human",
        }
    }
}

/// The target fields a suggested action changes.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TargetChange {
    /// The kind of target.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub target_type: Option<Label>,
    /// Which one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identifier: Option<Identifier>,
    /// How sensitive it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sensitivity: Option<Sensitivity>,
}

/// A suggested action, as the fields that differ from the declared one: an
/// RFC 7396 JSON merge patch of `intent.action`. Apply it to the declared
/// action (objects merge, other values replace) and declare the result.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ActionChange {
    /// Another kind of action.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub action_type: Option<ActionType>,
    /// Another verb.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verb: Option<Verb>,
    /// Target fields to change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<TargetChange>,
    /// Payload fields to change (for example
    /// `{"estimated_impact": {"financial_exposure_usd": 10000}}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<Payload>,
}

/// Something the agent could do instead of what was blocked: a block
/// comes with reasoning (`reasons`) and at least one of these from every
/// rule of the shipped bundles (docs/policies.md).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Alternative {
    /// Stable code of the suggestion (`split_below_limit`,
    /// `hand_to_human`, …), when the policy gives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<Label>,
    /// What to do instead, for the agent and for the people reading the
    /// decision.
    pub description: Description,
    /// The suggested action, as a merge patch of the declared one; absent
    /// when the suggestion is not an action the agent declares (a hand-off).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<ActionChange>,
    /// What it needs before it can go ahead; absent: the agent may declare
    /// it on its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requires: Option<AlternativeRequirement>,
    /// Who approves or acts, when a person must (`payments approver`,
    /// `data owner`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Label>,
}

/// Where the decision sits in the tenant's audit log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AuditRef {
    /// The entry's id.
    pub entry_id: AuditEntryId,
    /// Its position in the tenant's chain (1-based).
    pub seq: u64,
    /// Its hash (hex SHA-256).
    pub hash: String,
}

/// The approval request opened for an escalated decision.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ApprovalRef {
    /// The approval request.
    pub approval_id: ApprovalId,
}

/// The decision on an intent. Every verdict, `block` included, is answered
/// with HTTP 200 and this body.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Decision {
    /// The intent's id.
    pub intent_id: IntentId,
    /// The tenant.
    pub tenant: TenantId,
    /// The agent that declared it.
    pub agent_id: AgentId,
    /// The environment of the key that declared it.
    pub environment: Environment,
    /// The answer to act on.
    pub verdict: Verdict,
    /// `false` in `shadow`: the verdict is always `approve` and the real
    /// one is in `would_be_verdict`.
    pub enforced: bool,
    /// In `shadow`, what the verdict would have been.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub would_be_verdict: Option<Verdict>,
    /// Why, stage by stage; every matching policy rule is listed.
    pub reasons: Vec<Reason>,
    /// For `approve_modified`: the patch and the payload to act on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modifications: Option<Modifications>,
    /// What the agent could do instead: set on a `block` by every rule of
    /// the shipped bundles (a tenant's own policy returns its own), and on
    /// any other verdict whose policy suggests some.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alternatives: Option<Vec<Alternative>>,
    /// The risk assessment.
    pub risk: Risk,
    /// Every stage, in order, with its outcome and duration.
    pub stages: Vec<StageReport>,
    /// The policy bundle that decided.
    pub policy: PolicyRef,
    /// The audit entry (absent in `test`, which writes none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit: Option<AuditRef>,
    /// For an enforced `escalate`: the approval request opened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<ApprovalRef>,
    /// When the decision was made.
    pub decided_at: DateTime<Utc>,
    /// Time from receiving the request to the decision, in microseconds.
    pub latency_us: u64,
}

/// Whether an intent has been decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum IntentStatus {
    /// Accepted, not decided yet.
    Pending,
    /// Decided.
    Decided,
}

impl IntentStatus {
    /// The wire string.
    pub const fn as_str(self) -> &'static str {
        match self {
            IntentStatus::Pending => "pending",
            IntentStatus::Decided => "decided",
        }
    }
}

/// Answer to `POST /v1/intents/async` (HTTP 202).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct IntentAccepted {
    /// The intent's id.
    pub intent_id: IntentId,
    /// `pending` (or `decided` when an `Idempotency-Key` replays a decided intent).
    pub status: IntentStatus,
}

/// The state of webhook delivery for an async intent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CallbackState {
    /// Waiting for the decision or for the next attempt.
    Pending,
    /// A delivery was answered with 2xx.
    Delivered,
    /// Every attempt failed; no more will be made.
    Failed,
}

/// One attempt to deliver a decision to a `callback_url`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DeliveryAttempt {
    /// 1 for the first attempt.
    pub attempt: u32,
    /// When it was made.
    pub attempted_at: DateTime<Utc>,
    /// The receiver's HTTP status, if it answered.
    pub status_code: Option<u16>,
    /// Why it failed, if it did.
    pub error: Option<String>,
    /// How long it took, in milliseconds.
    pub duration_ms: u64,
}

/// Delivery of the decision to the intent's `callback_url`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CallbackStatus {
    /// The receiver.
    pub url: String,
    /// Where delivery stands.
    pub state: CallbackState,
    /// Every attempt so far, oldest first.
    pub attempts: Vec<DeliveryAttempt>,
    /// When the next attempt is due, while `pending` after a failure.
    pub next_attempt_at: Option<DateTime<Utc>>,
}

/// Answer to `GET /v1/intents/{intent_id}/decision`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct IntentDecision {
    /// The intent's id.
    pub intent_id: IntentId,
    /// Whether it has been decided.
    pub status: IntentStatus,
    /// The decision, once `decided`.
    pub decision: Option<Decision>,
    /// Webhook delivery, for async intents with a `callback_url`.
    pub callback: Option<CallbackStatus>,
}

/// Body of `POST /v1/intents/batch`: up to 50 intents, decided concurrently.
/// Each element is validated on its own.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IntentBatchRequest {
    /// The intents (1–50).
    #[schemars(length(min = 1, max = 50))]
    pub intents: Vec<Lenient<IntentRequest>>,
}

/// The outcome for one element of a batch.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct IntentBatchItem {
    /// The element's index in the request.
    pub index: u32,
    /// The HTTP status this element would have had on its own.
    pub status: u16,
    /// The decision, when `status` is 200.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<Decision>,
    /// The error, otherwise (paths are rooted at the batch body).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ApiError>,
}

/// Answer to `POST /v1/intents/batch`: one result per element, in order.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct IntentBatchResponse {
    /// The results.
    pub results: Vec<IntentBatchItem>,
}

/// Optional headers of the intent-declaring operations.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
pub struct IntentHeaders {
    /// A client-chosen key (1–255 printable characters). The same key with
    /// the same body answers the same decision without a second audit
    /// entry; with a different body it answers 409 `idempotency_conflict`.
    #[serde(rename = "Idempotency-Key")]
    #[schemars(length(min = 1, max = 255), regex(pattern = "^[ -~]+$"))]
    pub idempotency_key: Option<String>,
    /// An approved approval for exactly this intent (resuming an
    /// escalation); it is used once.
    #[serde(rename = "Lictor-Approval-Id")]
    #[schemars(with = "Option<crate::ids::ApprovalId>")]
    pub approval_id: Option<String>,
}

/// Path parameters naming an intent.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
pub struct IntentPath {
    /// The intent.
    pub intent_id: IntentId,
}

/// Query parameters of `GET /v1/intents`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IntentListParams {
    /// The tenant (see `TenantScope`).
    pub tenant: Option<TenantId>,
    /// Only this agent's intents.
    pub agent_id: Option<AgentId>,
    /// Only intents with this verdict (the effective one).
    pub verdict: Option<Verdict>,
    /// Only this action type.
    pub action_type: Option<ActionType>,
    /// Only this environment.
    pub environment: Option<Environment>,
    /// Only intents created at or after this time (RFC 3339).
    pub from: Option<DateTime<Utc>>,
    /// Only intents created before this time (RFC 3339).
    pub to: Option<DateTime<Utc>>,
    /// Page size (1–500, default 50).
    #[schemars(range(min = 1, max = 500))]
    pub limit: Option<u32>,
    /// Cursor from the previous page.
    pub cursor: Option<String>,
}

/// An intent in a list.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct IntentSummary {
    /// The intent's id.
    pub intent_id: IntentId,
    /// The tenant.
    pub tenant: TenantId,
    /// The agent.
    pub agent_id: AgentId,
    /// The environment.
    pub environment: Environment,
    /// The action type.
    pub action_type: ActionType,
    /// The verb.
    pub verb: Verb,
    /// Whether it has been decided.
    pub status: IntentStatus,
    /// The effective verdict, once decided.
    pub verdict: Option<Verdict>,
    /// In `shadow`, the real verdict.
    pub would_be_verdict: Option<Verdict>,
    /// When it was received.
    pub created_at: DateTime<Utc>,
    /// When it was decided.
    pub decided_at: Option<DateTime<Utc>>,
}

page_type!(
    /// A page of intents, newest first.
    IntentPage, IntentSummary
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_intents_stay_small() {
        let body = r#"{"intent": {"agent": {"id": "bot"}, "action": {"type": "access", "verb": "read"}}}"#;
        let parsed: Result<IntentRequest, _> = serde_json::from_str(body);
        assert!(parsed.is_ok(), "{parsed:?}");
    }

    #[test]
    fn callback_urls_must_be_http() {
        assert!(CallbackUrl::parse("https://hooks.example.com/lictor").is_ok());
        assert!(CallbackUrl::parse("http://127.0.0.1:9000/x").is_ok());
        assert!(CallbackUrl::parse("ftp://example.com").is_err());
        assert!(CallbackUrl::parse("/relative").is_err());
    }

    #[test]
    fn verdicts_order_by_restrictiveness() {
        assert!(Verdict::Block > Verdict::Escalate);
        assert!(Verdict::Escalate > Verdict::ApproveModified);
        assert!(Verdict::ApproveModified > Verdict::Approve);
    }
}
