//! The `identity` stage: the named agent exists, is active, and may be
//! named by these credentials (a key or token bound to one agent names
//! only that one).

use lictor_api::agents::AgentStatus;
use lictor_api::intents::{Reason, StageName, StageOutcome, Verdict};

use super::run::Run;
use super::{Reads, Submission};
use crate::error::Error;
use crate::store::AgentRow;

/// Reads the named agent (later stages and the policy input use it, so
/// it is read even when the stage is skipped) and checks it.
pub(super) async fn run<R: Reads>(run: &mut Run<'_, R>) -> Result<StageOutcome, Error> {
    let sub = run.sub;
    run.agent = run.reads.agent(&sub.tenant, &sub.request.intent.agent.id).await?;
    if run.verdict != Verdict::Approve {
        return Ok(StageOutcome::Skip);
    }
    if let Err(reason) = check(sub, run.agent.as_ref()) {
        run.settle(Verdict::Block, StageName::Identity, reason);
    }
    Ok(run.outcome())
}

/// `Err` is the blocking reason.
fn check(sub: &Submission, agent: Option<&AgentRow>) -> Result<(), Reason> {
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
