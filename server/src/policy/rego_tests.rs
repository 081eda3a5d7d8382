//! Runs a bundle's Rego unit tests: every rule named `test_*` in its test
//! modules must evaluate to `true`, as with `opa test`.

use super::{Bundle, EvaluationLimits, PolicyError, new_engine};

/// The outcome of one test rule.
#[derive(Clone, Debug, PartialEq)]
pub struct RegoTestResult {
    /// `data.<package>.<rule>`.
    pub name: String,
    /// Whether it evaluated to `true`.
    pub passed: bool,
    /// Why it failed, when evaluation itself failed.
    pub error: Option<String>,
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

/// Runs every `test_*` rule of the bundle's test modules.
pub fn run(bundle: &Bundle) -> Result<Vec<RegoTestResult>, PolicyError> {
    let mut engine = new_engine(bundle, EvaluationLimits::offline())?;
    for (name, source) in bundle.tests() {
        engine.add_policy(name.clone(), source.clone()).map_err(|e| PolicyError::Compile(e.to_string()))?;
    }
    let mut results = Vec::new();
    for source in bundle.tests().values() {
        let Some((package, names)) = declared_tests(source) else { continue };
        for rule in names {
            let name = format!("data.{package}.{rule}");
            let outcome = engine.eval_rule(name.clone());
            let (passed, error) = match outcome {
                Ok(value) => (value == regorus::Value::Bool(true), None),
                Err(e) => (false, Some(e.to_string())),
            };
            results.push(RegoTestResult { name, passed, error });
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
