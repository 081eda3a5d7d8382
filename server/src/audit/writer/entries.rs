//! Committing what is not a decision but must be in the chain: a forwarded
//! tool call's outcome, a revocation, a human's approval decision.

use std::time::Duration;

use lictor_api::api_keys::Environment;
use lictor_api::approvals::{ApprovalDecisionKind, ApprovalKind, ApprovalStatus};
use lictor_api::audit::AuditKind;
use lictor_api::ids::{AgentId, ApprovalId, IntentId, TenantId};
use lictor_api::intents::{AuditRef, Decision, Modifications, Reason, StageName, Verdict};

use super::Chains;
use crate::clock::Timestamp;
use crate::events::Event;
use crate::store::{ApprovalRow, HumanDecision, RevocationRow, StoreError, StoreResult, StoreTx};

/// The outcome of a forwarded tool call, for the audit log.
#[derive(Clone, Debug)]
pub struct ToolResultJob {
    /// Tenant.
    pub tenant: TenantId,
    /// The call's intent.
    pub intent_id: IntentId,
    /// The agent.
    pub agent_id: AgentId,
    /// The environment of the call (`test` writes nothing).
    pub environment: Environment,
    /// `<upstream>.<tool>`.
    pub tool: String,
    /// The token's effective jti.
    pub jti: Option<String>,
    /// `key:<id>` or `token:<jti>`.
    pub principal: String,
    /// `ok`, `tool_error` or `upstream_error`.
    pub outcome: String,
    /// What the upstream said, when it failed.
    pub reasons: Vec<Reason>,
    /// `(digest, canonical JSON)` of the result, stored apart from the chain.
    pub payload: Option<(String, String)>,
}

impl ToolResultJob {
    pub(super) fn audited(&self) -> bool {
        self.environment != Environment::Test
    }
}

pub(super) async fn tool_result(
    tx: &mut StoreTx,
    job: &ToolResultJob,
    chains: &mut Chains,
) -> StoreResult<Option<AuditRef>> {
    if !job.audited() {
        return Ok(None);
    }
    let mut record = chains.next(AuditKind::ToolResult, &job.tenant, Timestamp::now())?;
    record.intent_id = Some(job.intent_id.clone());
    record.agent_id = Some(job.agent_id.clone());
    record.environment = Some(job.environment);
    record.tool = Some(job.tool.clone());
    record.jti = job.jti.clone();
    record.principal = Some(job.principal.clone());
    record.outcome = Some(job.outcome.clone());
    record.reasons = job.reasons.clone();
    record.payload_digest = job.payload.as_ref().map(|(digest, _)| digest.clone());
    chains.append(tx, &record, job.payload.as_ref()).await.map(Some)
}

/// A revocation to record.
#[derive(Clone, Debug)]
pub struct RevocationJob {
    /// The revocation.
    pub revocation: RevocationRow,
    /// The person revoking, if one is.
    pub person: Option<lictor_api::operators::Person>,
}

/// Records the revocation (the first one of a jti wins; repeating it
/// changes nothing and adds no entry).
pub(super) async fn revocation(
    tx: &mut StoreTx,
    job: &RevocationJob,
    chains: &mut Chains,
) -> StoreResult<(RevocationRow, Option<Event>)> {
    let wanted = &job.revocation;
    let stored = tx.revoke_jti(wanted).await?;
    if stored != *wanted {
        return Ok((stored, None));
    }
    let mut record = chains.next(AuditKind::TokenRevoked, &wanted.tenant, wanted.revoked_at)?;
    record.jti = Some(wanted.jti.clone());
    record.principal = Some(wanted.revoked_by.clone());
    record.person = job.person.clone();
    record.reasons = vec![Reason {
        stage: StageName::Capability,
        code: "token_revoked".into(),
        message: wanted.reason.clone(),
    }];
    chains.append(tx, &record, None).await?;
    Ok((stored, Some(Event::Revocation { tenant: wanted.tenant.clone() })))
}

/// A human's decision on an approval.
#[derive(Clone, Debug)]
pub struct ApprovalDecisionJob {
    /// Tenant.
    pub tenant: TenantId,
    /// The approval.
    pub approval_id: ApprovalId,
    /// Approve or reject.
    pub decision: ApprovalDecisionKind,
    /// The deciding administrator (`superadmin`, `key:<id>`,
    /// `session:<id>`…).
    pub decided_by: String,
    /// The person deciding, if one is.
    pub person: Option<lictor_api::operators::Person>,
    /// Their note.
    pub note: Option<String>,
    /// How long an approval stays usable once approved.
    pub usable_for: Duration,
}

/// What became of an approval decision.
#[derive(Clone, Debug)]
pub enum ApprovalDecisionOutcome {
    /// Recorded; the approval as it now stands.
    Decided(Box<ApprovalRow>),
    /// No such approval in the tenant.
    NotFound,
    /// It was not pending (already decided, used or expired).
    NotPending(ApprovalStatus),
}

fn human_reason(job: &ApprovalDecisionJob) -> Reason {
    let (code, verb) = match job.decision {
        ApprovalDecisionKind::Approve => ("approved_by_human", "approved"),
        ApprovalDecisionKind::Reject => ("rejected_by_human", "rejected"),
    };
    let message = match &job.note {
        Some(note) => format!("{verb} by {}: {note}", job.decided_by),
        None => format!("{verb} by {}", job.decided_by),
    };
    Reason { stage: StageName::Decide, code: code.into(), message }
}

/// An intent's decision once a human decided its escalation: approved, it
/// carries the modifications the policy required alongside the escalation.
fn human_decision(
    mut decision: Decision,
    verdict: Verdict,
    reason: Reason,
    modifications: Option<Modifications>,
) -> Decision {
    decision.reasons.push(reason);
    match (verdict, modifications) {
        (Verdict::Approve, Some(modifications)) => {
            decision.verdict = Verdict::ApproveModified;
            decision.modifications = Some(modifications);
        }
        (verdict, _) => decision.verdict = verdict,
    }
    decision
}

pub(super) async fn approval_decision(
    tx: &mut StoreTx,
    job: &ApprovalDecisionJob,
    chains: &mut Chains,
) -> StoreResult<(ApprovalDecisionOutcome, Option<Event>)> {
    let now = Timestamp::now();
    let Some(approval) = tx.get_approval(&job.tenant, &job.approval_id).await? else {
        return Ok((ApprovalDecisionOutcome::NotFound, None));
    };
    let (human, verdict, outcome) = match job.decision {
        ApprovalDecisionKind::Approve => {
            (HumanDecision::Approved { usable_until: now + job.usable_for }, Verdict::Approve, "approved")
        }
        ApprovalDecisionKind::Reject => (HumanDecision::Rejected, Verdict::Block, "rejected"),
    };
    let decided = tx
        .decide_approval(&job.tenant, &job.approval_id, human, &job.decided_by, job.note.as_deref(), now)
        .await?;
    if !decided {
        return Ok((ApprovalDecisionOutcome::NotPending(approval.status_at(now)), None));
    }
    let reason = human_reason(job);

    // An escalated intent's decision becomes the human's (tool calls are
    // resumed by the agent instead).
    if approval.kind == ApprovalKind::Intent
        && let Some(json) = tx.lock_intent_decision(&job.tenant, &approval.intent_id).await?
    {
        let decision: Decision = serde_json::from_str(&json)
            .map_err(|e| StoreError::Corrupt(format!("stored decision: {e}").into()))?;
        let updated = human_decision(decision, verdict, reason.clone(), approval.modifications.clone());
        let json = serde_json::to_string(&updated).map_err(|e| StoreError::Database(e.to_string().into()))?;
        tx.update_intent_decision(&approval.intent_id, updated.verdict, &json, now).await?;
    }

    let mut record = chains.next(AuditKind::ApprovalDecision, &job.tenant, now)?;
    record.intent_id = Some(approval.intent_id.clone());
    record.agent_id = Some(approval.agent_id.clone());
    record.verdict = Some(verdict);
    record.stage = Some(StageName::Decide);
    record.reasons = vec![reason];
    record.principal = Some(job.decided_by.clone());
    record.person = job.person.clone();
    record.jti = approval.jti.clone();
    record.tool = approval.tool.clone();
    record.approval_id = Some(job.approval_id.to_string());
    record.outcome = Some(outcome.into());
    chains.append(tx, &record, None).await?;

    let updated = tx
        .get_approval(&job.tenant, &job.approval_id)
        .await?
        .ok_or_else(|| StoreError::Corrupt(format!("approval `{}` vanished", job.approval_id).into()))?;
    Ok((
        ApprovalDecisionOutcome::Decided(Box::new(updated)),
        Some(Event::Approval { tenant: job.tenant.clone(), id: job.approval_id.clone() }),
    ))
}
