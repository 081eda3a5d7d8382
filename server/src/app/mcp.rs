//! `/v1/mcp`: the MCP front door (Streamable HTTP, JSON responses).
//!
//! One endpoint serves both protocol eras, chosen by how each request
//! opens, as the 2026-07-28 revision describes for dual-era servers:
//!
//! - **Modern (2026-07-28)**: stateless. Every request carries its version
//!   and client capabilities in `params._meta`, mirrored in the
//!   `MCP-Protocol-Version`, `Mcp-Method` and `Mcp-Name` headers, which
//!   must agree with the body. `server/discover` describes the gateway.
//! - **Legacy (2025-03-26 … 2025-11-25)**: `initialize` opens a session
//!   (`Mcp-Session-Id`, stored, so any gateway on the store serves it);
//!   every later request names it. `DELETE /v1/mcp` ends it.
//!
//! Batches are refused (no revision since 2025-06-18 has them);
//! notifications and client responses are answered `202` with no body.
//! `tools/list` returns the upstream catalogue narrowed to what the
//! actor's token allows; `tools/call` goes through the whole pipeline
//! (see [`crate::calls`]) and answers denials as JSON-RPC errors `-32010`
//! … `-32014`, HTTP 200, with the request id preserved.

use std::time::{Duration, Instant};

use http::StatusCode;
use lictor_api::ApiError;
use lictor_api::tools::{
    JsonRpcErrorObject, JsonRpcResponse, McpHeaders, McpReply, McpSessionHeaders, rpc_codes,
};
use serde_json::{Map, Value, json};

use crate::auth::Principal;
use crate::caller::{Acting, Caller};
use crate::catalog::{CatalogTool, ToolLookup};
use crate::clock;
use crate::clock::Timestamp;
use crate::error::{Error, Object};
use crate::mcp::headers::decode_value;
use crate::mcp::jsonrpc::{INVALID_PARAMS, INVALID_REQUEST, Id, Message, RpcError, parse_message};
use crate::mcp::protocol::{
    HEADER_MISMATCH, LATEST_LEGACY_VERSION, META_CLIENT_CAPABILITIES, META_PROTOCOL_VERSION,
    META_SERVER_INFO, MODERN_VERSION, UNSUPPORTED_PROTOCOL_VERSION, is_supported_legacy_version,
};
use crate::mcp::upstream::CallOutcome;
use crate::pipeline::FrontTimings;
use crate::pipeline::KeyContext;
use crate::pipeline::capability::{self, CapabilityRequest};
use crate::store::McpSessionRow;
use crate::tool_call::{self, ToolCall, ToolCallResult};

/// `_meta` key an agent may use instead of the `Lictor-Approval-Id` header.
pub(crate) const META_APPROVAL_ID: &str = "io.lictor/approvalId";

/// How long a legacy session lives.
const SESSION_LIFETIME: Duration = clock::DAY;

/// The era a request speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Era {
    Modern,
    Legacy,
}

fn server_info() -> Value {
    json!({"name": "lictor", "title": "Lictor", "version": env!("CARGO_PKG_VERSION")})
}

fn id_value(id: Option<&Id>) -> Value {
    id.and_then(|id| serde_json::to_value(id).ok()).unwrap_or(Value::Null)
}

fn error_reply(status: StatusCode, id: Option<&Id>, error: RpcError) -> McpReply {
    McpReply::json(
        status,
        &JsonRpcResponse {
            jsonrpc: "2.0".into(),
            id: id_value(id),
            result: None,
            error: Some(JsonRpcErrorObject { code: error.code, message: error.message, data: error.data }),
        },
    )
}

fn result_reply(id: &Id, result: Value) -> McpReply {
    McpReply::json(
        StatusCode::OK,
        &JsonRpcResponse { jsonrpc: "2.0".into(), id: id_value(Some(id)), result: Some(result), error: None },
    )
}

/// Adds what every modern-era result carries.
fn modern_result(mut result: Map<String, Value>) -> Value {
    result.entry("resultType").or_insert_with(|| json!("complete"));
    let meta = result.entry("_meta").or_insert_with(|| json!({}));
    if let Some(meta) = meta.as_object_mut() {
        meta.entry(META_SERVER_INFO).or_insert_with(server_info);
    }
    Value::Object(result)
}

/// Who is acting, as which agent.
struct Actor {
    principal: Principal,
    key: KeyContext,
    tenant: lictor_api::ids::TenantId,
    agent: lictor_api::ids::AgentId,
    authenticate_us: u64,
}

async fn actor(caller: &Caller<'_>) -> Result<Actor, Error> {
    let Acting { principal, key, tenant, authenticate_us } = caller.agent().await?;
    let agent = principal.bound_agent().cloned().ok_or_else(|| {
        Error::Forbidden("mcp calls need a capability token or an agent key restricted to one agent".into())
    })?;
    Ok(Actor { principal, key, tenant, agent, authenticate_us })
}

fn meta_of(params: Option<&Value>) -> Option<&Map<String, Value>> {
    params?.get("_meta")?.as_object()
}

/// `POST /v1/mcp`.
pub(crate) async fn post(
    caller: &Caller<'_>,
    headers: Result<McpHeaders, ApiError>,
    body: Result<Vec<u8>, ApiError>,
    received: Instant,
) -> Result<McpReply, Error> {
    let actor = actor(caller).await?;
    let authenticate_us = actor.authenticate_us;
    let (headers, body) = (headers?, body?);
    let message = match parse_message(&body) {
        Ok(message) => message,
        Err(error) => return Ok(error_reply(StatusCode::BAD_REQUEST, None, error)),
    };
    let request = match message {
        Message::Batch(_) => {
            return Ok(error_reply(
                StatusCode::BAD_REQUEST,
                None,
                RpcError::invalid_request("json-rpc batches are not supported (mcp 2025-06-18 and later)"),
            ));
        }
        Message::Notification(notification) => {
            if meta_of(notification.params.as_ref()).and_then(|m| m.get(META_PROTOCOL_VERSION)).is_none()
                && let Some(rejection) = legacy_session(caller, &actor, &headers, None).await?.err()
            {
                return Ok(rejection);
            }
            return Ok(McpReply::accepted());
        }
        Message::Response(_) => return Ok(McpReply::accepted()),
        Message::Request(request) => request,
    };
    let id = request.id.clone();
    let params = request.params.clone();
    let modern_version = meta_of(params.as_ref())
        .and_then(|m| m.get(META_PROTOCOL_VERSION))
        .and_then(Value::as_str)
        .map(str::to_string);
    let era = match &modern_version {
        Some(version) => {
            if let Some(rejection) = check_modern(&headers, &request.method, params.as_ref(), version, &id) {
                return Ok(rejection);
            }
            Era::Modern
        }
        None if request.method == "initialize" => {
            return initialize(caller, &actor, &id, params.as_ref()).await;
        }
        None => {
            if let Err(rejection) = legacy_session(caller, &actor, &headers, Some(&id)).await? {
                return Ok(rejection);
            }
            Era::Legacy
        }
    };
    let front = FrontTimings { authenticate_us, validate_us: clock::elapsed_us(received) };
    let answer: Result<Value, RpcError> = match request.method.as_str() {
        "ping" => Ok(json!({})),
        "server/discover" if era == Era::Modern => Ok(discover()),
        "tools/list" => tools_list(caller, &actor, era).await?,
        "tools/call" => tools_call(caller, &actor, &headers, params.as_ref(), received, front).await?,
        method => {
            let status = if era == Era::Modern { StatusCode::NOT_FOUND } else { StatusCode::OK };
            return Ok(error_reply(status, Some(&id), RpcError::method_not_found(method)));
        }
    };
    Ok(match answer {
        Ok(Value::Object(result)) if era == Era::Modern => result_reply(&id, modern_result(result)),
        Ok(result) => result_reply(&id, result),
        Err(error) => error_reply(StatusCode::OK, Some(&id), error),
    })
}

/// Checks a modern request's headers against its body; the rejection to
/// answer if they disagree.
fn check_modern(
    headers: &McpHeaders,
    method: &str,
    params: Option<&Value>,
    version: &str,
    id: &Id,
) -> Option<McpReply> {
    let mismatch = |message: String| {
        Some(error_reply(StatusCode::BAD_REQUEST, Some(id), RpcError::new(HEADER_MISMATCH, message)))
    };
    if version != MODERN_VERSION {
        let error =
            RpcError::new(UNSUPPORTED_PROTOCOL_VERSION, "unsupported protocol version").with_data(json!({
                "supported": [MODERN_VERSION, LATEST_LEGACY_VERSION, "2025-06-18", "2025-03-26"],
                "requested": version,
            }));
        return Some(error_reply(StatusCode::BAD_REQUEST, Some(id), error));
    }
    match headers.protocol_version.as_deref() {
        Some(v) if v == version => {}
        Some(v) => {
            return mismatch(format!("`MCP-Protocol-Version` `{v}` does not match `_meta` `{version}`"));
        }
        None => return mismatch("missing `MCP-Protocol-Version` header".into()),
    }
    match headers.method.as_deref() {
        Some(m) if m == method => {}
        Some(m) => return mismatch(format!("`Mcp-Method` `{m}` does not match method `{method}`")),
        None => return mismatch("missing `Mcp-Method` header".into()),
    }
    if method == "tools/call" {
        let name = params.and_then(|p| p.get("name")).and_then(Value::as_str).unwrap_or_default();
        match headers.name.as_deref().map(|v| decode_value(v).unwrap_or_else(|| v.to_string())) {
            Some(n) if n == name => {}
            Some(n) => return mismatch(format!("`Mcp-Name` `{n}` does not match tool `{name}`")),
            None => return mismatch("missing `Mcp-Name` header".into()),
        }
    }
    if meta_of(params).and_then(|m| m.get(META_CLIENT_CAPABILITIES)).is_none() {
        return Some(error_reply(
            StatusCode::BAD_REQUEST,
            Some(id),
            RpcError::new(INVALID_PARAMS, format!("missing `_meta` key `{META_CLIENT_CAPABILITIES}`")),
        ));
    }
    None
}

/// The legacy session a request names, checked; `Err` is the rejection.
async fn legacy_session(
    caller: &Caller<'_>,
    actor: &Actor,
    headers: &McpHeaders,
    id: Option<&Id>,
) -> Result<Result<McpSessionRow, McpReply>, Error> {
    let Some(session_id) = headers.session_id.as_deref() else {
        return Ok(Err(error_reply(
            StatusCode::BAD_REQUEST,
            id,
            RpcError::new(INVALID_REQUEST, "missing `Mcp-Session-Id`: send `initialize` first"),
        )));
    };
    let gone = || {
        error_reply(
            StatusCode::NOT_FOUND,
            id,
            RpcError::new(INVALID_REQUEST, "unknown or ended session: send `initialize` again"),
        )
    };
    let Some(session) = caller.state.mcp_sessions.get(session_id).await? else { return Ok(Err(gone())) };
    let expired = Timestamp::now().since(session.created_at) > SESSION_LIFETIME;
    // Sessions are bound to who opened them: another credential does not
    // learn that the session exists.
    if session.closed_at.is_some() || expired || session.principal != actor.principal.describe() {
        return Ok(Err(gone()));
    }
    if let Some(version) = headers.protocol_version.as_deref()
        && version != session.protocol_version
    {
        return Ok(Err(error_reply(
            StatusCode::BAD_REQUEST,
            id,
            RpcError::new(
                INVALID_REQUEST,
                format!(
                    "`MCP-Protocol-Version` `{version}` is not the session's `{}`",
                    session.protocol_version
                ),
            ),
        )));
    }
    Ok(Ok(session))
}

/// `initialize` (legacy era): negotiate the version and open a session.
async fn initialize(
    caller: &Caller<'_>,
    actor: &Actor,
    id: &Id,
    params: Option<&Value>,
) -> Result<McpReply, Error> {
    let requested = params.and_then(|p| p.get("protocolVersion")).and_then(Value::as_str);
    let Some(requested) = requested else {
        return Ok(error_reply(
            StatusCode::OK,
            Some(id),
            RpcError::invalid_params("missing `protocolVersion`"),
        ));
    };
    // A version we speak is echoed; otherwise we offer our newest.
    let version = if is_supported_legacy_version(requested) { requested } else { LATEST_LEGACY_VERSION };
    let session = McpSessionRow {
        id: crate::ids::mcp_session_id(),
        tenant: actor.tenant.clone(),
        principal: actor.principal.describe(),
        protocol_version: version.to_string(),
        client_name: params
            .and_then(|p| p.pointer("/clientInfo/name"))
            .and_then(Value::as_str)
            .map(|n| n.chars().take(200).collect()),
        created_at: Timestamp::now(),
        closed_at: None,
    };
    caller.state.mcp_sessions.insert(&session).await?;
    let result = json!({
        "protocolVersion": version,
        "capabilities": {"tools": {"listChanged": false}},
        "serverInfo": server_info(),
        "instructions": "Tool calls through Lictor are decided by the tenant's policy before they reach the \
                         upstream server. Denials are JSON-RPC errors -32010 (capability), -32011 (intent), \
                         -32012 (policy), -32013 (budget) and -32014 (approval required: retry with the \
                         Lictor-Approval-Id header once approved).",
    });
    Ok(result_reply(id, result).with_header(http::HeaderName::from_static("mcp-session-id"), session.id))
}

/// `server/discover` (modern era).
fn discover() -> Value {
    json!({
        "supportedVersions": [MODERN_VERSION],
        "capabilities": {"tools": {}},
        "serverInfo": server_info(),
        "ttlMs": 3_600_000,
        "cacheScope": "public",
    })
}

/// Why a token may not be used at all right now (expired, revoked, another
/// audience): checked before listing tools.
async fn token_usable(
    caller: &Caller<'_>,
    actor: &Actor,
    tool: Option<&CatalogTool>,
) -> Result<Result<(), RpcError>, Error> {
    let Some(token) = actor.principal.token() else { return Ok(Ok(())) };
    let revoked = caller.state.pipeline.revocations().revoked(&actor.tenant).await?;
    let target = tool.map(CatalogTool::target);
    let request = CapabilityRequest {
        action_type: tool.map(CatalogTool::action_type).unwrap_or(lictor_api::intents::ActionType::Access),
        tool: target.as_ref(),
        risk_level: lictor_api::intents::RiskLevel::Low,
        now: Timestamp::now().seconds(),
        audience: &caller.state.pipeline.settings().audience,
        step_up_window: caller.state.pipeline.settings().step_up_window,
        cents: 0,
    };
    Ok(capability::check(token, &revoked, &request).map(|_| ()).map_err(|reason| {
        RpcError::new(rpc_codes::CAPABILITY, reason.message)
            .with_data(json!({"stage": "capability", "reason": reason.code}))
    }))
}

/// `tools/list`: the catalogue narrowed to what the actor may call.
async fn tools_list(caller: &Caller<'_>, actor: &Actor, era: Era) -> Result<Result<Value, RpcError>, Error> {
    let (tools, _failures) = caller.state.catalog.tools(&actor.tenant).await?;
    let mut listed = Vec::new();
    let mut any_allowed = actor.principal.token().is_none();
    for tool in &tools {
        match token_usable(caller, actor, Some(tool)).await? {
            Ok(()) => {
                any_allowed = true;
                listed.push(tool.listed());
            }
            Err(_) => continue,
        }
    }
    if !any_allowed && tools.is_empty() {
        // No tool to judge by: the token itself must still be usable.
        if let Err(error) = token_usable(caller, actor, None).await? {
            return Ok(Err(error));
        }
    }
    let mut result = json!({"tools": listed});
    if era == Era::Modern {
        // Clients may reuse the list as long as the gateway reuses the upstreams'.
        result["ttlMs"] = json!(u64::try_from(caller.state.config.tools_ttl.as_millis()).unwrap_or(u64::MAX));
        result["cacheScope"] = json!("private");
    }
    Ok(Ok(result))
}

/// `tools/call`: the pipeline, then the upstream.
async fn tools_call(
    caller: &Caller<'_>,
    actor: &Actor,
    headers: &McpHeaders,
    params: Option<&Value>,
    received: Instant,
    front: FrontTimings,
) -> Result<Result<Value, RpcError>, Error> {
    let Some(name) = params.and_then(|p| p.get("name")).and_then(Value::as_str) else {
        return Ok(Err(RpcError::invalid_params("missing tool `name`")));
    };
    let arguments = match params.and_then(|p| p.get("arguments")) {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(arguments)) => arguments.clone(),
        Some(_) => return Ok(Err(RpcError::invalid_params("`arguments` must be an object"))),
    };
    let approval = headers.approval_id.clone().or_else(|| {
        meta_of(params).and_then(|m| m.get(META_APPROVAL_ID)).and_then(Value::as_str).map(str::to_string)
    });
    let approval_id = match super::intents::check_approval_id(approval) {
        Ok(id) => id,
        Err(error) => return Ok(Err(RpcError::invalid_params(error.to_string()))),
    };
    let tool = match caller.state.catalog.resolve(&actor.tenant, name, None).await? {
        ToolLookup::Found(tool) => tool,
        ToolLookup::Unknown => return Ok(Err(RpcError::invalid_params(format!("unknown tool `{name}`")))),
        ToolLookup::Ambiguous(names) => {
            return Ok(Err(RpcError::invalid_params(format!(
                "several upstreams offer `{name}`: use one of `{}`",
                names.join("`, `")
            ))));
        }
        ToolLookup::Unavailable(error) => return Ok(Err(error.to_rpc_error())),
    };
    let outcome = tool_call::run(
        caller.state,
        ToolCall {
            tenant: actor.tenant.clone(),
            key: actor.key.clone(),
            token: actor.principal.token().cloned(),
            agent: actor.agent.clone(),
            tool,
            arguments,
            approval_id,
            received,
            front,
        },
    )
    .await;
    Ok(match outcome {
        Ok(ToolCallResult::Denied { error, .. }) => Err(error),
        Ok(ToolCallResult::Forwarded { outcome: CallOutcome::Result(result), .. }) => {
            Ok(Value::Object(result))
        }
        Ok(ToolCallResult::Forwarded { outcome: CallOutcome::Error(error), .. }) => Err(error),
        Ok(ToolCallResult::UpstreamFailed { error, .. }) => Err(error.to_rpc_error()),
        Err(Error::Invalid(error)) => Err(RpcError::new(rpc_codes::INTENT, error.message)
            .with_data(json!({"stage": "validate", "reason": "invalid_tool"}))),
        Err(other) => return Err(other),
    })
}

/// `DELETE /v1/mcp`: ends a legacy session.
pub(crate) async fn delete(
    caller: &Caller<'_>,
    headers: Result<McpSessionHeaders, ApiError>,
) -> Result<(), Error> {
    let actor = actor(caller).await?;
    let session_id = headers?.session_id;
    let session = caller.state.mcp_sessions.get(&session_id).await?;
    match session {
        Some(session) if session.principal == actor.principal.describe() && session.closed_at.is_none() => {
            caller.state.mcp_sessions.close(&session, Timestamp::now()).await?;
            Ok(())
        }
        _ => Err(Error::not_found(Object::McpSession, &session_id)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modern_results_say_they_are_complete_and_who_answered() {
        let result = modern_result(serde_json::from_str(r#"{"tools": []}"#).unwrap());
        assert_eq!(result["resultType"], "complete");
        assert_eq!(result["_meta"][META_SERVER_INFO]["name"], "lictor");
        let kept = modern_result(serde_json::from_str(r#"{"resultType": "input_required"}"#).unwrap());
        assert_eq!(kept["resultType"], "input_required");
    }

    #[test]
    fn method_not_found_is_a_standard_code() {
        assert_eq!(RpcError::method_not_found("x").code, crate::mcp::jsonrpc::METHOD_NOT_FOUND);
    }
}
