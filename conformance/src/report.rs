//! Reports: a readable summary, JUnit XML (`quick-junit`) and JSON.

use std::time::Duration;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
use serde::Serialize;

use crate::{CaseResult, Status};

/// The one line printed as a case finishes.
pub fn progress_line(result: &CaseResult) -> String {
    let mark = match result.status {
        Status::Passed => "PASS",
        Status::Failed => "FAIL",
        Status::Skipped => "SKIP",
    };
    format!("{mark} {} — {} ({} ms)", result.id, result.title, result.duration_ms)
}

/// The summary: counts, then every failure with its reproduction.
pub fn summary(results: &[CaseResult]) -> String {
    let count = |s: Status| results.iter().filter(|r| r.status == s).count();
    let mut text = format!(
        "{} passed, {} failed, {} skipped\n",
        count(Status::Passed),
        count(Status::Failed),
        count(Status::Skipped)
    );
    for result in results.iter().filter(|r| r.status == Status::Failed) {
        if let Some(failure) = &result.failure {
            text.push_str(&format!("\n{}: {}\n", result.id, failure.message));
            if let Some(curl) = &failure.curl {
                text.push_str(&format!("  reproduce: {curl}\n"));
            }
        }
    }
    if count(Status::Failed) > 0 {
        text.push_str(
            "\nThe run's tenants and keys were left in place so these commands work; \
             a passing run revokes its keys.\n",
        );
    }
    text
}

/// JUnit XML, one test case per conformance case.
pub fn junit(results: &[CaseResult]) -> Result<String, quick_junit::SerializeError> {
    let mut report = Report::new("lictor-conformance");
    let mut suite = TestSuite::new("lictor-conformance");
    for result in results {
        let status = match (&result.status, &result.failure) {
            (Status::Passed, _) => TestCaseStatus::success(),
            (Status::Skipped, _) => TestCaseStatus::skipped(),
            (Status::Failed, failure) => {
                let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
                if let TestCaseStatus::NonSuccess { message, description, .. } = &mut status
                    && let Some(failure) = failure
                {
                    *message = Some(failure.message.clone().into());
                    *description = failure.curl.clone().map(Into::into);
                }
                status
            }
        };
        let mut case = TestCase::new(result.id, status);
        case.set_classname(result.group.as_str());
        case.set_time(Duration::from_millis(result.duration_ms));
        suite.add_test_case(case);
    }
    report.add_test_suite(suite);
    report.to_string()
}

#[derive(Serialize)]
struct JsonReport<'a> {
    passed: usize,
    failed: usize,
    skipped: usize,
    cases: &'a [CaseResult],
}

/// The results as JSON.
pub fn json(results: &[CaseResult]) -> String {
    let count = |s: Status| results.iter().filter(|r| r.status == s).count();
    let report = JsonReport {
        passed: count(Status::Passed),
        failed: count(Status::Failed),
        skipped: count(Status::Skipped),
        cases: results,
    };
    serde_json::to_string_pretty(&report).unwrap_or_default()
}
