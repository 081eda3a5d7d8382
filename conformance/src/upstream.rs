//! The suite's own upstream MCP server, registered in the run's tenant so
//! `mcp` cases can forward tool calls through the deployment under test.
//!
//! It speaks the legacy Streamable HTTP transport (`initialize`,
//! `Mcp-Session-Id`, 202 for notifications, `DELETE` ends a session), which
//! every gateway must reach, serves a small catalogue of tools and records
//! every `tools/call` it executes, so cases can tell whether a call was
//! forwarded or stopped. It also receives webhook deliveries at `/webhook`. The deployment must be able to reach the address it
//! advertises (`--upstream-listen`, `--upstream-url`).

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use dropshot::{
    ApiDescription, Body, ConfigDropshot, HttpError, RequestContext, ServerBuilder, UntypedBody, endpoint,
};
use http::{Response, StatusCode};
use serde_json::{Value, json};

/// The protocol revision it speaks.
pub const VERSION: &str = "2025-11-25";

/// One executed `tools/call`.
#[derive(Clone, Debug)]
pub struct Call {
    /// The tool.
    pub name: String,
    /// Its arguments.
    pub arguments: Value,
}

/// One webhook delivery received.
#[derive(Clone, Debug)]
pub struct Delivery {
    /// The `Lictor-Signature` header.
    pub signature: Option<String>,
    /// The raw body.
    pub body: Vec<u8>,
}

#[derive(Default)]
struct State {
    sessions: Mutex<HashSet<String>>,
    calls: Mutex<Vec<Call>>,
    deliveries: Mutex<Vec<Delivery>>,
}

/// A running upstream; it stops when dropped.
pub struct Upstream {
    url: String,
    state: Arc<State>,
    _server: dropshot::HttpServer<Arc<State>>,
}

impl Upstream {
    /// Starts one listening on `listen`; `advertise` overrides the URL the
    /// gateway is given (default `http://<bound address>/mcp`).
    pub fn start(listen: SocketAddr, advertise: Option<String>) -> anyhow::Result<Upstream> {
        let mut api = ApiDescription::new();
        api.register(mcp_post).map_err(|e| anyhow::anyhow!("{e}"))?;
        api.register(mcp_delete).map_err(|e| anyhow::anyhow!("{e}"))?;
        api.register(webhook_post).map_err(|e| anyhow::anyhow!("{e}"))?;
        let state = Arc::new(State::default());
        let log = slog::Logger::root(slog::Discard, slog::o!());
        let server = ServerBuilder::new(api, Arc::clone(&state), log)
            .config(ConfigDropshot {
                bind_address: listen,
                default_request_body_max_bytes: 1 << 20,
                ..ConfigDropshot::default()
            })
            .start()
            .map_err(|e| anyhow::anyhow!("starting the upstream MCP server on {listen}: {e}"))?;
        let url = advertise.unwrap_or_else(|| format!("http://{}/mcp", server.local_addr()));
        Ok(Upstream { url, state, _server: server })
    }

    /// The URL the gateway is given.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Every `tools/call` executed so far.
    pub fn calls(&self) -> Vec<Call> {
        self.state.calls.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// The URL webhook deliveries are received at (same host, `/webhook`).
    pub fn webhook_url(&self) -> String {
        match self.url.strip_suffix("/mcp") {
            Some(base) => format!("{base}/webhook"),
            None => format!("{}/webhook", self.url.trim_end_matches('/')),
        }
    }

    /// Every webhook delivery received so far.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.state.deliveries.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// The calls whose arguments contain `marker` anywhere.
    pub fn calls_marked(&self, marker: &str) -> Vec<Call> {
        self.calls().into_iter().filter(|c| c.arguments.to_string().contains(marker)).collect()
    }
}

/// The catalogue: an echo, a mail sender, a destructive delete and a
/// payment, so the deployment's default policy gives every verdict.
pub fn catalogue() -> Vec<Value> {
    vec![
        json!({"name": "echo", "description": "Returns the text it is given.",
            "inputSchema": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]},
            "annotations": {"readOnlyHint": true, "openWorldHint": false}}),
        json!({"name": "send_email", "description": "Sends an email.",
            "inputSchema": {"type": "object", "properties": {
                "to": {"type": "string"}, "subject": {"type": "string"}, "body": {"type": "string"}},
                "required": ["to", "subject", "body"]},
            "annotations": {"readOnlyHint": false, "destructiveHint": false, "openWorldHint": true}}),
        json!({"name": "delete_records", "description": "Deletes rows from a table.",
            "inputSchema": {"type": "object", "properties": {
                "table": {"type": "string"}, "count": {"type": "integer", "minimum": 1}},
                "required": ["table", "count"]},
            "annotations": {"readOnlyHint": false, "destructiveHint": true, "openWorldHint": false}}),
        json!({"name": "transfer_funds", "description": "Wires money to an account.",
            "inputSchema": {"type": "object", "properties": {
                "amount_usd": {"type": "number"}, "to": {"type": "string"}}, "required": ["amount_usd", "to"]},
            "annotations": {"readOnlyHint": false, "destructiveHint": true, "openWorldHint": true}}),
    ]
}

fn json_response(
    status: StatusCode,
    body: &Value,
    session: Option<&str>,
) -> Result<Response<Body>, HttpError> {
    let mut builder =
        Response::builder().status(status).header(http::header::CONTENT_TYPE, "application/json");
    if let Some(session) = session {
        builder = builder.header("Mcp-Session-Id", session);
    }
    builder.body(Body::from(body.to_string())).map_err(|e| HttpError::for_internal_error(e.to_string()))
}

fn rpc_error(id: &Value, code: i64, message: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
}

fn tool_result(name: &str, arguments: &Value) -> Value {
    let text = match name {
        "echo" => arguments["text"].as_str().unwrap_or_default().to_string(),
        "send_email" => format!("sent to {}", arguments["to"].as_str().unwrap_or_default()),
        "delete_records" => format!("deleted {} rows", arguments["count"]),
        _ => format!("transferred {} USD", arguments["amount_usd"]),
    };
    json!({"content": [{"type": "text", "text": text}], "isError": false})
}

#[endpoint { method = POST, path = "/mcp", unpublished = true }]
async fn mcp_post(rqctx: RequestContext<Arc<State>>, body: UntypedBody) -> Result<Response<Body>, HttpError> {
    let state = rqctx.context();
    let Ok(message) = serde_json::from_slice::<Value>(body.as_bytes()) else {
        return json_response(StatusCode::BAD_REQUEST, &rpc_error(&Value::Null, -32700, "parse error"), None);
    };
    let method = message["method"].as_str().unwrap_or_default();
    let Some(id) = message.get("id").cloned() else {
        // A notification or a response: accepted, nothing to answer.
        return Response::builder()
            .status(StatusCode::ACCEPTED)
            .body(Body::empty())
            .map_err(|e| HttpError::for_internal_error(e.to_string()));
    };
    let session = rqctx.request.headers().get("mcp-session-id").and_then(|v| v.to_str().ok());
    if method == "initialize" {
        let session = uuid::Uuid::new_v4().to_string();
        state.sessions.lock().unwrap_or_else(PoisonError::into_inner).insert(session.clone());
        let result = json!({"protocolVersion": VERSION, "capabilities": {"tools": {}},
            "serverInfo": {"name": "lictor-conformance-upstream", "version": env!("CARGO_PKG_VERSION")}});
        return json_response(
            StatusCode::OK,
            &json!({"jsonrpc": "2.0", "id": id, "result": result}),
            Some(&session),
        );
    }
    let known =
        session.is_some_and(|s| state.sessions.lock().unwrap_or_else(PoisonError::into_inner).contains(s));
    if !known {
        // Not initialised (e.g. `server/discover`): the legacy answer.
        let status = if session.is_some() { StatusCode::NOT_FOUND } else { StatusCode::BAD_REQUEST };
        return json_response(status, &rpc_error(&id, -32600, "no session: initialize first"), None);
    }
    let result = match method {
        "ping" => json!({}),
        "tools/list" => json!({"tools": catalogue()}),
        "tools/call" => {
            let name = message["params"]["name"].as_str().unwrap_or_default().to_string();
            let arguments = message["params"].get("arguments").cloned().unwrap_or_else(|| json!({}));
            if !catalogue().iter().any(|tool| tool["name"] == name.as_str()) {
                return json_response(StatusCode::OK, &rpc_error(&id, -32602, "unknown tool"), None);
            }
            let result = tool_result(&name, &arguments);
            state.calls.lock().unwrap_or_else(PoisonError::into_inner).push(Call { name, arguments });
            result
        }
        _ => return json_response(StatusCode::OK, &rpc_error(&id, -32601, "method not found"), None),
    };
    json_response(StatusCode::OK, &json!({"jsonrpc": "2.0", "id": id, "result": result}), None)
}

#[endpoint { method = DELETE, path = "/mcp", unpublished = true }]
async fn mcp_delete(rqctx: RequestContext<Arc<State>>) -> Result<Response<Body>, HttpError> {
    if let Some(session) = rqctx.request.headers().get("mcp-session-id").and_then(|v| v.to_str().ok()) {
        rqctx.context().sessions.lock().unwrap_or_else(PoisonError::into_inner).remove(session);
    }
    Response::builder()
        .status(StatusCode::NO_CONTENT)
        .body(Body::empty())
        .map_err(|e| HttpError::for_internal_error(e.to_string()))
}

#[endpoint { method = POST, path = "/webhook", unpublished = true }]
async fn webhook_post(
    rqctx: RequestContext<Arc<State>>,
    body: UntypedBody,
) -> Result<Response<Body>, HttpError> {
    let signature =
        rqctx.request.headers().get("lictor-signature").and_then(|v| v.to_str().ok()).map(str::to_string);
    rqctx
        .context()
        .deliveries
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(Delivery { signature, body: body.as_bytes().to_vec() });
    Response::builder()
        .status(StatusCode::NO_CONTENT)
        .body(Body::empty())
        .map_err(|e| HttpError::for_internal_error(e.to_string()))
}
