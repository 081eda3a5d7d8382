use std::time::Duration;

use hmac::{KeyInit, Mac};
use reqwest::Method;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::{ADMIN_KEY, Backend, TestGateway, approve_intent, block_intent, eventually};

async fn wait_decided(gw: &TestGateway, key: &str, id: &str) -> Value {
    eventually(Duration::from_secs(20), async || {
        let answer = gw.get(&format!("/v1/intents/{id}/decision"), key).await.expect(200);
        (answer["status"] == "decided").then_some(answer)
    })
    .await
    .unwrap_or_else(|| panic!("intent {id} was not decided in time"))
}

async fn async_intents_are_decided_in_the_background(backend: Backend) {
    let gw = TestGateway::start(backend).await;
    let f = gw.tenant_fixture().await;
    for path in ["/v1/intents:async", "/v1/intents/async"] {
        let accepted = gw.post(path, &f.live, &json!({"intent": block_intent()})).await.expect(202);
        assert_eq!(accepted["status"], "pending");
        let id = accepted["intent_id"].as_str().unwrap().to_string();
        let answer = wait_decided(&gw, &f.live, &id).await;
        assert_eq!(answer["decision"]["verdict"], "block");
        assert_eq!(answer["decision"]["intent_id"], id.as_str());
        assert!(answer["decision"]["audit"]["seq"].is_u64());
        assert!(answer["callback"].is_null());
    }
    assert_eq!(gw.verify(&f.tenant).await["verified"], f.base + 2);
}

fn expected_signature(secret: &str, header: &str, body: &[u8]) -> bool {
    let Some((t, v1)) = header.split_once(',') else { return false };
    let (Some(t), Some(v1)) = (t.strip_prefix("t="), v1.strip_prefix("v1=")) else { return false };
    let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(t.as_bytes());
    mac.update(b".");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes()) == v1
}

async fn decisions_are_delivered_signed_to_the_callback(backend: Backend) {
    let gw = TestGateway::start(backend).await;
    let f = gw.tenant_fixture().await;
    let secret = gw
        .post(&format!("/v1/admin/tenants/{}/webhook-secret", f.tenant), &f.admin, &json!({}))
        .await
        .expect(200)["webhook_secret"]
        .as_str()
        .unwrap()
        .to_string();
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hooks/lictor"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&receiver)
        .await;

    let body =
        json!({"intent": approve_intent(), "callback_url": format!("{}/hooks/lictor", receiver.uri())});
    let id = gw.post("/v1/intents:async", &f.live, &body).await.expect(202)["intent_id"]
        .as_str()
        .unwrap()
        .to_string();
    let status = eventually(Duration::from_secs(20), async || {
        let answer = gw.get(&format!("/v1/intents/{id}/decision"), &f.live).await.expect(200);
        (answer["callback"]["state"] == "delivered").then_some(answer)
    })
    .await
    .expect("delivered");

    let requests = receiver.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    let signature = request.headers.get("lictor-signature").unwrap().to_str().unwrap();
    assert!(expected_signature(&secret, signature, &request.body), "bad signature {signature}");
    assert!(!expected_signature("lictor_whsec_wrong", signature, &request.body));
    assert_eq!(request.headers.get("lictor-event").unwrap(), "intent.decided");
    let delivered: Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(delivered, status["decision"]);
    let attempts = status["callback"]["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0]["status_code"], 204);
    assert!(attempts[0]["error"].is_null());
    assert!(status["callback"]["next_attempt_at"].is_null());
}

async fn failed_deliveries_are_retried_with_backoff(backend: Backend) {
    let gw = TestGateway::start(backend).await;
    let f = gw.tenant_fixture().await;
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(2)
        .mount(&receiver)
        .await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(200)).mount(&receiver).await;
    let body = json!({"intent": approve_intent(), "callback_url": format!("{}/flaky", receiver.uri())});
    let id = gw.post("/v1/intents:async", &f.live, &body).await.expect(202)["intent_id"]
        .as_str()
        .unwrap()
        .to_string();
    let status = eventually(Duration::from_secs(20), async || {
        let answer = gw.get(&format!("/v1/intents/{id}/decision"), &f.live).await.expect(200);
        (answer["callback"]["state"] == "delivered").then_some(answer)
    })
    .await
    .expect("delivered after retries");
    let attempts = status["callback"]["attempts"].as_array().unwrap();
    let codes: Vec<_> = attempts.iter().map(|a| a["status_code"].as_u64().unwrap()).collect();
    assert_eq!(codes, [503, 503, 200]);
    assert_eq!(attempts[0]["error"], "receiver answered 503");
    let times: Vec<chrono::DateTime<chrono::Utc>> =
        attempts.iter().map(|a| a["attempted_at"].as_str().unwrap().parse().unwrap()).collect();
    let first_gap = times[1] - times[0];
    let second_gap = times[2] - times[1];
    assert!(first_gap >= chrono::Duration::milliseconds(50), "backoff waited {first_gap}");
    assert!(second_gap >= chrono::Duration::milliseconds(100), "backoff doubled: {second_gap}");
}

async fn deliveries_give_up_after_max_attempts(backend: Backend) {
    let gw = TestGateway::start_with(backend, |c| c.webhooks.max_attempts = 2).await;
    let f = gw.tenant_fixture().await;
    let receiver = MockServer::start().await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(500)).mount(&receiver).await;
    let body = json!({"intent": approve_intent(), "callback_url": format!("{}/down", receiver.uri())});
    let id = gw.post("/v1/intents:async", &f.live, &body).await.expect(202)["intent_id"]
        .as_str()
        .unwrap()
        .to_string();
    let status = eventually(Duration::from_secs(20), async || {
        let answer = gw.get(&format!("/v1/intents/{id}/decision"), &f.live).await.expect(200);
        (answer["callback"]["state"] == "failed").then_some(answer)
    })
    .await
    .expect("failed");
    assert_eq!(status["callback"]["attempts"].as_array().unwrap().len(), 2);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.received_requests().await.unwrap().len(), 2, "no attempt after giving up");
}

async fn async_idempotency_keys_replay_the_accepted_intent(backend: Backend) {
    let gw = TestGateway::start(backend).await;
    let f = gw.tenant_fixture().await;
    let send = |body: Value| {
        let request = gw
            .request(Method::POST, "/v1/intents:async")
            .bearer_auth(&f.live)
            .header("Idempotency-Key", "job-7")
            .json(&body);
        gw.send(request)
    };
    let body = json!({"intent": approve_intent()});
    let first = send(body.clone()).await.expect(202);
    let id = first["intent_id"].as_str().unwrap().to_string();
    wait_decided(&gw, &f.live, &id).await;
    let again = send(body).await.expect(202);
    assert_eq!(again["intent_id"], id.as_str());
    assert_eq!(again["status"], "decided");
    send(json!({"intent": block_intent()})).await.expect_error(409, "idempotency_conflict");
    // The same key on the synchronous route is a different request.
    let sync =
        gw.request(Method::POST, "/v1/intents").bearer_auth(&f.live).header("Idempotency-Key", "job-7");
    gw.send(sync.json(&json!({"intent": approve_intent()}))).await.expect_error(409, "idempotency_conflict");
    assert_eq!(gw.verify(&f.tenant).await["verified"], f.base + 1);
    let e = gw
        .post("/v1/intents:async", &f.live, &json!({"intent": approve_intent(), "callback_url": "ftp://x"}))
        .await
        .expect_error(400, "invalid_field");
    assert_eq!(e["path"], "$.callback_url");
}

/// Inserts a pending intent the way the accept path stores one, as if a
/// gateway had accepted it and stopped before deciding.
async fn insert_pending(gw: &TestGateway, tenant: &str, key_id: &str, n: usize) -> Vec<String> {
    let db = gw.db().await;
    let request = serde_json::to_string(&json!({"intent": approve_intent()})).unwrap();
    let mut ids = Vec::new();
    for i in 0..n {
        let id = format!("int_orphan{}{i}", uuid::Uuid::new_v4().simple());
        sqlx::query(
            "INSERT INTO intents (id, tenant_id, agent_id, credential, environment, action_type, verb, status, request, created_at)
             VALUES ($1, $2, 'agent-1', $3, 'live', 'access', 'read', 'pending', $4, $5)",
        )
        .bind(&id)
        .bind(tenant)
        .bind(key_id)
        .bind(&request)
        .bind(chrono::Utc::now().timestamp_micros())
        .execute(&db)
        .await
        .unwrap();
        ids.push(id);
    }
    ids
}

async fn live_key_id(gw: &TestGateway, tenant: &str) -> String {
    let keys = gw.get(&format!("/v1/admin/api-keys?tenant={tenant}"), ADMIN_KEY).await.expect(200);
    keys["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["environment"] == "live" && k["role"] == "agent")
        .map(|k| k["id"].as_str().unwrap().to_string())
        .unwrap()
}

async fn pending_intents_left_behind_are_resumed_once_by_any_gateway(backend: Backend) {
    let gw = TestGateway::start(backend).await;
    let f = gw.tenant_fixture().await;
    let second = gw.replica(backend, |_| {}).await;
    let key_id = live_key_id(&gw, &f.tenant).await;
    let ids = insert_pending(&gw, &f.tenant, &key_id, 12).await;
    for id in &ids {
        let answer = wait_decided(&second, &f.live, id).await;
        assert_eq!(answer["decision"]["verdict"], "approve");
    }
    let verified = gw.verify(&f.tenant).await;
    assert_eq!(verified["ok"], true, "{verified}");
    assert_eq!(verified["verified"], f.base + 12, "each pending intent decided exactly once");
}

async fn two_gateways_on_one_store_keep_one_chain(backend: Backend) {
    let gw = TestGateway::start(backend).await;
    let f = gw.tenant_fixture().await;
    let second = gw.replica(backend, |_| {}).await;
    let mut calls = Vec::new();
    for i in 0..40 {
        let target = if i % 2 == 0 { &gw } else { &second };
        calls.push(target.declare(&f.live, approve_intent()));
    }
    for answer in futures::future::join_all(calls).await {
        answer.expect(200);
    }
    let verified = second.verify(&f.tenant).await;
    assert_eq!(verified["ok"], true, "{verified}");
    assert_eq!(verified["verified"], f.base + 40);
}

crate::on_both_backends!(
    async_intents_are_decided_in_the_background,
    decisions_are_delivered_signed_to_the_callback,
    failed_deliveries_are_retried_with_backoff,
    deliveries_give_up_after_max_attempts,
    async_idempotency_keys_replay_the_accepted_intent,
    pending_intents_left_behind_are_resumed_once_by_any_gateway,
    two_gateways_on_one_store_keep_one_chain,
);
