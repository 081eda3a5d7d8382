use serde_json::json;

use crate::support::{ADMIN_KEY, Backend, TestGateway, approve_intent};

async fn agents_are_registered_read_and_patched(backend: Backend) {
    let gw = TestGateway::start(backend).await;
    let f = gw.tenant_fixture().await;
    let created = gw
        .post(
            "/v1/agents",
            &f.admin,
            &json!({"id": "mailer", "name": "Mailer", "owner": "growth", "description": "sends mail"}),
        )
        .await
        .expect(201);
    assert_eq!(created["status"], "active");
    assert_eq!(created["tenant"], f.tenant.as_str());
    gw.post("/v1/agents", &f.admin, &json!({"id": "mailer", "name": "Again", "owner": "x"}))
        .await
        .expect_error(409, "already_exists");

    let patched = gw
        .patch(
            "/v1/agents/mailer",
            &f.admin,
            &json!({"name": "Mailer 2", "description": null, "budget": {"max_decisions_24h": 10}}),
        )
        .await
        .expect(200);
    assert_eq!(patched["name"], "Mailer 2");
    assert!(patched["description"].is_null());
    assert_eq!(patched["owner"], "growth");
    assert_eq!(patched["budget"]["max_decisions_24h"], 10);
    let got = gw.get("/v1/agents/mailer", &f.admin).await.expect(200);
    assert_eq!(got, patched);

    gw.get("/v1/agents/ghost", &f.admin).await.expect_error(404, "not_found");
    gw.patch("/v1/agents/ghost", &f.admin, &json!({"name": "x"})).await.expect_error(404, "not_found");
    let e = gw
        .patch("/v1/agents/mailer", &f.admin, &json!({"status": "paused"}))
        .await
        .expect_error(400, "invalid_field");
    assert_eq!(e["path"], "$.status");

    // The superadmin must name the tenant; others' agents are 404.
    let e = gw.get("/v1/agents/mailer", ADMIN_KEY).await.expect_error(400, "invalid_parameter");
    assert_eq!(e["parameter"], "tenant");
    gw.get(&format!("/v1/agents/mailer?tenant={}", f.tenant), ADMIN_KEY).await.expect(200);
    let other = gw.tenant_fixture().await;
    gw.get("/v1/agents/mailer", &other.admin).await.expect_error(404, "not_found");
    gw.get(&format!("/v1/agents/mailer?tenant={}", f.tenant), &other.admin)
        .await
        .expect_error(404, "not_found");
    gw.get("/v1/agents", &f.live).await.expect_error(403, "forbidden");
}

async fn agent_lists_paginate_by_id(backend: Backend) {
    let gw = TestGateway::start(backend).await;
    let f = gw.tenant_fixture().await;
    for id in ["b", "d", "a", "c"] {
        gw.create_agent(&f.admin, id, None).await;
    }
    let first = gw.get("/v1/agents?limit=3", &f.admin).await.expect(200);
    let ids: Vec<_> =
        first["items"].as_array().unwrap().iter().map(|a| a["id"].as_str().unwrap().to_string()).collect();
    assert_eq!(ids, ["a", "agent-1", "b"]);
    let cursor = first["next_cursor"].as_str().unwrap();
    let second = gw.get(&format!("/v1/agents?limit=3&cursor={cursor}"), &f.admin).await.expect(200);
    let ids: Vec<_> =
        second["items"].as_array().unwrap().iter().map(|a| a["id"].as_str().unwrap().to_string()).collect();
    assert_eq!(ids, ["c", "d"]);
    assert!(second["next_cursor"].is_null());
    gw.patch("/v1/agents/c", &f.admin, &json!({"status": "suspended"})).await.expect(200);
    let suspended = gw.get("/v1/agents?status=suspended", &f.admin).await.expect(200);
    assert_eq!(suspended["items"].as_array().unwrap().len(), 1);
}

async fn unknown_and_suspended_agents_are_blocked_at_identity(backend: Backend) {
    let gw = TestGateway::start(backend).await;
    let f = gw.tenant_fixture().await;
    let mut unknown = approve_intent();
    unknown["agent"]["id"] = json!("ghost");
    let d = gw.declare(&f.live, unknown).await.expect(200);
    assert_eq!(d["verdict"], "block");
    assert_eq!(d["reasons"][0]["stage"], "identity");
    assert_eq!(d["reasons"][0]["code"], "unknown_agent");
    let identity = d["stages"].as_array().unwrap().iter().find(|s| s["name"] == "identity").unwrap().clone();
    assert_eq!(identity["outcome"], "fail");
    let policy = d["stages"].as_array().unwrap().iter().find(|s| s["name"] == "policy").unwrap().clone();
    assert_eq!(policy["outcome"], "skip");
    assert!(d["audit"]["seq"].is_u64(), "identity blocks are audited too");

    gw.patch("/v1/agents/agent-1", &f.admin, &json!({"status": "suspended"})).await.expect(200);
    let d = gw.declare(&f.live, approve_intent()).await.expect(200);
    assert_eq!(d["verdict"], "block");
    assert_eq!(d["reasons"][0]["code"], "agent_suspended");
    gw.patch("/v1/agents/agent-1", &f.admin, &json!({"status": "active"})).await.expect(200);
    assert_eq!(gw.declare(&f.live, approve_intent()).await.expect(200)["verdict"], "approve");
}

/// An agent without an exposure limit, then one with a limit, in one
/// transaction (hence on one connection): a NULL float bound first must not
/// fix the statement's parameter type for the value after it (sqlx 0.9.0
/// bound a NULL DOUBLE PRECISION as float4, and PostgreSQL then refused the
/// next 8-byte value: "incorrect binary data format").
async fn exposure_limits_bind_after_agents_without_one(backend: Backend) {
    use lictor_api::agents::{AgentBudget, AgentStatus};
    use lictor_api::money::UsdAmount;
    use lictor_server::store::{AgentRow, Store, StoreConfig};
    let gw = TestGateway::start(backend).await;
    let f = gw.tenant_fixture().await;
    let store = Store::open(&StoreConfig {
        database_url: Some(gw.database_url.clone()),
        data_dir: std::env::temp_dir(),
        lock_timeout: std::time::Duration::from_secs(5),
        max_connections: 2,
    })
    .await
    .unwrap();
    let agent = |id: &str, usd: Option<f64>| AgentRow {
        tenant: f.tenant.parse().unwrap(),
        id: id.parse().unwrap(),
        name: "B".into(),
        owner: "o".into(),
        description: None,
        status: AgentStatus::Active,
        budget: AgentBudget {
            max_decisions_24h: None,
            max_exposure_usd_24h: usd.map(|u| UsdAmount::new(u).unwrap()),
        },
        created_at: lictor_server::clock::Timestamp::from_micros(1),
        updated_at: lictor_server::clock::Timestamp::from_micros(1),
    };
    let mut tx = store.begin().await.unwrap();
    tx.insert_agent(&agent("no-limit", None)).await.unwrap();
    tx.insert_agent(&agent("limited", Some(250.5))).await.unwrap();
    tx.commit().await.unwrap();
    let listed = gw.get("/v1/agents/limited", &f.admin).await.expect(200);
    assert_eq!(listed["budget"]["max_exposure_usd_24h"], 250.5);
}

crate::on_both_backends!(
    exposure_limits_bind_after_agents_without_one,
    agents_are_registered_read_and_patched,
    agent_lists_paginate_by_id,
    unknown_and_suspended_agents_are_blocked_at_identity,
);
