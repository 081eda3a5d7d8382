//! The `risk` stage: a deterministic score in [0, 1] from six factors.
//!
//! Each factor maps part of the intent to a value in [0, 1]; the score is
//! the weighted sum (weights sum to 1), rounded to 4 decimals. The same
//! intent always gets the same score. `docs/risk.md` documents the table.

use lictor_api::intents::{ActionType, Intent, Risk, RiskFactor, RiskLevel, Sensitivity, StageOutcome};

use super::Reads;
use super::run::Run;

/// Factor weights, in report order. They sum to 1.
pub(crate) const WEIGHTS: [(&str, f64); 6] = [
    ("action_type", 0.15),
    ("financial_exposure", 0.25),
    ("reversibility", 0.20),
    ("audience_size", 0.15),
    ("target_sensitivity", 0.15),
    ("regulatory_domains", 0.10),
];

fn round4(v: f64) -> f64 {
    (v * 10_000.0).round() / 10_000.0
}

/// Inherent risk of the kind of action.
pub(crate) fn action_type_value(t: ActionType) -> f64 {
    match t {
        ActionType::Recommend => 0.1,
        ActionType::Access => 0.3,
        ActionType::Communicate => 0.4,
        ActionType::Modify => 0.6,
        ActionType::Publish => 0.6,
        ActionType::Control => 0.8,
        ActionType::Transact => 0.9,
    }
}

/// `log10(1 + x) / 6`, capped at 1: one million reaches the top.
fn log_scale(x: f64) -> f64 {
    ((1.0 + x.max(0.0)).log10() / 6.0).min(1.0)
}

fn sensitivity_value(s: Sensitivity) -> f64 {
    match s {
        Sensitivity::Public => 0.0,
        Sensitivity::Internal => 0.33,
        Sensitivity::Confidential => 0.67,
        Sensitivity::Restricted => 1.0,
    }
}

/// Reports the intent's risk (assessed once, perhaps already for
/// `capability`); it never settles the verdict, so it always passes.
pub(super) fn run<R: Reads>(run: &mut Run<'_, R>) -> StageOutcome {
    run.risk();
    StageOutcome::Pass
}

/// Scores an intent.
pub fn assess(intent: &Intent) -> Risk {
    let action = &intent.action;
    let impact = action.payload.as_ref().and_then(|p| p.estimated_impact.clone()).unwrap_or_default();
    let exposure = impact.financial_exposure_usd.map(|a| a.get());
    let domains = impact.regulatory_domains.as_ref().map(Vec::len).unwrap_or(0);
    let sensitivity = action.target.as_ref().and_then(|t| t.sensitivity);

    let values: [(f64, String); 6] = [
        (action_type_value(action.action_type), format!("action type `{}`", action.action_type.as_str())),
        (
            exposure.map(log_scale).unwrap_or(0.0),
            match exposure {
                Some(usd) => format!("{usd} USD at stake"),
                None => "no financial exposure declared".into(),
            },
        ),
        match impact.reversible {
            Some(true) => (0.0, "reversible".into()),
            Some(false) => (1.0, "irreversible".into()),
            None => (0.5, "reversibility unknown".into()),
        },
        (
            impact.audience_size.map(|n| log_scale(n as f64)).unwrap_or(0.0),
            match impact.audience_size {
                Some(n) => format!("audience of {n}"),
                None => "no audience declared".into(),
            },
        ),
        (
            sensitivity_value(sensitivity.unwrap_or(Sensitivity::Internal)),
            match sensitivity {
                Some(s) => format!("target is {}", s.as_str()),
                None => "sensitivity not declared (treated as internal)".into(),
            },
        ),
        (
            if domains == 0 { 0.0 } else { (0.4 + 0.2 * domains as f64).min(1.0) },
            format!("{domains} regulatory domain(s)"),
        ),
    ];

    let mut score = 0.0;
    let factors = WEIGHTS
        .iter()
        .zip(values)
        .map(|((name, weight), (value, detail))| {
            let value = round4(value);
            score += value * weight;
            RiskFactor {
                name: (*name).to_string(),
                value,
                weight: *weight,
                contribution: round4(value * weight),
                detail,
            }
        })
        .collect();
    let score = round4(score.clamp(0.0, 1.0));
    Risk { score, level: level(score), factors }
}

/// The band of a score.
pub fn level(score: f64) -> RiskLevel {
    if score < 0.25 {
        RiskLevel::Low
    } else if score < 0.5 {
        RiskLevel::Medium
    } else if score < 0.75 {
        RiskLevel::High
    } else {
        RiskLevel::Critical
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lictor_api::intents::IntentRequest;

    fn intent(json: serde_json::Value) -> Intent {
        let request: IntentRequest =
            serde_json::from_value(serde_json::json!({ "intent": json })).unwrap_or_else(|e| panic!("{e}"));
        request.intent
    }

    #[test]
    fn weights_sum_to_one() {
        let total: f64 = WEIGHTS.iter().map(|(_, w)| w).sum();
        assert!((total - 1.0).abs() < 1e-12);
    }

    #[test]
    fn a_small_read_is_low_risk() {
        let r = assess(&intent(
            serde_json::json!({"agent": {"id": "a"}, "action": {"type": "access", "verb": "read"}}),
        ));
        assert_eq!(r.level, RiskLevel::Low);
        assert_eq!(r.factors.len(), 6);
        // action 0.3*0.15 + reversibility unknown 0.5*0.2 + internal 0.33*0.15
        assert_eq!(r.score, 0.1945);
    }

    #[test]
    fn a_large_irreversible_regulated_transfer_is_critical() {
        let r = assess(&intent(serde_json::json!({
            "agent": {"id": "a"},
            "action": {
                "type": "transact", "verb": "wire",
                "target": {"type": "account", "identifier": "x", "sensitivity": "restricted"},
                "payload": {"estimated_impact": {
                    "reversible": false, "financial_exposure_usd": 2000000,
                    "audience_size": 1, "regulatory_domains": ["sox", "pci", "gdpr"]
                }}
            }
        })));
        assert_eq!(r.level, RiskLevel::Critical);
        assert!(r.score > 0.8 && r.score <= 1.0, "{}", r.score);
    }

    #[test]
    fn scores_are_deterministic_and_monotonic_in_exposure() {
        let with = |usd: f64| {
            assess(&intent(
                serde_json::json!({"agent": {"id": "a"}, "action": {"type": "transact", "verb": "pay",
                "payload": {"estimated_impact": {"financial_exposure_usd": usd}}}}),
            ))
        };
        assert_eq!(with(500.0), with(500.0));
        assert!(with(10.0).score < with(10_000.0).score);
        assert!(with(10_000.0).score < with(1_000_000.0).score);
    }
}
