use serde_json::json;

use crate::support::{ADMIN_KEY, Backend, TestGateway, approve_intent, escalate_intent};

async fn keys_are_shown_once_stored_hashed_and_revoked_at_once(backend: Backend) {
    let gw = TestGateway::start(backend).await;
    let f = gw.tenant_fixture().await;
    let created = gw
        .post(
            "/v1/admin/api-keys",
            &f.admin,
            &json!({"tenant": f.tenant, "environment": "live", "role": "agent", "name": "bot"}),
        )
        .await
        .expect(201);
    let key = created["key"].as_str().unwrap().to_string();
    // The documented format (docs/api.md): what a secret scanner matches.
    let tail = key.strip_prefix("lictor_live_").unwrap_or_else(|| panic!("{key}"));
    assert!(tail.len() == 49 && tail.bytes().all(|b| b.is_ascii_alphanumeric()), "{key}");
    assert_eq!(created["api_key"]["prefix"].as_str(), Some(&key[.."lictor_live_".len() + 6]));
    let id = created["api_key"]["id"].as_str().unwrap().to_string();

    // Only the hash is stored.
    let db = gw.db().await;
    let stored: String = sqlx::query_scalar("SELECT key_hash FROM api_keys WHERE id = $1")
        .bind(&id)
        .fetch_one(&db)
        .await
        .unwrap();
    assert_ne!(stored, key);
    assert_eq!(stored.len(), 64);

    // The list shows metadata, never the key.
    let list = gw.get("/v1/admin/api-keys", &f.admin).await.expect(200);
    let listed = list["items"].as_array().unwrap().iter().find(|k| k["id"] == id.as_str()).cloned().unwrap();
    assert!(listed.get("key").is_none());
    assert!(listed["revoked_at"].is_null());

    gw.declare(&key, approve_intent()).await.expect(200);
    // One character changed or missing fails the checksum: refused as
    // malformed, without a lookup.
    let last = key.chars().last().unwrap_or('0');
    let typo = format!("{}{}", &key[..key.len() - 1], if last == 'A' { 'B' } else { 'A' });
    for bad in [typo.as_str(), &key[..key.len() - 1]] {
        let error = gw.declare(bad, approve_intent()).await.expect_error(401, "unauthenticated");
        assert!(error["message"].as_str().is_some_and(|m| m.contains("checksum")), "{error}");
    }
    gw.delete(&format!("/v1/admin/api-keys/{id}"), &f.admin).await.expect(204);
    gw.declare(&key, approve_intent()).await.expect_error(401, "unauthenticated");
    // Revoking again is harmless.
    gw.delete(&format!("/v1/admin/api-keys/{id}"), &f.admin).await.expect(204);
    let list = gw.get("/v1/admin/api-keys", &f.admin).await.expect(200);
    let listed = list["items"].as_array().unwrap().iter().find(|k| k["id"] == id.as_str()).cloned().unwrap();
    assert!(listed["revoked_at"].is_string());
}

async fn another_tenants_keys_are_404(backend: Backend) {
    let gw = TestGateway::start(backend).await;
    let a = gw.tenant_fixture().await;
    let b = gw.tenant_fixture().await;
    let body = json!({"tenant": b.tenant, "environment": "live", "role": "agent", "name": "x"});
    gw.post("/v1/admin/api-keys", &a.admin, &body).await.expect_error(404, "not_found");
    gw.get(&format!("/v1/admin/api-keys?tenant={}", b.tenant), &a.admin).await.expect_error(404, "not_found");
    let b_keys = gw.get(&format!("/v1/admin/api-keys?tenant={}", b.tenant), ADMIN_KEY).await.expect(200);
    let b_key_id = b_keys["items"][0]["id"].as_str().unwrap().to_string();
    gw.delete(&format!("/v1/admin/api-keys/{b_key_id}"), &a.admin).await.expect_error(404, "not_found");
    // A's admin lists only A's keys.
    let a_keys = gw.get("/v1/admin/api-keys", &a.admin).await.expect(200);
    assert!(a_keys["items"].as_array().unwrap().iter().all(|k| k["tenant"] == a.tenant.as_str()));
    // Keys for a tenant that does not exist.
    let body = json!({"tenant": "ghost", "environment": "live", "role": "agent", "name": "x"});
    gw.post("/v1/admin/api-keys", ADMIN_KEY, &body).await.expect_error(404, "not_found");
}

async fn agent_restricted_keys_act_only_for_their_agent(backend: Backend) {
    let gw = TestGateway::start(backend).await;
    let f = gw.tenant_fixture().await;
    gw.create_agent(&f.admin, "agent-2", None).await;
    let body = json!({"tenant": f.tenant, "environment": "live", "role": "agent", "name": "a2", "agent_id": "agent-2"});
    let key =
        gw.post("/v1/admin/api-keys", &f.admin, &body).await.expect(201)["key"].as_str().unwrap().to_string();
    let decision = gw.declare(&key, approve_intent()).await.expect(200);
    assert_eq!(decision["verdict"], "block");
    assert_eq!(decision["reasons"][0]["code"], "agent_mismatch");
    // Restricting an admin key, or to an unknown agent, is refused.
    let body = json!({"tenant": f.tenant, "environment": "live", "role": "admin", "name": "x", "agent_id": "agent-2"});
    let e = gw.post("/v1/admin/api-keys", &f.admin, &body).await.expect_error(400, "invalid_field");
    assert_eq!(e["path"], "$.agent_id");
    let body =
        json!({"tenant": f.tenant, "environment": "live", "role": "agent", "name": "x", "agent_id": "ghost"});
    gw.post("/v1/admin/api-keys", &f.admin, &body).await.expect_error(400, "invalid_field");
}

/// A lower environment never acts on `live`: a `test` or `shadow` admin key
/// neither decides approvals, nor mints or revokes tokens (which act in
/// `live`), nor creates or revokes keys of another environment; a `live`
/// admin key acts on every environment of its tenant.
async fn admin_keys_act_on_their_own_environment(backend: Backend) {
    let gw = TestGateway::start(backend).await;
    let f = gw.tenant_fixture().await;
    let escalated = gw.declare(&f.live, escalate_intent()).await.expect(200);
    let approval = escalated["approval"]["approval_id"].as_str().unwrap().to_string();
    for environment in ["test", "shadow"] {
        let admin = gw.create_key(&f.tenant, environment, "admin").await;
        let decide = format!("/v1/admin/approvals/{approval}/decide");
        let refused =
            gw.post(&decide, &admin, &json!({"decision": "approve"})).await.expect_error(403, "forbidden");
        assert!(refused["message"].as_str().unwrap().contains("decide approvals"), "{refused}");
        gw.post("/v1/admin/mint", &admin, &json!({"subject": "agent-1", "ttl_seconds": 60}))
            .await
            .expect_error(403, "forbidden");
        gw.post("/v1/admin/revoke", &admin, &json!({"jti": "any", "reason": "test"}))
            .await
            .expect_error(403, "forbidden");
        let live_key =
            json!({"tenant": f.tenant, "environment": "live", "role": "admin", "name": "escalate"});
        gw.post("/v1/admin/api-keys", &admin, &live_key).await.expect_error(403, "forbidden");
        let own = json!({"tenant": f.tenant, "environment": environment, "role": "agent", "name": "own"});
        gw.post("/v1/admin/api-keys", &admin, &own).await.expect(201);
    }
    // The live admin key does all of it, and creates keys of every
    // environment.
    for environment in ["test", "shadow"] {
        let lower = json!({"tenant": f.tenant, "environment": environment, "role": "agent", "name": "lower"});
        gw.post("/v1/admin/api-keys", &f.admin, &lower).await.expect(201);
    }
    let decide = format!("/v1/admin/approvals/{approval}/decide");
    gw.post(&decide, &f.admin, &json!({"decision": "approve"})).await.expect(200);
    gw.post("/v1/admin/mint", &f.admin, &json!({"subject": "agent-1", "ttl_seconds": 60})).await.expect(201);
}

crate::on_both_backends!(
    admin_keys_act_on_their_own_environment,
    keys_are_shown_once_stored_hashed_and_revoked_at_once,
    another_tenants_keys_are_404,
    agent_restricted_keys_act_only_for_their_agent,
);
