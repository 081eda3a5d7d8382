use std::time::Duration;

use lictor_server::token::{self, Caveat};
use serde_json::{Value, json};

use crate::support::{
    ADMIN_KEY, Backend, TestGateway, approve_intent, block_intent, escalate_intent, eventually, intent,
};

fn codes(decision: &Value) -> Vec<String> {
    decision["reasons"].as_array().unwrap().iter().map(|r| r["code"].as_str().unwrap().to_string()).collect()
}

fn stage<'a>(decision: &'a Value, name: &str) -> &'a Value {
    decision["stages"].as_array().unwrap().iter().find(|s| s["name"] == name).unwrap()
}

async fn minting_needs_an_admin_and_an_active_agent(backend: Backend) {
    let gw = TestGateway::start(backend).await;
    let f = gw.tenant_fixture().await;
    gw.post("/v1/admin/mint", &f.live, &json!({"subject": "agent-1", "ttl_seconds": 60}))
        .await
        .expect_error(403, "forbidden");
    let e = gw.post("/v1/admin/mint", &f.admin, &json!({"subject": "ghost", "ttl_seconds": 60})).await;
    assert_eq!(e.expect_error(400, "invalid_field")["path"], "$.subject");
    let e = gw.post("/v1/admin/mint", &f.admin, &json!({"subject": "agent-1", "ttl_seconds": 0})).await;
    assert_eq!(e.expect_error(400, "invalid_field")["path"], "$.ttl_seconds");
    let e = gw
        .post(
            "/v1/admin/mint",
            &f.admin,
            &json!({"subject": "agent-1", "ttl_seconds": 60, "tools": ["bad pattern!"]}),
        )
        .await;
    assert_eq!(e.expect_error(400, "invalid_field")["path"], "$.tools[0]");
    let minted = gw.mint(&f.admin, json!({"subject": "agent-1", "ttl_seconds": 60})).await;
    assert!(minted["token"].as_str().unwrap().starts_with("lictor_cap1."));
    assert_eq!(minted["subject"], "agent-1");
    assert!(minted["jti"].as_str().unwrap().starts_with("tok_"));
    // The superadmin mints for a named tenant.
    let minted = gw
        .post(
            &format!("/v1/admin/mint?tenant={}", f.tenant),
            ADMIN_KEY,
            &json!({"subject": "agent-1", "ttl_seconds": 60}),
        )
        .await;
    assert_eq!(minted.expect(201)["tenant"], f.tenant.as_str());
}

async fn a_token_declares_intents_as_its_subject(backend: Backend) {
    let gw = TestGateway::start(backend).await;
    let f = gw.tenant_fixture().await;
    gw.create_agent(&f.admin, "agent-2", None).await;
    let token = gw.mint(&f.admin, json!({"subject": "agent-1", "ttl_seconds": 60})).await["token"]
        .as_str()
        .unwrap()
        .to_string();
    let d = gw.declare(&token, approve_intent()).await.expect(200);
    assert_eq!(d["verdict"], "approve");
    assert_eq!(stage(&d, "capability")["outcome"], "pass");
    let mut other = approve_intent();
    other["agent"]["id"] = json!("agent-2");
    let d = gw.declare(&token, other).await.expect(200);
    assert_eq!(d["verdict"], "block");
    assert_eq!(codes(&d), ["agent_mismatch"]);
    // The audit entry names the token.
    let trail = gw
        .get(&format!("/v1/intents/{}/audit", d["intent_id"].as_str().unwrap()), &f.admin)
        .await
        .expect(200);
    assert!(trail["items"][0]["principal"].as_str().unwrap().starts_with("token:tok_"));
    // Tokens cannot administer, nor declare asynchronously or in batches.
    gw.get("/v1/agents", &token).await.expect_error(403, "forbidden");
    gw.post("/v1/intents:async", &token, &json!({"intent": approve_intent()}))
        .await
        .expect_error(403, "forbidden");
    gw.post("/v1/intents:batch", &token, &json!({"intents": [{"intent": approve_intent()}]}))
        .await
        .expect_error(403, "forbidden");
    // A tampered or truncated token is refused outright.
    let mut tampered = token.clone();
    tampered.replace_range(tampered.len() - 4.., "AAAA");
    gw.declare(&tampered, approve_intent()).await.expect_error(401, "unauthenticated");
    let truncated = token.rsplit_once('.').unwrap().0.to_string();
    gw.declare(&truncated, approve_intent()).await.expect_error(401, "unauthenticated");
}

async fn caveats_are_enforced_in_the_capability_stage(backend: Backend) {
    let gw = TestGateway::start(backend).await;
    let f = gw.tenant_fixture().await;
    let only_reads =
        gw.mint(&f.admin, json!({"subject": "agent-1", "ttl_seconds": 60, "action_types": ["access"]})).await;
    let only_reads = only_reads["token"].as_str().unwrap();
    assert_eq!(gw.declare(only_reads, approve_intent()).await.expect(200)["verdict"], "approve");
    let d = gw.declare(only_reads, block_intent()).await.expect(200);
    assert_eq!(d["verdict"], "block");
    assert_eq!(codes(&d), ["action_type_not_allowed"]);
    assert_eq!(stage(&d, "capability")["outcome"], "fail");
    assert_eq!(stage(&d, "policy")["outcome"], "skip");

    let tools_only =
        gw.mint(&f.admin, json!({"subject": "agent-1", "ttl_seconds": 60, "tools": ["mail.*"]})).await;
    let d = gw.declare(tools_only["token"].as_str().unwrap(), approve_intent()).await.expect(200);
    assert_eq!(codes(&d), ["token_restricted_to_tools"]);

    let brief = gw.mint(&f.admin, json!({"subject": "agent-1", "ttl_seconds": 1})).await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let d = gw.declare(brief["token"].as_str().unwrap(), approve_intent()).await.expect(200);
    assert_eq!(codes(&d), ["token_expired"]);

    let elsewhere = gw
        .mint(&f.admin, json!({"subject": "agent-1", "ttl_seconds": 60, "audience": "other-gateway"}))
        .await;
    let d = gw.declare(elsewhere["token"].as_str().unwrap(), approve_intent()).await.expect(200);
    assert_eq!(codes(&d), ["audience_mismatch"]);

    let short = gw.mint(&f.admin, json!({"subject": "agent-1", "ttl_seconds": 1})).await;
    let short = short["token"].as_str().unwrap().to_string();
    let expired = eventually(Duration::from_secs(5), async || {
        let d = gw.declare(&short, approve_intent()).await.expect(200);
        (d["verdict"] == "block").then_some(d)
    })
    .await
    .expect("the token expires");
    assert_eq!(codes(&expired), ["token_expired"]);
}

async fn step_up_tokens_allow_high_risk_only_for_a_while(backend: Backend) {
    let gw = TestGateway::start_with(backend, |c| c.step_up_window = Duration::from_secs(1)).await;
    let f = gw.tenant_fixture().await;
    let minted = gw.mint(&f.admin, json!({"subject": "agent-1", "ttl_seconds": 60, "step_up": true})).await;
    let token = minted["token"].as_str().unwrap();
    // A high-risk payment (it escalates by policy) passes the capability stage at first.
    let d = gw.declare(token, escalate_intent()).await.expect(200);
    assert_eq!(d["risk"]["level"], "high");
    assert_eq!(stage(&d, "capability")["outcome"], "pass");
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let d = gw.declare(token, escalate_intent()).await.expect(200);
    assert_eq!(codes(&d), ["step_up_required"]);
    // Low-risk actions are unaffected.
    assert_eq!(gw.declare(token, approve_intent()).await.expect(200)["verdict"], "approve");
}

async fn counters_count_only_allowed_calls(backend: Backend) {
    let gw = TestGateway::start(backend).await;
    let f = gw.tenant_fixture().await;
    let token = gw.mint(&f.admin, json!({"subject": "agent-1", "ttl_seconds": 60, "max_calls": 2})).await;
    let token = token["token"].as_str().unwrap().to_string();
    for _ in 0..3 {
        assert_eq!(gw.declare(&token, block_intent()).await.expect(200)["verdict"], "block");
    }
    assert_eq!(gw.declare(&token, approve_intent()).await.expect(200)["verdict"], "approve");
    assert_eq!(gw.declare(&token, approve_intent()).await.expect(200)["verdict"], "approve");
    let d = gw.declare(&token, approve_intent()).await.expect(200);
    assert_eq!(codes(&d), ["token_max_calls_exceeded"]);

    // Concurrent calls never overshoot.
    let token = gw.mint(&f.admin, json!({"subject": "agent-1", "ttl_seconds": 60, "max_calls": 3})).await;
    let token = token["token"].as_str().unwrap().to_string();
    let calls: Vec<_> = (0..12).map(|_| gw.declare(&token, approve_intent())).collect();
    let verdicts: Vec<String> = futures::future::join_all(calls)
        .await
        .into_iter()
        .map(|a| a.expect(200)["verdict"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(verdicts.iter().filter(|v| *v == "approve").count(), 3, "{verdicts:?}");

    // Escalated (pending) calls are not counted either.
    let token = gw.mint(&f.admin, json!({"subject": "agent-1", "ttl_seconds": 60, "max_calls": 1})).await;
    let token = token["token"].as_str().unwrap().to_string();
    assert_eq!(gw.declare(&token, escalate_intent()).await.expect(200)["verdict"], "escalate");
    assert_eq!(gw.declare(&token, approve_intent()).await.expect(200)["verdict"], "approve");

    // The rate counts calls per calendar minute (UTC); stay clear of a
    // minute boundary so the three calls share one.
    let second =
        || std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() % 60;
    if second() >= 50 {
        tokio::time::sleep(Duration::from_secs(61 - second())).await;
    }
    let rated = gw.mint(&f.admin, json!({"subject": "agent-1", "ttl_seconds": 60, "rate_per_min": 2})).await;
    let rated = rated["token"].as_str().unwrap().to_string();
    assert_eq!(gw.declare(&rated, block_intent()).await.expect(200)["verdict"], "block");
    assert_eq!(gw.declare(&rated, approve_intent()).await.expect(200)["verdict"], "approve");
    assert_eq!(gw.declare(&rated, approve_intent()).await.expect(200)["verdict"], "approve");
    assert_eq!(codes(&gw.declare(&rated, approve_intent()).await.expect(200)), ["token_rate_exceeded"]);

    let money = gw.mint(&f.admin, json!({"subject": "agent-1", "ttl_seconds": 60, "max_usd": 100})).await;
    let money = money["token"].as_str().unwrap().to_string();
    let pay = |usd: f64| {
        intent(json!({"type": "transact", "verb": "pay",
        "payload": {"estimated_impact": {"reversible": true, "financial_exposure_usd": usd}}}))
    };
    assert_eq!(gw.declare(&money, pay(60.0)).await.expect(200)["verdict"], "approve");
    assert_eq!(codes(&gw.declare(&money, pay(40.01)).await.expect(200)), ["token_max_usd_exceeded"]);
    assert_eq!(gw.declare(&money, pay(40.0)).await.expect(200)["verdict"], "approve");
}

async fn attenuated_tokens_only_narrow(backend: Backend) {
    let gw = TestGateway::start(backend).await;
    let f = gw.tenant_fixture().await;
    let parent = gw.mint(&f.admin, json!({"subject": "agent-1", "ttl_seconds": 60, "max_calls": 3})).await;
    let parent = parent["token"].as_str().unwrap().to_string();
    // Offline, without any key: a child limited to reads and one call.
    let child = token::attenuate(
        &parent,
        "child-1",
        &[
            Caveat::ActionTypes { allow: vec![lictor_api::intents::ActionType::Access] },
            Caveat::MaxCalls { n: 1 },
        ],
    )
    .unwrap();
    let d = gw.declare(&child, approve_intent()).await.expect(200);
    assert_eq!(d["verdict"], "approve");
    assert_eq!(codes(&gw.declare(&child, approve_intent()).await.expect(200)), ["token_max_calls_exceeded"]);
    let payment = intent(json!({"type": "transact", "verb": "pay"}));
    assert_eq!(codes(&gw.declare(&child, payment.clone()).await.expect(200)), ["action_type_not_allowed"]);
    // The parent's own limit counts the child's call: 3 in all.
    assert_eq!(gw.declare(&parent, payment.clone()).await.expect(200)["verdict"], "approve");
    assert_eq!(gw.declare(&parent, payment).await.expect(200)["verdict"], "approve");
    assert_eq!(codes(&gw.declare(&parent, approve_intent()).await.expect(200)), ["token_max_calls_exceeded"]);
    // Removing a caveat breaks the signature.
    let segments: Vec<&str> = child.split('.').collect();
    let without_limit = [&segments[..segments.len() - 2], &segments[segments.len() - 1..]].concat().join(".");
    gw.declare(&without_limit, approve_intent()).await.expect_error(401, "unauthenticated");
}

async fn revocation_cascades_to_descendants_only(backend: Backend) {
    let gw = TestGateway::start(backend).await;
    let f = gw.tenant_fixture().await;
    let minted = gw.mint(&f.admin, json!({"subject": "agent-1", "ttl_seconds": 60})).await;
    let parent = minted["token"].as_str().unwrap().to_string();
    let parent_jti = minted["jti"].as_str().unwrap().to_string();
    let child = token::attenuate(&parent, "child-a", &[Caveat::MaxCalls { n: 100 }]).unwrap();
    let grandchild = token::attenuate(&child, "grandchild-a", &[Caveat::MaxCalls { n: 50 }]).unwrap();
    for t in [&parent, &child, &grandchild] {
        assert_eq!(gw.declare(t, approve_intent()).await.expect(200)["verdict"], "approve");
    }
    // Revoking the child leaves its parent working.
    let revoked = gw
        .post("/v1/admin/revoke", &f.admin, &json!({"jti": "child-a", "reason": "leaked in logs"}))
        .await
        .expect(200);
    assert_eq!(revoked["jti"], "child-a");
    assert!(revoked["revoked_by"].as_str().unwrap().starts_with("key:"));
    assert_eq!(codes(&gw.declare(&child, approve_intent()).await.expect(200)), ["token_revoked"]);
    assert_eq!(codes(&gw.declare(&grandchild, approve_intent()).await.expect(200)), ["token_revoked"]);
    assert_eq!(gw.declare(&parent, approve_intent()).await.expect(200)["verdict"], "approve");
    // Revoking the root revokes everything derived from it.
    gw.post("/v1/admin/revoke", &f.admin, &json!({"jti": parent_jti, "reason": "agent retired"}))
        .await
        .expect(200);
    assert_eq!(codes(&gw.declare(&parent, approve_intent()).await.expect(200)), ["token_revoked"]);
    // Revoking again changes nothing; the list shows both, oldest first.
    let again = gw
        .post("/v1/admin/revoke", &f.admin, &json!({"jti": "child-a", "reason": "again"}))
        .await
        .expect(200);
    assert_eq!(again["reason"], "leaked in logs");
    let list = gw.get("/v1/admin/revocations?limit=1", &f.admin).await.expect(200);
    assert_eq!(list["items"][0]["jti"], "child-a");
    let next = gw
        .get(&format!("/v1/admin/revocations?cursor={}", list["next_cursor"].as_str().unwrap()), &f.admin)
        .await
        .expect(200);
    assert_eq!(next["items"][0]["jti"], parent_jti.as_str());
    // Revocations are audited.
    let verified = gw.verify(&f.tenant).await;
    assert_eq!(verified["ok"], true, "{verified}");
    // Another tenant cannot see or revoke them.
    let other = gw.tenant_fixture().await;
    assert_eq!(gw.get("/v1/admin/revocations", &other.admin).await.expect(200)["items"], json!([]));
    gw.post("/v1/admin/revoke", &f.live, &json!({"jti": "x", "reason": "y"}))
        .await
        .expect_error(403, "forbidden");
}

/// A replica whose revocation cache is stale (SQLite has no notifications;
/// the cache is trusted for an hour here) still refuses a revoked token:
/// the revocation is re-checked in the write.
async fn revocation_holds_at_once_on_every_replica(backend: Backend) {
    let hour = Duration::from_secs(3600);
    let a = TestGateway::start_with(backend, |c| c.revocation_cache_ttl = hour).await;
    let b = a.replica(backend, |c| c.revocation_cache_ttl = hour).await;
    let f = a.tenant_fixture().await;
    let minted = a.mint(&f.admin, json!({"subject": "agent-1", "ttl_seconds": 600})).await;
    let token = minted["token"].as_str().unwrap().to_string();
    assert_eq!(b.declare(&token, approve_intent()).await.expect(200)["verdict"], "approve");
    a.post("/v1/admin/revoke", &f.admin, &json!({"jti": minted["jti"], "reason": "rotated out"}))
        .await
        .expect(200);
    for intent in [approve_intent(), escalate_intent()] {
        let d = b.declare(&token, intent).await.expect(200);
        assert_eq!(d["verdict"], "block", "{d}");
        assert_eq!(codes(&d).last().unwrap(), "token_revoked");
    }
    // No approval was opened for the revoked token.
    assert_eq!(a.get("/v1/admin/approvals", &f.admin).await.expect(200)["items"], json!([]));
}

async fn rotated_keys_keep_old_tokens_valid(backend: Backend) {
    let gw = TestGateway::start(backend).await;
    let f = gw.tenant_fixture().await;
    let before = gw.mint(&f.admin, json!({"subject": "agent-1", "ttl_seconds": 60})).await;
    let rotated = gw.rotate_key(lictor_server::signing::Purpose::Token).await;
    assert_eq!(rotated.generation, 2);
    let after = gw.mint(&f.admin, json!({"subject": "agent-1", "ttl_seconds": 60})).await;
    assert_eq!(after["kid"], rotated.kid.as_str());
    assert_ne!(after["kid"], before["kid"]);
    for minted in [&before, &after] {
        let d = gw.declare(minted["token"].as_str().unwrap(), approve_intent()).await.expect(200);
        assert_eq!(d["verdict"], "approve");
    }
}

/// Someone with write access to the database sets a token's call counter
/// negative: the capability check must fail closed, not read it as zero.
async fn a_negative_token_counter_fails_closed(backend: Backend) {
    let gw = TestGateway::start(backend).await;
    let f = gw.tenant_fixture().await;
    let token = gw.mint(&f.admin, json!({"subject": "agent-1", "ttl_seconds": 60, "max_calls": 1})).await;
    let token = token["token"].as_str().unwrap().to_string();
    assert_eq!(gw.declare(&token, approve_intent()).await.expect(200)["verdict"], "approve");
    let db = gw.db().await;
    sqlx::query("UPDATE token_usage SET calls = -1000").execute(&db).await.unwrap();
    gw.declare(&token, approve_intent()).await.expect_error(500, "internal");
}

/// A revoked or expired token reads nothing either: its intents, their
/// decisions and audit trails, approvals.
async fn revoked_and_expired_tokens_read_nothing(backend: Backend) {
    let gw = TestGateway::start(backend).await;
    let f = gw.tenant_fixture().await;
    let minted = gw.mint(&f.admin, json!({"subject": "agent-1", "ttl_seconds": 60})).await;
    let token = minted["token"].as_str().unwrap().to_string();
    let d = gw.declare(&token, escalate_intent()).await.expect(200);
    let intent = d["intent_id"].as_str().unwrap().to_string();
    let approval = d["approval"]["approval_id"].as_str().unwrap().to_string();
    let reads = |intent: &str| {
        [
            "/v1/intents".to_string(),
            format!("/v1/intents/{intent}/decision"),
            format!("/v1/intents/{intent}/audit"),
            format!("/v1/approvals/{approval}"),
        ]
    };
    for path in reads(&intent) {
        gw.get(&path, &token).await.expect(200);
    }
    gw.post("/v1/admin/revoke", &f.admin, &json!({"jti": minted["jti"], "reason": "leaked"}))
        .await
        .expect(200);
    for path in reads(&intent) {
        let refused = gw.get(&path, &token).await.expect_error(401, "unauthenticated");
        assert!(refused["message"].as_str().unwrap().contains("revoked"), "{path}: {refused}");
    }
    // Expiry is in whole seconds: a one-second token minted late in a
    // second may already be expired a millisecond later, so two seconds
    // (at least one whole second left), then past them.
    let brief = gw.mint(&f.admin, json!({"subject": "agent-1", "ttl_seconds": 2})).await;
    let brief = brief["token"].as_str().unwrap().to_string();
    gw.get("/v1/intents", &brief).await.expect(200);
    tokio::time::sleep(Duration::from_millis(3100)).await;
    let refused = gw.get("/v1/intents", &brief).await.expect_error(401, "unauthenticated");
    assert!(refused["message"].as_str().unwrap().contains("expired"), "{refused}");
    // The agent's key still reads.
    gw.get(&format!("/v1/intents/{intent}/decision"), &f.live).await.expect(200);
}

crate::on_both_backends!(
    revoked_and_expired_tokens_read_nothing,
    a_negative_token_counter_fails_closed,
    minting_needs_an_admin_and_an_active_agent,
    a_token_declares_intents_as_its_subject,
    caveats_are_enforced_in_the_capability_stage,
    step_up_tokens_allow_high_risk_only_for_a_while,
    counters_count_only_allowed_calls,
    attenuated_tokens_only_narrow,
    revocation_cascades_to_descendants_only,
    revocation_holds_at_once_on_every_replica,
    rotated_keys_keep_old_tokens_valid,
);
