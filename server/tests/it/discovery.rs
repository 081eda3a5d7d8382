//! Discovery: vendor records in, discovered agents out.

use std::io::Write;

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{ADMIN_KEY, Backend, TestGateway};

/// A Zscaler NSS web log record (native field names).
fn nss(id: u64, login: &str, url: &str, bytes: u64, epoch: i64) -> Value {
    let host = url.split('/').next().unwrap_or_default();
    json!({
        "epochtime": epoch.to_string(), "login": login, "dept": "Research", "cip": "192.0.2.10",
        "url": url, "host": host, "appname": "General Browsing", "appclass": "General Browsing",
        "action": "Allowed", "totalsize": bytes.to_string(), "recordid": id.to_string(),
    })
}

fn ndjson(records: &[Value]) -> String {
    records.iter().map(|r| format!("{r}\n")).collect()
}

async fn ingest(
    gw: &TestGateway,
    key: &str,
    query: &str,
    body: impl Into<reqwest::Body>,
) -> crate::support::Answer {
    gw.send(gw.request(Method::POST, &format!("/api/discovery/ingest?{query}")).bearer_auth(key).body(body))
        .await
}

const T0: i64 = 1_772_359_200; // 2026-03-01T10:00:00Z

async fn records_become_discovered_agents(backend: Backend) {
    let gw = TestGateway::start(backend).await;
    let f = gw.tenant_fixture().await;
    let ingest_key = gw.create_key(&f.tenant, "live", "ingest").await;
    let body = ndjson(&[
        nss(1, "Alice@Example.com", "api.openai.com/v1/chat/completions", 1200, T0),
        nss(2, "alice@example.com", "api.openai.com/v1/embeddings", 800, T0 + 60),
        nss(3, "bob@example.com", "claude.ai/chat", 500, T0 + 30),
        json!({"login": "carol@example.com", "url": "api.anthropic.com/v1/messages", "recordid": "4"}),
        nss(5, "bob@example.com", "www.example.org/news", 300, T0),
    ]);
    let first = ingest(&gw, &ingest_key, "format=zscaler_nss_json", body.clone()).await.expect(200);
    assert_eq!(first["records"], 5, "{first}");
    assert_eq!(first["accepted"], 3, "{first}");
    assert_eq!(first["refused"], 1);
    assert_eq!(first["other_observations"], 1);
    assert_eq!(first["duplicates"], 0);
    assert_eq!(first["agents_new"], 2);
    assert_eq!(first["source"], "zscaler");
    assert_eq!(first["errors"][0]["line"], 4, "{first}");
    assert!(first["errors_truncated"] == false);

    // Sent again: nothing is added twice.
    let again = ingest(&gw, &ingest_key, "format=zscaler_nss_json", body).await.expect(200);
    assert_eq!(again["duplicates"], 3, "{again}");
    assert_eq!((again["accepted"].as_u64(), again["agents_new"].as_u64()), (Some(0), Some(0)));

    let page = gw.get("/api/discovery/agents", &f.admin).await.expect(200);
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{page}");
    // Most recently seen first: alice's last request is the latest.
    let alice = &items[0];
    assert_eq!(alice["identity"], json!({"kind": "user", "value": "alice@example.com"}));
    assert_eq!(alice["service"]["id"], "openai-api", "{alice}");
    assert_eq!(alice["service"]["listed"], true);
    assert_eq!((alice["requests"].as_u64(), alice["bytes"].as_u64()), (Some(2), Some(2000)));
    assert_eq!(alice["first_seen"], "2026-03-01T10:00:00Z");
    assert_eq!(alice["last_seen"], "2026-03-01T10:01:00Z");
    assert_eq!(alice["department"], "Research");
    assert_eq!(alice["status"], "unreviewed");
    assert_eq!(alice["overdue"], false);
    assert_eq!(alice["sources"][0]["source"], "zscaler");
    assert_eq!(alice["sources"][0]["requests"], 2);
    let id = alice["id"].as_str().unwrap();
    assert!(id.starts_with("dag_"));
    let got = gw.get(&format!("/api/discovery/agents/{id}"), &f.admin).await.expect(200);
    assert_eq!(got["id"], alice["id"]);
    assert_eq!(items[1]["service"]["id"], "claude", "{page}");

    // Filters, and a page at a time.
    let bob = gw.get("/api/discovery/agents?identity=bob@example.com", &f.admin).await.expect(200);
    assert_eq!(bob["items"].as_array().unwrap().len(), 1);
    let none = gw.get("/api/discovery/agents?status=sanctioned", &f.admin).await.expect(200);
    assert!(none["items"].as_array().unwrap().is_empty());
    let one = gw.get("/api/discovery/agents?limit=1", &f.admin).await.expect(200);
    let cursor = one["next_cursor"].as_str().unwrap();
    let two = gw.get(&format!("/api/discovery/agents?limit=1&cursor={cursor}"), &f.admin).await.expect(200);
    assert_eq!(two["items"][0]["id"], items[1]["id"]);
    assert!(two["next_cursor"].is_null());

    // A named source is counted apart; the same records add nothing twice
    // however they come.
    let named = ingest(
        &gw,
        &f.admin,
        "format=zscaler_nss_json&source=zia-eu",
        ndjson(&[nss(6, "alice@example.com", "api.openai.com/v1/chat/completions", 100, T0 + 120)]),
    )
    .await
    .expect(200);
    assert_eq!(named["source"], "zia-eu");
    let alice = gw.get(&format!("/api/discovery/agents/{id}"), &f.admin).await.expect(200);
    let sources: Vec<&str> =
        alice["sources"].as_array().unwrap().iter().map(|s| s["source"].as_str().unwrap()).collect();
    assert_eq!(sources, vec!["zia-eu", "zscaler"]);
    assert_eq!(alice["requests"], 3);
}

async fn bodies_in_every_shape(backend: Backend) {
    let gw = TestGateway::start(backend).await;
    let f = gw.tenant_fixture().await;
    // A JSON array, gzipped, with the format in the Content-Type.
    let array = json!([nss(1, "dana@example.com", "api.anthropic.com/v1/messages", 10, T0)]).to_string();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(array.as_bytes()).unwrap();
    let gzipped = gz.finish().unwrap();
    let answer = gw
        .send(
            gw.request(Method::POST, "/api/discovery/ingest")
                .bearer_auth(&f.admin)
                .header("Content-Type", "application/json; format=zscaler_nss_json")
                .header("Content-Encoding", "gzip")
                .body(gzipped.clone()),
        )
        .await
        .expect(200);
    assert_eq!((answer["accepted"].as_u64(), answer["agents_new"].as_u64()), (Some(1), Some(1)), "{answer}");
    // gzip is recognised without the header too.
    let again = ingest(&gw, &f.admin, "format=zscaler_nss_json", gzipped).await.expect(200);
    assert_eq!(again["duplicates"], 1, "{again}");

    // CSV without a header row, its columns named.
    let csv = "\"1772359200\",\"erin@example.com\",\"api.mistral.ai/v1/chat/completions\",\"Allowed\",\"42\",\"77\"\n\
               \"oops\",\"erin@example.com\",\"api.mistral.ai/v1/chat/completions\",\"Allowed\",\"42\",\"78\"\n";
    let answer = ingest(
        &gw,
        &f.admin,
        "format=zscaler_nss_csv&columns=epochtime,login,url,action,totalsize,recordid",
        csv,
    )
    .await
    .expect(200);
    assert_eq!((answer["accepted"].as_u64(), answer["refused"].as_u64()), (Some(1), Some(1)), "{answer}");
    assert_eq!(answer["errors"][0]["line"], 2);
    assert_eq!(answer["errors"][0]["field"], "epochtime", "{answer}");

    // A body cut short keeps what came before the cut, and says so.
    let cut = format!("[{}, {{\"login\":", nss(9, "fay@example.com", "api.openai.com/v1/responses", 1, T0));
    let e = ingest(&gw, &f.admin, "format=zscaler_nss_json", cut).await.expect_error(400, "invalid_request");
    assert!(e["message"].as_str().unwrap().contains("1 kept"), "{e}");
    let fay = gw.get("/api/discovery/agents?identity=fay@example.com", &f.admin).await.expect(200);
    assert_eq!(fay["items"].as_array().unwrap().len(), 1);

    // Bad requests name what is wrong.
    let e = ingest(&gw, &f.admin, "", "{}").await.expect_error(400, "invalid_parameter");
    assert_eq!(e["parameter"], "format");
    let e = ingest(&gw, &f.admin, "format=splunk", "{}").await.expect_error(400, "invalid_parameter");
    assert_eq!(e["parameter"], "format", "{e}");
    let e = ingest(&gw, &f.admin, "format=netskope_events&columns=a,b", "{}")
        .await
        .expect_error(400, "invalid_parameter");
    assert_eq!(e["parameter"], "columns");
    let e = gw
        .send(
            gw.request(Method::POST, "/api/discovery/ingest?format=netskope_events")
                .bearer_auth(&f.admin)
                .header("Content-Encoding", "br")
                .body("{}"),
        )
        .await
        .expect_error(400, "invalid_parameter");
    assert_eq!(e["parameter"], "Content-Encoding");
}

async fn who_may_ingest_and_read(backend: Backend) {
    let gw = TestGateway::start(backend).await;
    let f = gw.tenant_fixture().await;
    let other = gw.tenant_fixture().await;
    let ingest_key = gw.create_key(&f.tenant, "live", "ingest").await;
    let auditor = gw.create_key(&f.tenant, "live", "auditor").await;
    let body = ndjson(&[nss(1, "gil@example.com", "api.openai.com/v1/chat/completions", 5, T0)]);
    // An agent key, an auditor: not an ingest.
    ingest(&gw, &f.live, "format=zscaler_nss_json", body.clone()).await.expect_error(403, "forbidden");
    ingest(&gw, &auditor, "format=zscaler_nss_json", body.clone()).await.expect_error(403, "forbidden");
    // An ingest key ingests into its own tenant only, and reads nothing.
    let e =
        ingest(&gw, &ingest_key, &format!("format=zscaler_nss_json&tenant={}", other.tenant), body.clone())
            .await;
    assert_eq!(e.status, 404, "{:?}", e.body);
    ingest(&gw, &ingest_key, "format=zscaler_nss_json", body).await.expect(200);
    gw.get("/api/discovery/agents", &ingest_key).await.expect_error(403, "forbidden");
    let page = gw.get("/api/discovery/agents", &auditor).await.expect(200);
    let id = page["items"][0]["id"].as_str().unwrap().to_string();
    // Another tenant's admin does not see it; the superadmin names the tenant.
    gw.get(&format!("/api/discovery/agents/{id}"), &other.admin).await.expect_error(404, "not_found");
    let own = gw.get("/api/discovery/agents", &other.admin).await.expect(200);
    assert!(own["items"].as_array().unwrap().is_empty());
    gw.get(&format!("/api/discovery/agents/{id}?tenant={}", f.tenant), ADMIN_KEY).await.expect(200);
    gw.get("/api/discovery/agents/not-an-id!", &f.admin).await.expect_error(400, "invalid_parameter");
}

async fn the_inventory_is_governed_and_attested(backend: Backend) {
    let op = crate::support::oidc::Provider::start().await;
    let gw = crate::operators::gateway_with(backend, &op).await;
    let tenant = crate::operators::tenant_with_people(&gw, json!({})).await;
    let admin = gw.create_key(&tenant, "live", "admin").await;
    let auditor = gw.create_key(&tenant, "live", "auditor").await;
    gw.create_agent(&admin, "mailer", None).await;
    let body = ndjson(&[nss(1, "svc-mailer@example.com", "api.openai.com/v1/chat/completions", 5, T0)]);
    ingest(&gw, &admin, "format=zscaler_nss_json", body).await.expect(200);
    let page = gw.get("/api/discovery/agents", &admin).await.expect(200);
    let id = page["items"][0]["id"].as_str().unwrap().to_string();
    let path = format!("/api/discovery/agents/{id}");

    // A review gives its reason; a link names a registered agent.
    let e =
        gw.patch(&path, &admin, &json!({"status": "sanctioned"})).await.expect_error(400, "invalid_field");
    assert_eq!(e["path"], "$.reason");
    let e = gw.patch(&path, &admin, &json!({"reason": "why"})).await.expect_error(400, "invalid_field");
    assert_eq!(e["path"], "$.reason");
    let e = gw.patch(&path, &admin, &json!({"agent_id": "ghost"})).await.expect_error(400, "invalid_field");
    assert_eq!(e["path"], "$.agent_id");
    gw.patch(&path, &auditor, &json!({"owner": "carol"})).await.expect_error(403, "forbidden");
    gw.patch("/api/discovery/agents/dag_none", &admin, &json!({"owner": "carol"}))
        .await
        .expect_error(404, "not_found");
    let governed = gw
        .patch(
            &path,
            &admin,
            &json!({"status": "sanctioned", "reason": "approved by the CISO", "owner": "carol@example.test",
                    "agent_id": "mailer"}),
        )
        .await
        .expect(200);
    assert_eq!(governed["status"], "sanctioned");
    assert_eq!(governed["status_reason"], "approved by the CISO");
    assert_eq!(governed["owner"], "carol@example.test");
    assert_eq!(governed["agent_id"], "mailer");
    assert!(governed["attested_at"].is_null());
    let listed = gw.get("/api/discovery/agents?governed=true&owned=true", &admin).await.expect(200);
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    let none = gw.get("/api/discovery/agents?governed=false", &admin).await.expect(200);
    assert!(none["items"].as_array().unwrap().is_empty());

    // Only the owner attests, as a person.
    let attest = format!("{path}/attestations");
    let statement = json!({"statement": "still sends the monthly invoices"});
    let (bob, _) = op.tokens("bob").await;
    let (carol, _) = op.tokens("carol").await;
    gw.post(&attest, &bob, &statement).await.expect_error(403, "forbidden");
    gw.post(&attest, &admin, &statement).await.expect_error(403, "forbidden");
    let attested = gw.post(&attest, &carol, &statement).await.expect(201);
    assert_eq!(attested["person"]["subject"], "carol");
    assert_eq!(attested["statement"], "still sends the monthly invoices");
    assert!(attested["id"].as_str().unwrap().starts_with("att_"));
    let got = gw.get(&path, &admin).await.expect(200);
    assert_eq!(got["attested_at"], attested["attested_at"]);
    assert_eq!(got["overdue"], false);
    let list = gw.get("/api/discovery/attestations", &auditor).await.expect(200);
    assert_eq!(list["items"][0]["id"], attested["id"]);
    let list = gw.get(&format!("/api/discovery/attestations?discovered_id={id}"), &admin).await.expect(200);
    assert_eq!(list["items"].as_array().unwrap().len(), 1);

    // The tenant's interval decides when an attestation is overdue.
    assert_eq!(
        gw.get("/api/discovery/settings", &auditor).await.expect(200),
        json!({"attestation_days": 90})
    );
    let e = gw
        .send(
            gw.request(Method::PUT, "/api/discovery/settings")
                .bearer_auth(&admin)
                .json(&json!({"attestation_days": 0})),
        )
        .await
        .expect_error(400, "invalid_field");
    assert_eq!(e["path"], "$.attestation_days");
    gw.send(
        gw.request(Method::PUT, "/api/discovery/settings")
            .bearer_auth(&auditor)
            .json(&json!({"attestation_days": 7})),
    )
    .await
    .expect_error(403, "forbidden");
    let set = gw
        .send(
            gw.request(Method::PUT, "/api/discovery/settings")
                .bearer_auth(&admin)
                .json(&json!({"attestation_days": 1})),
        )
        .await
        .expect(200);
    assert_eq!(set, json!({"attestation_days": 1}));
    let two_days_ago = chrono::Utc::now().timestamp_micros() - 2 * 86_400_000_000;
    sqlx::query("UPDATE discovered_agents SET attested_at = $1 WHERE id = $2")
        .bind(two_days_ago)
        .bind(&id)
        .execute(&gw.db().await)
        .await
        .unwrap();
    let overdue = gw.get(&path, &admin).await.expect(200);
    assert_eq!(overdue["overdue"], true, "{overdue}");

    // Relieved of its owner, unlinked; every change is in the audit log,
    // naming who made it.
    let cleared = gw.patch(&path, &admin, &json!({"owner": null, "agent_id": null})).await.expect(200);
    assert!(cleared["owner"].is_null() && cleared["agent_id"].is_null(), "{cleared}");
    let audit = |kind: &str| format!("/v1/admin/audit?tenant={tenant}&kind={kind}");
    let updates = gw.get(&audit("discovered_agent_updated"), ADMIN_KEY).await.expect(200);
    assert_eq!(updates["items"].as_array().unwrap().len(), 2, "{updates}");
    let attestations = gw.get(&audit("discovered_agent_attested"), ADMIN_KEY).await.expect(200);
    assert_eq!(attestations["items"][0]["person"]["subject"], "carol", "{attestations}");
    let settings = gw.get(&audit("discovery_settings_changed"), ADMIN_KEY).await.expect(200);
    assert_eq!(settings["items"].as_array().unwrap().len(), 1);
    let verified = gw.verify(&tenant).await;
    assert_eq!(verified["ok"], true, "{verified}");
}

async fn tenants_add_services_to_the_catalogue(backend: Backend) {
    let gw = TestGateway::start(backend).await;
    let f = gw.tenant_fixture().await;
    let other = gw.tenant_fixture().await;
    let auditor = gw.create_key(&f.tenant, "live", "auditor").await;
    let shipped = gw.get("/api/discovery/catalogue", &f.admin).await.expect(200);
    let count = shipped["services"].as_array().unwrap().len();
    assert!(count >= 30, "{shipped}");
    assert_eq!(shipped["version"], shipped["shipped_version"]);
    let put = |id: &str, key: &str, body: Value| {
        let request = gw
            .request(Method::PUT, &format!("/api/discovery/catalogue/services/{id}"))
            .bearer_auth(key)
            .json(&body);
        gw.send(request)
    };
    let create = |id: &str, key: &str, mut body: Value| {
        body["id"] = json!(id);
        gw.send(gw.request(Method::POST, "/api/discovery/catalogue/services").bearer_auth(key).json(&body))
    };
    let acme = json!({"name": "Acme LLM", "vendor": "Acme", "kind": "model_api",
        "domains": {"exact": ["llm.acme.example"]}, "url_patterns": [{"host": "gw.acme.example", "path_prefix": "/v1/llm/"}]});
    create("acme-llm", &auditor, acme.clone()).await.expect_error(403, "forbidden");
    put("acme-llm", &f.admin, acme.clone()).await.expect_error(404, "not_found");
    let saved = create(
        "acme-llm",
        &f.admin,
        json!({"name": "Acme", "vendor": "Acme", "kind": "saas", "domains": {"exact": ["old.acme.example"]}}),
    )
    .await
    .expect(201);
    assert_eq!(saved["origin"], "tenant");
    create("acme-llm", &f.admin, acme.clone()).await.expect_error(409, "already_exists");
    // Another tenant's admin cannot replace it; theirs is their own.
    put("acme-llm", &other.admin, acme.clone()).await.expect_error(404, "not_found");
    let saved = put("acme-llm", &f.admin, acme.clone()).await.expect(200);
    assert_eq!(saved["origin"], "tenant");
    assert_eq!(saved["domains"]["exact"], json!(["llm.acme.example"]));
    let mine = gw.get("/api/discovery/catalogue", &auditor).await.expect(200);
    assert_eq!(mine["services"].as_array().unwrap().len(), count + 1);
    assert!(
        mine["version"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{}+1.", shipped["shipped_version"].as_str().unwrap()))
    );
    let theirs = gw.get("/api/discovery/catalogue", &other.admin).await.expect(200);
    assert_eq!(theirs["services"].as_array().unwrap().len(), count);

    // Claims are the catalogue's: a shipped id, a shipped host, a bad pattern.
    create("openai-api", &f.admin, acme.clone()).await.expect_error(409, "conflict");
    put("openai-api", &f.admin, acme.clone()).await.expect_error(404, "not_found");
    let e = create(
        "copycat",
        &f.admin,
        json!({"name": "C", "vendor": "C", "kind": "saas",
        "domains": {"exact": ["api.openai.com"]}}),
    )
    .await
    .expect_error(400, "invalid_field");
    assert_eq!(e["path"], "$.domains.exact[0]", "{e}");
    let e = create(
        "broad",
        &f.admin,
        json!({"name": "B", "vendor": "B", "kind": "saas",
        "domains": {"wildcard": ["*.com"]}}),
    )
    .await
    .expect_error(400, "invalid_field");
    assert_eq!(e["path"], "$.domains.wildcard[0]", "{e}");

    // Records are matched with it from then on, in this tenant only.
    let body = ndjson(&[
        nss(1, "dev@example.com", "llm.acme.example/v2/generate", 7, T0),
        nss(2, "dev@example.com", "gw.acme.example/v1/llm/chat", 3, T0),
        nss(3, "dev@example.com", "gw.acme.example/v1/other", 3, T0),
    ]);
    let answer = ingest(&gw, &f.admin, "format=zscaler_nss_json", body.clone()).await.expect(200);
    assert_eq!(
        (answer["ai_observations"].as_u64(), answer["other_observations"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(answer["catalogue_version"], mine["version"]);
    let found = gw.get("/api/discovery/agents?service=acme-llm", &f.admin).await.expect(200);
    let agent = &found["items"][0];
    assert_eq!(
        agent["service"],
        json!({"id": "acme-llm", "name": "Acme LLM", "vendor": "Acme", "listed": true})
    );
    assert_eq!(agent["requests"], 2);
    let elsewhere = ingest(&gw, &other.admin, "format=zscaler_nss_json", body).await.expect(200);
    assert_eq!(elsewhere["ai_observations"], 0);

    // Removed: the agent keeps what it was matched as, no longer listed.
    gw.delete("/api/discovery/catalogue/services/acme-llm", &f.admin).await.expect(204);
    gw.delete("/api/discovery/catalogue/services/acme-llm", &f.admin).await.expect_error(404, "not_found");
    let id = agent["id"].as_str().unwrap();
    let kept = gw.get(&format!("/api/discovery/agents/{id}"), &f.admin).await.expect(200);
    assert_eq!(kept["service"], json!({"id": "acme-llm", "name": "Acme LLM", "listed": false}));
    let audit = |kind: &str| format!("/v1/admin/audit?tenant={}&kind={kind}", f.tenant);
    let saved = gw.get(&audit("discovery_service_saved"), ADMIN_KEY).await.expect(200);
    assert_eq!(saved["items"].as_array().unwrap().len(), 2, "made, then replaced");
    let deleted = gw.get(&audit("discovery_service_deleted"), ADMIN_KEY).await.expect(200);
    assert_eq!(deleted["items"].as_array().unwrap().len(), 1);
}

crate::on_both_backends!(
    tenants_add_services_to_the_catalogue,
    records_become_discovered_agents,
    bodies_in_every_shape,
    who_may_ingest_and_read,
    the_inventory_is_governed_and_attested
);
