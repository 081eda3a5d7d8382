//! The shared vectors of `conformance/vectors/`, run by the suite itself:
//! before the suite judges a deployment's tokens, webhook signatures and
//! audit exports, its own verifiers must give every vector's expected
//! answer (the same vectors every SDK and the gateway's tests run).

use lictor_client::lictor_offline::token::{self, Caveat};
use lictor_client::{
    Attenuation, TrustedCheckpoint, attenuate, parse_audit_keys, parse_token, verify_audit_export,
    verify_audit_export_trusting, verify_webhook_at,
};
use serde_json::{Value, json};

use crate::{Case, CaseFuture, Context, Failure, Group, check, failed};

const TOKENS: &str = include_str!("../../vectors/tokens/tokens.json");
const WEBHOOKS: &str = include_str!("../../vectors/webhooks/webhooks.json");
const AUDIT_MANIFEST: &str = include_str!("../../vectors/audit/manifest.json");
const AUDIT_FILES: &[(&str, &str)] = &[
    ("appended_entry.ndjson", include_str!("../../vectors/audit/appended_entry.ndjson")),
    ("bad_proof.ndjson", include_str!("../../vectors/audit/bad_proof.ndjson")),
    ("deleted_entry.csv", include_str!("../../vectors/audit/deleted_entry.csv")),
    ("deleted_entry.ndjson", include_str!("../../vectors/audit/deleted_entry.ndjson")),
    ("edited_field.csv", include_str!("../../vectors/audit/edited_field.csv")),
    ("edited_field.ndjson", include_str!("../../vectors/audit/edited_field.ndjson")),
    ("edited_person.csv", include_str!("../../vectors/audit/edited_person.csv")),
    ("edited_person.ndjson", include_str!("../../vectors/audit/edited_person.ndjson")),
    ("edited_rechained.ndjson", include_str!("../../vectors/audit/edited_rechained.ndjson")),
    ("edited_rehashed.ndjson", include_str!("../../vectors/audit/edited_rehashed.ndjson")),
    ("edited_root.csv", include_str!("../../vectors/audit/edited_root.csv")),
    ("edited_root.ndjson", include_str!("../../vectors/audit/edited_root.ndjson")),
    ("empty.csv", include_str!("../../vectors/audit/empty.csv")),
    ("empty.ndjson", include_str!("../../vectors/audit/empty.ndjson")),
    ("foreign_entry.ndjson", include_str!("../../vectors/audit/foreign_entry.ndjson")),
    ("forked.ndjson", include_str!("../../vectors/audit/forked.ndjson")),
    ("inserted_entry.ndjson", include_str!("../../vectors/audit/inserted_entry.ndjson")),
    ("key.txt", include_str!("../../vectors/audit/key.txt")),
    ("keys.json", include_str!("../../vectors/audit/keys.json")),
    ("missing_null_field.ndjson", include_str!("../../vectors/audit/missing_null_field.ndjson")),
    ("no_checkpoint.ndjson", include_str!("../../vectors/audit/no_checkpoint.ndjson")),
    ("no_closing_checkpoint.ndjson", include_str!("../../vectors/audit/no_closing_checkpoint.ndjson")),
    ("other_key.ndjson", include_str!("../../vectors/audit/other_key.ndjson")),
    ("other_tenant_checkpoint.ndjson", include_str!("../../vectors/audit/other_tenant_checkpoint.ndjson")),
    ("person.csv", include_str!("../../vectors/audit/person.csv")),
    ("person.ndjson", include_str!("../../vectors/audit/person.ndjson")),
    ("person_null_field.ndjson", include_str!("../../vectors/audit/person_null_field.ndjson")),
    ("reordered.ndjson", include_str!("../../vectors/audit/reordered.ndjson")),
    ("rewritten_history.ndjson", include_str!("../../vectors/audit/rewritten_history.ndjson")),
    ("rewritten_resigned.ndjson", include_str!("../../vectors/audit/rewritten_resigned.ndjson")),
    ("rolled_back.ndjson", include_str!("../../vectors/audit/rolled_back.ndjson")),
    ("short_timestamp.ndjson", include_str!("../../vectors/audit/short_timestamp.ndjson")),
    ("truncated.csv", include_str!("../../vectors/audit/truncated.csv")),
    ("truncated.ndjson", include_str!("../../vectors/audit/truncated.ndjson")),
    ("trusted_checkpoint.txt", include_str!("../../vectors/audit/trusted_checkpoint.txt")),
    ("valid.csv", include_str!("../../vectors/audit/valid.csv")),
    ("valid.ndjson", include_str!("../../vectors/audit/valid.ndjson")),
    ("version_1.ndjson", include_str!("../../vectors/audit/version_1.ndjson")),
];

pub(super) fn cases() -> Vec<Case> {
    vec![
        Case {
            id: "tokens.shared_vectors",
            group: Group::Tokens,
            title: "every token vector parses, verifies, re-mints and attenuates as expected",
            disruptive: false,
            operations: &[],
            run: token_vectors,
        },
        Case {
            id: "intents.shared_webhook_vectors",
            group: Group::Intents,
            title: "every webhook signature vector verifies or fails as expected",
            disruptive: false,
            operations: &[],
            run: webhook_vectors,
        },
        Case {
            id: "audit.shared_export_vectors",
            group: Group::Audit,
            title: "every audit export vector (valid and tampered) verifies or fails as expected, with both key forms",
            disruptive: false,
            operations: &[],
            run: audit_vectors,
        },
    ]
}

fn parse(what: &str, text: &str) -> Result<Value, Failure> {
    serde_json::from_str(text).map_err(|e| failed(what, e, None))
}

fn unb64(text: &str) -> Result<Vec<u8>, Failure> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|e| failed("a vector's base64", e, None))
}

/// What the vector's token gives: its parsed contents, or the error code.
fn token_outcome(vector: &Value) -> Result<Value, Failure> {
    let root_key = token::derive_root_key(&unb64(vector["secret"].as_str().unwrap_or_default())?);
    let text = vector["token"].as_str().unwrap_or_default();
    let parsed = match parse_token(text).and_then(|t| t.verify(&root_key).map(|()| t)) {
        Ok(parsed) => parsed,
        Err(error) => return Ok(json!({"valid": false, "error": error.code()})),
    };
    let mut scope = parsed.header().jti.to_string();
    let scopes: Vec<String> = parsed
        .caveats()
        .iter()
        .map(|caveat| {
            if let Caveat::Hop { jti, .. } = caveat {
                scope = jti.to_string();
            }
            scope.clone()
        })
        .collect();
    let mut outcome = json!({
        "valid": true,
        "jti_chain": parsed.jti_chain(),
        "header": serde_json::to_value(parsed.header()).unwrap_or_default(),
        "caveats": serde_json::to_value(parsed.caveats()).unwrap_or_default(),
        "caveat_scopes": scopes,
        "expires_at": parsed.expires_at(),
    });
    if let Some(now) = vector["now"].as_i64() {
        outcome["expired_at_now"] = json!(parsed.expires_at().is_some_and(|at| now >= at));
    }
    let reminted = token::mint(&root_key, parsed.header(), parsed.caveats())
        .map_err(|e| failed("re-minting", e, None))?;
    if reminted != text {
        outcome["reminted_differs"] = json!(true);
    }
    Ok(outcome)
}

fn token_vectors(_: &Context) -> CaseFuture<'_> {
    Box::pin(async move {
        let document = parse("tokens.json", TOKENS)?;
        let vectors = document["vectors"].as_array().cloned().unwrap_or_default();
        check(vectors.len() >= 30, || format!("only {} token vectors", vectors.len()), None)?;
        for vector in &vectors {
            let name = vector["name"].as_str().unwrap_or_default();
            let outcome = token_outcome(vector)?;
            check(
                outcome == vector["expect"],
                || format!("token vector {name}: want {}, got {outcome}", vector["expect"]),
                None,
            )?;
            if let Some(attenuation) = vector.get("attenuation") {
                let caveats: Vec<Caveat> = serde_json::from_value(attenuation["caveats"].clone())
                    .map_err(|e| failed(name, e, None))?;
                let request = Attenuation {
                    jti: attenuation["jti"].as_str().map(str::to_string),
                    caveats,
                    ..Attenuation::default()
                };
                let derived = attenuate(attenuation["parent"].as_str().unwrap_or_default(), &request)
                    .map_err(|e| failed(name, e, None))?;
                check(
                    derived == vector["token"].as_str().unwrap_or_default(),
                    || format!("token vector {name}: attenuating its parent does not give its token"),
                    None,
                )?;
            }
        }
        Ok(())
    })
}

fn webhook_vectors(_: &Context) -> CaseFuture<'_> {
    Box::pin(async move {
        let document = parse("webhooks.json", WEBHOOKS)?;
        let vectors = document["vectors"].as_array().cloned().unwrap_or_default();
        check(!vectors.is_empty(), || "no webhook vectors".into(), None)?;
        for vector in &vectors {
            let result = verify_webhook_at(
                vector["secret"].as_str().unwrap_or_default(),
                vector["header"].as_str().unwrap_or_default(),
                vector["body"].as_str().unwrap_or_default().as_bytes(),
                vector["now"].as_i64().unwrap_or_default(),
                vector["tolerance_seconds"].as_i64().unwrap_or_default(),
            );
            let got = json!({"valid": result.is_ok(), "error": result.err().map(|e| e.code())});
            let want = json!({"valid": vector["valid"], "error": vector["error"]});
            check(
                got == want,
                || format!("webhook vector {}: want {want}, got {got}", vector["name"]),
                None,
            )?;
        }
        Ok(())
    })
}

fn audit_file(name: &str) -> Result<&'static str, Failure> {
    AUDIT_FILES
        .iter()
        .find(|(file, _)| *file == name)
        .map(|(_, text)| *text)
        .ok_or_else(|| failed("an audit vector the suite does not embed", name, None))
}

fn audit_vectors(_: &Context) -> CaseFuture<'_> {
    Box::pin(async move {
        let manifest = parse("manifest.json", AUDIT_MANIFEST)?;
        for keys_file in [
            manifest["keys"].as_str().unwrap_or_default(),
            manifest["keys_document"].as_str().unwrap_or_default(),
        ] {
            let keys = parse_audit_keys(audit_file(keys_file)?).map_err(|e| failed(keys_file, e, None))?;
            for vector in manifest["vectors"].as_array().into_iter().flatten() {
                let file = vector["file"].as_str().unwrap_or_default();
                let bytes = audit_file(file)?.as_bytes();
                let verified = match vector["trusted"].as_str() {
                    Some(trusted) => {
                        let trusted = TrustedCheckpoint::open(audit_file(trusted)?, &keys)
                            .map_err(|e| failed(trusted, e, None))?;
                        verify_audit_export_trusting(bytes, &keys, &trusted)
                    }
                    None => verify_audit_export(bytes, &keys),
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
                    Err(failure) => {
                        json!({"valid": false, "reason": failure.reason.code(), "seq": failure.seq})
                    }
                };
                check(
                    outcome == vector["expect"],
                    || {
                        format!(
                            "audit vector {file} with {keys_file}: want {}, got {outcome}",
                            vector["expect"]
                        )
                    },
                    None,
                )?;
            }
        }
        Ok(())
    })
}
