use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{
    ADMIN_KEY, Backend, TestGateway, approve_intent, block_intent, escalate_intent, intent, modify_intent,
};

const STAGES: [&str; 9] =
    ["authenticate", "validate", "identity", "capability", "risk", "policy", "budget", "decide", "audit"];

fn stage_names(decision: &Value) -> Vec<String> {
    decision["stages"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap().to_string()).collect()
}

fn codes(decision: &Value) -> Vec<String> {
    decision["reasons"].as_array().unwrap().iter().map(|r| r["code"].as_str().unwrap().to_string()).collect()
}

fn snapshot(name: &str, decision: &Value) {
    insta::assert_json_snapshot!(name, decision, {
        ".intent_id" => "[intent_id]",
        ".tenant" => "[tenant]",
        ".decided_at" => "[time]",
        ".latency_us" => "[duration]",
        ".stages[].duration_us" => "[duration]",
        ".audit.entry_id" => "[entry_id]",
        ".audit.seq" => "[seq]",
        ".audit.hash" => "[hash]",
        ".approval.approval_id" => "[approval_id]",
        ".policy.bundle_hash" => "[hash]",
    });
}

async fn each_verdict_is_reachable_through_the_default_bundle(backend: Backend) {
    let gw = TestGateway::start(backend).await;
    let f = gw.tenant_fixture().await;

    let approve = gw.declare(&f.live, approve_intent()).await.expect(200);
    assert_eq!(approve["verdict"], "approve");
    assert_eq!(approve["enforced"], true);
    assert!(approve.get("would_be_verdict").is_none());
    assert_eq!(stage_names(&approve), STAGES);
    // An API key carries no caveats: the capability stage is skipped.
    for stage in approve["stages"].as_array().unwrap() {
        let want = if stage["name"] == "capability" { "skip" } else { "pass" };
        assert_eq!(stage["outcome"], want, "{stage}");
    }
    assert_eq!(approve["audit"]["seq"], f.base + 1);
    snapshot("decision_approve", &approve);

    let modified = gw.declare(&f.live, modify_intent()).await.expect(200);
    assert_eq!(modified["verdict"], "approve_modified");
    assert_eq!(codes(&modified), ["card_number_redacted"]);
    assert_eq!(modified["modifications"]["patch"][0]["op"], "replace");
    assert_eq!(modified["modifications"]["patch"][0]["path"], "/content");
    assert_eq!(
        modified["modifications"]["modified_payload"]["content"],
        "Your card [REDACTED CARD] was charged."
    );
    assert_eq!(modified["modifications"]["modified_payload"]["summary"], "receipt");
    assert_eq!(modified["audit"]["seq"], f.base + 2);
    snapshot("decision_approve_modified", &modified);

    let escalated = gw.declare(&f.live, escalate_intent()).await.expect(200);
    assert_eq!(escalated["verdict"], "escalate");
    assert_eq!(codes(&escalated), ["irreversible_high_value"]);
    assert!(escalated["approval"]["approval_id"].as_str().is_some_and(|id| id.starts_with("apr_")));
    snapshot("decision_escalate", &escalated);

    let blocked = gw.declare(&f.live, block_intent()).await.expect(200);
    assert_eq!(blocked["verdict"], "block");
    assert_eq!(codes(&blocked), ["transact_over_limit"]);
    assert_eq!(blocked["reasons"][0]["stage"], "policy");
    assert!(blocked.get("modifications").is_none());
    let policy =
        blocked["stages"].as_array().unwrap().iter().find(|s| s["name"] == "policy").unwrap().clone();
    assert_eq!(policy["outcome"], "fail");
    let budget =
        blocked["stages"].as_array().unwrap().iter().find(|s| s["name"] == "budget").unwrap().clone();
    assert_eq!(budget["outcome"], "skip");
    snapshot("decision_block", &blocked);

    // Every decision is recorded once, chained, and the chain verifies.
    let verified = gw.verify(&f.tenant).await;
    assert_eq!(verified["ok"], true, "{verified}");
    assert_eq!(verified["verified"], f.base + 4);
    assert_eq!(verified["head"]["hash"], blocked["audit"]["hash"]);

    // The stored decision is the one answered.
    let stored = gw
        .get(&format!("/v1/intents/{}/decision", blocked["intent_id"].as_str().unwrap()), &f.live)
        .await
        .expect(200);
    assert_eq!(stored["status"], "decided");
    assert_eq!(stored["decision"], blocked);
}

async fn risk_is_scored_and_explained(backend: Backend) {
    let gw = TestGateway::start(backend).await;
    let f = gw.tenant_fixture().await;
    let low = gw.declare(&f.live, approve_intent()).await.expect(200);
    let high = gw.declare(&f.live, escalate_intent()).await.expect(200);
    assert!(low["risk"]["score"].as_f64().unwrap() < high["risk"]["score"].as_f64().unwrap());
    let names: Vec<_> =
        low["risk"]["factors"].as_array().unwrap().iter().map(|f| f["name"].clone()).collect();
    assert_eq!(
        names,
        [
            "action_type",
            "financial_exposure",
            "reversibility",
            "audience_size",
            "target_sensitivity",
            "regulatory_domains"
        ]
    );
    assert_eq!(low["risk"]["level"], "low");
}

async fn shadow_never_enforces(backend: Backend) {
    let gw = TestGateway::start(backend).await;
    let f = gw.tenant_fixture().await;
    for (intent, real) in [
        (block_intent(), "block"),
        (escalate_intent(), "escalate"),
        (modify_intent(), "approve_modified"),
        (approve_intent(), "approve"),
    ] {
        let d = gw.declare(&f.shadow, intent).await.expect(200);
        assert_eq!(d["verdict"], "approve", "{d}");
        assert_eq!(d["enforced"], false);
        assert_eq!(d["would_be_verdict"], real);
        assert_eq!(d["environment"], "shadow");
        assert!(d.get("modifications").is_none(), "shadow hands out no modifications");
        assert!(d.get("approval").is_none(), "shadow opens no approvals");
        assert!(d["audit"]["seq"].is_u64(), "shadow decisions are audited");
    }
    let tenant = gw.get(&format!("/v1/admin/tenants/{}", f.tenant), ADMIN_KEY).await.expect(200);
    assert_eq!(tenant["pending_approvals"], 0);
    let verified = gw.verify(&f.tenant).await;
    assert_eq!(verified["verified"], f.base + 4);
    // The audit entry records the real verdict, not enforced.
    let id =
        gw.declare(&f.shadow, block_intent()).await.expect(200)["intent_id"].as_str().unwrap().to_string();
    let trail = gw.get(&format!("/v1/intents/{id}/audit"), &f.admin).await.expect(200);
    assert_eq!(trail["items"][0]["verdict"], "block");
    assert_eq!(trail["items"][0]["enforced"], false);
}

async fn test_environment_never_audits(backend: Backend) {
    let gw = TestGateway::start(backend).await;
    let f = gw.tenant_fixture().await;
    for (intent, verdict) in
        [(block_intent(), "block"), (escalate_intent(), "escalate"), (approve_intent(), "approve")]
    {
        let d = gw.declare(&f.test, intent).await.expect(200);
        assert_eq!(d["verdict"], verdict);
        assert_eq!(d["enforced"], true);
        assert!(d.get("audit").is_none(), "test writes no audit entry: {d}");
        assert!(d.get("approval").is_none());
        let audit = d["stages"].as_array().unwrap().iter().find(|s| s["name"] == "audit").unwrap().clone();
        assert_eq!(audit["outcome"], "skip");
        let trail = gw
            .get(&format!("/v1/intents/{}/audit", d["intent_id"].as_str().unwrap()), &f.test)
            .await
            .expect(200);
        assert_eq!(trail["items"], json!([]));
    }
    let verified = gw.verify(&f.tenant).await;
    assert_eq!(verified["ok"], true);
    assert_eq!(verified["verified"], f.base);
    assert_eq!(verified["head"]["seq"], f.base);
    let db = gw.db().await;
    let entries: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM audit_entries WHERE tenant_id = $1 AND kind = 'decision'")
            .bind(&f.tenant)
            .fetch_one(&db)
            .await
            .unwrap();
    assert_eq!(entries, 0);
}

async fn idempotency_keys_replay_and_conflict(backend: Backend) {
    let gw = TestGateway::start(backend).await;
    let f = gw.tenant_fixture().await;
    let body = json!({"intent": escalate_intent()});
    let send = |body: Value, key: &'static str| {
        let request = gw
            .request(Method::POST, "/v1/intents")
            .bearer_auth(&f.live)
            .header("Idempotency-Key", key)
            .json(&body);
        gw.send(request)
    };
    let first = send(body.clone(), "order-1").await.expect(200);
    let again = send(body.clone(), "order-1").await.expect(200);
    assert_eq!(first, again, "same key, same body: the same decision");
    let verified = gw.verify(&f.tenant).await;
    assert_eq!(verified["verified"], f.base + 1, "no second audit entry");
    let tenant = gw.get(&format!("/v1/admin/tenants/{}", f.tenant), ADMIN_KEY).await.expect(200);
    assert_eq!(tenant["pending_approvals"], 1, "no second approval");

    let other = json!({"intent": approve_intent()});
    let conflict = send(other, "order-1").await.expect_error(409, "idempotency_conflict");
    assert!(conflict["message"].as_str().unwrap().contains("order-1"));

    // Concurrent duplicates still produce one decision.
    let racers: Vec<_> = (0..8).map(|_| send(json!({"intent": block_intent()}), "race")).collect();
    let answers = futures::future::join_all(racers).await;
    let ids: std::collections::BTreeSet<_> =
        answers.into_iter().map(|a| a.expect(200)["intent_id"].as_str().unwrap().to_string()).collect();
    assert_eq!(ids.len(), 1);
    assert_eq!(gw.verify(&f.tenant).await["verified"], f.base + 2);

    let bad = gw
        .request(Method::POST, "/v1/intents")
        .bearer_auth(&f.live)
        .header("Idempotency-Key", "")
        .json(&body);
    let e = gw.send(bad).await.expect_error(400, "invalid_parameter");
    assert_eq!(e["parameter"], "Idempotency-Key");
}

/// One `Idempotency-Key` under two credentials is two requests: a shadow
/// answer never replays to a live key, a test answer never slips past a
/// live budget, an agent key's approval never replays to a narrower token.
async fn idempotency_keys_are_scoped_to_environment_and_credential(backend: Backend) {
    let gw = TestGateway::start(backend).await;
    let f = gw.tenant_fixture().await;
    let with_key = |credential: String, intent: Value, key: &'static str| {
        let request = gw
            .request(Method::POST, "/v1/intents")
            .bearer_auth(credential)
            .header("Idempotency-Key", key)
            .json(&json!({"intent": intent}));
        gw.send(request)
    };
    let transfer = json!({"agent": {"id": "agent-1"}, "action": {"type": "transact", "verb": "transfer",
        "payload": {"estimated_impact": {"financial_exposure_usd": 25000}}}});
    let shadow = with_key(f.shadow.clone(), transfer.clone(), "pay-1").await.expect(200);
    assert_eq!((shadow["verdict"].as_str(), shadow["enforced"].as_bool()), (Some("approve"), Some(false)));
    let live = with_key(f.live.clone(), transfer.clone(), "pay-1").await.expect(200);
    assert_ne!(live["intent_id"], shadow["intent_id"], "a live key gets its own decision");
    assert_eq!(live["verdict"], "block", "{live}");
    assert_eq!(live["enforced"], true);

    // A token narrowed to reads does not obtain the agent key's approval.
    let token =
        gw.mint(&f.admin, json!({"subject": "agent-1", "ttl_seconds": 60, "action_types": ["access"]})).await;
    let token = token["token"].as_str().unwrap().to_string();
    let write = json!({"agent": {"id": "agent-1"}, "action": {"type": "modify", "verb": "update"}});
    let by_key = with_key(f.live.clone(), write.clone(), "upd-1").await.expect(200);
    assert_eq!(by_key["verdict"], "approve", "{by_key}");
    let by_token = with_key(token.clone(), write.clone(), "upd-1").await.expect(200);
    assert_ne!(by_token["intent_id"], by_key["intent_id"]);
    assert_eq!(by_token["verdict"], "block", "{by_token}");
    // The same credential still replays.
    let again = with_key(token, write, "upd-1").await.expect(200);
    assert_eq!(again["intent_id"], by_token["intent_id"]);
}

async fn batches_decide_each_element_on_its_own(backend: Backend) {
    let gw = TestGateway::start(backend).await;
    let f = gw.tenant_fixture().await;
    let mut bad = approve_intent();
    bad["action"]["type"] = json!("teleport");
    let body = json!({"intents": [
        {"intent": approve_intent()},
        {"intent": bad},
        {"intent": block_intent()},
        {"intent": {"agent": {"id": "agent-1"}}},
    ]});
    for path in ["/v1/intents:batch", "/v1/intents/batch"] {
        let answer = gw.post(path, &f.live, &body).await.expect(200);
        let results = answer["results"].as_array().unwrap();
        assert_eq!(results.len(), 4);
        assert_eq!(results[0]["index"], 0);
        assert_eq!(results[0]["status"], 200);
        assert_eq!(results[0]["decision"]["verdict"], "approve");
        assert_eq!(results[1]["status"], 400);
        assert_eq!(results[1]["error"]["error_code"], "invalid_field");
        assert_eq!(results[1]["error"]["path"], "$.intents[1].intent.action.type");
        assert_eq!(results[2]["decision"]["verdict"], "block");
        assert_eq!(results[3]["error"]["error_code"], "missing_field");
        assert_eq!(results[3]["error"]["path"], "$.intents[3].intent.action");
    }
    assert_eq!(gw.verify(&f.tenant).await["verified"], f.base + 4, "only the valid elements were decided");

    let too_many =
        json!({"intents": (0..51).map(|_| json!({"intent": approve_intent()})).collect::<Vec<_>>()});
    let e = gw.post("/v1/intents:batch", &f.live, &too_many).await.expect_error(400, "invalid_field");
    assert_eq!(e["path"], "$.intents");
    gw.post("/v1/intents:batch", &f.live, &json!({"intents": []})).await.expect_error(400, "invalid_field");
    gw.post("/v1/intents/nonsense", &f.live, &body).await.expect_error(404, "not_found");
}

async fn intents_are_listed_newest_first_with_filters(backend: Backend) {
    let gw = TestGateway::start(backend).await;
    let f = gw.tenant_fixture().await;
    gw.create_agent(&f.admin, "agent-2", None).await;
    let mut ids = Vec::new();
    for intent in [approve_intent(), block_intent(), escalate_intent(), approve_intent()] {
        ids.push(gw.declare(&f.live, intent).await.expect(200)["intent_id"].as_str().unwrap().to_string());
    }
    let mut other = approve_intent();
    other["agent"]["id"] = json!("agent-2");
    ids.push(gw.declare(&f.shadow, other).await.expect(200)["intent_id"].as_str().unwrap().to_string());

    let all = gw.get("/v1/intents?limit=2", &f.admin).await.expect(200);
    let first: Vec<_> = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["intent_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(first, [ids[4].clone(), ids[3].clone()]);
    let mut walked = first;
    let mut cursor = all["next_cursor"].as_str().map(str::to_string);
    while let Some(c) = cursor {
        let page = gw.get(&format!("/v1/intents?limit=2&cursor={c}"), &f.admin).await.expect(200);
        walked.extend(
            page["items"].as_array().unwrap().iter().map(|i| i["intent_id"].as_str().unwrap().to_string()),
        );
        cursor = page["next_cursor"].as_str().map(str::to_string);
    }
    let mut expected = ids.clone();
    expected.reverse();
    assert_eq!(walked, expected);

    let blocked = gw.get("/v1/intents?verdict=block", &f.admin).await.expect(200);
    assert_eq!(blocked["items"].as_array().unwrap().len(), 1);
    assert_eq!(blocked["items"][0]["intent_id"], ids[1].as_str());
    let transact = gw.get("/v1/intents?action_type=transact", &f.live).await.expect(200);
    assert_eq!(transact["items"].as_array().unwrap().len(), 2);
    let shadow = gw.get("/v1/intents?environment=shadow&agent_id=agent-2", &f.admin).await.expect(200);
    assert_eq!(shadow["items"].as_array().unwrap().len(), 1);
    assert_eq!(shadow["items"][0]["would_be_verdict"], "approve");
    let future = gw.get("/v1/intents?from=2999-01-01T00:00:00Z", &f.admin).await.expect(200);
    assert_eq!(future["items"], json!([]));
    let past = gw.get("/v1/intents?to=2000-01-01T00:00:00Z", &f.admin).await.expect(200);
    assert_eq!(past["items"], json!([]));
    let e = gw.get("/v1/intents?verdict=maybe", &f.admin).await.expect_error(400, "invalid_parameter");
    assert_eq!(e["parameter"], "verdict");
    let e = gw.get("/v1/intents?from=yesterday", &f.admin).await.expect_error(400, "invalid_parameter");
    assert_eq!(e["parameter"], "from");

    // Another tenant sees none of it.
    let other = gw.tenant_fixture().await;
    assert_eq!(gw.get("/v1/intents", &other.admin).await.expect(200)["items"], json!([]));
    gw.get(&format!("/v1/intents/{}/decision", ids[0]), &other.admin).await.expect_error(404, "not_found");
    gw.get(&format!("/v1/intents/{}/audit", ids[0]), &other.live).await.expect_error(404, "not_found");
}

async fn an_intents_audit_trail_matches_its_decision(backend: Backend) {
    let gw = TestGateway::start(backend).await;
    let f = gw.tenant_fixture().await;
    let d = gw.declare(&f.live, modify_intent()).await.expect(200);
    let id = d["intent_id"].as_str().unwrap();
    let trail = gw.get(&format!("/v1/intents/{id}/audit"), &f.live).await.expect(200);
    let entry = &trail["items"][0];
    assert_eq!(trail["items"].as_array().unwrap().len(), 1);
    assert_eq!(entry["hash"], d["audit"]["hash"]);
    assert_eq!(entry["entry_id"], d["audit"]["entry_id"]);
    assert_eq!(entry["seq"], f.base + 1);
    assert_ne!(entry["prev_hash"], "0".repeat(64), "provisioning came first");
    assert_eq!(entry["intent_id"], id);
    assert_eq!(entry["verdict"], "approve_modified");
    assert_eq!(entry["stage"], "policy");
    assert_eq!(entry["bundle_hash"], d["policy"]["bundle_hash"]);
    assert_eq!(entry["kind"], "decision");
    assert_eq!(entry["reasons"], d["reasons"]);
    insta::assert_json_snapshot!("audit_entry", entry, {
        ".entry_id" => "[entry_id]",
        ".tenant" => "[tenant]",
        ".intent_id" => "[intent_id]",
        ".ts" => "[time]",
        ".hash" => "[hash]",
        ".bundle_hash" => "[hash]",
        ".input_digest" => "[hash]",
        ".principal" => "[principal]",
        ".seq" => "[seq]",
        ".prev_hash" => "[hash]",
    });
    gw.get(&format!("/v1/intents/{}/audit", "int_unknown"), &f.live).await.expect_error(404, "not_found");
}

async fn small_intents_stay_small(backend: Backend) {
    let gw = TestGateway::start(backend).await;
    let f = gw.tenant_fixture().await;
    let d = gw.declare(&f.live, intent(json!({"type": "recommend", "verb": "suggest"}))).await.expect(200);
    assert_eq!(d["verdict"], "approve");
    let d = gw
        .declare(
            &f.live,
            intent(json!({"type": "modify", "verb": "BULK_DELETE",
        "payload": {"estimated_impact": {"audience_size": 50000}}})),
        )
        .await
        .expect(200);
    assert_eq!(d["verdict"], "block");
    assert_eq!(codes(&d), ["bulk_destructive_action"]);
}

crate::on_both_backends!(
    idempotency_keys_are_scoped_to_environment_and_credential,
    each_verdict_is_reachable_through_the_default_bundle,
    risk_is_scored_and_explained,
    shadow_never_enforces,
    test_environment_never_audits,
    idempotency_keys_replay_and_conflict,
    batches_decide_each_element_on_its_own,
    intents_are_listed_newest_first_with_filters,
    an_intents_audit_trail_matches_its_decision,
    small_intents_stay_small,
);
