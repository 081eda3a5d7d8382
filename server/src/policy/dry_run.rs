//! Dry-runs: a candidate bundle evaluated on synthetic inputs and on the
//! recorded inputs of past decisions, compared with what the policy stage
//! answered then.
//!
//! Replay compares like with like: the *policy stage's* verdict then (stored
//! with each decision) against the candidate's verdict on the very input
//! document the policy saw, so budget escalations and human approvals that
//! came later in the pipeline do not show up as policy changes. Decisions
//! that never reached the policy stage (bad credentials, capability, a
//! suspended agent) are counted as skipped: no policy would change them.

use std::collections::BTreeMap;
use std::time::Instant;

use lictor_api::intents::{StageName, StageOutcome, Verdict};
use lictor_api::policies::{
    DryRunWarning, HistoryDiff, PolicyEvaluation, PolicyReason, ReplaySample, VerdictChange,
};
use serde_json::Value;

use super::PolicyEngine;
use crate::clock::Timestamp;
use crate::store::ReplayRow;

/// Samples kept per verdict change.
const SAMPLES: usize = 10;

/// Evaluates `input` as the pipeline would: an error is a `block`.
pub(crate) fn evaluate(engine: &PolicyEngine, input: &Value) -> PolicyEvaluation {
    let started = Instant::now();
    let result = engine.evaluate(input);
    let duration_us = crate::clock::elapsed_us(started);
    match result {
        Ok(output) => PolicyEvaluation {
            verdict: output.verdict,
            reasons: output
                .reasons
                .into_iter()
                .map(|r| PolicyReason { code: r.code, message: r.message })
                .collect(),
            patch: output.patch,
            alternatives: output.alternatives,
            error: None,
            duration_us,
        },
        Err(error) => PolicyEvaluation {
            verdict: Verdict::Block,
            reasons: Vec::new(),
            patch: Vec::new(),
            alternatives: Vec::new(),
            error: Some(PolicyReason { code: error.code().into(), message: error.to_string() }),
            duration_us,
        },
    }
}

/// The policy stage's verdict on a recorded decision, with the bundle that
/// gave it; `None` when the policy stage did not run.
fn recorded_verdict(row: &ReplayRow, decision: Option<&Value>) -> Option<Verdict> {
    if let Some(verdict) = row.policy_verdict {
        return Some(verdict);
    }
    // Decisions recorded before the policy verdict was stored: read it off
    // the stage report (a patch that was applied means approve_modified).
    let decision = decision?;
    let stage = decision["stages"].as_array()?.iter().find(|s| s["name"] == StageName::Policy.as_str())?;
    let outcome: StageOutcome = serde_json::from_value(stage["outcome"].clone()).ok()?;
    match outcome {
        StageOutcome::Skip => None,
        StageOutcome::Fail => Some(Verdict::Block),
        StageOutcome::Escalate => Some(Verdict::Escalate),
        StageOutcome::Pass if decision["modifications"].is_object() => Some(Verdict::ApproveModified),
        StageOutcome::Pass => Some(Verdict::Approve),
    }
}

/// Figures of a replay the warnings need.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct ReplayStats {
    /// Replayed decisions the policy allowed then.
    pub allowed_before: u64,
    /// Of those, how many the candidate blocks.
    pub newly_blocked: u64,
    /// Replayed decisions blocked or escalated then that the candidate allows.
    pub loosened: u64,
}

/// Replays `rows` (newest first) through `engine`.
pub(crate) fn replay(
    engine: &PolicyEngine,
    rows: &[ReplayRow],
    from: Timestamp,
    to: Timestamp,
    truncated: bool,
) -> (HistoryDiff, ReplayStats) {
    let mut stats = ReplayStats::default();
    let mut diff = HistoryDiff {
        from: from.to_datetime(),
        to: to.to_datetime(),
        replayed: 0,
        skipped: 0,
        unchanged: 0,
        changed: 0,
        errors: 0,
        truncated,
        changes: Vec::new(),
        verdicts: BTreeMap::new(),
    };
    let mut changes: BTreeMap<(Verdict, Verdict), VerdictChange> = BTreeMap::new();
    for row in rows {
        let decision: Option<Value> = row.decision.as_deref().and_then(|d| serde_json::from_str(d).ok());
        let input: Option<Value> = row.policy_input.as_deref().and_then(|i| serde_json::from_str(i).ok());
        let (Some(before), Some(input)) = (recorded_verdict(row, decision.as_ref()), input) else {
            diff.skipped += 1;
            continue;
        };
        diff.replayed += 1;
        let evaluation = evaluate(engine, &input);
        stats.allowed_before += u64::from(before.allows());
        stats.newly_blocked += u64::from(before.allows() && evaluation.verdict == Verdict::Block);
        stats.loosened += u64::from(!before.allows() && evaluation.verdict.allows());
        diff.errors += u64::from(evaluation.error.is_some());
        *diff.verdicts.entry(evaluation.verdict.as_str().to_string()).or_default() += 1;
        if evaluation.verdict == before {
            diff.unchanged += 1;
            continue;
        }
        diff.changed += 1;
        let change = changes.entry((before, evaluation.verdict)).or_insert_with(|| VerdictChange {
            from: before,
            to: evaluation.verdict,
            count: 0,
            samples: Vec::new(),
        });
        change.count += 1;
        if change.samples.len() < SAMPLES {
            let mut reasons = evaluation.reasons;
            reasons.extend(evaluation.error);
            change.samples.push(ReplaySample {
                intent_id: row.intent_id.clone(),
                agent_id: row.agent_id.clone(),
                decided_at: row.decided_at.to_datetime(),
                recorded_bundle_hash: decision
                    .as_ref()
                    .and_then(|d| d["policy"]["bundle_hash"].as_str())
                    .unwrap_or_default()
                    .to_string(),
                reasons,
            });
        }
    }
    diff.changes = changes.into_values().collect();
    diff.changes.sort_by_key(|c| std::cmp::Reverse(c.count));
    (diff, stats)
}

fn percent(part: u64, whole: u64) -> u64 {
    (part * 100).checked_div(whole).unwrap_or(0)
}

/// What deserves a second look before promoting.
pub(crate) fn warnings(
    inputs: &[PolicyEvaluation],
    history: Option<(&HistoryDiff, ReplayStats)>,
) -> Vec<DryRunWarning> {
    let mut warnings = Vec::new();
    let mut warn = |code: &str, message: String| warnings.push(DryRunWarning { code: code.into(), message });
    let replayed_allowed: u64 = history
        .map(|(h, _)| {
            h.verdicts
                .iter()
                .filter(|(v, _)| Verdict::parse(v).is_some_and(Verdict::allows))
                .map(|(_, n)| n)
                .sum()
        })
        .unwrap_or(0);
    let evaluated = inputs.len() as u64 + history.map_or(0, |(h, _)| h.replayed);
    let allowed = inputs.iter().filter(|e| e.verdict.allows()).count() as u64 + replayed_allowed;
    let errors =
        inputs.iter().filter(|e| e.error.is_some()).count() as u64 + history.map_or(0, |(h, _)| h.errors);
    let loosened = history.map_or(0, |(_, s)| s.loosened);

    if let Some((h, stats)) = history {
        if stats.newly_blocked > 0 && stats.newly_blocked * 2 >= stats.allowed_before {
            warn(
                "mass_block",
                format!(
                    "blocks {} of the {} replayed decisions the policy allowed ({}%)",
                    stats.newly_blocked,
                    stats.allowed_before,
                    percent(stats.newly_blocked, stats.allowed_before)
                ),
            );
        }
        if h.replayed == 0 {
            warn("no_history", "no recorded decision in the window reached the policy stage".into());
        }
        if h.truncated {
            warn(
                "history_truncated",
                format!("only the newest {} decisions of the window were replayed", h.replayed + h.skipped),
            );
        }
    }
    if inputs.len() >= 2 && inputs.iter().all(|e| e.verdict == Verdict::Block) {
        warn("mass_block", format!("blocks every one of the {} synthetic inputs", inputs.len()));
    }
    if evaluated >= 2 && allowed == evaluated && (loosened > 0 || evaluated >= 10) {
        warn(
            "allows_everything",
            format!(
                "allows all {evaluated} evaluated inputs, {loosened} of them recorded as blocked or escalated"
            ),
        );
    }
    if errors > 0 {
        warn(
            "policy_errors",
            format!(
                "fails on {errors} of {evaluated} inputs ({}%); failures block",
                percent(errors, evaluated)
            ),
        );
    }
    warnings
}
