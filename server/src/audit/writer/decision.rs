//! Committing one decision: the idempotency claim, the locked re-checks of
//! token counters and budget, the approval used or opened, the audit entry
//! and the decided intent — all or nothing.

use std::time::{Duration, Instant};

use lictor_api::api_keys::Environment;
use lictor_api::approvals::{ApprovalKind, ApprovalStatus};
use lictor_api::audit::AuditKind;
use lictor_api::ids::{AgentId, ApprovalId};
use lictor_api::intents::{
    ActionType, ApprovalRef, Decision, Modifications, Reason, RiskLevel, StageName, StageOutcome,
    StageReport, Verdict,
};

use super::Chains;
use crate::clock::Timestamp;
use crate::pipeline::DecisionDraft;
use crate::pipeline::budget::{self, BudgetCharge};
use crate::pipeline::capability::TokenCharges;
use crate::store::{ApprovalRow, IdempotencyRecord, StoreError, StoreResult, StoreTx};
use crate::{clock, ids};

/// An approval to open if the decision escalates.
#[derive(Clone, Debug)]
pub struct ApprovalDraft {
    /// Binds the approval to the exact request.
    pub digest: String,
    /// Intent or tool call.
    pub kind: ApprovalKind,
    /// The tool.
    pub tool: Option<String>,
    /// The token's jti.
    pub jti: Option<String>,
    /// Action type.
    pub action_type: ActionType,
    /// Verb.
    pub verb: String,
    /// Summary.
    pub summary: Option<String>,
    /// Risk level.
    pub risk_level: RiskLevel,
    /// Modifications the policy required alongside the escalation.
    pub modifications: Option<Modifications>,
    /// How long it stays open.
    pub ttl: Duration,
    /// Most open approvals per agent.
    pub max_open_per_agent: u64,
}

/// What the decision does with approvals.
#[derive(Clone, Debug)]
pub enum ApprovalPlan {
    /// Open (or reuse) an approval if the verdict is an enforced escalate.
    Open(Box<ApprovalDraft>),
    /// The request resumes with this approved approval: use it once.
    Use {
        /// The approval.
        id: ApprovalId,
        /// The request's digest (must match the approval's).
        digest: String,
    },
}

/// Who and what the audit entry names besides the decision.
#[derive(Clone, Debug, Default)]
pub struct AuditContext {
    /// `key:<id>` or `token:<jti>`.
    pub principal: Option<String>,
    /// The token's effective jti.
    pub jti: Option<String>,
    /// The tool, for tool calls.
    pub tool: Option<String>,
}

/// The intent's own columns.
#[derive(Clone, Debug)]
pub struct IntentRecord {
    /// The declaring credential (`key_…` or `token:<jti>`).
    pub credential: String,
    /// The agent that key is restricted to.
    pub bound_agent_id: Option<AgentId>,
    /// Action type.
    pub action_type: ActionType,
    /// Verb.
    pub verb: String,
    /// The request (JSON).
    pub request_json: String,
    /// The policy input document (canonical JSON).
    pub policy_input_json: String,
    /// The policy stage's own verdict (`None` when it did not run).
    pub policy_verdict: Option<Verdict>,
    /// Receipt time.
    pub created_at: Timestamp,
    /// Where to deliver the decision.
    pub callback_url: Option<String>,
}

/// One decision to commit.
#[derive(Clone, Debug)]
pub struct CommitJob {
    /// The decision so far.
    pub draft: DecisionDraft,
    /// The intent's columns.
    pub record: IntentRecord,
    /// Completing an accepted async intent rather than inserting one.
    pub pending: bool,
    /// The idempotency key to claim.
    pub idempotency: Option<IdempotencyRecord>,
    /// Budget to consume.
    pub budget: Option<BudgetCharge>,
    /// Token counters to consume.
    pub token: Option<TokenCharges>,
    /// Approval to open or use.
    pub approval: Option<ApprovalPlan>,
    /// Extra audit fields.
    pub audit: AuditContext,
    /// Digest of the policy input.
    pub input_digest: String,
    /// `(digest, canonical JSON)` of the payload, stored apart from the chain.
    pub payload: Option<(String, String)>,
    /// When the gateway started on the request.
    pub received: Instant,
    /// When the job was queued.
    pub enqueued: Instant,
}

impl CommitJob {
    pub(super) fn audited(&self) -> bool {
        self.draft.decision.environment != Environment::Test
    }

    pub(super) fn rechecks_budget(&self) -> bool {
        self.budget.is_some_and(|b| b.rechecks())
    }

    pub(super) fn token_scopes(&self) -> impl Iterator<Item = &str> {
        self.token.iter().flat_map(|t| t.scopes.iter().map(|s| s.scope_jti.as_str()))
    }
}

/// What became of a decision.
#[derive(Clone, Debug)]
pub enum CommitOutcome {
    /// Recorded; the decision as answered.
    Committed(Box<Decision>),
    /// The idempotency key was already used: nothing was written.
    Duplicate(IdempotencyRecord),
    /// The async intent was decided by another worker: nothing was written.
    AlreadyDecided,
}

fn reason(stage: StageName, code: &str, message: String) -> Reason {
    Reason { stage, code: code.into(), message }
}

/// Re-checks the token's revocation (for any verdict but block) and, for a
/// call that is allowed, its counting caveats in the write transaction;
/// counts the call if it is still allowed.
async fn charge_token(
    tx: &mut StoreTx,
    draft: &mut DecisionDraft,
    charges: &TokenCharges,
    now: Timestamp,
) -> StoreResult<()> {
    let tenant = draft.decision.tenant.clone();
    if let Some(jti) = tx.first_revoked(&tenant, &charges.revocation_jtis).await? {
        draft.block_at(
            StageName::Capability,
            reason(StageName::Capability, "token_revoked", format!("jti `{jti}` of this token was revoked")),
        );
        return Ok(());
    }
    if !draft.verdict.allows() {
        return Ok(());
    }
    let minute = budget::minute_of(now);
    for scope in &charges.scopes {
        let usage = tx.token_usage(&tenant, &scope.scope_jti, minute).await?;
        let exceeded = scope.exceeded(usage, charges.cents);
        if let Some(reason) = exceeded {
            draft.block_at(StageName::Capability, reason);
            return Ok(());
        }
    }
    for scope in &charges.scopes {
        tx.charge_token(&tenant, &scope.scope_jti, charges.cents, minute);
    }
    Ok(())
}

/// The approval of an enforced escalation.
enum Opened {
    /// A pending approval for the same request exists.
    Reused(ApprovalId),
    /// A new one, to insert after the intent it references.
    New(Box<ApprovalRow>),
    /// The agent's queue is full: the decision was turned into a block.
    QueueFull,
}

/// Opens (or reuses) the approval of an enforced escalation; a full queue
/// blocks instead.
async fn open_approval(
    tx: &mut StoreTx,
    draft: &mut DecisionDraft,
    plan: &ApprovalDraft,
    now: Timestamp,
) -> StoreResult<Opened> {
    let decision = &draft.decision;
    if let Some(id) = tx.find_open_approval(&decision.tenant, &plan.digest, now).await? {
        return Ok(Opened::Reused(id));
    }
    let open = tx.count_open_approvals(&decision.tenant, &decision.agent_id, now).await?;
    if open >= plan.max_open_per_agent {
        draft.block_at(
            StageName::Decide,
            reason(
                StageName::Decide,
                "approval_queue_full",
                format!("the agent already has {open} approval requests waiting"),
            ),
        );
        return Ok(Opened::QueueFull);
    }
    let row = ApprovalRow {
        id: ids::approval_id(),
        tenant: decision.tenant.clone(),
        agent_id: decision.agent_id.clone(),
        kind: plan.kind,
        intent_id: decision.intent_id.clone(),
        tool: plan.tool.clone(),
        jti: plan.jti.clone(),
        action_type: plan.action_type,
        verb: plan.verb.clone(),
        summary: plan.summary.clone(),
        reasons: decision.reasons.clone(),
        risk_level: plan.risk_level,
        status: ApprovalStatus::Pending,
        digest: plan.digest.clone(),
        created_at: now,
        expires_at: now + plan.ttl,
        decided_at: None,
        decided_by: None,
        note: None,
        used_at: None,
        modifications: plan.modifications.clone(),
    };
    Ok(Opened::New(Box::new(row)))
}

/// Commits `job`.
pub(super) async fn commit(
    tx: &mut StoreTx,
    job: &CommitJob,
    chains: &mut Chains,
) -> StoreResult<CommitOutcome> {
    let now = Timestamp::now();
    let tenant = job.draft.decision.tenant.clone();
    let agent = job.draft.decision.agent_id.clone();
    let intent_id = job.draft.decision.intent_id.clone();

    if let Some(record) = &job.idempotency
        && let Some(existing) = tx.claim_idempotency(&tenant, record, now).await?
    {
        return Ok(CommitOutcome::Duplicate(existing));
    }
    if job.pending && !tx.lock_pending_intent(&intent_id).await? {
        return Ok(CommitOutcome::AlreadyDecided);
    }

    let mut draft = job.draft.clone();
    if let Some(charges) = &job.token
        && draft.verdict != Verdict::Block
    {
        charge_token(tx, &mut draft, charges, now).await?;
    }
    if let Some(charge) = job.budget
        && draft.verdict.allows()
    {
        if charge.rechecks() {
            let usage = tx.budget_usage(&tenant, &agent, budget::window_start(now)).await?;
            if let Some(reason) = budget::exceeded(&charge.limits, usage, charge.exposure_usd) {
                draft.escalate_at(StageName::Budget, reason);
            }
        }
        if draft.verdict.allows() {
            tx.charge_budget(&tenant, &agent, budget::minute_of(now), charge.exposure_usd);
        }
    }
    if let Some(ApprovalPlan::Use { id, digest }) = &job.approval
        && draft.verdict.allows()
        && !tx.use_approval(&tenant, id, digest, now).await?
    {
        draft.block_at(
            StageName::Decide,
            reason(
                StageName::Decide,
                "approval_used",
                format!("approval `{id}` was already used or has expired"),
            ),
        );
    }

    let environment = draft.decision.environment;
    let mut new_approval = None;
    if draft.decision.verdict == Verdict::Escalate
        && environment == Environment::Live
        && let Some(ApprovalPlan::Open(plan)) = &job.approval
    {
        let approval_id = match open_approval(tx, &mut draft, plan, now).await? {
            Opened::Reused(id) => Some(id),
            Opened::New(row) => {
                let id = row.id.clone();
                new_approval = Some(row);
                Some(id)
            }
            Opened::QueueFull => None,
        };
        draft.decision.approval = approval_id.map(|approval_id| ApprovalRef { approval_id });
    }

    let mut decision = draft.decision;
    decision.decided_at = now.to_datetime();
    decision.latency_us = clock::elapsed_us(job.received);
    let audit_outcome =
        if environment == Environment::Test { StageOutcome::Skip } else { StageOutcome::Pass };
    decision.stages.push(StageReport {
        name: StageName::Audit,
        outcome: audit_outcome,
        duration_us: clock::elapsed_us(job.enqueued),
    });

    // The entry is chained (and its hash known) before anything is
    // written, so the stored decision carries its audit reference.
    let entry = if environment == Environment::Test {
        None
    } else {
        let mut record = chains.next(AuditKind::Decision, &tenant, now)?;
        record.intent_id = Some(intent_id.clone());
        record.agent_id = Some(agent.clone());
        record.environment = Some(environment);
        record.enforced = Some(decision.enforced);
        record.verdict = Some(draft.verdict);
        record.stage = Some(draft.deciding_stage);
        record.reasons = decision.reasons.clone();
        record.bundle_hash = Some(decision.policy.bundle_hash.clone());
        record.input_digest = Some(job.input_digest.clone());
        record.payload_digest = job.payload.as_ref().map(|(digest, _)| digest.clone());
        record.principal = job.audit.principal.clone();
        record.jti = job.audit.jti.clone();
        record.tool = job.audit.tool.clone();
        record.approval_id = decision.approval.as_ref().map(|a| a.approval_id.to_string());
        let reference = chains.reserve(&record)?;
        decision.audit = Some(reference.clone());
        Some((record, reference))
    };

    let decision_json = serde_json::to_string(&decision)
        .map_err(|e| StoreError::Database(format!("encoding decision: {e}").into()))?;
    tx.record_decided_intent(
        crate::store::DecidedIntent {
            id: intent_id,
            tenant: tenant.clone(),
            agent_id: agent,
            credential: job.record.credential.clone(),
            bound_agent_id: job.record.bound_agent_id.clone(),
            environment,
            action_type: job.record.action_type,
            verb: job.record.verb.clone(),
            verdict: decision.verdict,
            would_be_verdict: decision.would_be_verdict,
            request_json: job.record.request_json.clone(),
            decision_json,
            policy_input_json: job.record.policy_input_json.clone(),
            policy_verdict: job.record.policy_verdict,
            created_at: job.record.created_at,
            decided_at: now,
            callback_url: job.record.callback_url.clone(),
        },
        job.pending,
    )
    .await?;
    if let Some(approval) = new_approval {
        tx.insert_approval(&approval).await?;
    }
    if let Some((record, reference)) = entry {
        Chains::insert(tx, record, &reference, job.payload.as_ref());
    }
    Ok(CommitOutcome::Committed(Box::new(decision)))
}
