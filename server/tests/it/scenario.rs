//! The shared decision scenario (`conformance/vectors/scenarios/`) against
//! the gateway itself: the reference every SDK's run must match.

use serde_json::{Value, json};

use crate::support::{Backend, TestGateway};

/// The scenario document.
pub(crate) fn scenario() -> Value {
    scenario_named("decisions.json")
}

/// A scenario of `conformance/vectors/scenarios/`.
pub(crate) fn scenario_named(name: &str) -> Value {
    let path = format!("{}/../conformance/vectors/scenarios/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

async fn the_shared_scenario_gives_its_decisions(backend: Backend) {
    let gw = TestGateway::start(backend).await;
    let f = gw.tenant_fixture().await;
    assert!(scenario()["steps"].as_array().unwrap().len() >= 8);
    for doc in [scenario(), scenario_named("published.json")] {
        gw.post("/v1/agents", &f.admin, &doc["agent"]).await.expect(201);
        let steps = doc["steps"].as_array().unwrap();
        for step in steps {
            let decision = gw.declare(&f.live, step["intent"].clone()).await.expect(200);
            let want = &step["want"];
            let reasons: Vec<&str> =
                decision["reasons"].as_array().unwrap().iter().map(|r| r["code"].as_str().unwrap()).collect();
            assert_eq!(decision["verdict"], want["verdict"], "{}: {decision}", step["name"]);
            assert_eq!(json!(reasons), want["reasons"], "{}: {decision}", step["name"]);
            if let Some(content) = want.get("modified_content") {
                assert_eq!(
                    &decision["modifications"]["modified_payload"]["content"], content,
                    "{}",
                    step["name"]
                );
            }
        }
    }
}

crate::on_both_backends!(the_shared_scenario_gives_its_decisions);
