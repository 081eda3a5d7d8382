//! The shared vectors of `conformance/vectors/` through the SDK's
//! functions: every token, webhook and audit export vector.

use std::path::PathBuf;

use lictor_client::lictor_offline::token::{self, CapabilityToken, Caveat};
use lictor_client::{
    Attenuation, TrustedCheckpoint, attenuate, parse_audit_keys, parse_token, verify_audit_export,
    verify_audit_export_trusting, verify_webhook_at,
};
use serde_json::{Value, json};

fn vectors(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../conformance/vectors").join(path)
}

fn json_file(path: &str) -> Value {
    let text = std::fs::read_to_string(vectors(path)).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn unb64(text: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text).unwrap()
}

/// Scope jti of every caveat: the jti in effect, a hop's own for a hop.
fn scopes(token: &CapabilityToken) -> Vec<String> {
    let mut current = token.header().jti.to_string();
    token
        .caveats()
        .iter()
        .map(|caveat| {
            if let Caveat::Hop { jti, .. } = caveat {
                current = jti.to_string();
            }
            current.clone()
        })
        .collect()
}

fn check_token(vector: &Value) -> Result<Value, String> {
    let secret = unb64(vector["secret"].as_str().unwrap());
    let root_key = token::derive_root_key(&secret);
    assert_eq!(root_key.to_vec(), unb64(vector["root_key"].as_str().unwrap()), "root key");
    let text = vector["token"].as_str().unwrap();
    let parsed = parse_token(text).map_err(|e| e.code().to_string())?;
    parsed.verify(&root_key).map_err(|e| e.code().to_string())?;
    let mut outcome = json!({
        "valid": true,
        "jti_chain": parsed.jti_chain(),
        "header": serde_json::to_value(parsed.header()).unwrap(),
        "caveats": serde_json::to_value(parsed.caveats()).unwrap(),
        "caveat_scopes": scopes(&parsed),
        "expires_at": parsed.expires_at(),
    });
    if let Some(now) = vector["now"].as_i64() {
        outcome["expired_at_now"] = json!(parsed.expires_at().is_some_and(|at| now >= at));
    }
    // Minting the header with the caveats reproduces the token.
    assert_eq!(
        token::mint(&root_key, parsed.header(), parsed.caveats()).unwrap(),
        text,
        "{}",
        vector["name"]
    );
    Ok(outcome)
}

#[test]
fn every_token_vector_parses_verifies_and_attenuates_as_expected() {
    let document = json_file("tokens/tokens.json");
    let all = document["vectors"].as_array().unwrap();
    assert!(all.len() >= 30, "only {} token vectors", all.len());
    for vector in all {
        let name = vector["name"].as_str().unwrap();
        let expect = &vector["expect"];
        match check_token(vector) {
            Ok(outcome) => assert_eq!(&outcome, expect, "{name}"),
            Err(code) => assert_eq!(json!({"valid": false, "error": code}), *expect, "{name}"),
        }
        if let Some(attenuation) = vector.get("attenuation") {
            let caveats: Vec<Caveat> = serde_json::from_value(attenuation["caveats"].clone()).unwrap();
            let request = Attenuation {
                jti: Some(attenuation["jti"].as_str().unwrap().to_string()),
                caveats,
                ..Attenuation::default()
            };
            let derived = attenuate(attenuation["parent"].as_str().unwrap(), &request).unwrap();
            assert_eq!(derived, vector["token"].as_str().unwrap(), "{name}");
        }
    }
}

#[test]
fn every_attenuation_field_becomes_its_caveat() {
    let document = json_file("tokens/tokens.json");
    let root =
        document["vectors"].as_array().unwrap().iter().find(|v| v["name"] == "root_no_caveats").unwrap();
    let request = Attenuation {
        jti: Some("tok_sdk".into()),
        tools: vec!["mail.*".into()],
        deny_tools: vec!["mail.delete_*".into()],
        servers: vec!["mail".into()],
        action_types: vec![lictor_client::types::ActionType::Access],
        max_calls: Some(3),
        max_usd: Some(12.345),
        rate_per_min: Some(10),
        expires_at: Some(1_900_000_000),
        expires_in: Some(std::time::Duration::from_secs(60)),
        audience: Some("https://gw.example".into()),
        caveats: vec![Caveat::StepUp { at: 1_800_000_000 }],
    };
    let derived = attenuate(root["token"].as_str().unwrap(), &request).unwrap();
    let parsed = parse_token(&derived).unwrap();
    let types: Vec<String> = serde_json::to_value(parsed.caveats())
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["type"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        types,
        [
            "hop",
            "expires",
            "expires",
            "tools",
            "servers",
            "action_types",
            "max_calls",
            "max_usd",
            "rate_per_min",
            "audience",
            "step_up"
        ]
    );
    // Dollars to the nearest cent, as the gateway mints them.
    assert!(parsed.caveats().contains(&Caveat::MaxUsd { cents: 1235 }));
    assert_eq!(parsed.jti(), "tok_sdk");
    // Still verifies under the minting secret: attenuation keeps the chain.
    let root_key = token::derive_root_key(&unb64(root["secret"].as_str().unwrap()));
    parsed.verify(&root_key).unwrap();
    // A bad jti is refused with the format's code.
    let bad = Attenuation { jti: Some("not a jti".into()), ..Attenuation::default() };
    let error = attenuate(root["token"].as_str().unwrap(), &bad).unwrap_err();
    assert!(error.to_string().contains("jti"), "{error}");
}

#[test]
fn every_webhook_vector_verifies_as_expected() {
    let document = json_file("webhooks/webhooks.json");
    let all = document["vectors"].as_array().unwrap();
    assert!(!all.is_empty());
    for vector in all {
        let result = verify_webhook_at(
            vector["secret"].as_str().unwrap(),
            vector["header"].as_str().unwrap(),
            vector["body"].as_str().unwrap().as_bytes(),
            vector["now"].as_i64().unwrap(),
            vector["tolerance_seconds"].as_i64().unwrap(),
        );
        assert_eq!(result.is_ok(), vector["valid"].as_bool().unwrap(), "{}", vector["name"]);
        assert_eq!(result.err().map(|e| e.code()), vector["error"].as_str(), "{}", vector["name"]);
    }
}

#[test]
fn every_audit_export_vector_verifies_as_expected() {
    let manifest = json_file("audit/manifest.json");
    for keys_file in [manifest["keys"].as_str().unwrap(), manifest["keys_document"].as_str().unwrap()] {
        let keys =
            parse_audit_keys(&std::fs::read_to_string(vectors("audit").join(keys_file)).unwrap()).unwrap();
        for vector in manifest["vectors"].as_array().unwrap() {
            let file = vector["file"].as_str().unwrap();
            let reader = std::fs::File::open(vectors("audit").join(file)).unwrap();
            let verified = match vector["trusted"].as_str() {
                Some(trusted) => {
                    let note = std::fs::read_to_string(vectors("audit").join(trusted)).unwrap();
                    let trusted = TrustedCheckpoint::open(&note, &keys).unwrap();
                    verify_audit_export_trusting(reader, &keys, &trusted)
                }
                None => verify_audit_export(reader, &keys),
            };
            let outcome = match verified {
                Ok(report) => json!({
                    "valid": true,
                    "tenant": report.tenant.as_str(),
                    "origin": report.origin,
                    "entries": report.entries,
                    "root_hash": report.root_hash,
                    "checkpoint_time": report.checkpoint_time,
                    "key_name": report.key_name,
                    "checkpoints": report.checkpoints,
                }),
                Err(failure) => json!({"valid": false, "reason": failure.reason.code(), "seq": failure.seq}),
            };
            assert_eq!(outcome, vector["expect"], "{file} with {keys_file}");
        }
    }
}
