//! One decision on its way through the stages: the submission, what the
//! stages read, and the verdict so far.
//!
//! Every stage is a function of the same shape — `run(&mut Run) ->
//! StageOutcome` (async where it reads) — in a file of its own. A stage
//! decides whether it applies (answering [`StageOutcome::Skip`] when it does
//! not), reads what it needs, and settles the verdict through
//! [`Run::settle`]; the driver, [`super::Pipeline::prepare`], calls them in
//! the order of [`StageName::ALL`] and writes each one's report.

use std::sync::Arc;

use lictor_api::intents::{Alternative, Modifications, Reason, Risk, StageName, StageOutcome, Verdict};
use serde_json::Value;

use super::budget::BudgetCharge;
use super::capability::TokenCharges;
use super::{PipelineSettings, Reads, Submission, policy, risk};
use crate::audit::writer::ApprovalPlan;
use crate::policy::PolicyEngine;
use crate::store::AgentRow;

/// The state every stage reads and settles.
pub(super) struct Run<'a, R: Reads> {
    /// The request.
    pub sub: &'a Submission,
    /// Where stages read from (the store, or fixed answers in benchmarks).
    pub reads: &'a R,
    /// The pipeline's settings.
    pub settings: &'a PipelineSettings,
    /// The tenant's active policy.
    pub engine: Arc<PolicyEngine>,
    /// The intent's financial exposure in USD (0 when it names none).
    pub exposure_usd: f64,
    /// The named agent, as `identity` found it.
    pub agent: Option<AgentRow>,
    risk: Option<Risk>,
    input: Option<Value>,
    /// The verdict so far.
    pub verdict: Verdict,
    /// The stage that settled it (`policy` until another one does).
    pub deciding_stage: StageName,
    /// Every reason given so far.
    pub reasons: Vec<Reason>,
    /// What an allowed call consumes from its token (`capability`).
    pub token_charges: Option<TokenCharges>,
    /// The policy's modifications (`policy`; dropped by `decide` unless
    /// the request goes ahead).
    pub modifications: Option<Modifications>,
    /// The policy's suggested alternatives.
    pub alternatives: Option<Vec<Alternative>>,
    /// The policy stage's own verdict, when it ran.
    pub policy_verdict: Option<Verdict>,
    /// What the decision consumes from the agent's budget (`budget`).
    pub charge: Option<BudgetCharge>,
    /// The approval to open or use (`decide`).
    pub plan: Option<ApprovalPlan>,
}

impl<'a, R: Reads> Run<'a, R> {
    /// A run of `sub`, approved until a stage says otherwise.
    pub(super) fn new(
        sub: &'a Submission,
        reads: &'a R,
        settings: &'a PipelineSettings,
        engine: Arc<PolicyEngine>,
    ) -> Self {
        let exposure_usd = sub
            .request
            .intent
            .action
            .payload
            .as_ref()
            .and_then(|p| p.estimated_impact.as_ref())
            .and_then(|i| i.financial_exposure_usd)
            .map(|a| a.get())
            .unwrap_or(0.0);
        Run {
            sub,
            reads,
            settings,
            engine,
            exposure_usd,
            agent: None,
            risk: None,
            input: None,
            verdict: Verdict::Approve,
            deciding_stage: StageName::Policy,
            reasons: Vec::new(),
            token_charges: None,
            modifications: None,
            alternatives: None,
            policy_verdict: None,
            charge: None,
            plan: None,
        }
    }

    /// `stage` settles the verdict, giving `reason`.
    pub(super) fn settle(&mut self, verdict: Verdict, stage: StageName, reason: Reason) {
        self.reasons.push(reason);
        self.verdict = verdict;
        self.deciding_stage = stage;
    }

    /// The intent's risk, assessed once: `capability` may need it (for a
    /// `step_up` caveat) before `risk` reports it.
    pub(super) fn risk(&mut self) -> &Risk {
        self.risk.get_or_insert_with(|| risk::assess(&self.sub.request.intent))
    }

    /// The document the policy evaluates, built once (after `identity`,
    /// since it names the agent). It is stored with the decision whether or
    /// not the policy ran.
    pub(super) fn input(&mut self) -> &Value {
        if self.input.is_none() {
            self.risk();
        }
        let Run { sub, agent, risk, input, .. } = self;
        input.get_or_insert_with(|| match risk {
            Some(risk) => policy::input(sub, agent.as_ref(), risk),
            None => policy::input(sub, agent.as_ref(), &risk::assess(&sub.request.intent)),
        })
    }

    /// The report outcome of the verdict a stage that ran leaves.
    pub(super) fn outcome(&self) -> StageOutcome {
        match self.verdict {
            Verdict::Approve | Verdict::ApproveModified => StageOutcome::Pass,
            Verdict::Escalate => StageOutcome::Escalate,
            Verdict::Block => StageOutcome::Fail,
        }
    }

    /// Takes the risk and the policy input, for the decision and its
    /// record (after the last stage).
    pub(super) fn finish(&mut self) -> (Risk, Value) {
        let risk = self.risk.take().unwrap_or_else(|| risk::assess(&self.sub.request.intent));
        let input = self.input.take().unwrap_or_else(|| policy::input(self.sub, self.agent.as_ref(), &risk));
        (risk, input)
    }
}
