use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{Backend, TestGateway, approve_intent};

async fn entries(gw: &TestGateway, tenant: &str) -> u64 {
    gw.verify(tenant).await["verified"].as_u64().unwrap()
}

fn redacted(error: &Value) -> Value {
    let mut e = error.clone();
    e["request_id"] = json!("[request_id]");
    e
}

async fn bad_input_gets_typed_errors_and_leaves_no_trace(backend: Backend) {
    let gw = TestGateway::start_with(backend, |c| c.max_body_bytes = 4096).await;
    let f = gw.tenant_fixture().await;
    let raw = |body: &'static str| {
        gw.request(Method::POST, "/v1/intents")
            .bearer_auth(&f.live)
            .header("content-type", "application/json")
            .body(body)
    };

    let e = gw.send(raw("{\"intent\": ")).await.expect_error(400, "malformed_json");
    assert_eq!(e["path"], "$.intent");
    insta::assert_json_snapshot!("error_malformed_json", redacted(&e));
    // Between two members: the object holding them, never an unknown step.
    let e = gw
        .send(raw("{\"intent\": {\"agent\": {\"id\": \"x\"} \"action\": {}}}"))
        .await
        .expect_error(400, "malformed_json");
    assert_eq!(e["path"], "$.intent");
    assert!(e["message"].as_str().unwrap().starts_with("malformed json at line 1 column 34: "), "{e}");
    // Not JSON at all, even though its first member has the wrong type.
    gw.send(raw("{\"intent\": 1, \"context\": ")).await.expect_error(400, "malformed_json");

    let e = gw.send(raw("")).await.expect_error(400, "malformed_json");
    assert_eq!(e["message"], "request body is empty");

    let mut wrong_type = approve_intent();
    wrong_type["action"]["verb"] = json!(42);
    let e = gw.declare(&f.live, wrong_type).await.expect_error(400, "invalid_field");
    assert_eq!(e["path"], "$.intent.action.verb");

    let mut unknown_type = approve_intent();
    unknown_type["action"]["type"] = json!("teleport");
    let e = gw.declare(&f.live, unknown_type).await.expect_error(400, "invalid_field");
    assert_eq!(e["path"], "$.intent.action.type");
    assert!(e["message"].as_str().unwrap().contains("`teleport`"));
    insta::assert_json_snapshot!("error_unknown_action_type", redacted(&e));

    let e = gw
        .post("/v1/intents", &f.live, &json!({"intent": {"action": {"type": "access", "verb": "read"}}}))
        .await;
    let e = e.expect_error(400, "missing_field");
    assert_eq!(e["path"], "$.intent.agent");
    insta::assert_json_snapshot!("error_missing_agent", redacted(&e));

    let mut extra = approve_intent();
    extra["action"]["colour"] = json!("red");
    let e = gw.declare(&f.live, extra).await.expect_error(400, "unknown_field");
    assert_eq!(e["path"], "$.intent.action.colour");

    let mut negative = approve_intent();
    negative["action"]["payload"] = json!({"estimated_impact": {"financial_exposure_usd": -5}});
    let e = gw.declare(&f.live, negative).await.expect_error(400, "invalid_field");
    assert_eq!(e["path"], "$.intent.action.payload.estimated_impact.financial_exposure_usd");

    let mut bad_agent = approve_intent();
    bad_agent["agent"]["id"] = json!("has spaces");
    let e = gw.declare(&f.live, bad_agent).await.expect_error(400, "invalid_field");
    assert_eq!(e["path"], "$.intent.agent.id");

    let mut big = approve_intent();
    big["action"]["payload"] = json!({"content": "x".repeat(5000)});
    let e = gw.declare(&f.live, big).await.expect_error(413, "body_too_large");
    insta::assert_json_snapshot!("error_body_too_large", redacted(&e));
    // Chunked, with no length declared: the limit holds while reading.
    let chunks = (0..10).map(|_| Ok::<_, std::io::Error>(bytes::Bytes::from(vec![b' '; 1000])));
    let streamed = gw
        .request(Method::POST, "/v1/intents")
        .bearer_auth(&f.live)
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)));
    gw.send(streamed).await.expect_error(413, "body_too_large");

    let form = gw
        .request(Method::POST, "/v1/intents")
        .bearer_auth(&f.live)
        .header("content-type", "text/plain")
        .body("hi");
    gw.send(form).await.expect_error(415, "unsupported_media_type");
    // JSON without saying so is not taken for JSON either.
    let unlabelled = gw
        .request(Method::POST, "/v1/intents")
        .bearer_auth(&f.live)
        .body(serde_json::to_vec(&serde_json::json!({"intent": approve_intent()})).unwrap());
    let refused = gw.send(unlabelled).await.expect_error(415, "unsupported_media_type");
    assert_eq!(refused["parameter"], "content-type", "{refused}");

    // Admin keys do not declare intents.
    gw.declare(&f.admin, approve_intent()).await.expect_error(403, "forbidden");

    assert_eq!(entries(&gw, &f.tenant).await, f.base, "rejected requests write no audit entry");
    let listed = gw.get("/v1/intents", &f.admin).await.expect(200);
    assert_eq!(listed["items"], json!([]), "rejected requests record no intent");
}

async fn error_bodies_share_one_shape(backend: Backend) {
    let gw = TestGateway::start(backend).await;
    let unauthenticated =
        gw.call(Method::GET, "/v1/agents", None, None).await.expect_error(401, "unauthenticated");
    insta::assert_json_snapshot!("error_unauthenticated", redacted(&unauthenticated));
    let f = gw.tenant_fixture().await;
    let not_found = gw.get("/v1/agents/ghost", &f.admin).await.expect_error(404, "not_found");
    insta::assert_json_snapshot!("error_not_found", redacted(&not_found));
    let forbidden = gw.get("/v1/agents", &f.live).await.expect_error(403, "forbidden");
    insta::assert_json_snapshot!("error_forbidden", redacted(&forbidden));
}

/// An array where the contract says object is refused at its path, at any
/// depth: never read field by field in order.
async fn arrays_are_not_objects(backend: Backend) {
    let gw = TestGateway::start(backend).await;
    let f = gw.tenant_fixture().await;
    let e = gw.post("/v1/admin/tenants", crate::support::ADMIN_KEY, &json!(["t-array", "T"])).await;
    assert_eq!(e.expect_error(400, "invalid_field")["path"], "$");
    gw.get("/v1/admin/tenants/t-array", crate::support::ADMIN_KEY).await.expect_error(404, "not_found");
    let e =
        gw.post("/v1/intents", &f.live, &json!({"intent": [{"id": "agent-1"}, ["access", "read"]]})).await;
    assert_eq!(e.expect_error(400, "invalid_field")["path"], "$.intent");
    let mut nested = approve_intent();
    nested["action"] = json!(["access", "read"]);
    let e = gw.declare(&f.live, nested).await;
    assert_eq!(e.expect_error(400, "invalid_field")["path"], "$.intent.action");
    let batch = json!({"intents": [{"intent": {"agent": ["agent-1"], "action": {"type": "access", "verb": "read"}}}]});
    let answer = gw.post("/v1/intents:batch", &f.live, &batch).await.expect(200);
    assert_eq!(answer["results"][0]["error"]["path"], "$.intents[0].intent.agent", "{answer}");
    assert_eq!(entries(&gw, &f.tenant).await, f.base, "nothing was decided or audited");
}

crate::on_both_backends!(
    bad_input_gets_typed_errors_and_leaves_no_trace,
    error_bodies_share_one_shape,
    arrays_are_not_objects
);
