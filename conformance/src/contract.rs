//! Contract snapshots: the shapes of the Decision, the error body, the
//! JSON-RPC error, the audit entry and the checkpoint, observed on the
//! deployment, with ids, times, hashes and free text redacted, compared with
//! the snapshots that ship with the suite (`conformance/snapshots/`).
//!
//! The snapshots are insta files: the suite's own test
//! (`tests/contract.rs`) records them from the embedded gateway with
//! `insta::assert_json_snapshot!`, and a deployment must match them.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use crate::{Context, Failure, curl, failed};

/// One snapshotted shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// A Decision redacting a card number (`approve_modified`).
    Decision,
    /// A blocking Decision.
    DecisionBlock,
    /// The error body of a bad request.
    ErrorBody,
    /// A JSON-RPC denial from `/v1/mcp`.
    JsonRpcError,
    /// An audit entry of a decision.
    AuditEntry,
    /// The latest signed checkpoint.
    Checkpoint,
}

impl Shape {
    /// Every shape.
    pub const ALL: [Shape; 6] = [
        Shape::Decision,
        Shape::DecisionBlock,
        Shape::ErrorBody,
        Shape::JsonRpcError,
        Shape::AuditEntry,
        Shape::Checkpoint,
    ];

    /// The snapshot's name (`snapshots/<name>.snap`).
    pub const fn name(self) -> &'static str {
        match self {
            Shape::Decision => "decision_approve_modified",
            Shape::DecisionBlock => "decision_block",
            Shape::ErrorBody => "error_body",
            Shape::JsonRpcError => "jsonrpc_error",
            Shape::AuditEntry => "audit_entry",
            Shape::Checkpoint => "checkpoint",
        }
    }

    /// The shipped snapshot file.
    const fn file(self) -> &'static str {
        match self {
            Shape::Decision => include_str!("../snapshots/decision_approve_modified.snap"),
            Shape::DecisionBlock => include_str!("../snapshots/decision_block.snap"),
            Shape::ErrorBody => include_str!("../snapshots/error_body.snap"),
            Shape::JsonRpcError => include_str!("../snapshots/jsonrpc_error.snap"),
            Shape::AuditEntry => include_str!("../snapshots/audit_entry.snap"),
            Shape::Checkpoint => include_str!("../snapshots/checkpoint.snap"),
        }
    }

    /// The shape the suite expects (the snapshot's body).
    pub fn expected(self) -> Result<Value, Failure> {
        // An insta file: a `---` header, then the snapshot.
        let body = self.file().splitn(3, "---\n").nth(2).unwrap_or_default();
        serde_json::from_str(body)
            .map_err(|e| failed(&format!("the shipped snapshot {}", self.name()), e, None))
    }

    /// Observes the shape on the deployment; the redacted value and a curl
    /// reproducing the request.
    pub async fn observe(self, ctx: &Context) -> Result<(Value, String), Failure> {
        let (value, repro) = match self {
            Shape::Decision => decision(ctx, receipt()).await?,
            Shape::DecisionBlock => decision(ctx, transfer()).await?,
            Shape::ErrorBody => {
                let body = json!({"intent": {"agent": {"id": ctx.agent}, "action": {"type": "teleport", "verb": "go"}}});
                let (status, value, repro) =
                    crate::raw(ctx, "POST", "/v1/intents", &ctx.live_key, Some(&body)).await?;
                if status != 400 {
                    return Err(failed(
                        "want 400 for an unknown action type",
                        format!("got {status}: {value}"),
                        Some(repro),
                    ));
                }
                (value, repro)
            }
            Shape::JsonRpcError => jsonrpc_denial(ctx).await?,
            Shape::AuditEntry => {
                let (decision, _) = decision(ctx, receipt()).await?;
                let intent = decision["intent_id"].as_str().unwrap_or_default().to_string();
                let path = format!("/v1/admin/audit?intent_id={intent}");
                let (status, page, repro) =
                    crate::raw(ctx, "GET", &path, &ctx.admin_key, None::<&()>).await?;
                let entry = page["items"]
                    .as_array()
                    .and_then(|items| items.iter().find(|item| item["kind"] == "decision").cloned());
                match entry {
                    Some(entry) if status == 200 => (entry, repro),
                    _ => {
                        return Err(failed(
                            "no decision entry for the intent",
                            format!("{status}: {page}"),
                            Some(repro),
                        ));
                    }
                }
            }
            Shape::Checkpoint => {
                let path = "/v1/admin/audit/checkpoints/latest";
                let mut last = (0, Value::Null, String::new());
                for _ in 0..60 {
                    last = crate::raw(ctx, "GET", path, &ctx.admin_key, None::<&()>).await?;
                    if last.0 == 200 {
                        break;
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                }
                let (status, value, repro) = last;
                if status != 200 {
                    return Err(failed(
                        "no checkpoint within 30 s",
                        format!("{status}: {value}"),
                        Some(repro),
                    ));
                }
                (value, repro)
            }
        };
        Ok((redact(&value, ctx), repro))
    }

    /// Observes the shape and compares it with the shipped snapshot.
    pub async fn check(self, ctx: &Context) -> crate::Outcome {
        let (observed, repro) = self.observe(ctx).await?;
        let expected = self.expected()?;
        let mut differences = Vec::new();
        diff("", &expected, &observed, &mut differences);
        if differences.is_empty() {
            return Ok(());
        }
        let shown: Vec<_> = differences.iter().take(12).cloned().collect();
        Err(Failure {
            message: format!(
                "the {} differs from the contract snapshot (conformance/snapshots/{}.snap) at {} place(s):\n      {}",
                self.name(),
                self.name(),
                differences.len(),
                shown.join("\n      ")
            ),
            curl: Some(repro),
        })
    }
}

fn receipt() -> Value {
    json!({"type": "communicate", "verb": "send",
        "target": {"type": "email", "identifier": "customer@example.com", "sensitivity": "confidential"},
        "payload": {"summary": "receipt", "content": "Your card 4111 1111 1111 1111 was charged.",
            "estimated_impact": {"reversible": false, "audience_size": 1}}})
}

fn transfer() -> Value {
    json!({"type": "transact", "verb": "transfer",
        "payload": {"estimated_impact": {"financial_exposure_usd": 25000}}})
}

async fn decision(ctx: &Context, action: Value) -> Result<(Value, String), Failure> {
    let body = json!({"intent": {"agent": {"id": ctx.agent}, "action": action}});
    let (status, value, repro) = crate::raw(ctx, "POST", "/v1/intents", &ctx.live_key, Some(&body)).await?;
    if status != 200 {
        return Err(failed("want a 200 Decision", format!("got {status}: {value}"), Some(repro)));
    }
    Ok((value, repro))
}

/// A blocked `tools/call` on `/v1/mcp` (2025-11-25 session), then the
/// session's end.
async fn jsonrpc_denial(ctx: &Context) -> Result<(Value, String), Failure> {
    let (gw, url) = ctx.client(&ctx.agent_key);
    let http = gw.http();
    let post = |session: Option<&str>, body: Value| {
        let mut request = http
            .post(format!("{url}/v1/mcp"))
            .bearer_auth(&ctx.agent_key)
            .header("Accept", "application/json, text/event-stream")
            .header("MCP-Protocol-Version", "2025-11-25")
            .json(&body);
        if let Some(session) = session {
            request = request.header("Mcp-Session-Id", session);
        }
        request.send()
    };
    let initialize = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "lictor-conformance", "version": env!("CARGO_PKG_VERSION")}}});
    let repro = curl("POST", &url, "/v1/mcp", &ctx.agent_key, Some(&initialize));
    let response = post(None, initialize).await.map_err(|e| failed("initialize", e, Some(repro.clone())))?;
    let session = response
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .ok_or_else(|| {
            failed("initialize answered no Mcp-Session-Id", response.status(), Some(repro.clone()))
        })?;
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    post(Some(&session), initialized).await.map_err(|e| failed("notifications/initialized", e, None))?;
    let call = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {
        "name": format!("{}.transfer_funds", crate::UPSTREAM), "arguments": {"amount_usd": 25000, "to": "DE89"}}});
    let repro = format!(
        "{} -H 'Mcp-Session-Id: {session}' -H 'MCP-Protocol-Version: 2025-11-25'",
        curl("POST", &url, "/v1/mcp", &ctx.agent_key, Some(&call))
    );
    let response =
        post(Some(&session), call).await.map_err(|e| failed("tools/call", e, Some(repro.clone())))?;
    let status = response.status().as_u16();
    let value: Value =
        response.json().await.map_err(|e| failed("tools/call answer", e, Some(repro.clone())))?;
    if status != 200 || value.get("error").is_none() {
        return Err(failed(
            "want HTTP 200 with a JSON-RPC error",
            format!("got {status}: {value}"),
            Some(repro),
        ));
    }
    let ended = http
        .delete(format!("{url}/v1/mcp"))
        .bearer_auth(&ctx.agent_key)
        .header("Mcp-Session-Id", &session)
        .header("MCP-Protocol-Version", "2025-11-25")
        .send()
        .await
        .map_err(|e| failed("DELETE /v1/mcp", e, None))?;
    if ended.status().as_u16() != 204 {
        return Err(failed("want 204 ending the session", ended.status(), None));
    }
    Ok((value, repro))
}

/// Keys whose values differ from run to run.
const VARYING: &[(&str, &str)] = &[
    ("approval_id", "[id]"),
    ("decided_at", "[time]"),
    ("entry_id", "[id]"),
    ("intent_id", "[id]"),
    ("request_id", "[id]"),
    ("latency_us", "[number]"),
    ("seq", "[number]"),
    ("size", "[number]"),
    ("tree_size", "[number]"),
    ("ts", "[time]"),
    ("created_at", "[time]"),
    ("signed_at", "[time]"),
    ("note", "[signed note]"),
    ("message", "[text]"),
    ("description", "[text]"),
    ("jti", "[id]"),
    ("duration_us", "[number]"),
    ("principal", "[principal]"),
    ("key_id", "[key id]"),
];

/// Redacts what varies between runs and deployments: the keys above, the
/// run's tenant, hex digests, UUIDs and RFC 3339 times anywhere.
pub fn redact(value: &Value, ctx: &Context) -> Value {
    match value {
        Value::Object(map) => {
            let mut out = Map::new();
            for (key, item) in map {
                let redacted = match (VARYING.iter().find(|(name, _)| name == key), item) {
                    (Some((_, placeholder)), item) if !item.is_null() => {
                        Value::String((*placeholder).to_string())
                    }
                    // `<audit origin>/tenants/<tenant>`: the prefix is the
                    // deployment's to choose.
                    (None, Value::String(origin)) if key == "origin" => {
                        match origin.split_once("/tenants/") {
                            Some((_, tenant)) => {
                                Value::String(format!("[origin]/tenants/{}", redact_text(tenant, ctx)))
                            }
                            None => Value::String(origin.clone()),
                        }
                    }
                    _ => redact(item, ctx),
                };
                out.insert(key.clone(), redacted);
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(|item| redact(item, ctx)).collect()),
        Value::String(text) => Value::String(redact_text(text, ctx)),
        other => other.clone(),
    }
}

fn redact_text(text: &str, ctx: &Context) -> String {
    if text == ctx.tenant {
        return "[tenant]".into();
    }
    let hex = |s: &str| s.len() >= 32 && s.chars().all(|c| c.is_ascii_hexdigit());
    if hex(text) || text.strip_prefix("sha256:").is_some_and(hex) {
        return "[hash]".into();
    }
    if uuid::Uuid::parse_str(text).is_ok() {
        return "[id]".into();
    }
    if chrono_like(text) {
        return "[time]".into();
    }
    text.replace(&ctx.tenant, "[tenant]")
}

/// `YYYY-MM-DDTHH:MM:SS…` (RFC 3339).
fn chrono_like(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() >= 20
        && bytes[4] == b'-'
        && bytes[7] == b'-'
        && bytes[10] == b'T'
        && bytes[13] == b':'
        && [0, 1, 2, 3, 5, 6, 8, 9, 11, 12].iter().all(|&i| bytes[i].is_ascii_digit())
}

/// The JSON Pointers where `expected` and `observed` differ.
pub fn diff(at: &str, expected: &Value, observed: &Value, out: &mut Vec<String>) {
    match (expected, observed) {
        (Value::Object(a), Value::Object(b)) => {
            let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for key in keys {
                let here = format!("{at}/{key}");
                match (a.get(key), b.get(key)) {
                    (Some(x), Some(y)) => diff(&here, x, y, out),
                    (Some(x), None) => out.push(format!("{here}: missing (want {x})")),
                    (None, Some(y)) => out.push(format!("{here}: not in the contract (got {y})")),
                    (None, None) => {}
                }
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                diff(&format!("{at}/{i}"), x, y, out);
            }
        }
        (a, b) if a == b => {}
        (a, b) => out.push(format!("{}: want {a}, got {b}", if at.is_empty() { "/" } else { at })),
    }
}
