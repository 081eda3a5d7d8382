//! `/v1/admin/integrations`: a tenant administrator adds, changes and
//! removes its sinks and channels; secrets go in and never come out (not
//! in answers, not in the audit log, not in the database in the clear); a
//! sink made through the API delivers its tenant's log and no other's; a
//! row changed in the database does not run; tenants and agents reach
//! nothing of another tenant; health and dead letters are visible.

use std::time::Duration;

use lictor_api::integrations::IntegrationId;
use serde_json::{Value, json};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::sink_delivery::{fast, sink};
use crate::support::{ADMIN_KEY, Backend, TestGateway, approve_intent, block_intent, eventually};

const TOKEN: &str = "hec-token-never-shown-0123";

async fn hec(server: &MockServer, token: &str) {
    Mock::given(method("POST"))
        .and(path("/services/collector/event"))
        .and(header("authorization", format!("Splunk {token}").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"text": "Success", "code": 0})))
        .mount(server)
        .await;
}

/// The tenants of the events a HEC stand-in received.
async fn hec_tenants(server: &MockServer) -> Vec<String> {
    server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .flat_map(|r| {
            serde_json::Deserializer::from_slice(&r.body)
                .into_iter::<Value>()
                .map(Result::unwrap)
                .collect::<Vec<_>>()
        })
        .map(|e| e["event"]["tenant"].as_str().unwrap().to_string())
        .collect()
}

fn splunk(url: &str) -> Value {
    json!({"kind": "splunk", "url": url, "token": TOKEN, "index": "main"})
}

/// Add, read, change, remove: secrets never shown, the sink delivers its
/// tenant's log only, each change is in the audit log without a secret.
async fn integrations_are_managed_by_their_tenant(backend: Backend) {
    let server = MockServer::start().await;
    hec(&server, TOKEN).await;
    let gw = TestGateway::start_with(backend, |c| fast(c, Vec::new())).await;
    let f = gw.tenant_fixture().await;
    let other = gw.tenant_fixture().await;
    gw.declare(&other.live, block_intent()).await.expect(200);

    let created = gw
        .post("/v1/admin/integrations", &f.admin, &json!({"name": "siem", "settings": splunk(&server.uri())}))
        .await;
    let raw = created.body.to_string();
    let created = created.expect(201);
    assert!(!raw.contains(TOKEN), "the token came back: {raw}");
    let id = created["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("itg_"));
    assert_eq!(created["kind"], "splunk");
    assert_eq!(created["category"], "sink");
    assert_eq!(created["source"], "api");
    assert_eq!(created["tenant"], f.tenant.as_str());
    assert_eq!(created["secrets"], json!(["token"]));
    assert_eq!(created["settings"]["index"], "main");
    assert!(created["settings"].get("token").is_none());
    assert_eq!(created["endpoint"], server.uri());

    // It delivers this tenant's log, and only this tenant's.
    gw.declare(&f.live, approve_intent()).await.expect(200);
    let head = gw.verify(&f.tenant).await["verified"].as_u64().unwrap();
    let delivered = eventually(Duration::from_secs(20), async || {
        let health =
            gw.get(&format!("/v1/admin/integrations/{id}"), &f.admin).await.expect(200)["health"].clone();
        (health["delivered"].as_u64() >= Some(head) && health["lag_entries"] == 0).then_some(health)
    })
    .await
    .expect("the API-made sink delivers");
    assert_eq!(delivered["state"], "ok");
    assert!(delivered["last_success_at"].is_string());
    let tenants = hec_tenants(&server).await;
    assert!(!tenants.is_empty());
    assert!(tenants.iter().all(|t| *t == f.tenant), "another tenant's log was delivered: {tenants:?}");

    // Listed, with its health; not in the other tenant's list.
    let list = gw.get("/v1/admin/integrations", &f.admin).await.expect(200);
    assert!(list["items"].as_array().unwrap().iter().any(|i| i["id"] == id.as_str()));
    let theirs = gw.get("/v1/admin/integrations", &other.admin).await.expect(200);
    assert!(theirs["items"].as_array().unwrap().iter().all(|i| i["id"] != id.as_str()));

    // Turned off, then settings changed without the token: it is kept.
    let off = gw
        .patch(&format!("/v1/admin/integrations/{id}"), &f.admin, &json!({"enabled": false}))
        .await
        .expect(200);
    assert_eq!(off["health"]["state"], "disabled");
    let changed = gw
        .patch(
            &format!("/v1/admin/integrations/{id}"),
            &f.admin,
            &json!({"enabled": true, "settings": {"kind": "splunk", "url": server.uri(), "index": "security"}}),
        )
        .await
        .expect(200);
    assert_eq!(changed["settings"]["index"], "security");
    assert_eq!(changed["secrets"], json!(["token"]));
    gw.declare(&f.live, approve_intent()).await.expect(200);
    let head = gw.verify(&f.tenant).await["verified"].as_u64().unwrap();
    let caught_up = eventually(Duration::from_secs(20), async || {
        let health =
            gw.get(&format!("/v1/admin/integrations/{id}"), &f.admin).await.expect(200)["health"].clone();
        (health["lag_entries"] == 0 && health["delivered"].as_u64() >= Some(head)).then_some(())
    })
    .await;
    assert!(caught_up.is_some(), "the kept token no longer works");

    // Every change is audited, never with the secret.
    let audit =
        gw.get(&format!("/v1/admin/audit?tenant={}&limit=500", f.tenant), ADMIN_KEY).await.expect(200);
    let kinds: Vec<&str> =
        audit["items"].as_array().unwrap().iter().filter_map(|e| e["kind"].as_str()).collect();
    assert!(kinds.contains(&"integration_created"));
    assert_eq!(kinds.iter().filter(|k| **k == "integration_updated").count(), 2);
    let export = gw
        .request(reqwest::Method::GET, &format!("/v1/admin/audit/export?tenant={}", f.tenant))
        .bearer_auth(ADMIN_KEY)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!export.contains(TOKEN));

    // The secret is not in the database in the clear.
    let pool = gw.db().await;
    let stored: Vec<(String, String)> =
        sqlx::query_as("SELECT settings, sealed FROM integrations").fetch_all(&pool).await.unwrap();
    assert!(stored.iter().all(|(settings, sealed)| !settings.contains(TOKEN) && !sealed.contains(TOKEN)));

    // Removed: gone, with its delivery state.
    gw.delete(&format!("/v1/admin/integrations/{id}"), &f.admin).await.expect(204);
    gw.get(&format!("/v1/admin/integrations/{id}"), &f.admin).await.expect_error(404, "not_found");
    let cursors: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sink_cursors WHERE sink = $1")
        .bind(&id)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(cursors, 0);
    let audit = gw
        .get(&format!("/v1/admin/audit?tenant={}&kind=integration_deleted", f.tenant), ADMIN_KEY)
        .await
        .expect(200);
    assert_eq!(audit["items"].as_array().unwrap().len(), 1);
}

/// Bad bodies are refused with the JSON path of the bad field.
async fn bad_integrations_name_the_field(backend: Backend) {
    let gw = TestGateway::start_with(backend, |c| fast(c, Vec::new())).await;
    let f = gw.tenant_fixture().await;
    let cases = [
        (json!({"name": "x", "settings": {"url": "https://s"}}), "$.settings"),
        (json!({"name": "x", "settings": {"kind": "kafka"}}), "$.settings"),
        (
            json!({"name": "x", "settings": {"kind": "splunk", "url": "ftp://s", "token": "t"}}),
            "$.settings.url",
        ),
        (json!({"name": "x", "settings": {"kind": "splunk", "url": "https://s"}}), "$.settings.token"),
        (
            json!({"name": "x", "settings": {"kind": "pagerduty", "routing_key": "short"}}),
            "$.settings.routing_key",
        ),
        (json!({"name": "x", "settings": {"kind": "slack"}}), "$.settings.webhook_url"),
        (json!({"name": "x", "settings": {"kind": "s3", "bucket": "Bad_Bucket"}}), "$.settings.bucket"),
        (json!({"name": "Bad Name", "settings": splunk("https://s")}), "$.name"),
        (json!({"name": "x", "settings": splunk("https://s"), "extra": 1}), "$.extra"),
        (
            json!({"name": "x", "settings": {"kind": "sentinel", "endpoint": "https://dce", "rule_id": "dcr-1",
                "stream": "Custom-A", "tenant_id": "t", "client_id": "c", "client_secret": "s"}}),
            "$.settings.rule_id",
        ),
    ];
    for (body, at) in cases {
        let error = gw.post("/v1/admin/integrations", &f.admin, &body).await.expect(400);
        let path = error["path"].as_str().unwrap_or_default();
        assert!(path.starts_with(at), "{body}: {error}");
        assert!(error["error_code"].is_string(), "{error}");
    }
    let body = json!({"name": "siem", "settings": splunk("https://splunk.example:8088")});
    let id = gw.post("/v1/admin/integrations", &f.admin, &body).await.expect(201)["id"]
        .as_str()
        .unwrap()
        .to_string();
    gw.post("/v1/admin/integrations", &f.admin, &body).await.expect_error(409, "already_exists");
    let kind = gw
        .patch(
            &format!("/v1/admin/integrations/{id}"),
            &f.admin,
            &json!({"settings": {"kind": "datadog", "api_key": "k"}}),
        )
        .await
        .expect(400);
    assert_eq!(kind["path"], "$.settings.kind");
    gw.get("/v1/admin/integrations/itg_missing", &f.admin).await.expect_error(404, "not_found");
    // At most 20 per tenant.
    for i in 1..20 {
        let more = json!({"name": format!("siem-{i}"), "enabled": false, "settings": splunk("https://splunk.example:8088")});
        gw.post("/v1/admin/integrations", &f.admin, &more).await.expect(201);
    }
    let one_too_many = json!({"name": "siem-20", "settings": splunk("https://splunk.example:8088")});
    gw.post("/v1/admin/integrations", &f.admin, &one_too_many).await.expect_error(409, "conflict");
    gw.get("/v1/admin/integrations/Not%20An%20Id", &f.admin).await.expect(400);
}

/// An agent reaches nothing; another tenant's administrator neither sees
/// nor changes the tenant's integrations; the environment's are visible
/// to tenant administrators without their endpoint or settings, and
/// change only with the environment.
async fn tenants_and_agents_reach_nothing_of_others(backend: Backend) {
    let env = MockServer::start().await;
    hec(&env, "env-token").await;
    let uri = env.uri();
    let gw = TestGateway::start_with(backend, |c| {
        fast(c, vec![sink("corp-siem", json!({"kind": "splunk", "url": uri, "token": "env-token"}))]);
    })
    .await;
    let a = gw.tenant_fixture().await;
    let b = gw.tenant_fixture().await;
    let body = json!({"name": "siem", "settings": splunk("https://splunk.example:8088")});
    gw.post("/v1/admin/integrations", &a.live, &body).await.expect_error(403, "forbidden");
    gw.get("/v1/admin/integrations", &a.live).await.expect_error(403, "forbidden");
    let id = gw.post("/v1/admin/integrations", &a.admin, &body).await.expect(201)["id"]
        .as_str()
        .unwrap()
        .to_string();
    for (method, path) in [
        (reqwest::Method::GET, format!("/v1/admin/integrations/{id}")),
        (reqwest::Method::DELETE, format!("/v1/admin/integrations/{id}")),
        (reqwest::Method::GET, format!("/v1/admin/integrations/{id}/dead-letters")),
    ] {
        gw.call(method, &path, Some(&b.admin), None).await.expect_error(404, "not_found");
    }
    gw.patch(&format!("/v1/admin/integrations/{id}"), &b.admin, &json!({"enabled": false}))
        .await
        .expect_error(404, "not_found");
    gw.post(&format!("/v1/admin/integrations/{id}/dead-letters/redrive"), &b.admin, &json!({}))
        .await
        .expect_error(404, "not_found");
    // A tenant administrator cannot name another tenant (which it cannot
    // see either).
    gw.get(&format!("/v1/admin/integrations?tenant={}", a.tenant), &b.admin)
        .await
        .expect_error(404, "not_found");

    // The environment's: seen by both, without endpoint or settings;
    // the superadmin sees them whole; nobody changes them through the API.
    let seen = gw.get("/v1/admin/integrations/env:corp-siem", &b.admin).await.expect(200);
    assert_eq!(seen["source"], "environment");
    assert!(seen["endpoint"].is_null() && seen["settings"].is_null(), "{seen}");
    assert_eq!(seen["secrets"], json!(["token"]));
    let whole = gw
        .get(&format!("/v1/admin/integrations/env:corp-siem?tenant={}", b.tenant), ADMIN_KEY)
        .await
        .expect(200);
    assert_eq!(whole["endpoint"], uri);
    assert!(whole["settings"].get("token").is_none());
    gw.patch("/v1/admin/integrations/env:corp-siem", &b.admin, &json!({"enabled": false}))
        .await
        .expect_error(409, "conflict");
    gw.delete("/v1/admin/integrations/env:corp-siem", &b.admin).await.expect_error(409, "conflict");
}

/// Someone with the database alone: the secret is not readable, and a
/// sink pointed elsewhere in the database stops instead of sending its
/// token there.
async fn a_sink_changed_in_the_database_does_not_run(backend: Backend) {
    let server = MockServer::start().await;
    hec(&server, TOKEN).await;
    let attacker = MockServer::start().await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(200)).mount(&attacker).await;
    let gw = TestGateway::start_with(backend, |c| fast(c, Vec::new())).await;
    let f = gw.tenant_fixture().await;
    let id = gw
        .post("/v1/admin/integrations", &f.admin, &json!({"name": "siem", "settings": splunk(&server.uri())}))
        .await
        .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_string();
    let pool = gw.db().await;
    let settings: String = sqlx::query_scalar("SELECT settings FROM integrations WHERE id = $1")
        .bind(&id)
        .fetch_one(&pool)
        .await
        .unwrap();
    let moved = settings.replace(&server.uri(), &attacker.uri());
    assert_ne!(moved, settings);
    sqlx::query("UPDATE integrations SET settings = $1, updated_at = updated_at + 1 WHERE id = $2")
        .bind(&moved)
        .bind(&id)
        .execute(&pool)
        .await
        .unwrap();
    // Turned off in the database: it does not open either, and says so.
    let second = gw
        .post(
            "/v1/admin/integrations",
            &f.admin,
            &json!({"name": "second", "settings": splunk(&server.uri())}),
        )
        .await
        .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_string();
    sqlx::query("UPDATE integrations SET enabled = 0 WHERE id = $1")
        .bind(&second)
        .execute(&pool)
        .await
        .unwrap();
    let off = gw.get(&format!("/v1/admin/integrations/{second}"), &f.admin).await.expect(200);
    assert_eq!(off["health"]["state"], "misconfigured", "{off}");
    // A row made in the database from scratch does not open either.
    sqlx::query(
        "INSERT INTO integrations (id, tenant_id, name, category, kind, enabled, settings, sealed, created_at, updated_at)
         VALUES ('itg_forged', $1, 'forged', 'sink', 'splunk', 1, $2, 'v1.ckp-0000000000000000.AAAA', 0, 0)",
    )
    .bind(&f.tenant)
    .bind(&moved)
    .execute(&pool)
    .await
    .unwrap();
    gw.declare(&f.live, block_intent()).await.expect(200);
    let refused = eventually(Duration::from_secs(20), async || {
        let health =
            gw.get(&format!("/v1/admin/integrations/{id}"), &f.admin).await.expect(200)["health"].clone();
        (health["state"] == "misconfigured").then_some(health)
    })
    .await
    .expect("the changed sink is reported");
    assert!(
        refused["last_error"]["message"].as_str().unwrap().contains("changed outside the API"),
        "{refused}"
    );
    let forged = gw.get("/v1/admin/integrations/itg_forged", &f.admin).await.expect(200);
    assert_eq!(forged["health"]["state"], "misconfigured");
    // The runtime rescans every 5 s: give it two rounds.
    tokio::time::sleep(Duration::from_secs(11)).await;
    assert!(attacker.received_requests().await.unwrap().is_empty(), "a tampered sink sent to the new URL");
    // Turning it on again without the secrets is refused; with them it runs.
    let id = IntegrationId::parse(id).unwrap();
    gw.patch(&format!("/v1/admin/integrations/{id}"), &f.admin, &json!({"enabled": true}))
        .await
        .expect_error(409, "conflict");
    let fixed = gw
        .patch(&format!("/v1/admin/integrations/{id}"), &f.admin, &json!({"settings": splunk(&server.uri())}))
        .await
        .expect(200);
    assert_ne!(fixed["health"]["state"], "misconfigured");
}

/// Dead letters of a sink, listed for the tenant and sent again on
/// request (once the destination takes them).
async fn dead_letters_are_listed_and_redriven(backend: Backend) {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(wiremock::matchers::body_string_contains(r#""verdict":"block""#))
        .respond_with(ResponseTemplate::new(422).set_body_string("unprocessable"))
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .with_priority(2)
        .mount(&server)
        .await;
    let uri = server.uri();
    let gw = TestGateway::start_with(backend, |c| {
        fast(
            c,
            vec![sink("relay", json!({"kind": "webhook", "url": uri, "secret": "whsec-0123456789abcdef"}))],
        );
    })
    .await;
    let f = gw.tenant_fixture().await;
    gw.declare(&f.live, block_intent()).await.expect(200);
    gw.declare(&f.live, block_intent()).await.expect(200);
    let letters = eventually(Duration::from_secs(20), async || {
        let page = gw.get("/v1/admin/integrations/env:relay/dead-letters", &f.admin).await.expect(200);
        (page["items"].as_array().unwrap().len() == 2).then_some(page)
    })
    .await
    .expect("two dead letters");
    let first = &letters["items"][0];
    assert_eq!(first["status"], 422);
    assert_eq!(first["tenant"], f.tenant.as_str());
    assert!(first["error"].as_str().unwrap().contains("unprocessable"));
    let health = gw.get("/v1/admin/integrations/env:relay", &f.admin).await.expect(200)["health"].clone();
    assert_eq!(health["dead_letters"], 2);
    // Pages.
    let page = gw.get("/v1/admin/integrations/env:relay/dead-letters?limit=1", &f.admin).await.expect(200);
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    let next = page["next_cursor"].as_str().unwrap();
    let rest = gw
        .get(&format!("/v1/admin/integrations/env:relay/dead-letters?limit=1&cursor={next}"), &f.admin)
        .await
        .expect(200);
    assert_eq!(rest["items"][0]["seq"], letters["items"][1]["seq"]);

    server.reset().await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(200)).mount(&server).await;
    let one = letters["items"][0]["seq"].as_u64().unwrap();
    let redriven = gw
        .post("/v1/admin/integrations/env:relay/dead-letters/redrive", &f.admin, &json!({"seq": one}))
        .await
        .expect(200);
    assert_eq!(redriven["redriven"], 1);
    let all = gw
        .post("/v1/admin/integrations/env:relay/dead-letters/redrive", &f.admin, &json!({}))
        .await
        .expect(200);
    assert_eq!(all["redriven"], 1);
    let none = gw
        .post("/v1/admin/integrations/env:relay/dead-letters/redrive", &f.admin, &json!({}))
        .await
        .expect(200);
    assert_eq!(none["redriven"], 0);
    let gone = eventually(Duration::from_secs(20), async || {
        let page = gw.get("/v1/admin/integrations/env:relay/dead-letters", &f.admin).await.expect(200);
        page["items"].as_array().unwrap().is_empty().then_some(())
    })
    .await;
    assert!(gone.is_some());
    let audit = gw
        .get(&format!("/v1/admin/audit?tenant={}&kind=dead_letters_redriven", f.tenant), ADMIN_KEY)
        .await
        .expect(200);
    assert_eq!(audit["items"].as_array().unwrap().len(), 2);
}

/// A tenant administrator cannot aim the gateway at its own network: an
/// integration naming a private, loopback or link-local address is
/// refused, and one whose host name resolves there never sends — unless
/// the operator allows private networks. The environment's may.
async fn tenants_reach_public_addresses_only(backend: Backend) {
    let server = MockServer::start().await;
    hec(&server, TOKEN).await;
    let port = server.address().port();
    let gw = TestGateway::start_with(backend, |c| {
        fast(c, Vec::new());
        c.integrations_allow_private = false;
    })
    .await;
    let f = gw.tenant_fixture().await;
    for (url, field) in [
        ("http://169.254.169.254/latest/meta-data", "$.settings.url"),
        ("http://127.0.0.1:8080", "$.settings.url"),
        ("http://10.0.0.7:8088", "$.settings.url"),
    ] {
        let error = gw
            .post("/v1/admin/integrations", &f.admin, &json!({"name": "inward", "settings": splunk(url)}))
            .await
            .expect(400);
        assert_eq!(error["path"], field, "{url}: {error}");
        assert!(error["message"].as_str().unwrap().contains("public addresses only"), "{error}");
    }
    let sentinel = json!({"name": "inward", "settings": {"kind": "sentinel", "endpoint": "https://dce.example.com",
        "rule_id": "dcr-00112233445566778899aabbccddeeff", "stream": "Custom-A", "tenant_id": "t", "client_id": "c",
        "client_secret": "s", "authority": "http://[::1]:9000"}});
    let error = gw.post("/v1/admin/integrations", &f.admin, &sentinel).await.expect(400);
    assert_eq!(error["path"], "$.settings.authority");
    // A name that resolves to loopback: accepted, but nothing is sent.
    let by_name = format!("http://localhost:{port}");
    let id = gw
        .post("/v1/admin/integrations", &f.admin, &json!({"name": "by-name", "settings": splunk(&by_name)}))
        .await
        .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_string();
    gw.declare(&f.live, approve_intent()).await.expect(200);
    let refused = eventually(Duration::from_secs(20), async || {
        let health =
            gw.get(&format!("/v1/admin/integrations/{id}"), &f.admin).await.expect(200)["health"].clone();
        health["last_error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("public addresses only"))
            .then_some(health)
    })
    .await
    .expect("the inward name is refused when resolved");
    assert_eq!(refused["state"], "failing", "{refused}");
    assert!(server.received_requests().await.unwrap().is_empty(), "a tenant's sink reached loopback");
}

crate::on_both_backends!(
    tenants_reach_public_addresses_only,
    integrations_are_managed_by_their_tenant,
    bad_integrations_name_the_field,
    tenants_and_agents_reach_nothing_of_others,
    a_sink_changed_in_the_database_does_not_run,
    dead_letters_are_listed_and_redriven
);
