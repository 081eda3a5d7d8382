//! The shared decision scenario (`conformance/vectors/scenarios/`): the same
//! steps give the same decisions in every SDK and in the gateway's tests.

use lictor_client::types;
use serde_json::Value;

use crate::support::Live;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shared_scenario_gives_its_decisions() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../conformance/vectors/scenarios/decisions.json");
    let scenario: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let live = Live::start().await;
    let t = live.tenant("scenario").await;
    assert_eq!(scenario["agent"]["id"], t.agent_id.as_str(), "the tenant registers the scenario's agent");
    let steps = scenario["steps"].as_array().unwrap();
    assert!(steps.len() >= 8);
    for step in steps {
        let name = step["name"].as_str().unwrap();
        let intent: types::Intent = serde_json::from_value(step["intent"].clone()).unwrap();
        let decision = t.agent.declare_intent(intent).await.unwrap();
        let want = &step["want"];
        assert_eq!(serde_json::to_value(decision.verdict).unwrap(), want["verdict"], "{name}");
        let codes: Vec<&str> = decision.reasons.iter().map(|r| r.code.as_str()).collect();
        assert_eq!(serde_json::to_value(&codes).unwrap(), want["reasons"], "{name}");
        if let Some(content) = want.get("modified_content") {
            let got = decision.modifications.as_ref().and_then(|m| m.modified_payload.content.clone());
            assert_eq!(got.as_deref(), content.as_str(), "{name}");
        }
    }
}
