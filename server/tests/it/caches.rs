//! The request path's caches (API keys, agents, revocation lists,
//! upstreams, MCP sessions): a
//! change is seen at once by the gateway that made it, and by another
//! within a stated bound — the notification on PostgreSQL
//! (`approvals::replicas`), the cache lifetime where there is none.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::{Backend, LegacyMcp, TestGateway, approve_intent, eventually};
use crate::tools::{UPSTREAM_SECRET, setup_with, token};

/// Revokes the tenant's `live` agent key with its `admin` key.
async fn revoke_live_agent_key(gw: &TestGateway, admin: &str) {
    let keys = gw.get("/v1/admin/api-keys", admin).await.expect(200);
    let items = keys["items"].as_array().unwrap();
    let live = items.iter().find(|k| k["environment"] == "live" && k["role"] == "agent").unwrap();
    let id = live["id"].as_str().unwrap();
    gw.delete(&format!("/v1/admin/api-keys/{id}"), admin).await.expect(204);
}

/// Keys and agents in use (so cached) are refused the moment they are
/// revoked or suspended, on the gateway that did it.
async fn a_change_is_seen_at_once_where_it_was_made(backend: Backend) {
    let hour = Duration::from_secs(3600);
    let gw = TestGateway::start_with(backend, |c| {
        c.cache_ttl = hour;
        c.revocation_cache_ttl = hour;
    })
    .await;
    let f = gw.tenant_fixture().await;
    for _ in 0..3 {
        assert_eq!(gw.declare(&f.live, approve_intent()).await.expect(200)["verdict"], "approve");
    }
    gw.patch("/v1/agents/agent-1", &f.admin, &json!({"status": "suspended"})).await.expect(200);
    let d = gw.declare(&f.live, approve_intent()).await.expect(200);
    assert_eq!(d["reasons"][0]["code"], "agent_suspended", "{d}");
    gw.patch("/v1/agents/agent-1", &f.admin, &json!({"status": "active"})).await.expect(200);
    assert_eq!(gw.declare(&f.live, approve_intent()).await.expect(200)["verdict"], "approve");

    // A budget change is an agent change too.
    gw.patch("/v1/agents/agent-1", &f.admin, &json!({"budget": {"max_decisions_24h": 1}})).await.expect(200);
    let d = gw.declare(&f.live, approve_intent()).await.expect(200);
    assert_eq!(d["reasons"][0]["code"], "budget_decisions_exceeded", "{d}");

    // Another tenant's cached key is untouched by this tenant's revocation.
    let g = gw.tenant_fixture().await;
    gw.declare(&g.live, approve_intent()).await.expect(200);
    revoke_live_agent_key(&gw, &f.admin).await;
    gw.declare(&f.live, approve_intent()).await.expect_error(401, "unauthenticated");
    gw.declare(&g.live, approve_intent()).await.expect(200);
}

/// Two SQLite gateways on one file share no notifications: a key revoked
/// on one is refused by the other once its cached copy expires.
async fn without_notifications_the_cache_lifetime_bounds_a_revocation(backend: Backend) {
    let ttl = Duration::from_secs(1);
    let a = TestGateway::start_with(backend, move |c| c.cache_ttl = ttl).await;
    let b = a.replica(backend, move |c| c.cache_ttl = ttl).await;
    let f = a.tenant_fixture().await;
    b.declare(&f.live, approve_intent()).await.expect(200);
    revoke_live_agent_key(&a, &f.admin).await;
    let started = Instant::now();
    let refused = eventually(Duration::from_secs(10), async || {
        (b.declare(&f.live, approve_intent()).await.status == 401).then_some(())
    })
    .await;
    assert!(refused.is_some(), "the other gateway kept accepting a revoked key");
    assert!(started.elapsed() < ttl + Duration::from_millis(900), "took {:?}", started.elapsed());
}

/// Whether an MCP answer is the tool's result.
fn answered(answer: &serde_json::Value) -> bool {
    answer.get("result").is_some() && answer.get("error").is_none()
}

/// A tenant's stored upstreams and its MCP sessions are cached: deleting
/// an upstream or ending a session takes effect at once on the gateway that
/// did it, and (PostgreSQL) an upstream deleted on one replica is gone from
/// another once the change is notified.
async fn upstreams_and_sessions_change_at_once(backend: Backend) {
    let hour = Duration::from_secs(3600);
    let (gw, upstream, f) = setup_with(backend, move |c| c.cache_ttl = hour).await;
    let credential = token(&gw, &f, json!({})).await;
    let mut mcp = LegacyMcp::connect(&gw, &credential).await;
    for _ in 0..2 {
        assert!(answered(&mcp.call_tool("bank.echo", json!({"text": "hi"}), None).await.expect(200)));
    }
    let replica = match backend {
        Backend::Postgres => Some(gw.replica(backend, move |c| c.cache_ttl = hour).await),
        Backend::Sqlite => None,
    };
    let mut remote = match &replica {
        Some(b) => {
            let mut remote = LegacyMcp::connect(b, &credential).await;
            assert!(answered(&remote.call_tool("bank.echo", json!({"text": "hi"}), None).await.expect(200)));
            Some(remote)
        }
        None => None,
    };

    gw.delete("/v1/admin/upstreams/bank", &f.admin).await.expect(204);
    let gone = mcp.call_tool("bank.echo", json!({"text": "hi"}), None).await.expect(200);
    assert_eq!(gone["error"]["code"], -32602, "{gone}");
    if let Some(remote) = remote.as_mut() {
        let started = Instant::now();
        let refused = eventually(Duration::from_secs(5), async || {
            let answer = remote.call_tool("bank.echo", json!({"text": "hi"}), None).await.expect(200);
            (answer["error"]["code"] == -32602).then_some(())
        })
        .await;
        assert!(refused.is_some(), "the replica kept a deleted upstream for {:?}", started.elapsed());
    }
    let bank = json!({
        "name": "bank",
        "url": upstream.url(),
        "credential": {"header": "Authorization", "value": UPSTREAM_SECRET},
    });
    gw.post("/v1/admin/upstreams", &f.admin, &bank).await.expect(201);
    assert!(answered(&mcp.call_tool("bank.echo", json!({"text": "back"}), None).await.expect(200)));

    // An ended session is refused at once, though it was cached.
    let session = mcp.session.clone().unwrap();
    let end = gw
        .request(reqwest::Method::DELETE, "/v1/mcp")
        .bearer_auth(&credential)
        .header("Mcp-Session-Id", &session);
    assert_eq!(gw.send(end).await.status.as_u16(), 204);
    let after = mcp.call_tool("mail.echo", json!({"text": "hi"}), None).await;
    assert_eq!(after.status.as_u16(), 404, "{:?}", after.body);
}

crate::on_both_backends!(a_change_is_seen_at_once_where_it_was_made, upstreams_and_sessions_change_at_once);

mod sqlite_replicas {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn without_notifications_the_cache_lifetime_bounds_a_revocation() {
        super::without_notifications_the_cache_lifetime_bounds_a_revocation(crate::support::Backend::Sqlite)
            .await
    }
}
