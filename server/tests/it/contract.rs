//! The server honours the checked-in contract.

use reqwest::Method;
use serde_json::Value;

use crate::support::{Backend, TestGateway};

fn spec() -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../openapi/lictor.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

#[test]
fn the_server_emits_the_checked_in_spec() {
    let api = lictor_api::lictor_api_mod::api_description::<lictor_server::http::LictorImpl>().unwrap();
    let emitted = lictor_api::render_openapi(&api).unwrap();
    assert!(
        emitted == spec(),
        "the server's API differs from openapi/lictor.json: run `cargo xtask openapi` and commit the result"
    );
}

/// Every operation outside `system` answers 401 with the typed body when
/// called without credentials, whatever its parameters.
async fn every_protected_operation_requires_credentials(backend: Backend) {
    let gw = TestGateway::start(backend).await;
    let spec = spec();
    let mut checked = 0;
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let public = operation["security"].as_array().is_some_and(Vec::is_empty);
            let concrete = path
                .replace("{tenant_id}", "acme")
                .replace("{key_id}", "key_x")
                .replace("{agent_id}", "agent-1")
                .replace("{intent_id}", "int_x");
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let answer = gw.call(method.clone(), &concrete, None, None).await;
            if public {
                assert_eq!(answer.status.as_u16(), 200, "{method} {path}");
            } else {
                answer.expect_error(401, "unauthenticated");
                checked += 1;
            }
        }
    }
    assert!(checked >= 18, "checked {checked} operations");
}

crate::on_both_backends!(every_protected_operation_requires_credentials);
