//! Operator notifications through the real gateway: Slack, Teams and
//! PagerDuty get the messages their vendors document; a burst is one
//! alert with a count; routes pick kinds and severities; approval
//! timeouts, dead letters and a log that no longer verifies alert, and
//! conditions are resolved when they clear. Each vendor is stood in by
//! `wiremock`.

use std::time::Duration;

use lictor_api::integrations::IntegrationId;
use lictor_server::integrations::{Configured, Settings};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::sink_delivery::{fast, sink};
use crate::support::{Backend, TestGateway, approve_intent, block_intent, escalate_intent, eventually};

const SECRET: &str = "alert-secret-0123456789";
const ROUTING_KEY: &str = "R0123456789abcdef0123456789abcde";

/// A channel configured as `LICTOR_CHANNEL_<NAME>` would configure it.
fn channel(name: &str, settings: Value) -> Configured {
    Configured {
        id: IntegrationId::parse(format!("env:{name}")).unwrap(),
        settings: Settings::Channel(serde_json::from_value(settings).unwrap()),
        tenant: None,
    }
}

async fn accept(server: &MockServer, at: &str, answer: ResponseTemplate) {
    Mock::given(method("POST")).and(path(at)).respond_with(answer).mount(server).await;
}

/// The JSON bodies posted to `at`.
async fn posted(server: &MockServer, at: &str) -> Vec<Value> {
    server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == at)
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect()
}

async fn requests(server: &MockServer, at: &str) -> Vec<Request> {
    server.received_requests().await.unwrap().into_iter().filter(|r| r.url.path() == at).collect()
}

/// A burst of denials is one alert at once and one more with the count of
/// the rest once the period ends; each alert signed; approvals alert
/// nothing; an escalation alerts with its approval and a link to it.
async fn a_burst_is_one_alert_with_a_count(backend: Backend) {
    let server = MockServer::start().await;
    accept(&server, "/alerts", ResponseTemplate::new(204)).await;
    let url = format!("{}/alerts", server.uri());
    let gw = TestGateway::start_with(backend, |c| {
        fast(
            c,
            vec![channel(
                "ops",
                json!({"kind": "webhook", "url": url, "secret": SECRET, "rate_limit_seconds": 2}),
            )],
        );
        c.public_url = Some("https://lictor.example.com".into());
    })
    .await;
    let f = gw.tenant_fixture().await;
    gw.declare(&f.live, approve_intent()).await.expect(200);
    for _ in 0..3 {
        gw.declare(&f.live, block_intent()).await.expect(200);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    for _ in 0..3 {
        gw.declare(&f.live, block_intent()).await.expect(200);
    }
    let denials = |alerts: &[Value]| -> Vec<Value> {
        alerts.iter().filter(|a| a["alert"]["kind"] == "denial").cloned().collect()
    };
    let counted = eventually(Duration::from_secs(20), async || {
        let alerts = denials(&posted(&server, "/alerts").await);
        let total: u64 = alerts.iter().map(|a| a["alert"]["count"].as_u64().unwrap()).sum();
        (total >= 6).then_some(alerts)
    })
    .await
    .expect("every denial is counted");
    let total: u64 = counted.iter().map(|a| a["alert"]["count"].as_u64().unwrap()).sum();
    assert_eq!(total, 6, "{counted:?}");
    assert!(counted.len() <= 3, "a burst of 6 made {} alerts", counted.len());
    let first = &counted[0]["alert"];
    assert_eq!(first["action"], "trigger");
    assert_eq!(first["severity"], "warning");
    assert_eq!(first["tenant"], f.tenant.as_str());
    assert_eq!(first["dedup_key"], format!("lictor:{}:denial", f.tenant));
    for request in requests(&server, "/alerts").await {
        let signature = request.headers.get("lictor-signature").unwrap().to_str().unwrap();
        lictor_server::webhooks::verify_signature(
            SECRET,
            signature,
            &request.body,
            chrono::Utc::now().timestamp(),
            300,
        )
        .unwrap();
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        assert_eq!(body["type"], "lictor.alert");
    }

    // An escalation: its own alert, with the approval and a link to it.
    let decision = gw.declare(&f.live, escalate_intent()).await.expect(200);
    let approval = decision["approval_id"].as_str().map(str::to_string);
    let escalation = eventually(Duration::from_secs(20), async || {
        posted(&server, "/alerts").await.into_iter().find(|a| a["alert"]["kind"] == "escalation")
    })
    .await
    .expect("an escalation alert");
    let facts = escalation["alert"]["facts"].as_array().unwrap();
    if let Some(approval) = approval {
        assert!(facts.iter().any(|f| f[1] == approval.as_str()), "{escalation}");
        let link = escalation["alert"]["link"][1].as_str().unwrap();
        assert_eq!(
            link,
            format!("https://lictor.example.com/v1/admin/approvals/{approval}?tenant={}", f.tenant)
        );
    }
}

/// Slack (Block Kit), Teams (Adaptive Card) and PagerDuty (Events API
/// v2) each get the message their vendor documents; PagerDuty's incident
/// is resolved once a period passes without denials.
async fn vendors_get_their_documented_messages(backend: Backend) {
    let server = MockServer::start().await;
    accept(&server, "/services/T000/B000/XXXX", ResponseTemplate::new(200).set_body_string("ok")).await;
    accept(&server, "/workflows/teams", ResponseTemplate::new(202)).await;
    accept(
        &server,
        "/v2/enqueue",
        ResponseTemplate::new(202)
            .set_body_json(json!({"status": "success", "message": "Event processed", "dedup_key": "x"})),
    )
    .await;
    let uri = server.uri();
    let gw = TestGateway::start_with(backend, |c| {
        fast(
            c,
            vec![
                channel("slack", json!({"kind": "slack", "webhook_url": format!("{uri}/services/T000/B000/XXXX")})),
                channel("teams", json!({"kind": "teams", "webhook_url": format!("{uri}/workflows/teams")})),
                channel(
                    "pager",
                    json!({"kind": "pagerduty", "routing_key": ROUTING_KEY, "url": format!("{uri}/v2/enqueue"),
                           "rate_limit_seconds": 1}),
                ),
            ],
        );
    })
    .await;
    let f = gw.tenant_fixture().await;
    gw.declare(&f.live, block_intent()).await.expect(200);
    let all = eventually(Duration::from_secs(20), async || {
        let slack = posted(&server, "/services/T000/B000/XXXX").await;
        let teams = posted(&server, "/workflows/teams").await;
        let pager = posted(&server, "/v2/enqueue").await;
        (!slack.is_empty() && !teams.is_empty() && !pager.is_empty()).then_some((slack, teams, pager))
    })
    .await
    .expect("every channel alerted");
    let (slack, teams, pager) = all;
    for request in server.received_requests().await.unwrap() {
        assert_eq!(request.headers.get("content-type").unwrap(), "application/json");
    }

    let message = &slack[0];
    assert!(message["text"].as_str().unwrap().contains("blocked"));
    let blocks = message["blocks"].as_array().unwrap();
    assert_eq!(blocks[0]["type"], "header");
    assert_eq!(blocks[0]["text"]["type"], "plain_text");
    assert_eq!(blocks[1]["type"], "section");
    assert_eq!(blocks[1]["text"]["type"], "mrkdwn");
    assert!(blocks.iter().any(|b| b["type"] == "section" && b["fields"].is_array()));
    assert_eq!(blocks.last().unwrap()["type"], "context");
    assert!(blocks.last().unwrap()["elements"][0]["text"].as_str().unwrap().contains(&f.tenant));

    let card = &teams[0];
    assert_eq!(card["type"], "message");
    let attachment = &card["attachments"][0];
    assert_eq!(attachment["contentType"], "application/vnd.microsoft.card.adaptive");
    assert_eq!(attachment["content"]["type"], "AdaptiveCard");
    assert_eq!(attachment["content"]["version"], "1.4");
    let body = attachment["content"]["body"].as_array().unwrap();
    assert_eq!(body[0]["type"], "TextBlock");
    let facts = body.iter().find(|b| b["type"] == "FactSet").unwrap();
    assert!(
        facts["facts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|fact| fact["title"] == "Tenant" && fact["value"] == f.tenant.as_str())
    );

    let event = &pager[0];
    assert_eq!(event["routing_key"], ROUTING_KEY);
    assert_eq!(event["event_action"], "trigger");
    let dedup = format!("lictor:{}:denial", f.tenant);
    assert_eq!(event["dedup_key"], dedup.as_str());
    let payload = &event["payload"];
    assert!(payload["summary"].as_str().unwrap().len() <= 1024);
    assert_eq!(payload["source"], format!("lictor/tenants/{}", f.tenant));
    assert_eq!(payload["severity"], "warning");
    assert_eq!(payload["class"], "denial");
    assert_eq!(payload["group"], f.tenant.as_str());
    chrono::DateTime::parse_from_rfc3339(payload["timestamp"].as_str().unwrap()).unwrap();
    assert!(payload["custom_details"]["Agent"].is_string());

    // A period without denials: the incident is resolved.
    let resolved = eventually(Duration::from_secs(20), async || {
        posted(&server, "/v2/enqueue").await.into_iter().find(|e| e["event_action"] == "resolve")
    })
    .await
    .expect("the incident is resolved");
    assert_eq!(resolved, json!({"routing_key": ROUTING_KEY, "event_action": "resolve", "dedup_key": dedup}));
}

/// Routes: a channel for escalations only hears nothing of denials; one
/// for errors and above hears nothing of warnings; a shadow denial (info)
/// is not sent by default.
async fn routes_pick_kinds_and_severities(backend: Backend) {
    let server = MockServer::start().await;
    accept(&server, "/approvals", ResponseTemplate::new(200)).await;
    accept(&server, "/errors", ResponseTemplate::new(200)).await;
    accept(&server, "/default", ResponseTemplate::new(200)).await;
    let uri = server.uri();
    let gw = TestGateway::start_with(backend, |c| {
        fast(
            c,
            vec![
                channel(
                    "approvals",
                    json!({"kind": "webhook", "url": format!("{uri}/approvals"), "secret": SECRET,
                    "routes": [{"events": ["escalation"]}], "rate_limit_seconds": 0}),
                ),
                channel(
                    "errors",
                    json!({"kind": "webhook", "url": format!("{uri}/errors"), "secret": SECRET,
                    "routes": [{"min_severity": "error"}]}),
                ),
                channel(
                    "default",
                    json!({"kind": "webhook", "url": format!("{uri}/default"), "secret": SECRET,
                    "rate_limit_seconds": 0}),
                ),
            ],
        );
    })
    .await;
    let f = gw.tenant_fixture().await;
    gw.declare(&f.shadow, block_intent()).await.expect(200);
    gw.declare(&f.live, block_intent()).await.expect(200);
    gw.declare(&f.live, escalate_intent()).await.expect(200);
    let done = eventually(Duration::from_secs(20), async || {
        let default = posted(&server, "/default").await;
        (default.iter().any(|a| a["alert"]["kind"] == "escalation")
            && default.iter().any(|a| a["alert"]["kind"] == "denial"))
        .then_some(default)
    })
    .await
    .expect("the default channel hears denials and escalations");
    // The shadow denial is info: not sent by default.
    let denials: u64 = done
        .iter()
        .filter(|a| a["alert"]["kind"] == "denial")
        .map(|a| a["alert"]["count"].as_u64().unwrap())
        .sum();
    assert_eq!(denials, 1, "{done:?}");
    let approvals = eventually(Duration::from_secs(10), async || {
        let alerts = posted(&server, "/approvals").await;
        (!alerts.is_empty()).then_some(alerts)
    })
    .await
    .unwrap();
    assert!(approvals.iter().all(|a| a["alert"]["kind"] == "escalation"), "{approvals:?}");
    assert!(posted(&server, "/errors").await.is_empty());
}

/// Dead letters of a sink page PagerDuty (error) and are resolved once
/// redriven and delivered; an approval that expires undecided alerts.
async fn conditions_alert_and_resolve(backend: Backend) {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/relay"))
        .and(wiremock::matchers::body_string_contains(r#""verdict":"block""#))
        .respond_with(ResponseTemplate::new(400))
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/relay"))
        .respond_with(ResponseTemplate::new(200))
        .with_priority(2)
        .mount(&server)
        .await;
    accept(&server, "/v2/enqueue", ResponseTemplate::new(202).set_body_json(json!({"status": "success"})))
        .await;
    let uri = server.uri();
    let gw = TestGateway::start_with(backend, |c| {
        fast(
            c,
            vec![
                sink("relay", json!({"kind": "webhook", "url": format!("{uri}/relay"), "secret": SECRET})),
                channel("pager", json!({"kind": "pagerduty", "routing_key": ROUTING_KEY,
                    "url": format!("{uri}/v2/enqueue"), "routes": [{"events": ["sink_dead_letter", "approval_timeout"]}]})),
            ],
        );
        c.approval_ttl = Duration::from_secs(3);
    })
    .await;
    let f = gw.tenant_fixture().await;
    // The channel starts looking for expired approvals from its first look.
    tokio::time::sleep(Duration::from_secs(1)).await;
    gw.declare(&f.live, block_intent()).await.expect(200);
    gw.declare(&f.live, escalate_intent()).await.expect(200);
    let key = format!("lictor:{}:sink_dead_letter:env:relay", f.tenant);
    let triggered = eventually(Duration::from_secs(30), async || {
        posted(&server, "/v2/enqueue").await.into_iter().find(|e| e["dedup_key"] == key.as_str())
    })
    .await
    .expect("dead letters page");
    assert_eq!(triggered["event_action"], "trigger");
    assert_eq!(triggered["payload"]["severity"], "error");
    assert_eq!(triggered["payload"]["class"], "sink_dead_letter");
    let timeout = eventually(Duration::from_secs(30), async || {
        posted(&server, "/v2/enqueue").await.into_iter().find(|e| e["payload"]["class"] == "approval_timeout")
    })
    .await
    .expect("the expired approval alerts");
    assert_eq!(timeout["payload"]["severity"], "warning");

    // Fixed and redriven: the incident is resolved.
    server.reset().await;
    Mock::given(method("POST"))
        .and(path("/relay"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    accept(&server, "/v2/enqueue", ResponseTemplate::new(202).set_body_json(json!({"status": "success"})))
        .await;
    gw.post("/v1/admin/integrations/env:relay/dead-letters/redrive", &f.admin, &json!({})).await.expect(200);
    let resolved = eventually(Duration::from_secs(30), async || {
        posted(&server, "/v2/enqueue")
            .await
            .into_iter()
            .find(|e| e["dedup_key"] == key.as_str() && e["event_action"] == "resolve")
    })
    .await;
    assert!(resolved.is_some(), "the dead-letter incident was not resolved");
}

/// A log changed in the database: the checkpointer refuses it and the
/// channel pages `critical`.
async fn a_log_that_does_not_verify_is_critical(backend: Backend) {
    let server = MockServer::start().await;
    accept(&server, "/alerts", ResponseTemplate::new(200)).await;
    let url = format!("{}/alerts", server.uri());
    let gw = TestGateway::start_with(backend, |c| {
        fast(
            c,
            vec![channel(
                "ops",
                json!({"kind": "webhook", "url": url, "secret": SECRET,
                "routes": [{"min_severity": "critical"}]}),
            )],
        );
    })
    .await;
    let f = gw.tenant_fixture().await;
    gw.declare(&f.live, approve_intent()).await.expect(200);
    let pool = gw.db().await;
    sqlx::query("UPDATE audit_entries SET agent_id = 'someone-else' WHERE tenant_id = $1 AND seq = 2")
        .bind(&f.tenant)
        .execute(&pool)
        .await
        .unwrap();
    for _ in 0..3 {
        gw.declare(&f.live, approve_intent()).await.expect(200);
    }
    let alert = eventually(Duration::from_secs(30), async || {
        posted(&server, "/alerts")
            .await
            .into_iter()
            .find(|a| a["alert"]["kind"] == "audit_verification_failure")
    })
    .await
    .expect("the tampered log is reported");
    assert_eq!(alert["alert"]["severity"], "critical");
    assert_eq!(alert["alert"]["tenant"], f.tenant.as_str());
    assert!(alert["alert"]["text"].as_str().unwrap().contains("does not verify"), "{alert}");
}

/// A channel added to a running gateway alerts on what happens from then
/// on, not on the log's history.
async fn a_new_channel_starts_from_now(backend: Backend) {
    let server = MockServer::start().await;
    accept(&server, "/alerts", ResponseTemplate::new(200)).await;
    let gw = TestGateway::start_with(backend, |c| fast(c, Vec::new())).await;
    let f = gw.tenant_fixture().await;
    gw.declare(&f.live, block_intent()).await.expect(200);
    let settings = json!({"kind": "alert_webhook", "url": format!("{}/alerts", server.uri()), "secret": SECRET,
        "rate_limit_seconds": 0});
    gw.post("/v1/admin/integrations", &f.admin, &json!({"name": "ops", "settings": settings}))
        .await
        .expect(201);
    // The runtime starts it at once (the change is announced).
    tokio::time::sleep(Duration::from_secs(2)).await;
    gw.declare(&f.live, escalate_intent()).await.expect(200);
    let alerts = eventually(Duration::from_secs(20), async || {
        let alerts = posted(&server, "/alerts").await;
        alerts.iter().any(|a| a["alert"]["kind"] == "escalation").then_some(alerts)
    })
    .await
    .expect("the escalation after the channel was added alerts");
    assert!(
        alerts.iter().all(|a| a["alert"]["kind"] != "denial"),
        "the denial from before the channel existed was alerted: {alerts:?}"
    );
}

crate::on_both_backends!(
    a_new_channel_starts_from_now,
    a_burst_is_one_alert_with_a_count,
    vendors_get_their_documented_messages,
    routes_pick_kinds_and_severities,
    conditions_alert_and_resolve,
    a_log_that_does_not_verify_is_critical
);
