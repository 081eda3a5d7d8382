//! The suite passes against an embedded gateway, and its reports say so.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use lictor_conformance::{Selection, Status, Target, embedded, report, run};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_case_passes_against_the_embedded_gateway() {
    let gateway = embedded::start().await.unwrap();
    // With the in-process hooks, the disruptive cases run too.
    let selection = Selection { disruptive: true, ..Selection::default() };
    let results = run(gateway.target(), &selection, |_| {}).await.unwrap_or_else(|f| panic!("{f:?}"));
    let summary = report::summary(&results);
    assert!(results.iter().all(|r| r.status == Status::Passed), "{summary}");
    assert!(results.len() >= 10);
    let junit = report::junit(&results).unwrap();
    assert!(junit.contains("intents.shared_scenario") && !junit.contains("<failure"), "{junit}");
    let json: serde_json::Value = serde_json::from_str(&report::json(&results)).unwrap();
    assert_eq!(json["failed"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn selection_runs_only_what_is_asked() {
    let gateway = embedded::start().await.unwrap();
    let target = Target::new(vec![gateway.url.clone()], gateway.admin_key.clone());
    let selection = Selection {
        only: vec!["auth".into()],
        skip: vec!["auth.malformed_key".into()],
        ..Selection::default()
    };
    let results = run(target, &selection, |_| {}).await.unwrap();
    for result in &results {
        let runs = result.id.starts_with("auth.") && result.id != "auth.malformed_key";
        assert_eq!(result.status == Status::Skipped, !runs, "{}", result.id);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_admin_key_stops_the_run_with_a_reproduction() {
    let gateway = embedded::start().await.unwrap();
    let target = Target::new(vec![gateway.url.clone()], "lictor_admin_wrong_key_0123456789abcdefghij");
    let failure = run(target, &Selection::default(), |_| {}).await.expect_err("provisioning must fail");
    assert!(failure.message.contains("unauthenticated"), "{}", failure.message);
    let curl = failure.curl.unwrap();
    assert!(curl.starts_with("curl -sS -X POST"), "{curl}");
    assert!(curl.contains("$LICTOR_ADMIN_KEY") && !curl.contains("lictor_admin_wrong_key"), "{curl}");
}
