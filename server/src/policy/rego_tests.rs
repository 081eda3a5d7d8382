//! Runs a bundle's Rego unit tests: every rule named `test_*` in its test
//! modules must evaluate to `true`, as with `opa test`.

use super::{Bundle, EvaluationLimits, PolicyError, eval_within, new_engine};

/// The outcome of one test rule.
#[derive(Clone, Debug, PartialEq)]
pub struct RegoTestResult {
    /// `data.<package>.<rule>`.
    pub name: String,
    /// Whether it evaluated to `true`.
    pub passed: bool,
    /// Why it failed, when evaluation itself failed.
    pub error: Option<String>,
    /// Whether evaluation was cut off by a limit (time, memory, a guarded
    /// builtin's refusal).
    pub limited: bool,
}

/// The test rules declared in a module: `(package path, rule names)`.
fn declared_tests(source: &str) -> Option<(String, Vec<String>)> {
    let package = source.lines().find_map(|l| l.trim().strip_prefix("package "))?.trim().to_string();
    let mut names: Vec<String> = source
        .lines()
        .filter(|line| line.starts_with("test_"))
        .map(|line| line.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect())
        .collect();
    names.dedup();
    Some((package, names))
}

/// Runs every `test_*` rule of the bundle's test modules, under the
/// offline limits (`lictor policy test`: what is checked is what the
/// policy decides, not how fast).
pub fn run(bundle: &Bundle) -> Result<Vec<RegoTestResult>, PolicyError> {
    run_within(bundle, EvaluationLimits::offline())
}

/// Runs every `test_*` rule of the bundle's test modules under `limits`.
pub fn run_within(bundle: &Bundle, limits: EvaluationLimits) -> Result<Vec<RegoTestResult>, PolicyError> {
    let mut engine = new_engine(bundle, limits)?;
    for (name, source) in bundle.tests() {
        engine.add_policy(name.clone(), source.clone()).map_err(|e| PolicyError::Compile(e.to_string()))?;
    }
    let mut results = Vec::new();
    for source in bundle.tests().values() {
        let Some((package, names)) = declared_tests(source) else { continue };
        for rule in names {
            let name = format!("data.{package}.{rule}");
            let outcome = eval_within(&mut engine, &name, limits);
            let (passed, error, limited) = match outcome {
                Ok(value) => (value == regorus::Value::Bool(true), None, false),
                Err(e @ PolicyError::LimitExceeded(_)) => (false, Some(e.to_string()), true),
                Err(e) => (false, Some(e.to_string()), false),
            };
            results.push(RegoTestResult { name, passed, error, limited });
        }
    }
    Ok(results)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_bundle_rego_tests_pass() {
        let results = run(&Bundle::default_bundle()).unwrap_or_else(|e| panic!("{e}"));
        assert!(results.len() >= 15, "expected the default bundle's tests, found {}", results.len());
        let failed: Vec<_> = results.iter().filter(|r| !r.passed).collect();
        assert!(failed.is_empty(), "failing Rego tests: {failed:#?}");
    }

    /// A test that works past the time limit is reported as limited.
    #[test]
    fn a_test_over_the_limits_is_reported_as_limited() {
        let bundle = Bundle::new(
            "t",
            [
                ("p.rego".to_string(), "package t\nimport rego.v1\nx := 1\n".to_string()),
                (
                    "p_test.rego".to_string(),
                    "package t\nimport rego.v1\ntest_ok if x == 1\n\
                     test_slow if count([y | some a in numbers.range(1, 3000); some b in numbers.range(1, 3000); \
                     y := a * b; y < 0]) == 0\n"
                        .to_string(),
                ),
            ],
            serde_json::json!({}),
        );
        let limits =
            EvaluationLimits { time: std::time::Duration::from_millis(20), ..EvaluationLimits::default() };
        let results = run_within(&bundle, limits).unwrap_or_else(|e| panic!("{e}"));
        let summary: Vec<_> = results.iter().map(|r| (r.name.as_str(), r.passed, r.limited)).collect();
        assert_eq!(summary, [("data.t.test_ok", true, false), ("data.t.test_slow", false, true)]);
    }

    #[test]
    fn a_false_test_is_reported() {
        let bundle = Bundle::new(
            "t",
            [
                ("p.rego".to_string(), "package t\nimport rego.v1\nx := 1\n".to_string()),
                (
                    "p_test.rego".to_string(),
                    "package t\nimport rego.v1\ntest_ok if x == 1\ntest_bad if x == 2\n".to_string(),
                ),
            ],
            serde_json::json!({}),
        );
        let results = run(&bundle).unwrap_or_else(|e| panic!("{e}"));
        let summary: Vec<_> = results.iter().map(|r| (r.name.as_str(), r.passed)).collect();
        assert_eq!(summary, [("data.t.test_ok", true), ("data.t.test_bad", false)]);
    }
}
