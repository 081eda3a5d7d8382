//! The approvals queue: escalations wait for a human, resume exactly once,
//! and reach every replica.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::{
    ADMIN_KEY, Backend, Fixture, LegacyMcp, TestGateway, escalate_intent, eventually, intent,
};
use crate::tools::{setup, token};

const TRANSFER: &str = "bank.transfer_funds";

fn transfer(amount: u32) -> Value {
    json!({"amount_usd": amount, "to": "DE89370400440532013000"})
}

fn codes(decision: &Value) -> Vec<String> {
    decision["reasons"].as_array().unwrap().iter().map(|r| r["code"].as_str().unwrap().to_string()).collect()
}

/// The id of the admin key `key` (`lictor_<env>_<id>_<secret>` → `key_<id>`).
async fn key_id(gw: &TestGateway, f: &Fixture, key: &str) -> String {
    let keys = gw.get(&format!("/v1/admin/api-keys?tenant={}", f.tenant), ADMIN_KEY).await.expect(200);
    let key = keys["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| key.starts_with(k["prefix"].as_str().unwrap()))
        .unwrap_or_else(|| panic!("no key listed for {key}: {keys}"));
    key["id"].as_str().unwrap().to_string()
}

fn transfers(upstream: &crate::support::mcp_server::McpServer) -> usize {
    upstream.calls().iter().filter(|c| c.name == "transfer_funds").count()
}

async fn decide(gw: &TestGateway, key: &str, id: &str, body: Value) -> crate::support::Answer {
    gw.post(&format!("/v1/admin/approvals/{id}/decide"), key, &body).await
}

async fn an_escalated_tool_call_resumes_exactly_once(backend: Backend) {
    let (gw, upstream, f) = setup(backend).await;
    let credential = token(&gw, &f, json!({})).await;
    let mut mcp = LegacyMcp::connect(&gw, &credential).await;

    let denied = mcp.call_tool(TRANSFER, transfer(2500), None).await.expect(200);
    assert_eq!(denied["error"]["code"], -32014, "{denied}");
    let id = denied["error"]["data"]["approval_id"].as_str().unwrap().to_string();
    // The identical request, repeated, waits on the same approval.
    let again = mcp.call_tool(TRANSFER, transfer(2500), None).await.expect(200);
    assert_eq!(again["error"]["data"]["approval_id"], id.as_str());
    // Presenting it while pending changes nothing.
    let early = mcp.call_tool(TRANSFER, transfer(2500), Some(&id)).await.expect(200);
    assert_eq!(
        (early["error"]["code"].clone(), early["error"]["data"]["status"].clone()),
        (json!(-32014), json!("pending"))
    );
    assert_eq!(transfers(&upstream), 0);

    // The queue shows it, with what the human needs to judge it.
    let approval = gw.get(&format!("/v1/admin/approvals/{id}"), &f.admin).await.expect(200);
    assert_eq!(approval["status"], "pending");
    assert_eq!(approval["kind"], "tool_call");
    assert_eq!(approval["tool"], TRANSFER);
    assert_eq!(approval["agent_id"], "agent-1");
    assert!(approval["jti"].as_str().unwrap().starts_with("tok_"));
    assert_eq!(codes(&approval), ["irreversible_high_value"]);
    // The waiting agent may read it; agents cannot decide.
    assert_eq!(gw.get(&format!("/v1/approvals/{id}"), &credential).await.expect(200)["status"], "pending");
    decide(&gw, &f.live, &id, json!({"decision": "approve"})).await.expect_error(403, "forbidden");
    decide(&gw, &credential, &id, json!({"decision": "approve"})).await.expect_error(403, "forbidden");
    // The decider comes from the credential, never from the body.
    let e = decide(&gw, &f.admin, &id, json!({"decision": "approve", "decided_by": "someone-else"})).await;
    assert_eq!(e.expect_error(400, "unknown_field")["path"], "$.decided_by");
    let e = decide(&gw, &f.admin, &id, json!({"decision": "maybe"})).await;
    assert_eq!(e.expect_error(400, "invalid_field")["path"], "$.decision");

    let decided = decide(&gw, &f.admin, &id, json!({"decision": "approve", "note": "verified by phone"}))
        .await
        .expect(200);
    assert_eq!(decided["status"], "approved");
    assert_eq!(decided["decided_by"], format!("key:{}", key_id(&gw, &f, &f.admin).await));
    assert_eq!(decided["note"], "verified by phone");
    // A second decision, either way, is a conflict.
    decide(&gw, &f.admin, &id, json!({"decision": "reject"})).await.expect_error(409, "conflict");
    gw.post(
        &format!("/v1/admin/approvals/{id}/decide?tenant={}", f.tenant),
        ADMIN_KEY,
        &json!({"decision": "approve"}),
    )
    .await
    .expect_error(409, "conflict");

    // Another request cannot ride on it.
    let other = mcp.call_tool(TRANSFER, transfer(2600), Some(&id)).await.expect(200);
    assert_eq!(other["error"]["code"], -32014, "{other}");
    assert_eq!(other["error"]["data"]["reason"], "approval_mismatch");
    assert_eq!(other["error"]["data"]["verdict"], "block");
    assert_eq!(transfers(&upstream), 0);

    // The identical call resumes: forwarded once.
    let resumed = mcp.call_tool(TRANSFER, transfer(2500), Some(&id)).await.expect(200);
    assert!(resumed["result"]["content"][0]["text"].as_str().unwrap().contains("2500.00 USD"), "{resumed}");
    assert_eq!(transfers(&upstream), 1);
    // … and only once.
    let replay = mcp.call_tool(TRANSFER, transfer(2500), Some(&id)).await.expect(200);
    assert_eq!(replay["error"]["code"], -32014, "{replay}");
    assert_eq!(replay["error"]["data"]["reason"], "approval_used");
    assert_eq!(replay["error"]["data"]["status"], "used");
    assert_eq!(transfers(&upstream), 1);
    let used = gw.get(&format!("/v1/admin/approvals/{id}"), &f.admin).await.expect(200);
    assert_eq!(used["status"], "used");
    assert!(used["used_at"].is_string());

    // The human's decision is an audit entry in the same chain.
    let trail = gw
        .get(&format!("/v1/intents/{}/audit", approval["intent_id"].as_str().unwrap()), &f.admin)
        .await
        .expect(200);
    let entries: Vec<&Value> =
        trail["items"].as_array().unwrap().iter().filter(|e| e["kind"] == "approval_decision").collect();
    assert_eq!(entries.len(), 1, "{trail}");
    assert_eq!(entries[0]["approval_id"], id.as_str());
    assert_eq!(entries[0]["principal"], decided["decided_by"]);
    assert_eq!(entries[0]["verdict"], "approve");
    assert_eq!(entries[0]["tool"], TRANSFER);
    assert_eq!(gw.verify(&f.tenant).await["ok"], true);
}

async fn concurrent_resumes_forward_once(backend: Backend) {
    let (gw, upstream, f) = setup(backend).await;
    let credential = token(&gw, &f, json!({})).await;
    let body = json!({"tool": TRANSFER, "arguments": transfer(1500)});
    let first = gw.post("/v1/tool-call", &credential, &body).await.expect(200);
    assert_eq!(first["decision"]["verdict"], "escalate");
    let id = first["decision"]["approval"]["approval_id"].as_str().unwrap().to_string();
    decide(&gw, &f.admin, &id, json!({"decision": "approve"})).await.expect(200);
    let resumes = (0..8).map(|_| {
        let request = gw
            .request(Method::POST, "/v1/tool-call")
            .bearer_auth(&credential)
            .header("Lictor-Approval-Id", &id)
            .json(&body);
        gw.send(request)
    });
    let answers: Vec<Value> =
        futures::future::join_all(resumes).await.into_iter().map(|a| a.expect(200)).collect();
    let forwarded = answers.iter().filter(|a| a.get("result").is_some()).count();
    assert_eq!(forwarded, 1, "{answers:?}");
    assert_eq!(transfers(&upstream), 1);
    for refused in answers.iter().filter(|a| a.get("result").is_none()) {
        assert_eq!(refused["decision"]["verdict"], "block");
        assert_eq!(codes(&refused["decision"]).last().unwrap(), "approval_used");
    }
}

async fn rejected_and_expired_approvals_answer_block(backend: Backend) {
    let (gw, upstream, f) = setup(backend).await;
    let credential = token(&gw, &f, json!({})).await;
    let mut mcp = LegacyMcp::connect(&gw, &credential).await;
    let id = mcp.call_tool(TRANSFER, transfer(3000), None).await.expect(200)["error"]["data"]["approval_id"]
        .as_str()
        .unwrap()
        .to_string();
    let rejected =
        decide(&gw, &f.admin, &id, json!({"decision": "reject", "note": "not on the vendor list"})).await;
    assert_eq!(rejected.expect(200)["status"], "rejected");
    let answer = mcp.call_tool(TRANSFER, transfer(3000), Some(&id)).await.expect(200);
    assert_eq!(answer["error"]["code"], -32014, "{answer}");
    assert_eq!(answer["error"]["data"]["reason"], "approval_rejected");
    assert_eq!(answer["error"]["data"]["status"], "rejected");
    assert_eq!(answer["error"]["data"]["verdict"], "block");
    // Asking again opens a new approval (the rejected one is closed).
    let fresh = mcp.call_tool(TRANSFER, transfer(3000), None).await.expect(200);
    assert_ne!(fresh["error"]["data"]["approval_id"], id.as_str());
    assert_eq!(transfers(&upstream), 0);
    drop(mcp);

    // Approvals expire: undecided, and approved but unused.
    let gw = TestGateway::start_with(backend, |c| c.approval_ttl = Duration::from_secs(1)).await;
    let f = gw.tenant_fixture().await;
    let escalated = gw.declare(&f.live, escalate_intent()).await.expect(200);
    let stale = escalated["approval"]["approval_id"].as_str().unwrap().to_string();
    let approved = gw
        .declare(
            &f.live,
            intent(json!({"type": "transact", "verb": "pay",
        "payload": {"estimated_impact": {"reversible": false, "financial_exposure_usd": 1800}}})),
        )
        .await
        .expect(200)["approval"]["approval_id"]
        .as_str()
        .unwrap()
        .to_string();
    decide(&gw, &f.admin, &approved, json!({"decision": "approve"})).await.expect(200);
    tokio::time::sleep(Duration::from_millis(1300)).await;
    assert_eq!(
        gw.get(&format!("/v1/admin/approvals/{stale}"), &f.admin).await.expect(200)["status"],
        "expired"
    );
    decide(&gw, &f.admin, &stale, json!({"decision": "approve"})).await.expect_error(409, "conflict");
    let resumed = gw
        .send(
            gw.request(Method::POST, "/v1/intents")
                .bearer_auth(&f.live)
                .header("Lictor-Approval-Id", &stale)
                .json(&json!({"intent": escalate_intent()})),
        )
        .await
        .expect(200);
    assert_eq!(resumed["verdict"], "block");
    assert_eq!(codes(&resumed).last().unwrap(), "approval_expired");
    assert_eq!(
        gw.get(&format!("/v1/admin/approvals/{approved}"), &f.admin).await.expect(200)["status"],
        "expired"
    );
    let pending = gw.get("/v1/admin/approvals?status=pending", &f.admin).await.expect(200);
    assert_eq!(pending["items"], json!([]));
    let expired = gw.get("/v1/admin/approvals?status=expired", &f.admin).await.expect(200);
    assert_eq!(expired["items"].as_array().unwrap().len(), 2);
}

async fn an_escalated_intent_takes_the_humans_verdict(backend: Backend) {
    let gw = TestGateway::start(backend).await;
    let f = gw.tenant_fixture().await;
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hooks"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&receiver)
        .await;
    let body = json!({"intent": escalate_intent(), "callback_url": format!("{}/hooks", receiver.uri())});
    let intent_id = gw.post("/v1/intents:async", &f.live, &body).await.expect(202)["intent_id"]
        .as_str()
        .unwrap()
        .to_string();
    let escalated = eventually(Duration::from_secs(20), async || {
        let status = gw.get(&format!("/v1/intents/{intent_id}/decision"), &f.live).await.expect(200);
        (status["callback"]["state"] == "delivered").then_some(status)
    })
    .await
    .expect("the escalation is delivered");
    assert_eq!(escalated["decision"]["verdict"], "escalate");
    let id = escalated["decision"]["approval"]["approval_id"].as_str().unwrap().to_string();
    let approval = gw.get(&format!("/v1/admin/approvals/{id}"), &f.admin).await.expect(200);
    assert_eq!(
        (approval["kind"].clone(), approval["intent_id"].clone()),
        (json!("intent"), json!(intent_id))
    );

    decide(&gw, &f.admin, &id, json!({"decision": "approve", "note": "expected invoice"})).await.expect(200);
    let settled = eventually(Duration::from_secs(20), async || {
        let status = gw.get(&format!("/v1/intents/{intent_id}/decision"), &f.live).await.expect(200);
        (status["callback"]["state"] == "delivered" && status["decision"]["verdict"] == "approve")
            .then_some(status)
    })
    .await
    .expect("the human's verdict is delivered");
    assert_eq!(codes(&settled["decision"]), ["irreversible_high_value", "approved_by_human"]);
    let requests = receiver.received_requests().await.unwrap();
    assert_eq!(requests.len(), 2);
    let delivered: Vec<Value> = requests.iter().map(|r| serde_json::from_slice(&r.body).unwrap()).collect();
    assert_eq!(delivered[0]["verdict"], "escalate");
    assert_eq!(delivered[1], settled["decision"]);
    // Listing by verdict follows the human.
    let approved = gw.get("/v1/intents?verdict=approve", &f.admin).await.expect(200);
    assert!(approved["items"].as_array().unwrap().iter().any(|i| i["intent_id"] == intent_id.as_str()));

    // A rejection blocks.
    let other = gw.declare(&f.live, escalate_intent()).await.expect(200);
    let other_id = other["intent_id"].as_str().unwrap();
    let other_approval = other["approval"]["approval_id"].as_str().unwrap();
    assert_ne!(other_approval, id, "a used or decided approval is never reused");
    decide(&gw, &f.admin, other_approval, json!({"decision": "reject"})).await.expect(200);
    let blocked = gw.get(&format!("/v1/intents/{other_id}/decision"), &f.live).await.expect(200);
    assert_eq!(blocked["decision"]["verdict"], "block");
    assert_eq!(codes(&blocked["decision"]).last().unwrap(), "rejected_by_human");
}

async fn an_approved_escalation_keeps_the_required_modifications(backend: Backend) {
    let gw = TestGateway::start(backend).await;
    let f = gw.tenant_fixture().await;
    // A wide publication (escalates) quoting a card number (redacted).
    let risky = intent(json!({"type": "publish", "verb": "post",
        "payload": {"summary": "newsletter", "content": "refund to card 4111 1111 1111 1111",
                    "estimated_impact": {"audience_size": 50000}}}));
    let escalated = gw.declare(&f.live, risky.clone()).await.expect(200);
    assert_eq!(escalated["verdict"], "escalate");
    assert!(escalated.get("modifications").is_none() || escalated["modifications"].is_null());
    let id = escalated["approval"]["approval_id"].as_str().unwrap().to_string();
    decide(&gw, &f.admin, &id, json!({"decision": "approve"})).await.expect(200);
    // The original intent now answers approve_modified, redaction included.
    let settled = gw
        .get(&format!("/v1/intents/{}/decision", escalated["intent_id"].as_str().unwrap()), &f.live)
        .await
        .expect(200);
    assert_eq!(settled["decision"]["verdict"], "approve_modified", "{settled}");
    let content = &settled["decision"]["modifications"]["modified_payload"]["content"];
    assert_eq!(content, "refund to card [REDACTED CARD]");
    // Resuming the identical intent answers the same.
    let resumed = gw
        .send(
            gw.request(Method::POST, "/v1/intents")
                .bearer_auth(&f.live)
                .header("Lictor-Approval-Id", &id)
                .json(&json!({"intent": risky})),
        )
        .await
        .expect(200);
    assert_eq!(resumed["verdict"], "approve_modified", "{resumed}");
    assert_eq!(resumed["modifications"]["modified_payload"]["content"], "refund to card [REDACTED CARD]");
}

async fn waiting_agents_wake_on_the_decision(backend: Backend) {
    let gw = TestGateway::start(backend).await;
    let f = gw.tenant_fixture().await;
    let id = gw.declare(&f.live, escalate_intent()).await.expect(200)["approval"]["approval_id"]
        .as_str()
        .unwrap()
        .to_string();
    let e = gw.get(&format!("/v1/approvals/{id}?wait_seconds=61"), &f.live).await;
    assert_eq!(e.expect_error(400, "invalid_parameter")["parameter"], "wait_seconds");
    // A credential bound to another agent does not see it.
    gw.create_agent(&f.admin, "agent-2", None).await;
    let minted = gw.mint(&f.admin, json!({"subject": "agent-2", "ttl_seconds": 60})).await;
    gw.get(&format!("/v1/approvals/{id}"), minted["token"].as_str().unwrap())
        .await
        .expect_error(404, "not_found");

    let started = Instant::now();
    let wait_path = format!("/v1/approvals/{id}?wait_seconds=20");
    let waiting = gw.get(&wait_path, &f.live);
    let deciding = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        decide(&gw, &f.admin, &id, json!({"decision": "approve"})).await.expect(200)
    };
    let (waited, _) = tokio::join!(waiting, deciding);
    assert_eq!(waited.expect(200)["status"], "approved");
    assert!(started.elapsed() < Duration::from_secs(10), "woken by the decision, not the deadline");
    // A wait that times out answers the approval as it stands.
    let other = gw
        .declare(
            &f.live,
            intent(json!({"type": "transact", "verb": "pay",
        "payload": {"estimated_impact": {"reversible": false, "financial_exposure_usd": 1200}}})),
        )
        .await
        .expect(200)["approval"]["approval_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        gw.get(&format!("/v1/approvals/{other}?wait_seconds=1"), &f.live).await.expect(200)["status"],
        "pending"
    );
}

async fn open_approvals_are_capped_per_agent(backend: Backend) {
    let gw = TestGateway::start_with(backend, |c| c.max_open_approvals_per_agent = 2).await;
    let f = gw.tenant_fixture().await;
    let pay = |usd: u32| {
        intent(json!({"type": "transact", "verb": "pay",
            "payload": {"estimated_impact": {"reversible": false, "financial_exposure_usd": usd}}}))
    };
    for usd in [1100, 1200] {
        assert_eq!(gw.declare(&f.live, pay(usd)).await.expect(200)["verdict"], "escalate");
    }
    // Repeating one reuses its approval: not a new one.
    assert_eq!(gw.declare(&f.live, pay(1100)).await.expect(200)["verdict"], "escalate");
    let full = gw.declare(&f.live, pay(1300)).await.expect(200);
    assert_eq!(full["verdict"], "block");
    assert_eq!(codes(&full).last().unwrap(), "approval_queue_full");
    assert!(full["approval"].is_null());
    // Pagination walks the queue newest first.
    let first = gw.get("/v1/admin/approvals?status=pending&limit=1", &f.admin).await.expect(200);
    assert_eq!(first["items"].as_array().unwrap().len(), 1);
    let cursor = first["next_cursor"].as_str().unwrap();
    let second = gw
        .get(&format!("/v1/admin/approvals?status=pending&limit=1&cursor={cursor}"), &f.admin)
        .await
        .expect(200);
    assert_eq!(second["items"].as_array().unwrap().len(), 1);
    assert_ne!(first["items"][0]["id"], second["items"][0]["id"]);
    assert!(second["next_cursor"].is_null());
    // Deciding one frees a place.
    decide(&gw, &f.admin, first["items"][0]["id"].as_str().unwrap(), json!({"decision": "reject"}))
        .await
        .expect(200);
    assert_eq!(gw.declare(&f.live, pay(1300)).await.expect(200)["verdict"], "escalate");
    let e = gw.get("/v1/admin/approvals?status=bogus", &f.admin).await;
    assert_eq!(e.expect_error(400, "invalid_parameter")["parameter"], "status");
    gw.get("/v1/admin/approvals/apr_nope", &f.admin).await.expect_error(404, "not_found");
    let e = gw.get("/v1/admin/approvals/no-such!id", &f.admin).await;
    assert_eq!(e.expect_error(400, "invalid_parameter")["parameter"], "approval_id");
    let e = gw
        .send(
            gw.request(Method::POST, "/v1/intents")
                .bearer_auth(&f.live)
                .header("Lictor-Approval-Id", "x y")
                .json(&json!({"intent": pay(1100)})),
        )
        .await;
    assert_eq!(e.expect_error(400, "invalid_parameter")["parameter"], "Lictor-Approval-Id");
}

crate::on_both_backends!(
    an_escalated_tool_call_resumes_exactly_once,
    concurrent_resumes_forward_once,
    rejected_and_expired_approvals_answer_block,
    an_escalated_intent_takes_the_humans_verdict,
    an_approved_escalation_keeps_the_required_modifications,
    waiting_agents_wake_on_the_decision,
    open_approvals_are_capped_per_agent,
);

/// Two gateways on one PostgreSQL database: what one decides, the other
/// knows within a second (LISTEN/NOTIFY, not cache expiry).
mod replicas {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn decisions_revocations_and_suspensions_reach_every_replica() {
        let hour = Duration::from_secs(3600);
        // Caches that never expire within the test: only the notification
        // can make B see a change.
        let never = |c: &mut lictor_server::Config| {
            c.revocation_cache_ttl = hour;
            c.cache_ttl = hour;
        };
        let a = TestGateway::start_with(Backend::Postgres, never).await;
        let b = a.replica(Backend::Postgres, never).await;
        let f = a.tenant_fixture().await;
        let minted = a.mint(&f.admin, json!({"subject": "agent-1", "ttl_seconds": 600})).await;
        let token = minted["token"].as_str().unwrap().to_string();
        let read = crate::support::approve_intent();
        // B has the tenant's revocations cached.
        assert_eq!(b.declare(&token, read.clone()).await.expect(200)["verdict"], "approve");

        // A revocation on A.
        a.post("/v1/admin/revoke", &f.admin, &json!({"jti": minted["jti"], "reason": "laptop stolen"}))
            .await
            .expect(200);
        let started = Instant::now();
        let seen = eventually(Duration::from_secs(5), async || {
            let d = b.declare(&token, read.clone()).await.expect(200);
            (d["verdict"] == "block").then_some(d)
        })
        .await
        .expect("B sees the revocation");
        assert!(started.elapsed() < Duration::from_secs(1), "took {:?}", started.elapsed());
        assert_eq!(codes(&seen), ["token_revoked"]);
        // B's own cache knew it (the notification), not only the write.
        let policy = seen["stages"].as_array().unwrap().iter().find(|s| s["name"] == "policy").unwrap();
        assert_eq!(policy["outcome"], "skip", "{seen}");

        // An agent waiting on B is woken by a decision on A.
        let id = b.declare(&f.live, escalate_intent()).await.expect(200)["approval"]["approval_id"]
            .as_str()
            .unwrap()
            .to_string();
        let wait_path = format!("/v1/approvals/{id}?wait_seconds=30");
        let waiting = b.get(&wait_path, &f.live);
        let deciding = async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            let decided = decide(&a, &f.admin, &id, json!({"decision": "approve"})).await.expect(200);
            (decided, Instant::now())
        };
        let (waited, (_, decided_at)) = tokio::join!(waiting, deciding);
        assert_eq!(waited.expect(200)["status"], "approved");
        assert!(
            decided_at.elapsed() < Duration::from_secs(1),
            "woken {:?} after the decision",
            decided_at.elapsed()
        );

        // A suspension on A holds on A at once, and on B (which has the
        // agent cached) within a second.
        a.patch("/v1/agents/agent-1", &f.admin, &json!({"status": "suspended"})).await.expect(200);
        let started = Instant::now();
        assert_eq!(codes(&a.declare(&f.live, read.clone()).await.expect(200)), ["agent_suspended"]);
        let seen = eventually(Duration::from_secs(5), async || {
            let d = b.declare(&f.live, read.clone()).await.expect(200);
            (d["verdict"] == "block").then_some(d)
        })
        .await
        .expect("B sees the suspension");
        assert!(started.elapsed() < Duration::from_secs(1), "took {:?}", started.elapsed());
        assert_eq!(codes(&seen), ["agent_suspended"]);

        // A key revoked on A is refused by A at once, and by B (which has
        // it cached) within a second.
        let key = a.create_key(&f.tenant, "live", "agent").await;
        b.declare(&key, read.clone()).await.expect(200);
        let keys = a.get("/v1/admin/api-keys", &f.admin).await.expect(200);
        let id = keys["items"].as_array().unwrap().last().unwrap()["id"].as_str().unwrap().to_string();
        a.delete(&format!("/v1/admin/api-keys/{id}"), &f.admin).await.expect(204);
        let started = Instant::now();
        a.declare(&key, read.clone()).await.expect_error(401, "unauthenticated");
        let refused = eventually(Duration::from_secs(5), async || {
            (b.declare(&key, read.clone()).await.status == 401).then_some(())
        })
        .await;
        assert!(refused.is_some(), "B kept accepting a revoked key");
        assert!(started.elapsed() < Duration::from_secs(1), "took {:?}", started.elapsed());
    }
}
