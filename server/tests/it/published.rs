//! Clients written to the published Intent Declaration API: its example
//! request, structured `payload.content`, the suggested alternatives of a
//! block, and its async and batch paths.

use serde_json::{Value, json};

use crate::support::{Backend, TestGateway, block_intent, intent};

/// The example request of the published Intent Declaration API, as it is
/// written there (agent `customer_service_bot_v2`, object content).
pub fn published_example() -> Value {
    json!({
        "intent": {
            "agent": {"id": "customer_service_bot_v2"},
            "action": {
                "type": "communicate",
                "verb": "send_email",
                "target": {"type": "person", "identifier": "customer@example.com", "sensitivity": "confidential"},
                "payload": {
                    "summary": "Send loan rate quote with APR disclosure",
                    "content": {
                        "recipient": "customer@example.com",
                        "channel": "email",
                        "message_body": "..."
                    },
                    "estimated_impact": {
                        "reversible": true,
                        "financial_exposure_usd": 0,
                        "audience_size": 1,
                        "regulatory_domains": ["TILA"]
                    }
                }
            }
        }
    })
}

async fn the_published_example_answers_a_decision(backend: Backend) {
    let gw = TestGateway::start(backend).await;
    let f = gw.tenant_fixture().await;
    gw.create_agent(&f.admin, "customer_service_bot_v2", None).await;

    let decision = gw.post("/v1/intents", &f.live, &published_example()).await.expect(200);
    assert_eq!(decision["verdict"], "approve", "{decision}");
    assert_eq!(decision["agent_id"], "customer_service_bot_v2");
    assert!(decision["audit"]["seq"].as_u64().is_some(), "{decision}");

    // The content is recorded as sent: the audit payload holds the object.
    let entries = gw
        .get(&format!("/v1/intents/{}/audit", decision["intent_id"].as_str().unwrap()), &f.admin)
        .await
        .expect(200);
    let digest = entries["items"][0]["payload_digest"].as_str().unwrap().to_string();
    let payload = gw.get(&format!("/v1/admin/audit/payloads/{digest}"), &f.admin).await.expect(200);
    assert_eq!(payload["body"]["content"]["message_body"], "...", "{payload}");
    assert_eq!(payload["body"]["content"]["channel"], "email", "{payload}");
    assert!(gw.verify(&f.tenant).await["ok"].as_bool().unwrap_or_default());
}

async fn object_content_is_redacted_by_pointer(backend: Backend) {
    let gw = TestGateway::start(backend).await;
    let f = gw.tenant_fixture().await;
    let content = json!({
        "recipient": "customer@example.com",
        "channel": "email",
        "message_body": "we charged your card 4111 1111 1111 1111",
        "lines": ["hello", {"note": "ssn 123-45-6789"}, 42, true, null],
    });
    let modified = gw
        .declare(
            &f.live,
            intent(json!({"type": "communicate", "verb": "send_email", "payload": {"content": content}})),
        )
        .await
        .expect(200);
    assert_eq!(modified["verdict"], "approve_modified", "{modified}");
    assert_eq!(
        modified["modifications"]["patch"],
        json!([
            {"op": "replace", "path": "/content/lines/1/note", "value": "ssn [REDACTED SSN]"},
            {"op": "replace", "path": "/content/message_body", "value": "we charged your card [REDACTED CARD]"},
        ])
    );
    let patched = &modified["modifications"]["modified_payload"]["content"];
    assert_eq!(patched["recipient"], "customer@example.com");
    assert_eq!(patched["lines"], json!(["hello", {"note": "ssn [REDACTED SSN]"}, 42, true, null]));

    // String content works as it always did.
    let text = gw
        .declare(
            &f.live,
            intent(json!({"type": "communicate", "verb": "send", "payload": {"content": "ssn 123-45-6789"}})),
        )
        .await
        .expect(200);
    assert_eq!(text["modifications"]["modified_payload"]["content"], "ssn [REDACTED SSN]");

    // Every JSON type is content; `null` is as if it were absent.
    for value in [json!(7), json!(false), json!([1, 2]), json!(null), json!({})] {
        let answer = gw
            .declare(
                &f.live,
                intent(json!({"type": "communicate", "verb": "send", "payload": {"content": value}})),
            )
            .await
            .expect(200);
        assert_eq!(answer["verdict"], "approve", "{value}: {answer}");
    }

    // A dry-run replays the recorded structured content exactly: the
    // active bundle changes none of its own decisions.
    let replay = gw
        .post(
            "/v1/admin/policies/dry-run",
            &f.admin,
            &json!({"modules": {"lictor.rego": include_str!("../../../policies/default/lictor.rego")}, "history": {}}),
        )
        .await
        .expect(200);
    assert_eq!(replay["history"]["changed"], 0, "{replay}");
    assert!(replay["history"]["replayed"].as_u64().unwrap() >= 7, "{replay}");

    // The existing bounds still hold: content past the depth limit is a
    // typed error naming where.
    let mut deep = json!("x");
    for _ in 0..200 {
        deep = json!([deep]);
    }
    let refused = gw
        .declare(
            &f.live,
            intent(json!({"type": "communicate", "verb": "send", "payload": {"content": deep}})),
        )
        .await;
    assert_eq!(refused.status, 400, "{:?}", refused.body);
    assert!(refused.body["error_code"].as_str().is_some(), "{:?}", refused.body);
}

async fn a_block_suggests_alternatives(backend: Backend) {
    let gw = TestGateway::start(backend).await;
    let f = gw.tenant_fixture().await;
    let blocked = gw.declare(&f.live, block_intent()).await.expect(200);
    assert_eq!(blocked["verdict"], "block");
    let alternatives = blocked["alternatives"].as_array().unwrap_or_else(|| panic!("{blocked}"));
    let codes: Vec<&str> = alternatives.iter().filter_map(|a| a["code"].as_str()).collect();
    assert_eq!(codes, ["split_below_limit", "hand_to_human"], "{blocked}");
    let split = alternatives.iter().find(|a| a["code"] == "split_below_limit").unwrap();
    assert_eq!(
        split["action"],
        json!({"payload": {"estimated_impact": {"financial_exposure_usd": 10000.0}}})
    );
    assert!(split["description"].as_str().unwrap().contains("3 transactions"), "{split}");

    // The suggested action, merged into the declared one (RFC 7396),
    // passes the rule that blocked it.
    let mut action = block_intent()["action"].clone();
    json_merge(&mut action, &split["action"]);
    let retried = gw.declare(&f.live, intent(action)).await.expect(200);
    assert_eq!(retried["verdict"], "approve", "{retried}");
    assert!(retried.get("alternatives").is_none(), "{retried}");

    // A tenant's own Rego returns its own; malformed ones fail closed.
    let own = r#"package lictor
import rego.v1
decision := {
    "verdict": "block",
    "reasons": [{"code": "after_hours", "message": "payments wait for business hours"}],
    "alternatives": [{
        "code": "schedule",
        "description": "schedule it for 09:00 tomorrow",
        "action": {"verb": "schedule_transfer"},
    }, {"description": "ask the treasury desk", "requires": "human", "role": "treasury desk"}],
}"#;
    let input = json!({"intent": block_intent()});
    let dry = gw
        .post(
            "/v1/admin/policies/dry-run",
            &f.admin,
            &json!({"modules": {"own.rego": own}, "inputs": [input]}),
        )
        .await
        .expect(200);
    let suggested = &dry["inputs"][0]["alternatives"];
    assert_eq!(suggested[0]["action"], json!({"verb": "schedule_transfer"}), "{dry}");
    assert_eq!(suggested[1]["requires"], "human", "{dry}");
    assert_eq!(suggested[1]["role"], "treasury desk", "{dry}");
    let malformed = r#"package lictor
import rego.v1
decision := {"verdict": "block", "alternatives": [{"description": "x", "requires": "prayer"}]}"#;
    let dry = gw
        .post(
            "/v1/admin/policies/dry-run",
            &f.admin,
            &json!({"modules": {"own.rego": malformed}, "inputs": [input]}),
        )
        .await
        .expect(200);
    assert_eq!(dry["inputs"][0]["verdict"], "block", "{dry}");
    assert_eq!(dry["inputs"][0]["error"]["code"], "policy_malformed_output", "{dry}");
}

/// RFC 7396 merge patch.
fn json_merge(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(target), Value::Object(patch)) => {
            for (key, value) in patch {
                if value.is_null() {
                    target.remove(key);
                } else {
                    json_merge(target.entry(key.clone()).or_insert(Value::Null), value);
                }
            }
        }
        (target, patch) => *target = patch.clone(),
    }
}

async fn the_published_async_and_batch_paths_are_served(backend: Backend) {
    let gw = TestGateway::start(backend).await;
    let f = gw.tenant_fixture().await;
    gw.create_agent(&f.admin, "customer_service_bot_v2", None).await;
    for path in ["/v1/intents/async", "/v1/intents:async"] {
        let accepted = gw.post(path, &f.live, &published_example()).await.expect(202);
        assert_eq!(accepted["status"], "pending", "{path}: {accepted}");
    }
    for path in ["/v1/intents/batch", "/v1/intents:batch"] {
        let body = json!({"intents": [published_example(), {"intent": block_intent()}]});
        let answer = gw.post(path, &f.live, &body).await.expect(200);
        assert_eq!(answer["results"][0]["decision"]["verdict"], "approve", "{path}: {answer}");
        assert_eq!(answer["results"][1]["decision"]["verdict"], "block", "{path}: {answer}");
    }
}

crate::on_both_backends!(
    the_published_example_answers_a_decision,
    object_content_is_redacted_by_pointer,
    a_block_suggests_alternatives,
    the_published_async_and_batch_paths_are_served,
);
