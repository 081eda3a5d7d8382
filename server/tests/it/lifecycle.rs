//! The graceful stop of a real `lictor serve`: what SIGTERM waits for,
//! and what it does not. (Decisions under load across a SIGTERM are in
//! `crash.rs`.)

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;

use crate::support::escalate_intent;
use crate::support::process::{call, client, send};
use crate::telemetry::with_upstream;

/// A tool call in flight when SIGTERM arrives is carried out and answered
/// before the gateway exits 0; an approval long poll answers at once
/// (still pending) instead of holding the stop up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_calls_in_flight_and_ends_long_polls() {
    let (mut deployment, upstream, url, tenant) =
        with_upstream(&[], &["--shutdown-timeout-seconds", "20"]).await;
    let client = client();
    let escalated = send(
        call(&client, Method::POST, format!("{url}/v1/intents"), &tenant.live)
            .json(&json!({"intent": escalate_intent()})),
    )
    .await
    .expect(200);
    let approval = escalated["approval"]["approval_id"].as_str().expect("an approval").to_string();
    let waiting = tokio::spawn({
        let (client, url, key) = (client.clone(), url.clone(), tenant.admin.clone());
        async move {
            let started = Instant::now();
            let path = format!("{url}/v1/approvals/{approval}?wait_seconds=60");
            (send(call(&client, Method::GET, path, &key)).await, started.elapsed())
        }
    });
    let slow = tokio::spawn({
        let (client, url, key) = (client.clone(), url.clone(), tenant.live.clone());
        async move {
            let body = json!({"tool": "mail.slow", "agent_id": "agent-1", "arguments": {"ms": 1500}});
            send(call(&client, Method::POST, format!("{url}/v1/tool-call"), &key).json(&body)).await
        }
    });
    // Both are in flight.
    let in_flight = crate::support::eventually(Duration::from_secs(10), async || {
        (upstream.calls().iter().any(|c| c.name == "slow")).then_some(())
    })
    .await;
    assert!(in_flight.is_some(), "the slow call did not reach the upstream");
    tokio::time::sleep(Duration::from_millis(200)).await;

    let signalled = Instant::now();
    deployment.signal("TERM");
    let status = deployment.wait_exit(Duration::from_secs(20)).await;
    assert!(status.success(), "{status:?}: {}", deployment.log());
    let answered = slow.await.unwrap();
    assert_eq!(answered.expect(200)["result"]["content"][0]["text"], "slept 1500 ms");
    let (polled, waited) = waiting.await.unwrap();
    assert_eq!(polled.expect(200)["status"], "pending");
    assert!(waited < Duration::from_secs(10), "the long poll held on for {waited:?}");
    assert!(signalled.elapsed() < Duration::from_secs(10), "the stop took {:?}", signalled.elapsed());
}

/// A request that outlives `--shutdown-timeout-seconds` does not keep the
/// gateway up: it exits with an error that says so, within the bound.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shutdown_is_bounded() {
    let flags = ["--shutdown-timeout-seconds", "1", "--log-level", "info"];
    let (mut deployment, upstream, url, tenant) = with_upstream(&[], &flags).await;
    let client = client();
    let _stuck = tokio::spawn({
        let (url, key) = (url.clone(), tenant.live.clone());
        async move {
            let body = json!({"tool": "mail.slow", "agent_id": "agent-1", "arguments": {"ms": 30000}});
            send(call(&client, Method::POST, format!("{url}/v1/tool-call"), &key).json(&body)).await
        }
    });
    let in_flight = crate::support::eventually(Duration::from_secs(10), async || {
        (upstream.calls().iter().any(|c| c.name == "slow")).then_some(())
    })
    .await;
    assert!(in_flight.is_some(), "the slow call did not reach the upstream");
    let signalled = Instant::now();
    deployment.signal("TERM");
    let status = deployment.wait_exit(Duration::from_secs(15)).await;
    assert_eq!(status.code(), Some(1), "{}", deployment.log());
    assert!(signalled.elapsed() < Duration::from_secs(10), "{:?}", signalled.elapsed());
    assert!(deployment.log().contains("still running"), "{}", deployment.log());
}
