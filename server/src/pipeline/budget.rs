//! The `budget` stage: per agent, a rolling 24-hour window of approved
//! decisions and their summed financial exposure.
//!
//! The window is kept in one-minute buckets (the current minute and the
//! 1,439 before it). Only decisions whose verdict lets the agent act
//! consume budget, and only outside `test`. The stage checks against a
//! snapshot; the decision writer checks again, under a lock, in the
//! transaction that consumes, so concurrent requests (on any number of
//! gateways) can never overshoot a limit.

use lictor_api::agents::AgentBudget;
use lictor_api::api_keys::Environment;
use lictor_api::intents::{Reason, StageName, StageOutcome, Verdict};

use super::Reads;
use super::run::Run;
use crate::clock::Timestamp;
use crate::error::Error;

use crate::store::BudgetUsage;

/// What to consume from the agent's budget if the decision lets it act.
#[derive(Clone, Copy, Debug)]
pub struct BudgetCharge {
    /// The agent's limits.
    pub limits: AgentBudget,
    /// The intent's financial exposure.
    pub exposure_usd: f64,
    /// Whether the limits are re-checked under lock (not when a human
    /// approval already let this request past the budget).
    pub enforce: bool,
}

impl BudgetCharge {
    /// Whether the writer re-checks the limits under lock before it charges.
    pub fn rechecks(&self) -> bool {
        self.enforce && has_limits(&self.limits)
    }
}

/// Checks the agent's rolling window against a snapshot when the verdict
/// lets it act, and says what the decision will consume (nothing in `test`).
pub(super) async fn run<R: Reads>(run: &mut Run<'_, R>) -> Result<StageOutcome, Error> {
    let sub = run.sub;
    let (Some(agent), true) = (&run.agent, run.verdict.allows()) else {
        return Ok(StageOutcome::Skip);
    };
    let (limits, agent_id) = (agent.budget, agent.id.clone());
    if has_limits(&limits) {
        let usage = run.reads.budget_usage(&sub.tenant, &agent_id, window_start(Timestamp::now())).await?;
        if let Some(reason) = exceeded(&limits, usage, run.exposure_usd) {
            run.settle(Verdict::Escalate, StageName::Budget, reason);
        }
    }
    if run.verdict.allows() && sub.key.environment != Environment::Test {
        run.charge = Some(BudgetCharge { limits, exposure_usd: run.exposure_usd, enforce: true });
    }
    Ok(run.outcome())
}

/// Minutes in the rolling window.
pub(crate) const WINDOW_MINUTES: i64 = 24 * 60;

/// The bucket (whole minutes since the epoch) a time falls in.
pub(crate) fn minute_of(time: Timestamp) -> i64 {
    time.seconds().div_euclid(60)
}

/// The first bucket of the window ending at `time`.
pub(crate) fn window_start(time: Timestamp) -> i64 {
    minute_of(time) - (WINDOW_MINUTES - 1)
}

/// Whether the agent has any limit.
pub(crate) fn has_limits(budget: &AgentBudget) -> bool {
    budget.max_decisions_24h.is_some() || budget.max_exposure_usd_24h.is_some()
}

/// If one more decision of `exposure_usd` would take `usage` past a
/// limit, the reason to escalate with.
pub(crate) fn exceeded(budget: &AgentBudget, usage: BudgetUsage, exposure_usd: f64) -> Option<Reason> {
    if let Some(max) = budget.max_decisions_24h
        && usage.decisions.saturating_add(1) > max
    {
        return Some(Reason {
            stage: StageName::Budget,
            code: "budget_decisions_exceeded".into(),
            message: format!(
                "agent reached its limit of {max} approved decisions in 24 hours ({} used)",
                usage.decisions
            ),
        });
    }
    if let Some(max) = budget.max_exposure_usd_24h
        && usage.exposure_usd + exposure_usd > max.get()
    {
        return Some(Reason {
            stage: StageName::Budget,
            code: "budget_exposure_exceeded".into(),
            message: format!(
                "{exposure_usd} USD would take the agent past its 24-hour limit of {} USD ({} USD used)",
                max.get(),
                usage.exposure_usd
            ),
        });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use lictor_api::money::UsdAmount;

    #[test]
    fn window_covers_a_day_of_minutes() {
        let now = Timestamp::from_micros(1_763_771_281_123_456);
        assert_eq!(minute_of(now) - window_start(now) + 1, WINDOW_MINUTES);
        // Minutes are counted as before the unit was a type: µs / 60 000 000.
        assert_eq!(minute_of(now), 1_763_771_281_123_456_i64.div_euclid(60_000_000));
        assert_eq!(minute_of(Timestamp::from_micros(-1)), -1);
    }

    #[test]
    fn limits_are_inclusive() {
        let budget = AgentBudget {
            max_decisions_24h: Some(2),
            max_exposure_usd_24h: Some(UsdAmount::new(100.0).unwrap_or(UsdAmount::ZERO)),
        };
        let used = |decisions, exposure_usd| BudgetUsage { decisions, exposure_usd };
        assert!(exceeded(&budget, used(1, 0.0), 100.0).is_none());
        assert!(exceeded(&budget, used(2, 0.0), 0.0).is_some());
        assert!(exceeded(&budget, used(0, 60.0), 40.0).is_none());
        assert!(exceeded(&budget, used(0, 60.0), 40.01).is_some());
        assert!(exceeded(&AgentBudget::default(), used(1_000_000, 1e12), 1e12).is_none());
    }
}
