//! The decision pipeline. Stages run in this order, and
//! [`Pipeline::decide`] reads top to bottom as they run:
//!
//! `authenticate` → `validate` (both in the HTTP layer) → `identity` →
//! `risk` → `policy` → `budget` → `decide` → `audit` (in [`commit`]).
//!
//! Every stage reports `{name, outcome, duration_us}`. A stage that blocks
//! or escalates settles the verdict; later stages that cannot change it
//! are reported as `skip`. The decision is answered only once the commit
//! writer has made it durable together with its audit entry.

pub mod budget;
pub mod commit;
pub mod risk;

use std::sync::Arc;
use std::time::Instant;

use serde_json::{Value, json};
use tollgate_api::agents::AgentStatus;
use tollgate_api::api_keys::Environment;
use tollgate_api::ids::{AgentId, ApiKeyId, IntentId, TenantId};
use tollgate_api::intents::{
    Decision, IntentRequest, Modifications, Payload, Reason, StageName, StageOutcome, StageReport, Verdict,
};

use crate::audit::{canonical_string, digest_json};
use crate::clock;
use crate::error::Error;
use crate::policy::{PolicyEngine, PolicyRegistry};
use crate::store::{AgentRow, IdempotencyRecord, Store};
use commit::{BudgetCharge, CommitJob, CommitOutcome, CommitQueue, IntentRecord};

/// The credentials an intent was declared with.
#[derive(Clone, Debug)]
pub struct KeyContext {
    /// The API key.
    pub api_key_id: ApiKeyId,
    /// Its environment.
    pub environment: Environment,
    /// The agent it is restricted to.
    pub bound_agent: Option<AgentId>,
}

/// An intent to decide.
#[derive(Clone, Debug)]
pub struct Submission {
    /// Its id.
    pub intent_id: IntentId,
    /// Its tenant.
    pub tenant: TenantId,
    /// The key that declared it.
    pub key: KeyContext,
    /// The validated request.
    pub request: IntentRequest,
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
}

/// A decision on its way to the writer: the Decision as it will be
/// answered (minus the audit reference), plus what the writer needs to
/// re-check the budget and to chain the audit entry.
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
    }
}

/// Runs intents through the stages and hands decisions to the writer.
#[derive(Clone, Debug)]
pub struct Pipeline {
    store: Store,
    policies: PolicyRegistry,
    commits: CommitQueue,
}

fn stage(name: StageName, outcome: StageOutcome, started: Instant) -> StageReport {
    StageReport { name, outcome, duration_us: elapsed_us(started) }
}

fn elapsed_us(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX)
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
/// named by this key. `Err` is the blocking reason.
fn check_identity(sub: &Submission, agent: Option<&AgentRow>) -> Result<(), Reason> {
    let named = &sub.request.intent.agent.id;
    let block =
        |code: &str, message: String| Reason { stage: StageName::Identity, code: code.into(), message };
    if let Some(bound) = &sub.key.bound_agent
        && bound != named
    {
        return Err(block(
            "agent_mismatch",
            format!("this key may act only for agent `{bound}`, not `{named}`"),
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
fn policy_input(sub: &Submission, agent: Option<&AgentRow>, risk: &tollgate_api::intents::Risk) -> Value {
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
    patch: &[tollgate_api::intents::PatchOperation],
) -> Result<Payload, String> {
    let mut document =
        serde_json::to_value(payload.cloned().unwrap_or_default()).map_err(|e| e.to_string())?;
    let operations: json_patch::Patch = serde_json::to_value(patch)
        .and_then(serde_json::from_value)
        .map_err(|e| format!("invalid patch: {e}"))?;
    json_patch::patch(&mut document, &operations).map_err(|e| format!("patch does not apply: {e}"))?;
    tollgate_api::extract::parse_value::<Payload>(document)
        .map_err(|e| format!("patched payload is invalid: {}", e.message))
}

impl Pipeline {
    /// A pipeline over `store`, deciding with `policies`, committing through `commits`.
    pub fn new(store: Store, policies: PolicyRegistry, commits: CommitQueue) -> Pipeline {
        Pipeline { store, policies, commits }
    }

    /// Decides `sub` and waits until the decision is durable.
    pub async fn decide(&self, sub: Submission) -> Result<CommitOutcome, Error> {
        let mut stages = sub.front_stages.clone();
        let mut reasons: Vec<Reason> = Vec::new();
        let engine: Arc<PolicyEngine> = self.policies.for_tenant(&sub.tenant);

        // identity
        let started = Instant::now();
        let agent = self.store.get_agent(&sub.tenant, &sub.request.intent.agent.id).await?;
        let identity = check_identity(&sub, agent.as_ref());
        let identity_ok = identity.is_ok();
        if let Err(reason) = identity {
            reasons.push(reason);
        }
        stages.push(stage(
            StageName::Identity,
            if identity_ok { StageOutcome::Pass } else { StageOutcome::Fail },
            started,
        ));

        // risk
        let started = Instant::now();
        let risk = risk::assess(&sub.request.intent);
        stages.push(stage(StageName::Risk, StageOutcome::Pass, started));

        // policy
        let started = Instant::now();
        let input = policy_input(&sub, agent.as_ref(), &risk);
        let payload = sub.request.intent.action.payload.as_ref();
        let mut modifications = None;
        let mut alternatives = None;
        let (mut verdict, mut deciding_stage) = (Verdict::Block, StageName::Identity);
        if identity_ok {
            deciding_stage = StageName::Policy;
            let evaluated = engine.evaluate(&input);
            verdict = match evaluated {
                Ok(output) => {
                    reasons.extend(output.reasons.into_iter().map(|r| Reason {
                        stage: StageName::Policy,
                        code: r.code,
                        message: r.message,
                    }));
                    if !output.alternatives.is_empty() {
                        alternatives = Some(output.alternatives);
                    }
                    if output.verdict == Verdict::ApproveModified {
                        match apply_patch(payload, &output.patch) {
                            Ok(modified_payload) => {
                                modifications = Some(Modifications { patch: output.patch, modified_payload });
                                Verdict::ApproveModified
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
            stages.push(stage(StageName::Policy, outcome_of(verdict), started));
        } else {
            stages.push(skipped(StageName::Policy));
        }

        // budget
        let started = Instant::now();
        let exposure_usd = payload
            .and_then(|p| p.estimated_impact.as_ref())
            .and_then(|i| i.financial_exposure_usd)
            .map(|a| a.get())
            .unwrap_or(0.0);
        let mut charge = None;
        match (&agent, verdict.allows()) {
            (Some(agent), true) => {
                if budget::has_limits(&agent.budget) {
                    let usage = self
                        .store
                        .budget_usage(&sub.tenant, &agent.id, budget::window_start(clock::now_micros()))
                        .await?;
                    if let Some(reason) = budget::exceeded(&agent.budget, usage, exposure_usd) {
                        reasons.push(reason);
                        verdict = Verdict::Escalate;
                        deciding_stage = StageName::Budget;
                        modifications = None;
                    }
                }
                if verdict.allows() && sub.key.environment != Environment::Test {
                    charge = Some(BudgetCharge { limits: agent.budget, exposure_usd });
                }
                stages.push(stage(StageName::Budget, outcome_of(verdict), started));
            }
            _ => stages.push(skipped(StageName::Budget)),
        }

        // decide
        let started = Instant::now();
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
        let job = CommitJob {
            draft,
            record: IntentRecord {
                api_key_id: sub.key.api_key_id.clone(),
                bound_agent_id: sub.key.bound_agent.clone(),
                action_type: sub.request.intent.action.action_type,
                verb: sub.request.intent.action.verb.to_string(),
                request_json: serde_json::to_string(&sub.request).unwrap_or_default(),
                policy_input_json: canonical_string(&input),
                created_at: sub.created_at,
                callback_url: sub.callback_url.clone(),
            },
            pending: sub.pending,
            idempotency: sub.idempotency.clone(),
            budget: charge,
            input_digest: digest_json(&input),
            payload: payload_json.map(|p| (digest_json(&p), canonical_string(&p))),
            received: sub.received,
            enqueued: Instant::now(),
        };
        Ok(self.commits.commit(job).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tollgate_api::intents::{PatchOp, PatchOperation};

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
