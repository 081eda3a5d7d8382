//! The decision pipeline. Stages run in this order, and
//! [`Pipeline::decide`] reads top to bottom as they run:
//!
//! `authenticate` → `validate` (both in the HTTP layer) → `identity` →
//! `capability` → `risk` → `policy` → `budget` → `decide` → `audit` (in
//! [`crate::audit::writer`]).
//!
//! Every stage reports `{name, outcome, duration_us}`. A stage that blocks
//! or escalates settles the verdict; later stages that cannot change it
//! are reported as `skip`. The decision is answered only once the commit
//! writer has made it durable together with its audit entry.

pub mod approval;
pub mod budget;
pub mod capability;
pub mod risk;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lictor_api::agents::AgentStatus;
use lictor_api::api_keys::Environment;
use lictor_api::approvals::ApprovalKind;
use lictor_api::ids::{AgentId, ApprovalId, IntentId, TenantId};
use lictor_api::intents::{
    Decision, IntentRequest, Modifications, Payload, Reason, StageName, StageOutcome, StageReport, Verdict,
};
use serde_json::{Value, json};

use crate::audit::digested;
use crate::audit::writer::{
    ApprovalDraft, ApprovalPlan, AuditContext, AuditWriter, CommitJob, CommitOutcome, IntentRecord,
};
use crate::clock::{self, elapsed_us};
use crate::error::Error;
use crate::policy::{PolicyEngine, PolicyRegistry};
use crate::revocations::RevocationCache;
use crate::store::{AgentRow, BudgetUsage, IdempotencyRecord, Store, StoreResult, TokenUsage};
use crate::token::CapabilityToken;
use approval::Resume;
use budget::BudgetCharge;
use capability::TokenCharges;
use capability::{CapabilityRequest, ToolTarget};

/// The credentials a request was made with.
#[derive(Clone, Debug)]
pub struct KeyContext {
    /// `key_…` (an API key's id) or `token:<jti>`.
    pub credential: String,
    /// The environment it acts in.
    pub environment: Environment,
    /// The agent it is restricted to (a restricted key's agent, or a
    /// token's subject).
    pub bound_agent: Option<AgentId>,
}

/// A request to decide: an intent, or a tool call mapped to one.
#[derive(Clone, Debug)]
pub struct Submission {
    /// Its id.
    pub intent_id: IntentId,
    /// Its tenant.
    pub tenant: TenantId,
    /// The credentials it came with.
    pub key: KeyContext,
    /// The capability token, verified, when the credential is one.
    pub token: Option<Arc<CapabilityToken>>,
    /// The validated request.
    pub request: IntentRequest,
    /// For tool calls: the tool.
    pub tool: Option<ToolTarget>,
    /// An approval the request resumes with (`Lictor-Approval-Id`).
    pub approval_id: Option<ApprovalId>,
    /// When the gateway started on it (for `latency_us`).
    pub received: Instant,
    /// When it was received (µs since the epoch).
    pub created_at: i64,
    /// Whether it is an accepted async intent (its row exists, `pending`).
    pub pending: bool,
    /// The `Idempotency-Key` claim to record with the decision.
    pub idempotency: Option<IdempotencyRecord>,
    /// Where to deliver the decision.
    pub callback_url: Option<String>,
    /// The `authenticate` and `validate` reports from the HTTP layer.
    pub front_stages: Vec<StageReport>,
    /// Why the request fails validation while still being decided and
    /// audited (a tool call whose arguments the tool's mapping cannot
    /// read): it is blocked at `validate`.
    pub invalid: Option<Reason>,
}

impl Submission {
    fn kind(&self) -> ApprovalKind {
        if self.tool.is_some() { ApprovalKind::ToolCall } else { ApprovalKind::Intent }
    }

    /// Who the audit log names.
    fn principal(&self) -> String {
        match self.token.as_deref() {
            Some(token) => format!("token:{}", token.jti()),
            None => format!("key:{}", self.key.credential),
        }
    }
}

/// A decision on its way to the writer: the Decision as it will be
/// answered (minus the audit reference), plus what the writer needs to
/// re-check the counters and to chain the audit entry.
#[derive(Clone, Debug)]
pub struct DecisionDraft {
    /// The decision.
    pub decision: Decision,
    /// The pipeline's verdict, before the environment is applied.
    pub verdict: Verdict,
    /// The stage that settled the verdict.
    pub deciding_stage: StageName,
    /// The modifications an `approve_modified` verdict carries.
    pub modifications: Option<Modifications>,
}

impl DecisionDraft {
    /// Sets a stage's outcome.
    pub fn set_outcome(&mut self, stage: StageName, outcome: StageOutcome) {
        if let Some(report) = self.decision.stages.iter_mut().find(|s| s.name == stage) {
            report.outcome = outcome;
        }
    }

    /// Turns the decision into a block settled by `stage`.
    pub fn block_at(&mut self, stage: StageName, reason: Reason) {
        self.settle(Verdict::Block, stage, reason, StageOutcome::Fail);
    }

    /// Turns the decision into an escalation settled by `stage`.
    pub fn escalate_at(&mut self, stage: StageName, reason: Reason) {
        self.settle(Verdict::Escalate, stage, reason, StageOutcome::Escalate);
    }

    fn settle(&mut self, verdict: Verdict, stage: StageName, reason: Reason, outcome: StageOutcome) {
        self.verdict = verdict;
        self.deciding_stage = stage;
        self.decision.reasons.push(reason);
        self.set_outcome(stage, outcome);
        self.set_outcome(StageName::Decide, outcome);
        self.apply_environment();
    }

    /// Derives the answered verdict from the pipeline's verdict and the
    /// environment: `shadow` always answers `approve` (not enforced) and
    /// shows the real verdict in `would_be_verdict`.
    pub fn apply_environment(&mut self) {
        let d = &mut self.decision;
        match d.environment {
            Environment::Live | Environment::Test => {
                d.verdict = self.verdict;
                d.enforced = true;
                d.would_be_verdict = None;
                d.modifications =
                    if self.verdict == Verdict::ApproveModified { self.modifications.clone() } else { None };
            }
            Environment::Shadow => {
                d.verdict = Verdict::Approve;
                d.enforced = false;
                d.would_be_verdict = Some(self.verdict);
                d.modifications = None;
            }
        }
        if d.verdict != Verdict::Escalate {
            d.approval = None;
        }
    }
}

/// Settings of the pipeline.
#[derive(Clone, Debug)]
pub struct PipelineSettings {
    /// This gateway's audience (tokens with an `audience` caveat must name it).
    pub audience: String,
    /// How long after a token's `step_up` high-risk actions stay allowed.
    pub step_up_window: Duration,
    /// How long an approval stays open, and usable once approved.
    pub approval_ttl: Duration,
    /// Most open approvals per agent.
    pub max_open_approvals_per_agent: u64,
}

impl Default for PipelineSettings {
    fn default() -> PipelineSettings {
        PipelineSettings {
            audience: "lictor".into(),
            step_up_window: Duration::from_secs(15 * 60),
            approval_ttl: Duration::from_secs(15 * 60),
            max_open_approvals_per_agent: 100,
        }
    }
}

/// Runs requests through the stages and hands decisions to the writer.
#[derive(Clone, Debug)]
pub struct Pipeline {
    store: Store,
    policies: PolicyRegistry,
    writer: AuditWriter,
    revocations: RevocationCache,
    settings: Arc<PipelineSettings>,
}

fn stage(name: StageName, outcome: StageOutcome, started: Instant) -> StageReport {
    StageReport { name, outcome, duration_us: elapsed_us(started) }
}

fn skipped(name: StageName) -> StageReport {
    StageReport { name, outcome: StageOutcome::Skip, duration_us: 0 }
}

fn outcome_of(verdict: Verdict) -> StageOutcome {
    match verdict {
        Verdict::Approve | Verdict::ApproveModified => StageOutcome::Pass,
        Verdict::Escalate => StageOutcome::Escalate,
        Verdict::Block => StageOutcome::Fail,
    }
}

/// The `identity` stage: the named agent exists, is active and may be
/// named by these credentials. `Err` is the blocking reason.
fn check_identity(sub: &Submission, agent: Option<&AgentRow>) -> Result<(), Reason> {
    let named = &sub.request.intent.agent.id;
    let block =
        |code: &str, message: String| Reason { stage: StageName::Identity, code: code.into(), message };
    if let Some(bound) = &sub.key.bound_agent
        && bound != named
    {
        return Err(block(
            "agent_mismatch",
            format!("these credentials may act only for agent `{bound}`, not `{named}`"),
        ));
    }
    match agent {
        None => Err(block(
            "unknown_agent",
            format!("agent `{named}` is not registered in tenant `{}`", sub.tenant),
        )),
        Some(agent) if agent.status == AgentStatus::Suspended => {
            Err(block("agent_suspended", format!("agent `{named}` is suspended")))
        }
        Some(_) => Ok(()),
    }
}

/// The document policies evaluate (see `docs/policies.md`).
#[doc(hidden)] // public for `benches/pipeline.rs` only
pub fn policy_input(sub: &Submission, agent: Option<&AgentRow>, risk: &lictor_api::intents::Risk) -> Value {
    let mut intent = serde_json::to_value(&sub.request.intent).unwrap_or(Value::Null);
    if let Some(obj) = intent.as_object_mut() {
        let context = sub.request.context.clone().map(Value::Object).unwrap_or_else(|| json!({}));
        obj.insert("context".into(), context);
    }
    json!({
        "intent": intent,
        "agent": agent.map(|a| json!({
            "id": a.id.as_str(),
            "name": a.name,
            "owner": a.owner,
            "status": a.status.as_str(),
            "framework": sub.request.intent.agent.framework.as_ref().map(|f| f.as_str()),
        })),
        "tenant": {"id": sub.tenant.as_str()},
        "environment": sub.key.environment.as_str(),
        "risk": risk,
        "tool": sub.tool.as_ref().map(|t| json!({"upstream": t.upstream, "name": t.tool, "full_name": t.full_name()})),
        "capability": sub.token.as_deref().map(|t| json!({
            "jti": t.jti(),
            "root_jti": t.header().root_jti.as_str(),
            "subject": t.header().sub.as_str(),
        })),
        "request": {
            "intent_id": sub.intent_id.as_str(),
            "time": clock::rfc3339_micros(sub.created_at),
        },
    })
}

/// Applies the policy's patch to the payload; the result must still be a
/// valid payload.
fn apply_patch(
    payload: Option<&Payload>,
    patch: &[lictor_api::intents::PatchOperation],
) -> Result<Payload, String> {
    let mut document =
        serde_json::to_value(payload.cloned().unwrap_or_default()).map_err(|e| e.to_string())?;
    let operations: json_patch::Patch = serde_json::to_value(patch)
        .and_then(serde_json::from_value)
        .map_err(|e| format!("invalid patch: {e}"))?;
    json_patch::patch(&mut document, &operations).map_err(|e| format!("patch does not apply: {e}"))?;
    lictor_api::extract::parse_value::<Payload>(document)
        .map_err(|e| format!("patched payload is invalid: {}", e.message))
}

impl Pipeline {
    /// A pipeline over `store`, deciding with `policies`, committing through `writer`.
    pub fn new(
        store: Store,
        policies: PolicyRegistry,
        writer: AuditWriter,
        revocations: RevocationCache,
        settings: PipelineSettings,
    ) -> Pipeline {
        Pipeline { store, policies, writer, revocations, settings: Arc::new(settings) }
    }

    /// The writer decisions (and other audited records) go through.
    pub fn writer(&self) -> &AuditWriter {
        &self.writer
    }

    /// The revocation cache.
    pub fn revocations(&self) -> &RevocationCache {
        &self.revocations
    }

    /// The pipeline's settings.
    pub fn settings(&self) -> &PipelineSettings {
        &self.settings
    }

    /// Decides `sub` and waits until the decision is durable.
    pub async fn decide(&self, sub: Submission) -> Result<CommitOutcome, Error> {
        let reads = StoreReads { store: &self.store, revocations: &self.revocations };
        let job = self.prepare(&reads, sub).await?;
        Ok(self.writer.append_decision(job).await?)
    }

    /// Runs every stage of `sub` with what it reads from `reads`, and
    /// returns the job for the writer (the decision, its audit record and
    /// canonical forms). [`Pipeline::decide`] calls it with the store; the
    /// benchmarks call it with fixed answers to measure the stages alone.
    #[doc(hidden)] // public for `benches/pipeline.rs`
    pub async fn prepare<R: Reads>(&self, reads: &R, sub: Submission) -> Result<CommitJob, Error> {
        let mut stages = sub.front_stages.clone();
        let mut reasons: Vec<Reason> = Vec::new();
        let engine: Arc<PolicyEngine> = self.policies.for_tenant(&sub.tenant);
        let action = &sub.request.intent.action;
        let payload = action.payload.as_ref();
        let exposure_usd = payload
            .and_then(|p| p.estimated_impact.as_ref())
            .and_then(|i| i.financial_exposure_usd)
            .map(|a| a.get())
            .unwrap_or(0.0);
        let mut verdict = Verdict::Approve;
        let mut deciding_stage = StageName::Policy;

        if let Some(reason) = &sub.invalid {
            reasons.push(reason.clone());
            (verdict, deciding_stage) = (Verdict::Block, StageName::Validate);
            match stages.iter_mut().find(|s| s.name == StageName::Validate) {
                Some(report) => report.outcome = StageOutcome::Fail,
                None => stages.push(StageReport {
                    name: StageName::Validate,
                    outcome: StageOutcome::Fail,
                    duration_us: 0,
                }),
            }
        }

        // identity
        let started = Instant::now();
        let agent = reads.agent(&sub.tenant, &sub.request.intent.agent.id).await?;
        if verdict == Verdict::Approve {
            if let Err(reason) = check_identity(&sub, agent.as_ref()) {
                reasons.push(reason);
                (verdict, deciding_stage) = (Verdict::Block, StageName::Identity);
            }
            stages.push(stage(StageName::Identity, outcome_of(verdict), started));
        } else {
            stages.push(skipped(StageName::Identity));
        }

        // risk is computed first (it is pure, and `step_up` needs it) but
        // reported in pipeline order
        let risk_started = Instant::now();
        let risk = risk::assess(&sub.request.intent);
        let risk_us = elapsed_us(risk_started);

        // capability
        let started = Instant::now();
        let mut token_charges: Option<TokenCharges> = None;
        match (&sub.token, verdict) {
            (Some(token), Verdict::Approve) => {
                let revoked = reads.revoked(&sub.tenant).await?;
                let request = CapabilityRequest {
                    action_type: action.action_type,
                    tool: sub.tool.as_ref(),
                    risk_level: risk.level,
                    now: sub.created_at / 1_000_000,
                    audience: &self.settings.audience,
                    step_up_window: self.settings.step_up_window,
                    cents: capability::to_cents(exposure_usd),
                };
                match capability::check(token, &revoked, &request) {
                    Ok(charges) => {
                        let minute = budget::minute_of(clock::now_micros());
                        for scope in &charges.scopes {
                            let usage = reads.token_usage(&sub.tenant, &scope.scope_jti, minute).await?;
                            if let Some(reason) = scope.exceeded(usage, charges.cents) {
                                reasons.push(reason);
                                (verdict, deciding_stage) = (Verdict::Block, StageName::Capability);
                                break;
                            }
                        }
                        token_charges = Some(charges);
                    }
                    Err(reason) => {
                        reasons.push(reason);
                        (verdict, deciding_stage) = (Verdict::Block, StageName::Capability);
                    }
                }
                stages.push(stage(StageName::Capability, outcome_of(verdict), started));
            }
            _ => stages.push(skipped(StageName::Capability)),
        }
        stages.push(StageReport { name: StageName::Risk, outcome: StageOutcome::Pass, duration_us: risk_us });

        // policy
        let started = Instant::now();
        let input = policy_input(&sub, agent.as_ref(), &risk);
        let mut modifications = None;
        let mut alternatives = None;
        let mut policy_verdict = None;
        if verdict == Verdict::Approve {
            verdict = match engine.evaluate(&input) {
                Ok(output) => {
                    reasons.extend(output.reasons.into_iter().map(|r| Reason {
                        stage: StageName::Policy,
                        code: r.code,
                        message: r.message,
                    }));
                    if !output.alternatives.is_empty() {
                        alternatives = Some(output.alternatives);
                    }
                    // An escalation's patch is kept for the human's approval.
                    let patched = matches!(output.verdict, Verdict::ApproveModified | Verdict::Escalate);
                    if patched && !output.patch.is_empty() {
                        match apply_patch(payload, &output.patch) {
                            Ok(modified_payload) => {
                                modifications = Some(Modifications { patch: output.patch, modified_payload });
                                output.verdict
                            }
                            Err(message) => {
                                reasons.push(Reason {
                                    stage: StageName::Policy,
                                    code: "policy_patch_failed".into(),
                                    message,
                                });
                                Verdict::Block
                            }
                        }
                    } else {
                        output.verdict
                    }
                }
                Err(error) => {
                    reasons.push(Reason {
                        stage: StageName::Policy,
                        code: error.code().into(),
                        message: error.to_string(),
                    });
                    Verdict::Block
                }
            };
            policy_verdict = Some(verdict);
            stages.push(stage(StageName::Policy, outcome_of(verdict), started));
        } else {
            stages.push(skipped(StageName::Policy));
        }

        // budget
        let started = Instant::now();
        let mut charge = None;
        match (&agent, verdict.allows()) {
            (Some(agent), true) => {
                if budget::has_limits(&agent.budget) {
                    let usage = reads
                        .budget_usage(&sub.tenant, &agent.id, budget::window_start(clock::now_micros()))
                        .await?;
                    if let Some(reason) = budget::exceeded(&agent.budget, usage, exposure_usd) {
                        reasons.push(reason);
                        (verdict, deciding_stage) = (Verdict::Escalate, StageName::Budget);
                    }
                }
                if verdict.allows() && sub.key.environment != Environment::Test {
                    charge = Some(BudgetCharge { limits: agent.budget, exposure_usd, enforce: true });
                }
                stages.push(stage(StageName::Budget, outcome_of(verdict), started));
            }
            _ => stages.push(skipped(StageName::Budget)),
        }

        // decide: a resumed request may carry a human's approval
        let started = Instant::now();
        let digest = approval::request_digest(&sub, engine.bundle().hash());
        let mut plan = None;
        if verdict == Verdict::Escalate {
            // Approvals exist only where verdicts are enforced: live.
            if let (Some(id), Environment::Live) = (&sub.approval_id, sub.key.environment) {
                match reads.resume(&sub.tenant, id, &digest).await? {
                    Resume::Approved(reason) => {
                        reasons.push(reason);
                        verdict =
                            if modifications.is_some() { Verdict::ApproveModified } else { Verdict::Approve };
                        deciding_stage = StageName::Decide;
                        if let Some(agent) = &agent {
                            charge =
                                Some(BudgetCharge { limits: agent.budget, exposure_usd, enforce: false });
                        }
                        plan = Some(ApprovalPlan::Use { id: id.clone(), digest: digest.clone() });
                    }
                    Resume::StillPending => {}
                    Resume::Refused(reason) => {
                        reasons.push(reason);
                        (verdict, deciding_stage) = (Verdict::Block, StageName::Decide);
                    }
                }
            }
            if verdict == Verdict::Escalate {
                plan = Some(ApprovalPlan::Open(Box::new(ApprovalDraft {
                    digest: digest.clone(),
                    kind: sub.kind(),
                    tool: sub.tool.as_ref().map(ToolTarget::full_name),
                    jti: sub.token.as_deref().map(|t| t.jti().to_string()),
                    action_type: action.action_type,
                    verb: action.verb.to_string(),
                    summary: payload.and_then(|p| p.summary.clone()),
                    risk_level: risk.level,
                    modifications: modifications.clone(),
                    ttl: self.settings.approval_ttl,
                    max_open_per_agent: self.settings.max_open_approvals_per_agent,
                })));
            }
        }
        if !verdict.allows() {
            modifications = None;
        }
        stages.push(stage(StageName::Decide, outcome_of(verdict), started));

        let mut draft = DecisionDraft {
            decision: Decision {
                intent_id: sub.intent_id.clone(),
                tenant: sub.tenant.clone(),
                agent_id: sub.request.intent.agent.id.clone(),
                environment: sub.key.environment,
                verdict,
                enforced: true,
                would_be_verdict: None,
                reasons,
                modifications: None,
                alternatives,
                risk,
                stages,
                policy: engine.policy_ref(),
                audit: None,
                approval: None,
                decided_at: clock::from_micros(sub.created_at),
                latency_us: 0,
            },
            verdict,
            deciding_stage,
            modifications,
        };
        draft.apply_environment();

        // audit: the writer appends the entry and answers with the
        // durable decision
        let payload_json = payload.map(|p| serde_json::to_value(p).unwrap_or(Value::Null));
        // Each is canonicalised once: the text is stored, its digest audited.
        let (input_digest, policy_input_json) = digested(&input);
        let payload = payload_json.map(|p| digested(&p));
        // Stored with the intent: an empty text would be a record of nothing.
        let request_json = serde_json::to_string(&sub.request)
            .map_err(|e| Error::Internal(format!("the request cannot be stored: {e}")))?;
        Ok(CommitJob {
            draft,
            record: IntentRecord {
                credential: sub.key.credential.clone(),
                bound_agent_id: sub.key.bound_agent.clone(),
                action_type: action.action_type,
                verb: action.verb.to_string(),
                request_json,
                policy_input_json,
                policy_verdict,
                created_at: sub.created_at,
                callback_url: sub.callback_url.clone(),
            },
            pending: sub.pending,
            idempotency: sub.idempotency.clone(),
            budget: charge,
            token: token_charges,
            approval: plan,
            audit: AuditContext {
                principal: Some(sub.principal()),
                jti: sub.token.as_deref().map(|t| t.jti().to_string()),
                tool: sub.tool.as_ref().map(ToolTarget::full_name),
            },
            input_digest,
            payload,
            received: sub.received,
            enqueued: Instant::now(),
        })
    }
}

/// What a decision reads besides its submission. The gateway reads the
/// store ([`StoreReads`]); the benchmarks answer from memory, so the
/// stages' CPU cost is measured on the pipeline's own code.
#[doc(hidden)]
pub trait Reads: Sync {
    /// The agent `id` of `tenant`.
    fn agent(
        &self,
        tenant: &TenantId,
        id: &AgentId,
    ) -> impl Future<Output = StoreResult<Option<AgentRow>>> + Send;
    /// The tenant's revoked token ids.
    fn revoked(&self, tenant: &TenantId) -> impl Future<Output = StoreResult<Arc<HashSet<String>>>> + Send;
    /// What allowed calls consumed under a token scope since `minute`.
    fn token_usage(
        &self,
        tenant: &TenantId,
        scope_jti: &str,
        minute: i64,
    ) -> impl Future<Output = StoreResult<TokenUsage>> + Send;
    /// An agent's budget usage since `first_minute`.
    fn budget_usage(
        &self,
        tenant: &TenantId,
        agent: &AgentId,
        first_minute: i64,
    ) -> impl Future<Output = StoreResult<BudgetUsage>> + Send;
    /// Whether a resumed request's approval lets it through.
    fn resume(
        &self,
        tenant: &TenantId,
        id: &ApprovalId,
        digest: &str,
    ) -> impl Future<Output = StoreResult<Resume>> + Send;
}

/// The gateway's [`Reads`]: the store, and the revocation cache.
struct StoreReads<'a> {
    store: &'a Store,
    revocations: &'a RevocationCache,
}

impl Reads for StoreReads<'_> {
    async fn agent(&self, tenant: &TenantId, id: &AgentId) -> StoreResult<Option<AgentRow>> {
        self.store.get_agent(tenant, id).await
    }

    async fn revoked(&self, tenant: &TenantId) -> StoreResult<Arc<HashSet<String>>> {
        self.revocations.revoked(tenant).await
    }

    async fn token_usage(&self, tenant: &TenantId, scope_jti: &str, minute: i64) -> StoreResult<TokenUsage> {
        self.store.token_usage(tenant, scope_jti, minute).await
    }

    async fn budget_usage(
        &self,
        tenant: &TenantId,
        agent: &AgentId,
        first_minute: i64,
    ) -> StoreResult<BudgetUsage> {
        self.store.budget_usage(tenant, agent, first_minute).await
    }

    async fn resume(&self, tenant: &TenantId, id: &ApprovalId, digest: &str) -> StoreResult<Resume> {
        approval::resume(self.store, tenant, id, digest).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lictor_api::intents::{PatchOp, PatchOperation};

    #[test]
    fn patches_apply_to_the_payload_and_must_keep_it_valid() {
        let payload = Payload { content: Some("card 4111".into()), ..Payload::default() };
        let replace = PatchOperation {
            op: PatchOp::Replace,
            path: "/content".into(),
            from: None,
            value: Some(json!("card [REDACTED]")),
        };
        let patched = apply_patch(Some(&payload), &[replace]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(patched.content.as_deref(), Some("card [REDACTED]"));

        let bogus =
            PatchOperation { op: PatchOp::Add, path: "/bogus".into(), from: None, value: Some(json!(1)) };
        assert!(apply_patch(Some(&payload), &[bogus]).is_err());
        let missing =
            PatchOperation { op: PatchOp::Remove, path: "/summary".into(), from: None, value: None };
        assert!(apply_patch(Some(&payload), &[missing]).is_err());
    }
}
