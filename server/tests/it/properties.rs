//! Property tests over generated intents.
//!
//! Invariant: any schema-valid intent gets exactly one verdict with HTTP
//! 200, and outside `test` exactly one audit entry, after which the chain
//! still verifies. Failing cases are shrunk and their seeds persisted in
//! `proptest-regressions/`.

use proptest::prelude::*;
use serde_json::{Value, json};

use crate::support::{Backend, TestGateway};

fn action_type() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "communicate",
        "transact",
        "access",
        "control",
        "publish",
        "recommend",
        "modify",
    ])
}

fn verb() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec!["send", "delete", "Drop", "purge_all", "transfer", "read", "post", "wipe"])
            .prop_map(str::to_string),
        "[a-zA-Z][a-zA-Z0-9_.:-]{0,20}",
    ]
}

fn impact() -> impl Strategy<Value = Value> {
    (
        prop::option::of(any::<bool>()),
        prop::option::of(prop_oneof![0.0..100.0f64, 0.0..50_000.0f64, Just(10_000.0), Just(1_000.0)]),
        prop::option::of(prop_oneof![0u64..10, 0u64..100_000, Just(1_001), Just(10_001)]),
        prop::option::of(prop::collection::vec(
            prop::sample::select(vec!["gdpr", "HIPAA", "pci", "sox"]),
            0..4,
        )),
    )
        .prop_map(|(reversible, usd, audience, domains)| {
            let mut v = json!({});
            if let Some(r) = reversible {
                v["reversible"] = json!(r);
            }
            if let Some(u) = usd {
                v["financial_exposure_usd"] = json!(u);
            }
            if let Some(a) = audience {
                v["audience_size"] = json!(a);
            }
            if let Some(d) = domains {
                v["regulatory_domains"] = json!(d);
            }
            v
        })
}

fn content() -> impl Strategy<Value = String> {
    prop_oneof![
        "[ -~]{0,80}",
        Just("card 4111 1111 1111 1111".to_string()),
        Just("ssn 123-45-6789, card 5500-0000-0000-0004".to_string()),
        Just("écrit à ünïcødé 😀".to_string()),
    ]
}

fn intent() -> impl Strategy<Value = Value> {
    (
        action_type(),
        verb(),
        prop::option::of((
            "[a-z]{1,12}",
            "[a-zA-Z0-9@./:-][ -~]{0,39}",
            prop::option::of(prop::sample::select(vec!["public", "internal", "confidential", "restricted"])),
        )),
        prop::option::of((
            prop::option::of("[ -~]{1,40}"),
            prop::option::of(content()),
            prop::option::of(impact()),
        )),
        prop::option::of(prop::collection::btree_map("[a-z]{1,8}", "[a-z0-9]{0,8}", 0..3)),
    )
        .prop_map(|(action_type, verb, target, payload, context)| {
            let mut action = json!({"type": action_type, "verb": verb});
            if let Some((kind, identifier, sensitivity)) = target {
                action["target"] = json!({"type": kind, "identifier": identifier});
                if let Some(s) = sensitivity {
                    action["target"]["sensitivity"] = json!(s);
                }
            }
            if let Some((summary, content, impact)) = payload {
                let mut p = json!({});
                if let Some(s) = summary {
                    p["summary"] = json!(s);
                }
                if let Some(c) = content {
                    p["content"] = json!(c);
                }
                if let Some(i) = impact {
                    p["estimated_impact"] = i;
                }
                action["payload"] = p;
            }
            let mut body = json!({"intent": {"agent": {"id": "agent-1"}, "action": action}});
            if let Some(context) = context {
                body["context"] = json!(context);
            }
            body
        })
}

fn environment() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec!["live", "shadow", "test"])
}

fn run(backend: Backend) {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let (gw, f) = runtime.block_on(async {
        let gw = TestGateway::start(backend).await;
        let f = gw.tenant_fixture().await;
        (gw, f)
    });
    let config = ProptestConfig { cases: 40, ..ProptestConfig::default() };
    proptest!(config, |(body in intent(), environment in environment())| {
        let key = match environment { "live" => &f.live, "shadow" => &f.shadow, _ => &f.test };
        let before = runtime.block_on(gw.verify(&f.tenant))["verified"].as_u64().unwrap_or_default();
        let decision = runtime.block_on(gw.post("/v1/intents", key, &body));
        prop_assert_eq!(decision.status.as_u16(), 200, "body {} answered {}", body, decision.body);
        let d = decision.body;
        let verdict = d["verdict"].as_str().unwrap_or_default();
        prop_assert!(["approve", "approve_modified", "escalate", "block"].contains(&verdict), "{}", d);
        prop_assert_eq!(d["stages"].as_array().map(Vec::len), Some(9));
        if environment == "shadow" {
            prop_assert_eq!(verdict, "approve");
            prop_assert_eq!(&d["enforced"], &json!(false));
            prop_assert!(d["would_be_verdict"].is_string());
        }
        let audited = if environment == "test" { before } else { before + 1 };
        if environment == "test" {
            prop_assert!(d.get("audit").is_none());
        } else {
            prop_assert_eq!(d["audit"]["seq"].as_u64(), Some(audited));
            let trail = runtime.block_on(gw.get(&format!("/v1/intents/{}/audit", d["intent_id"].as_str().unwrap_or_default()), &f.admin)).expect(200);
            prop_assert_eq!(trail["items"].as_array().map(Vec::len), Some(1));
            prop_assert_eq!(&trail["items"][0]["hash"], &d["audit"]["hash"]);
        }
        if verdict == "approve_modified" {
            let content = d["modifications"]["modified_payload"]["content"].as_str().unwrap_or_default();
            prop_assert!(!content.contains("4111 1111 1111 1111") && !content.contains("123-45-6789"), "{}", content);
        }
        let verified = runtime.block_on(gw.verify(&f.tenant));
        prop_assert_eq!(&verified["ok"], &json!(true), "{}", verified);
        prop_assert_eq!(verified["verified"].as_u64(), Some(audited));
    });
}

#[test]
fn sqlite_any_valid_intent_gets_one_verdict_and_a_verifiable_entry() {
    run(Backend::Sqlite);
}

#[test]
fn postgres_any_valid_intent_gets_one_verdict_and_a_verifiable_entry() {
    run(Backend::Postgres);
}
