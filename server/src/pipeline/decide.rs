//! The `decide` stage: settles the verdict. An escalated request that
//! presents a human's approval (`Lictor-Approval-Id`, live only) goes
//! ahead once if the approval was granted for exactly this request, and is
//! blocked if it was refused, expired, used or granted for another one; an
//! escalation that stays one gets an approval to open. Modifications stay
//! only with a verdict that lets the request go ahead.

use lictor_api::api_keys::Environment;
use lictor_api::intents::{StageName, StageOutcome, Verdict};

use super::Reads;
use super::approval::{self, Resume};
use super::budget::BudgetCharge;
use super::capability::ToolTarget;
use super::run::Run;
use crate::audit::writer::{ApprovalDraft, ApprovalPlan};
use crate::error::Error;

/// Always runs.
pub(super) async fn run<R: Reads>(run: &mut Run<'_, R>) -> Result<StageOutcome, Error> {
    let sub = run.sub;
    if run.verdict == Verdict::Escalate {
        let digest = approval::request_digest(sub, run.engine.bundle().hash());
        // Approvals exist only where verdicts are enforced: live.
        if let (Some(id), Environment::Live) = (&sub.approval_id, sub.key.environment) {
            match run.reads.resume(&sub.tenant, id, &digest).await? {
                Resume::Approved(reason) => {
                    let verdict =
                        if run.modifications.is_some() { Verdict::ApproveModified } else { Verdict::Approve };
                    run.settle(verdict, StageName::Decide, reason);
                    if let Some(agent) = &run.agent {
                        run.charge = Some(BudgetCharge {
                            limits: agent.budget,
                            exposure_usd: run.exposure_usd,
                            enforce: false,
                        });
                    }
                    run.plan = Some(ApprovalPlan::Use { id: id.clone(), digest: digest.clone() });
                }
                Resume::StillPending => {}
                Resume::Refused(reason) => run.settle(Verdict::Block, StageName::Decide, reason),
            }
        }
        if run.verdict == Verdict::Escalate {
            let action = &sub.request.intent.action;
            run.plan = Some(ApprovalPlan::Open(Box::new(ApprovalDraft {
                digest,
                kind: sub.kind(),
                tool: sub.tool.as_ref().map(ToolTarget::full_name),
                jti: sub.token.as_deref().map(|t| t.jti().to_string()),
                action_type: action.action_type,
                verb: action.verb.to_string(),
                summary: action.payload.as_ref().and_then(|p| p.summary.clone()),
                risk_level: run.risk().level,
                modifications: run.modifications.clone(),
                ttl: run.settings.approval_ttl,
                max_open_per_agent: run.settings.max_open_approvals_per_agent,
            })));
        }
    }
    if !run.verdict.allows() {
        run.modifications = None;
    }
    Ok(run.outcome())
}
