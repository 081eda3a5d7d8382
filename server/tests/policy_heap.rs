//! The heap ceiling on policy evaluation. It is process-wide (regorus
//! counts the whole heap), so it is tested in a process of its own: a
//! runaway evaluation in flight would make any other evaluation of the
//! process fail closed too, which is the point in production and a
//! nuisance among parallel tests.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::time::Duration;

use lictor_server::policy::{Bundle, EvaluationLimits, PolicyEngine, PolicyError, apply_memory_limit};
use serde_json::json;

#[test]
fn policies_that_grow_the_heap_without_bound_are_cut_off() {
    // 400 million numbers asked for in one builtin call: gigabytes, far
    // past the default ceiling. The time limit alone would not stop it (a
    // builtin call is not interrupted); the heap check does.
    apply_memory_limit(EvaluationLimits::default());
    let source = "package lictor\nimport rego.v1\n\
                  decision := {\"verdict\": \"approve\"} if count(numbers.range(1, input.n)) == -1\n";
    let bundle = Bundle::new("hungry", [("p.rego".to_string(), source.to_string())], json!({}));
    let limits = EvaluationLimits { time: Duration::from_secs(60), ..EvaluationLimits::default() };
    let engine = PolicyEngine::compile(bundle, limits).unwrap_or_else(|e| panic!("{e}"));
    let result = engine.evaluate(&json!({"n": 400_000_000}));
    match &result {
        Err(error @ PolicyError::LimitExceeded(message)) => {
            assert!(message.contains("memory"), "{message}");
            assert_eq!(error.code(), "policy_limit_exceeded");
        }
        other => panic!("expected a memory cut-off, got {other:?}"),
    }
    // Memory is given back: the next evaluation runs normally.
    assert_eq!(engine.evaluate(&json!({"n": 1000})), Err(PolicyError::Undefined));
}
