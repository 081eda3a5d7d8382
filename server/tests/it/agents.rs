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

crate::on_both_backends!(
    agents_are_registered_read_and_patched,
    agent_lists_paginate_by_id,
    unknown_and_suspended_agents_are_blocked_at_identity,
);
