//! The decision pipeline: one request in, one verdict out, every stage
//! reported.
//!
//! The stages run in the order of [`StageName::ALL`] —
//! authenticate → validate → identity → capability → risk → policy → budget → decide → audit —
//! and each lives in a file of its own with the same shape (see `run`):
//! `authenticate` and `validate` ran in the HTTP layer before the
//! submission was made (their times come with it), `identity`,
//! `capability`, `risk`, `policy`, `budget` and `decide` run here, and
//! `audit` is the writer's ([`crate::audit::writer`]), which answers only
//! once the decision and its entry are durable.
//!
//! A stage that blocks or escalates settles the verdict; later stages that
//! cannot change it report `skip`. [`Pipeline::prepare`] is the driver: it
//! calls the stages in order and writes every report
//! (`{name, outcome, duration_us}`); no stage writes its own.

pub mod approval;
pub mod budget;
pub mod capability;
mod decide;
mod identity;
pub mod policy;
pub mod risk;
mod run;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lictor_api::api_keys::Environment;
use lictor_api::approvals::ApprovalKind;
use lictor_api::ids::{AgentId, ApprovalId, IntentId, TenantId};
use lictor_api::intents::{
    Decision, IntentRequest, Modifications, Reason, StageName, StageOutcome, StageReport, Verdict,
};
use serde_json::Value;

use crate::audit::digested;
use crate::audit::writer::{AuditContext, AuditWriter, CommitJob, CommitOutcome, IntentRecord};
use crate::cache::{Cache, CacheStats, Lookup};
use crate::clock::Timestamp;
use crate::clock::elapsed_us;
use crate::error::Error;
use crate::events::{Event, Events};
use crate::policy::PolicyRegistry;
use crate::revocations::RevocationCache;
use crate::store::{AgentRow, BudgetUsage, IdempotencyRecord, Store, StoreResult, TokenUsage};
use crate::token::CapabilityToken;
use approval::Resume;
use capability::ToolTarget;
use run::Run;
use tracing::Instrument as _;

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

/// How long the stages the HTTP layer runs before the pipeline took.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FrontTimings {
    /// Checking the credentials (µs).
    pub authenticate_us: u64,
    /// Parsing and validating the request (µs).
    pub validate_us: u64,
}

impl FrontTimings {
    /// The reports of `authenticate` and `validate`, both passed (for
    /// answers made without the pipeline).
    pub fn reports(&self) -> [StageReport; 2] {
        [
            StageReport {
                name: StageName::Authenticate,
                outcome: StageOutcome::Pass,
                duration_us: self.authenticate_us,
            },
            StageReport {
                name: StageName::Validate,
                outcome: StageOutcome::Pass,
                duration_us: self.validate_us,
            },
        ]
    }
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
    pub created_at: Timestamp,
    /// Whether it is an accepted async intent (its row exists, `pending`).
    pub pending: bool,
    /// The `Idempotency-Key` claim to record with the decision.
    pub idempotency: Option<IdempotencyRecord>,
    /// Where to deliver the decision.
    pub callback_url: Option<String>,
    /// How long the HTTP layer's `authenticate` and `validate` took.
    pub front: FrontTimings,
    /// Why the request fails validation while still being decided and
    /// audited (a tool call whose arguments the tool's mapping cannot
    /// read): it is blocked at `validate`.
    pub invalid: Option<Reason>,
}

impl Submission {
    pub(crate) fn kind(&self) -> ApprovalKind {
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
    /// Safety-net lifetime of cached agents.
    pub cache_ttl: Duration,
}

impl Default for PipelineSettings {
    /// The zero-configuration gateway's (see [`crate::Config::default`]).
    fn default() -> PipelineSettings {
        PipelineSettings::from(&crate::Config::default())
    }
}

impl From<&crate::Config> for PipelineSettings {
    fn from(config: &crate::Config) -> PipelineSettings {
        PipelineSettings {
            audience: config.audience.clone(),
            step_up_window: config.step_up_window,
            approval_ttl: config.approval_ttl,
            max_open_approvals_per_agent: config.max_open_approvals_per_agent,
            cache_ttl: config.cache_ttl,
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
    agents: Arc<Cache<(TenantId, AgentId), AgentRow>>,
    settings: Arc<PipelineSettings>,
    /// The writer's metrics, where committed decisions are counted.
    metrics: Arc<crate::metrics::Metrics>,
}

impl Pipeline {
    /// A pipeline over `store`, deciding with `policies`, committing
    /// through `writer`; the agents it reads are cached until `events`
    /// announce a change (or `cache_ttl` passes).
    pub fn new(
        store: Store,
        policies: PolicyRegistry,
        writer: AuditWriter,
        revocations: RevocationCache,
        events: &Events,
        settings: PipelineSettings,
    ) -> Pipeline {
        let agents = Cache::following(settings.cache_ttl, events, |event| match event {
            Event::Agent { tenant, .. } => Some(tenant),
            _ => None,
        });
        let metrics = Arc::clone(writer.metrics());
        Pipeline { store, policies, writer, revocations, agents, settings: Arc::new(settings), metrics }
    }

    /// How often the agent cache answered.
    pub fn agent_cache(&self) -> CacheStats {
        self.agents.stats()
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
        let reads = StoreReads { store: &self.store, revocations: &self.revocations, agents: &self.agents };
        let job = self.prepare(&reads, sub).await?;
        let append = tracing::info_span!(
            "audit.append",
            otel.name = "audit.append",
            committed = tracing::field::Empty
        );
        let outcome = self.writer.append_decision(job).instrument(append.clone()).await?;
        if let CommitOutcome::Committed(decision) = &outcome {
            append.record("committed", true);
            self.metrics.decided(decision);
            crate::telemetry::note_verdict(decision.verdict);
        }
        Ok(outcome)
    }

    /// Runs every stage of `sub` with what it reads from `reads`, and
    /// returns the job for the writer (the decision, its audit record and
    /// canonical forms). [`Pipeline::decide`] calls it with the store; the
    /// benchmarks call it with fixed answers to measure the stages alone.
    #[doc(hidden)] // public for `benches/pipeline.rs`
    pub async fn prepare<R: Reads>(&self, reads: &R, sub: Submission) -> Result<CommitJob, Error> {
        let mut run = Run::new(&sub, reads, &self.settings, self.policies.for_tenant(&sub.tenant));
        let mut stages = Vec::with_capacity(StageName::ALL.len());
        for name in StageName::ALL {
            // Reported by the writer, once the entry is durable.
            if name == StageName::Audit {
                continue;
            }
            let started = Instant::now();
            // Authentication ran before the pipeline, in the request's own span.
            let span = match name {
                StageName::Authenticate => tracing::Span::none(),
                _ => tracing::info_span!(
                    "stage",
                    otel.name = name.as_str(),
                    stage = name.as_str(),
                    outcome = tracing::field::Empty
                ),
            };
            let outcome = async {
                Ok::<_, Error>(match name {
                    StageName::Authenticate | StageName::Audit => StageOutcome::Pass,
                    StageName::Validate => validate(&mut run),
                    StageName::Identity => identity::run(&mut run).await?,
                    StageName::Capability => capability::run(&mut run).await?,
                    StageName::Risk => risk::run(&mut run),
                    StageName::Policy => policy::run(&mut run),
                    StageName::Budget => budget::run(&mut run).await?,
                    StageName::Decide => decide::run(&mut run).await?,
                })
            }
            .instrument(span.clone())
            .await?;
            span.record("outcome", outcome_name(outcome));
            let duration_us = match (name, outcome) {
                (StageName::Authenticate, _) => sub.front.authenticate_us,
                (StageName::Validate, _) => sub.front.validate_us,
                (_, StageOutcome::Skip) => 0,
                _ => elapsed_us(started),
            };
            stages.push(StageReport { name, outcome, duration_us });
        }

        let (risk, input) = run.finish();
        let action = &sub.request.intent.action;
        let mut draft = DecisionDraft {
            decision: Decision {
                intent_id: sub.intent_id.clone(),
                tenant: sub.tenant.clone(),
                agent_id: sub.request.intent.agent.id.clone(),
                environment: sub.key.environment,
                verdict: run.verdict,
                enforced: true,
                would_be_verdict: None,
                reasons: run.reasons,
                modifications: None,
                alternatives: run.alternatives,
                risk,
                stages,
                policy: run.engine.policy_ref(),
                audit: None,
                approval: None,
                decided_at: sub.created_at.to_datetime(),
                latency_us: 0,
            },
            verdict: run.verdict,
            deciding_stage: run.deciding_stage,
            modifications: run.modifications,
        };
        draft.apply_environment();

        // audit: the writer appends the entry and answers with the
        // durable decision
        let payload_json = action.payload.as_ref().map(|p| serde_json::to_value(p).unwrap_or(Value::Null));
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
                policy_verdict: run.policy_verdict,
                created_at: sub.created_at,
                callback_url: sub.callback_url.clone(),
            },
            pending: sub.pending,
            idempotency: sub.idempotency.clone(),
            budget: run.charge,
            token: run.token_charges,
            approval: run.plan,
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

/// A stage outcome as its span records it (the wire string).
fn outcome_name(outcome: StageOutcome) -> &'static str {
    match outcome {
        StageOutcome::Pass => "pass",
        StageOutcome::Fail => "fail",
        StageOutcome::Skip => "skip",
        StageOutcome::Escalate => "escalate",
    }
}

/// The `validate` stage ran in the HTTP layer; a request it found invalid
/// but still decides (a tool call whose arguments its mapping cannot read)
/// is blocked there.
fn validate<R: Reads>(run: &mut Run<'_, R>) -> StageOutcome {
    match &run.sub.invalid {
        Some(reason) => {
            run.settle(Verdict::Block, StageName::Validate, reason.clone());
            StageOutcome::Fail
        }
        None => StageOutcome::Pass,
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
    agents: &'a Cache<(TenantId, AgentId), AgentRow>,
}

impl Reads for StoreReads<'_> {
    async fn agent(&self, tenant: &TenantId, id: &AgentId) -> StoreResult<Option<AgentRow>> {
        let key = (tenant.clone(), id.clone());
        let ticket = match self.agents.get(&key) {
            Lookup::Hit(agent) => return Ok(Some(agent)),
            Lookup::Miss(ticket) => ticket,
        };
        // An unknown agent is not cached: it is read again each time.
        let agent = self.store.get_agent(tenant, id).await?;
        if let Some(agent) = &agent {
            self.agents.keep(ticket, key, tenant, agent.clone());
        }
        Ok(agent)
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

    /// Every stage order written in the docs is a run of `StageName::ALL`:
    /// the order is stated once, in code, and the prose follows it.
    #[test]
    fn every_documented_stage_order_is_the_pipeline_order() {
        let order: Vec<&str> = StageName::ALL.iter().map(|s| s.as_str()).collect();
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut files = vec![
            root.join("README.md"),
            root.join("server/src/lib.rs"),
            root.join("server/src/pipeline/mod.rs"),
        ];
        for entry in std::fs::read_dir(root.join("docs")).unwrap_or_else(|e| panic!("{e}")) {
            files.push(entry.unwrap_or_else(|e| panic!("{e}")).path());
        }
        let mut checked = 0;
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            for line in text.lines().filter(|l| l.contains(" → ")) {
                let parts: Vec<&str> = line.split(" → ").collect();
                let is_word = |c: char| c.is_ascii_alphanumeric() || c == '_';
                let last = parts.len() - 1;
                // The first part ends with a stage, the last begins with one.
                let words: Vec<&str> = parts
                    .iter()
                    .enumerate()
                    .map(|(i, part)| match i {
                        0 => part.rsplit(|c| !is_word(c)).next().unwrap_or(part),
                        i if i == last => part.split(|c| !is_word(c)).next().unwrap_or(part),
                        _ => part.trim_matches(|c| !is_word(c)),
                    })
                    .collect();
                // Only sequences of stage names: a line's other arrows are not orders.
                let stages: Vec<&str> = words.iter().copied().filter(|w| order.contains(w)).collect();
                if stages.len() < 3 || stages.len() != words.len() {
                    continue;
                }
                let start = order.iter().position(|s| *s == stages[0]).unwrap_or(usize::MAX);
                assert!(
                    order.get(start..start + stages.len()) == Some(&stages[..]),
                    "{}: `{}` is not the pipeline order {:?}",
                    file.display(),
                    line.trim(),
                    order
                );
                checked += 1;
            }
        }
        assert!(checked >= 4, "expected the README, lib.rs, pipeline/mod.rs and docs to state the order");
    }
}
