use reqwest::Method;
use serde_json::json;

use crate::support::{ADMIN_KEY, Backend, TestGateway};

async fn credentials_are_required_and_checked(backend: Backend) {
    let gw = TestGateway::start(backend).await;
    let f = gw.tenant_fixture().await;
    // No header, wrong scheme, malformed, unknown: 401 with the typed body.
    gw.call(Method::GET, "/v1/admin/tenants", None, None).await.expect_error(401, "unauthenticated");
    let basic = gw.request(Method::GET, "/v1/admin/tenants").header("authorization", "Basic YWJjOmRlZg==");
    gw.send(basic).await.expect_error(401, "unauthenticated");
    gw.get("/v1/admin/tenants", "not a key").await.expect_error(401, "unauthenticated");
    gw.get("/v1/admin/tenants", "lictor_live_unknownunknownunknownunknownunknown")
        .await
        .expect_error(401, "unauthenticated");
    // Agent keys may not administer; tenant admins may not create tenants.
    gw.get("/v1/admin/tenants", &f.live).await.expect_error(403, "forbidden");
    gw.post("/v1/admin/tenants", &f.admin, &json!({"id": "nope", "name": "Nope"}))
        .await
        .expect_error(403, "forbidden");
    // Credentials come before input: a bad body without credentials is a 401.
    gw.call(Method::POST, "/v1/admin/tenants", None, Some(&json!({"id": 5})))
        .await
        .expect_error(401, "unauthenticated");
}

async fn tenants_are_created_once_and_listed_with_activity(backend: Backend) {
    let gw = TestGateway::start(backend).await;
    let created =
        gw.post("/v1/admin/tenants", ADMIN_KEY, &json!({"id": "acme", "name": "Acme"})).await.expect(201);
    assert_eq!(created["tenant"]["id"], "acme");
    assert!(created["webhook_secret"].as_str().is_some_and(|s| s.starts_with("lictor_whsec_")));
    assert_eq!(created["tenant"]["active_policy"]["bundle_name"], "default");
    assert_eq!(created["tenant"]["active_policy"]["bundle_hash"].as_str().map(str::len), Some(64));
    assert_eq!(created["tenant"]["pending_approvals"], 0);
    let again = gw.post("/v1/admin/tenants", ADMIN_KEY, &json!({"id": "acme", "name": "Other"})).await;
    again.expect_error(409, "already_exists");

    // Activity: one escalation opens an approval; decisions are counted.
    let admin = gw.create_key("acme", "live", "admin").await;
    let live = gw.create_key("acme", "live", "agent").await;
    gw.create_agent(&admin, "agent-1", None).await;
    gw.declare(&live, crate::support::escalate_intent()).await.expect(200);
    gw.declare(&live, crate::support::approve_intent()).await.expect(200);
    let tenant = gw.get("/v1/admin/tenants/acme", ADMIN_KEY).await.expect(200);
    assert_eq!(tenant["pending_approvals"], 1);
    assert_eq!(tenant["decisions_24h"], 2);
}

async fn tenant_admins_see_only_their_tenant(backend: Backend) {
    let gw = TestGateway::start(backend).await;
    let a = gw.tenant_fixture().await;
    let b = gw.tenant_fixture().await;
    let page = gw.get("/v1/admin/tenants", &a.admin).await.expect(200);
    let ids: Vec<_> = page["items"].as_array().unwrap().iter().map(|t| t["id"].clone()).collect();
    assert_eq!(ids, vec![json!(a.tenant)]);
    gw.get(&format!("/v1/admin/tenants/{}", b.tenant), &a.admin).await.expect_error(404, "not_found");
    gw.post(&format!("/v1/admin/tenants/{}/webhook-secret", b.tenant), &a.admin, &json!({}))
        .await
        .expect_error(404, "not_found");
    let rotated = gw
        .post(&format!("/v1/admin/tenants/{}/webhook-secret", a.tenant), &a.admin, &json!({}))
        .await
        .expect(200);
    assert!(rotated["webhook_secret"].as_str().is_some_and(|s| s.starts_with("lictor_whsec_")));
    // The superadmin sees both.
    let all = gw.get("/v1/admin/tenants?limit=500", ADMIN_KEY).await.expect(200);
    let count = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["id"] == a.tenant || t["id"] == b.tenant)
        .count();
    assert_eq!(count, 2);
}

async fn tenant_lists_paginate(backend: Backend) {
    let gw = TestGateway::start(backend).await;
    for i in 0..5 {
        gw.post("/v1/admin/tenants", ADMIN_KEY, &json!({"id": format!("page-{i}"), "name": "P"}))
            .await
            .expect(201);
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/admin/tenants?limit=2&cursor={c}"),
            None => "/v1/admin/tenants?limit=2".to_string(),
        };
        let page = gw.get(&path, ADMIN_KEY).await.expect(200);
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(items.iter().map(|t| t["id"].as_str().unwrap().to_string()));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(seen, sorted, "stable order by id");
    assert_eq!(seen.len(), 5);
    let bad = gw.get("/v1/admin/tenants?cursor=garbage", ADMIN_KEY).await.expect_error(400, "invalid_cursor");
    assert_eq!(bad["parameter"], "cursor");
    let bad = gw.get("/v1/admin/tenants?limit=0", ADMIN_KEY).await.expect_error(400, "invalid_parameter");
    assert_eq!(bad["parameter"], "limit");
    let bad = gw.get("/v1/admin/tenants?limt=3", ADMIN_KEY).await.expect_error(400, "invalid_parameter");
    assert_eq!(bad["parameter"], "limt");
}

crate::on_both_backends!(
    credentials_are_required_and_checked,
    tenants_are_created_once_and_listed_with_activity,
    tenant_admins_see_only_their_tenant,
    tenant_lists_paginate,
);
