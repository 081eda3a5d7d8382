//! The shared decision scenario (`conformance/vectors/scenarios/`): the same
//! steps give the same decisions in every SDK and in the gateway's tests.

use lictor_client::types;
use serde_json::Value;

use crate::support::{Live, Tenant, register_agent};

fn scenario(name: &str) -> Value {
    let path = format!("{}/../conformance/vectors/scenarios/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shared_scenario_gives_its_decisions() {
    let scenario = scenario("decisions.json");
    let live = Live::start().await;
    let t = live.tenant("scenario").await;
    assert_eq!(scenario["agent"]["id"], t.agent_id.as_str(), "the tenant registers the scenario's agent");
    let steps = scenario["steps"].as_array().unwrap();
    assert!(steps.len() >= 8);
    run_steps(&t, steps).await;
}

/// The published Intent Declaration API's example request, typed through
/// the SDK's models (`content` is a JSON value), answers a Decision.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_published_example_answers_a_decision() {
    let scenario = scenario("published.json");
    let live = Live::start().await;
    let t = live.tenant("published").await;
    let agent = scenario["agent"]["id"].as_str().unwrap();
    register_agent(&t.admin, agent, None).await;
    let steps = scenario["steps"].as_array().unwrap();
    let example: types::Intent = serde_json::from_value(steps[0]["intent"].clone()).unwrap();
    let content = example.action.payload.as_ref().and_then(|p| p.content.clone()).unwrap();
    assert_eq!(content["message_body"], "...");
    run_steps(&t, steps).await;
}

async fn run_steps(t: &Tenant, steps: &[Value]) {
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
            assert_eq!(got.as_ref(), Some(content), "{name}");
        }
    }
}
