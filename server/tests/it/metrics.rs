//! `GET /metrics`: who may read it, and that its values count what a
//! scripted run did (not just that the names exist).

use std::collections::HashMap;

use reqwest::Method;
use serde_json::json;

use crate::support::{Backend, LegacyMcp, TestGateway, approve_intent, block_intent, escalate_intent};
use crate::tools::{setup_with, token};

pub const TOKEN: &str = "metrics-token-0123456789abcdefghijklmnop";

/// The exposition as series (name with its labels, as written) → value.
fn parse(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("unreadable line {line:?}"));
            let value = value.parse().unwrap_or_else(|_| panic!("unreadable value in {line:?}"));
            (series.to_string(), value)
        })
        .collect()
}

pub async fn scrape(gw: &TestGateway) -> HashMap<String, f64> {
    let request = gw.request(Method::GET, "/metrics").bearer_auth(TOKEN);
    let response = request.send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let content_type = response.headers()["content-type"].to_str().unwrap().to_string();
    assert!(content_type.starts_with("text/plain; version=0.0.4"), "{content_type}");
    parse(&response.text().await.unwrap())
}

pub fn value(series: &HashMap<String, f64>, key: &str) -> f64 {
    *series.get(key).unwrap_or_else(|| {
        let mut known: Vec<&String> =
            series.keys().filter(|k| k.starts_with(key.split('{').next().unwrap())).collect();
        known.sort();
        panic!("no series {key}; those of its name: {known:#?}")
    })
}

/// Metrics are off unless a token is configured, and then only its holder
/// reads them.
async fn only_the_token_reads_the_metrics(backend: Backend) {
    let off = TestGateway::start(backend).await;
    off.call(Method::GET, "/metrics", None, None).await.expect_error(404, "not_found");

    let gw = TestGateway::start_with(backend, |c| c.metrics_token = Some(TOKEN.into())).await;
    gw.call(Method::GET, "/metrics", None, None).await.expect_error(401, "unauthenticated");
    gw.call(Method::GET, "/metrics", Some("metrics-token-0123456789abcdefghijklmnoX"), None)
        .await
        .expect_error(401, "unauthenticated");
    let f = gw.tenant_fixture().await;
    // An agent's or a tenant admin's key is not the metrics token.
    gw.call(Method::GET, "/metrics", Some(&f.live), None).await.expect_error(401, "unauthenticated");
    gw.call(Method::GET, "/metrics", Some(&f.admin), None).await.expect_error(401, "unauthenticated");
    scrape(&gw).await;
}

/// `--metrics-listen` serves `/metrics` (to anyone without a metrics
/// token, the operator keeping the address private; to the token's holder
/// with one), the probes `/healthz` and `/readyz`, and nothing of the API;
/// the API listener keeps answering `404` without a token.
async fn a_metrics_listener_serves_only_metrics_and_probes(backend: Backend) {
    let local = |c: &mut lictor_server::Config| c.metrics_listen = Some("127.0.0.1:0".parse().unwrap());
    let gw = TestGateway::start_with(backend, local).await;
    let f = gw.tenant_fixture().await;
    assert_eq!(gw.declare(&f.live, approve_intent()).await.expect(200)["verdict"], "approve");
    let url = gw.metrics_url().expect("a metrics listener");
    assert_ne!(url, gw.url);
    let client = reqwest::Client::new();
    let response = client.get(format!("{url}/metrics")).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/plain; version=0.0.4"));
    let series = parse(&response.text().await.unwrap());
    let t = &f.tenant;
    let approved = format!(
        r#"lictor_decisions_total{{tenant="{t}",environment="live",verdict="approve",stage="none"}}"#
    );
    assert_eq!(value(&series, &approved), 1.0);
    for probe in ["/healthz", "/readyz"] {
        let response = client.get(format!("{url}{probe}")).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 200, "{probe}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert!(body["status"] == "ok" || body["status"] == "ready", "{body}");
    }
    // Nothing of the API is served there, whatever the credentials.
    for (method, path) in
        [(Method::GET, "/v1/intents"), (Method::POST, "/v1/intents"), (Method::POST, "/metrics")]
    {
        let response =
            client.request(method, format!("{url}{path}")).bearer_auth(&f.admin).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 404, "{path}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error_code"], "not_found", "{body}");
    }
    gw.call(Method::GET, "/metrics", None, None).await.expect_error(404, "not_found");

    // With a token, the listener asks for it too.
    let guarded = TestGateway::start_with(backend, |c| {
        local(c);
        c.metrics_token = Some(TOKEN.into());
    })
    .await;
    let url = guarded.metrics_url().expect("a metrics listener");
    let response = client.get(format!("{url}/metrics")).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 401);
    let response = client.get(format!("{url}/metrics")).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    scrape(&guarded).await;
}

/// After intents and tool calls, the counters say how many of each there
/// were, by tenant, verdict, stage, operation, status and upstream.
async fn a_scripted_run_is_counted(backend: Backend) {
    let (gw, _upstream, f) = setup_with(backend, |c| c.metrics_token = Some(TOKEN.into())).await;
    let before = scrape(&gw).await;
    for _ in 0..3 {
        assert_eq!(gw.declare(&f.live, approve_intent()).await.expect(200)["verdict"], "approve");
    }
    let blocked = gw.declare(&f.live, block_intent()).await.expect(200);
    assert_eq!(blocked["verdict"], "block");
    let blocking_stage = blocked["reasons"][0]["stage"].as_str().unwrap().to_string();
    let credential = token(&gw, &f, json!({})).await;
    let mut mcp = LegacyMcp::connect(&gw, &credential).await;
    for n in 0..2 {
        mcp.call_tool("mail.echo", json!({"text": format!("hello {n}")}), None).await.expect(200);
    }
    let unknown = gw
        .call(Method::GET, "/v1/intents/int_00000000000000000000000000/decision", Some(&f.admin), None)
        .await;
    assert_eq!(unknown.status.as_u16(), 404);

    let after = scrape(&gw).await;
    let t = &f.tenant;
    let delta = |key: &str| value(&after, key) - before.get(key).copied().unwrap_or(0.0);
    // Three intents and two tool calls approved, one intent blocked.
    let approved = format!(
        r#"lictor_decisions_total{{tenant="{t}",environment="live",verdict="approve",stage="none"}}"#
    );
    assert_eq!(delta(&approved), 5.0);
    let block = format!(
        r#"lictor_decisions_total{{tenant="{t}",environment="live",verdict="block",stage="{blocking_stage}"}}"#
    );
    assert_eq!(delta(&block), 1.0);
    assert_eq!(delta(r#"lictor_pipeline_stage_duration_seconds_count{stage="policy"}"#), 6.0);
    assert_eq!(delta("lictor_decision_duration_seconds_count"), 6.0);
    assert_eq!(delta(r#"lictor_http_requests_total{operation="intent_declare",status="200"}"#), 4.0);
    assert_eq!(delta(r#"lictor_http_requests_total{operation="intent_decision_get",status="404"}"#), 1.0);
    // `initialize` and two calls.
    assert_eq!(delta(r#"lictor_http_requests_total{operation="mcp_message_send",status="200"}"#), 3.0);
    assert_eq!(delta(r#"lictor_http_request_duration_seconds_count{operation="intent_declare"}"#), 4.0);
    let upstream = format!(r#"lictor_upstream_call_duration_seconds_count{{tenant="{t}",upstream="mail"}}"#);
    assert_eq!(delta(&upstream), 2.0);
    // Each decision and each tool result went through a group commit.
    assert!(delta("lictor_audit_commit_jobs_sum") >= 8.0, "{}", delta("lictor_audit_commit_jobs_sum"));
    assert!(delta("lictor_audit_append_lag_seconds_count") >= 6.0);
    assert_eq!(delta("lictor_audit_commit_failures_total"), 0.0);
    // The agent key was read from the cache after its first use.
    assert!(delta(r#"lictor_cache_lookups_total{cache="api_keys",result="hit"}"#) >= 3.0);
    assert!(value(&after, r#"lictor_cache_lookups_total{cache="mcp_sessions",result="hit"}"#) >= 1.0);
    // The token opened the session and made both calls; a forged one is malformed.
    assert_eq!(delta(r#"lictor_token_verifications_total{result="valid"}"#), 4.0);
    let forged = gw.call(Method::GET, "/v1/intents", Some("lictor_cap1.forged"), None).await;
    assert_eq!(forged.status.as_u16(), 401);
    let later = scrape(&gw).await;
    assert_eq!(value(&later, r#"lictor_token_verifications_total{result="malformed"}"#), 1.0);
    assert_eq!(value(&later, "lictor_store_up"), 1.0);
    assert_eq!(value(&later, "lictor_audit_logs_refused"), 0.0);
    // Nothing is checkpointed yet in a fresh test gateway: all its entries wait.
    let unanchored = format!(r#"lictor_audit_unanchored_entries{{tenant="{t}"}}"#);
    assert!(value(&later, &unanchored) >= 10.0, "{}", value(&later, &unanchored));
    assert!(value(&after, "process_resident_memory_bytes") > 1e6);
    assert!(value(&after, "process_open_fds") > 0.0);
    let idle = value(&after, r#"lictor_store_connections{state="idle"}"#);
    let in_use = value(&after, r#"lictor_store_connections{state="in_use"}"#);
    let most = value(&after, "lictor_store_connections_max");
    // The scrape's own queries hold a connection; the pool never opens more than its bound.
    assert!(idle + in_use >= 1.0 && idle + in_use <= most, "{idle} idle, {in_use} in use of {most}");
    assert_eq!(most, 16.0);
}

/// An escalation is an open approval until a human decides it, and the
/// wait is measured.
async fn approvals_are_gauged_and_timed(backend: Backend) {
    let gw = TestGateway::start_with(backend, |c| c.metrics_token = Some(TOKEN.into())).await;
    let f = gw.tenant_fixture().await;
    let escalated = gw.declare(&f.live, escalate_intent()).await.expect(200);
    assert_eq!(escalated["verdict"], "escalate");
    let id = escalated["approval"]["approval_id"].as_str().unwrap().to_string();
    let pending = format!(r#"lictor_approvals_pending{{tenant="{}"}}"#, f.tenant);
    assert_eq!(value(&scrape(&gw).await, &pending), 1.0);
    gw.post(&format!("/v1/admin/approvals/{id}/decide"), &f.admin, &json!({"decision": "approve"}))
        .await
        .expect(200);
    let series = scrape(&gw).await;
    assert!(!series.contains_key(&pending), "no approval is open any more");
    let waited =
        format!(r#"lictor_approval_decision_seconds_count{{tenant="{}",decision="approve"}}"#, f.tenant);
    assert_eq!(value(&series, &waited), 1.0);
    let escalations = format!(
        r#"lictor_decisions_total{{tenant="{}",environment="live",verdict="escalate",stage="{}"}}"#,
        f.tenant,
        escalated["reasons"][0]["stage"].as_str().unwrap()
    );
    assert_eq!(value(&series, &escalations), 1.0);
}

/// Past `--metrics-max-tenants`, tenants share the label `_other`.
async fn tenant_labels_are_bounded(backend: Backend) {
    let gw = TestGateway::start_with(backend, |c| {
        c.metrics_token = Some(TOKEN.into());
        c.metrics_max_tenants = 1;
    })
    .await;
    let first = gw.tenant_fixture().await;
    let second = gw.tenant_fixture().await;
    let third = gw.tenant_fixture().await;
    for f in [&first, &second, &third] {
        gw.declare(&f.live, approve_intent()).await.expect(200);
    }
    let series = scrape(&gw).await;
    let approved = |tenant: &str| {
        format!(
            r#"lictor_decisions_total{{tenant="{tenant}",environment="live",verdict="approve",stage="none"}}"#
        )
    };
    assert_eq!(value(&series, &approved(&first.tenant)), 1.0);
    assert_eq!(value(&series, &approved("_other")), 2.0);
    assert!(!series.contains_key(&approved(&second.tenant)));
}

crate::on_both_backends!(
    only_the_token_reads_the_metrics,
    a_metrics_listener_serves_only_metrics_and_probes,
    a_scripted_run_is_counted,
    approvals_are_gauged_and_timed,
    tenant_labels_are_bounded
);
