//! A real MCP server for the tests, on loopback over HTTP (dropshot). It
//! speaks the legacy Streamable HTTP transport (2025-11-25 / 2025-06-18:
//! `initialize`, `Mcp-Session-Id` sessions, 202 for notifications, DELETE),
//! the modern one (2026-07-28: stateless, `server/discover`, `_meta` and
//! `Mcp-Method` / `Mcp-Name` / `Mcp-Param-*` checks), or both, choosing per
//! request from how the client opens, as the spec describes. It serves a
//! small catalogue of realistic tools and records every `tools/call` it
//! executes, so tests can assert what a client forwarded.
//!
//! It is written from the spec, apart from `lictor_server::mcp`, so that a
//! misreading in the client is not mirrored here.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use dropshot::{
    ApiDescription, Body, ConfigDropshot, HttpError, RequestContext, ServerBuilder, UntypedBody, endpoint,
};
use http::{HeaderMap, Response, StatusCode};
use serde_json::{Value, json};

/// The modern protocol revision.
pub const MODERN: &str = "2026-07-28";
const META_VERSION: &str = "io.modelcontextprotocol/protocolVersion";
const META_CAPABILITIES: &str = "io.modelcontextprotocol/clientCapabilities";

/// Which protocol eras the server speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Eras {
    /// `initialize` and sessions only.
    Legacy,
    /// 2026-07-28 only.
    Modern,
    /// Both, per request.
    Both,
}

/// The server's settings; start it with [`McpServerBuilder::start`].
#[derive(Clone, Debug)]
pub struct McpServerBuilder {
    eras: Eras,
    legacy_versions: Vec<String>,
    sse: bool,
    polling: bool,
    bearer: Option<String>,
    page_size: usize,
    extra_tools: Vec<Value>,
}

impl McpServerBuilder {
    /// Legacy era only.
    pub fn legacy(mut self) -> Self {
        self.eras = Eras::Legacy;
        self
    }

    /// Modern era only.
    pub fn modern(mut self) -> Self {
        self.eras = Eras::Modern;
        self
    }

    /// Both eras (the default).
    pub fn both(mut self) -> Self {
        self.eras = Eras::Both;
        self
    }

    /// The legacy versions accepted; an `initialize` offering another gets
    /// the first as a counter-offer. Default: 2025-11-25, 2025-06-18.
    pub fn legacy_versions(mut self, versions: &[&str]) -> Self {
        self.legacy_versions = versions.iter().map(|v| v.to_string()).collect();
        self
    }

    /// Answer `tools/call` with an SSE stream: a comment, a notification
    /// (legacy: and a `ping` request) before the response, whose JSON spans
    /// several `data:` lines; the stream then stays open until the client
    /// leaves.
    pub fn sse(mut self) -> Self {
        self.sse = true;
        self
    }

    /// Legacy era, 2025-11-25 polling: answer `tools/call` with an SSE
    /// stream holding only a priming event (an event id, `retry: 20`, empty
    /// data) and close it; the response waits for the client to resume with
    /// `GET` and `Last-Event-ID`.
    pub fn sse_polling(mut self) -> Self {
        self.sse = true;
        self.polling = true;
        self
    }

    /// Require `Authorization: Bearer {token}` on every request (401 otherwise).
    pub fn bearer(mut self, token: &str) -> Self {
        self.bearer = Some(token.to_string());
        self
    }

    /// `tools/list` page size (default 100).
    pub fn page_size(mut self, size: usize) -> Self {
        self.page_size = size.max(1);
        self
    }

    /// An extra tool definition, listed after the catalogue; calling it
    /// echoes the arguments as `structuredContent`.
    pub fn tool(mut self, tool: Value) -> Self {
        self.extra_tools.push(tool);
        self
    }

    /// Starts the server on 127.0.0.1 with a free port.
    pub async fn start(self) -> McpServer {
        let mut api = ApiDescription::new();
        api.register(mcp_post).unwrap();
        api.register(mcp_get).unwrap();
        api.register(mcp_delete).unwrap();
        let mut tools = catalogue();
        tools.extend(self.extra_tools.iter().cloned());
        let state = Arc::new(State { config: self, tools, ..State::default() });
        let server =
            ServerBuilder::new(api, Arc::clone(&state), slog::Logger::root(slog::Discard, slog::o!()))
                .config(ConfigDropshot {
                    bind_address: "127.0.0.1:0".parse().unwrap(),
                    default_request_body_max_bytes: 1 << 20,
                    ..ConfigDropshot::default()
                })
                .start()
                .unwrap();
        McpServer { url: format!("http://{}/mcp", server.local_addr()), state, _server: server }
    }
}

/// One `tools/call` the server executed.
#[derive(Clone, Debug)]
pub struct RecordedCall {
    /// The tool.
    pub name: String,
    /// The arguments as received.
    pub arguments: Value,
    /// Every request header, names in lowercase.
    pub headers: BTreeMap<String, String>,
}

impl RecordedCall {
    /// A request header (`name` in lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
}

/// A running server; it stops when dropped.
pub struct McpServer {
    url: String,
    state: Arc<State>,
    _server: dropshot::HttpServer<Arc<State>>,
}

impl McpServer {
    /// Settings: both eras, JSON answers, no credential, pages of 100.
    pub fn builder() -> McpServerBuilder {
        McpServerBuilder {
            eras: Eras::Both,
            legacy_versions: vec!["2025-11-25".into(), "2025-06-18".into()],
            sse: false,
            polling: false,
            bearer: None,
            page_size: 100,
            extra_tools: Vec::new(),
        }
    }

    /// The MCP endpoint, `http://127.0.0.1:{port}/mcp`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Every `tools/call` executed, in order.
    pub fn calls(&self) -> Vec<RecordedCall> {
        self.state.calls.lock().unwrap().clone()
    }

    /// Every JSON-RPC message received, in order: its method, or `response`
    /// for the client's answers to server requests.
    pub fn methods(&self) -> Vec<String> {
        self.state.methods.lock().unwrap().clone()
    }

    /// Forgets every session, as a restarted server would: requests using
    /// them get 404 from now on.
    pub fn forget_sessions(&self) {
        self.state.sessions.lock().unwrap().clear();
    }

    /// The `Last-Event-ID`s of the streams clients resumed, in order.
    pub fn resumed(&self) -> Vec<String> {
        self.state.resumed.lock().unwrap().clone()
    }

    /// How many sessions are open.
    pub fn sessions(&self) -> usize {
        self.state.sessions.lock().unwrap().len()
    }
}

#[derive(Debug)]
struct State {
    config: McpServerBuilder,
    tools: Vec<Value>,
    /// Session id → negotiated version.
    sessions: Mutex<HashMap<String, String>>,
    calls: Mutex<Vec<RecordedCall>>,
    methods: Mutex<Vec<String>>,
    /// Polling: stream id → the response to send when it is resumed.
    parked: Mutex<HashMap<String, String>>,
    resumed: Mutex<Vec<String>>,
}

impl Default for State {
    fn default() -> Self {
        State {
            config: McpServer::builder(),
            tools: Vec::new(),
            sessions: Mutex::default(),
            calls: Mutex::default(),
            methods: Mutex::default(),
            parked: Mutex::default(),
            resumed: Mutex::default(),
        }
    }
}

type Context = RequestContext<Arc<State>>;

#[endpoint { method = POST, path = "/mcp" }]
async fn mcp_post(rqctx: Context, body: UntypedBody) -> Result<Response<Body>, HttpError> {
    Ok(Arc::clone(rqctx.context()).post(rqctx.request.headers(), body.as_bytes()).await)
}

#[endpoint { method = GET, path = "/mcp" }]
async fn mcp_get(rqctx: Context) -> Result<Response<Body>, HttpError> {
    let (state, headers) = (rqctx.context(), rqctx.request.headers());
    if let Some(denied) = state.unauthorized(headers) {
        return Ok(denied);
    }
    // Only resumption of a parked stream; no standalone stream (405).
    let Some(last) = header(headers, "last-event-id") else { return Ok(plain(405, "no standalone stream")) };
    let session = header(headers, "mcp-session-id").unwrap_or_default();
    if !state.sessions.lock().unwrap().contains_key(session) {
        return Ok(plain(404, "unknown session"));
    }
    state.resumed.lock().unwrap().push(last.to_string());
    let parked = last.strip_suffix("-0").and_then(|stream| state.parked.lock().unwrap().remove(stream));
    Ok(match parked {
        Some(response) => event_stream(format!("id: {}-1\ndata: {response}\n\n", &last[..last.len() - 2])),
        None => plain(404, "unknown stream"),
    })
}

#[endpoint { method = DELETE, path = "/mcp" }]
async fn mcp_delete(rqctx: Context) -> Result<Response<Body>, HttpError> {
    let (state, headers) = (rqctx.context(), rqctx.request.headers());
    if let Some(denied) = state.unauthorized(headers) {
        return Ok(denied);
    }
    if state.config.eras == Eras::Modern {
        return Ok(plain(405, "no sessions in 2026-07-28"));
    }
    Ok(match header(headers, "mcp-session-id") {
        None => plain(400, "missing mcp-session-id"),
        Some(id) if state.sessions.lock().unwrap().remove(id).is_some() => plain(204, ""),
        Some(_) => plain(404, "unknown session"),
    })
}

impl State {
    async fn post(self: Arc<Self>, headers: &HeaderMap, body: &[u8]) -> Response<Body> {
        if let Some(denied) = self.unauthorized(headers) {
            return denied;
        }
        let accept = header(headers, "accept").unwrap_or_default();
        if !(accept.contains("application/json") && accept.contains("text/event-stream")) {
            return plain(406, "accept must list application/json and text/event-stream");
        }
        let Ok(message) = serde_json::from_slice::<Value>(body) else {
            return rpc_error(400, Value::Null, -32700, "parse error", None);
        };
        if !message.is_object() {
            return rpc_error(400, Value::Null, -32600, "one message per request, no batches", None);
        }
        let method = message["method"].as_str().unwrap_or("response").to_string();
        self.methods.lock().unwrap().push(method.clone());
        let legacy_opening = method == "initialize" || headers.contains_key("mcp-session-id");
        let modern_opening = header(headers, "mcp-protocol-version") == Some(MODERN)
            || message["params"]["_meta"].get(META_VERSION).is_some();
        match self.config.eras {
            Eras::Modern => self.modern(headers, &method, message).await,
            Eras::Both if modern_opening && !legacy_opening => self.modern(headers, &method, message).await,
            Eras::Legacy | Eras::Both => self.legacy(headers, &method, message).await,
        }
    }

    async fn legacy(self: Arc<Self>, headers: &HeaderMap, method: &str, message: Value) -> Response<Body> {
        let id = message.get("id").cloned();
        if method == "initialize" {
            let requested = message["params"]["protocolVersion"].as_str().unwrap_or_default();
            let versions = &self.config.legacy_versions;
            let version = versions.iter().find(|v| *v == requested).unwrap_or(&versions[0]).clone();
            let session = uuid::Uuid::new_v4().simple().to_string();
            self.sessions.lock().unwrap().insert(session.clone(), version.clone());
            let result = json!({"protocolVersion": version, "capabilities": {"tools": {"listChanged": false}},
                "serverInfo": {"name": "lictor-test-mcp", "version": "1.0.0"}});
            let mut response = json_response(200, &json!({"jsonrpc": "2.0", "id": id, "result": result}));
            response.headers_mut().insert("mcp-session-id", session.parse().unwrap());
            return response;
        }
        let Some(session) = header(headers, "mcp-session-id") else {
            return rpc_error(400, Value::Null, -32600, "missing mcp-session-id", None);
        };
        let Some(version) = self.sessions.lock().unwrap().get(session).cloned() else {
            return plain(404, "unknown session");
        };
        if header(headers, "mcp-protocol-version") != Some(version.as_str()) {
            return plain(400, &format!("mcp-protocol-version must be {version}"));
        }
        // Notifications and the client's responses: accepted, no body.
        let Some(id) = id.filter(|_| method != "response") else { return plain(202, "") };
        match method {
            "ping" => json_response(200, &json!({"jsonrpc": "2.0", "id": id, "result": {}})),
            "tools/list" => self.tools_list(id, &message["params"], false),
            "tools/call" => self.tools_call(id, headers, &message["params"], false).await,
            _ => rpc_error(200, id, -32601, &format!("method not found: {method}"), None),
        }
    }

    async fn modern(self: Arc<Self>, headers: &HeaderMap, method: &str, message: Value) -> Response<Body> {
        let id = message.get("id").cloned().unwrap_or(Value::Null);
        let params = &message["params"];
        let supported = self.supported();
        if method == "initialize" {
            let data = json!({"supported": supported, "requested": params["protocolVersion"]});
            return rpc_error(400, id, -32022, "unsupported protocol version", Some(data));
        }
        let Some(version) = header(headers, "mcp-protocol-version") else {
            return rpc_error(400, id, -32020, "missing MCP-Protocol-Version header", None);
        };
        let meta = &params["_meta"];
        let Some(meta_version) = meta[META_VERSION].as_str() else {
            return rpc_error(400, id, -32602, "missing _meta protocolVersion", None);
        };
        if !meta[META_CAPABILITIES].is_object() {
            return rpc_error(400, id, -32602, "missing _meta clientCapabilities", None);
        }
        if version != meta_version {
            return rpc_error(400, id, -32020, "MCP-Protocol-Version does not match _meta", None);
        }
        if version != MODERN {
            let data = json!({"supported": supported, "requested": version});
            return rpc_error(400, id, -32022, "unsupported protocol version", Some(data));
        }
        if header(headers, "mcp-method") != Some(method) {
            return rpc_error(400, id, -32020, "Mcp-Method does not match the body", None);
        }
        if message.get("id").is_none() {
            return plain(202, "");
        }
        match method {
            "server/discover" => json_response(
                200,
                &json!({"jsonrpc": "2.0", "id": id, "result": {
                "resultType": "complete", "supportedVersions": supported,
                "capabilities": {"tools": {"listChanged": false}}, "ttlMs": 60_000, "cacheScope": "public",
                "_meta": {"io.modelcontextprotocol/serverInfo": {"name": "lictor-test-mcp", "version": "1.0.0"}}}}),
            ),
            "tools/list" => self.tools_list(id, params, true),
            "tools/call" => {
                let name = header(headers, "mcp-name").and_then(decode);
                if name.as_deref() != params["name"].as_str() {
                    return rpc_error(400, id, -32020, "Mcp-Name does not match params.name", None);
                }
                self.tools_call(id, headers, params, true).await
            }
            _ => rpc_error(404, id, -32601, &format!("method not found: {method}"), None),
        }
    }

    fn tools_list(&self, id: Value, params: &Value, modern: bool) -> Response<Body> {
        let start = match &params["cursor"] {
            Value::Null => 0,
            cursor => {
                match cursor.as_str().and_then(|c| c.strip_prefix("offset-")).and_then(|n| n.parse().ok()) {
                    Some(offset) if offset <= self.tools.len() => offset,
                    _ => return rpc_error(200, id, -32602, "invalid cursor", None),
                }
            }
        };
        let end = (start + self.config.page_size).min(self.tools.len());
        let mut result = json!({"tools": self.tools[start..end]});
        if end < self.tools.len() {
            result["nextCursor"] = json!(format!("offset-{end}"));
        }
        if modern {
            result["resultType"] = json!("complete");
            result["ttlMs"] = json!(60_000);
            result["cacheScope"] = json!("public");
        }
        json_response(200, &json!({"jsonrpc": "2.0", "id": id, "result": result}))
    }

    async fn tools_call(
        self: Arc<Self>,
        id: Value,
        headers: &HeaderMap,
        params: &Value,
        modern: bool,
    ) -> Response<Body> {
        let name = params["name"].as_str().unwrap_or_default().to_string();
        let arguments = params.get("arguments").cloned().unwrap_or_else(|| json!({}));
        let Some(tool) = self.tools.iter().find(|tool| tool["name"] == name.as_str()) else {
            return rpc_error(200, id, -32602, &format!("Unknown tool: {name}"), None);
        };
        if modern && let Err(reason) = check_param_headers(&tool["inputSchema"], &[], &arguments, headers) {
            return rpc_error(400, id, -32020, &reason, None);
        }
        let headers_seen = headers.iter().map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()));
        self.calls.lock().unwrap().push(RecordedCall {
            name: name.clone(),
            arguments: arguments.clone(),
            headers: headers_seen.collect(),
        });
        if self.config.polling && !modern {
            let result = run_tool(&name, &arguments).await;
            let stream = uuid::Uuid::new_v4().simple().to_string();
            let response = json!({"jsonrpc": "2.0", "id": id, "result": result}).to_string();
            self.parked.lock().unwrap().insert(stream.clone(), response);
            return event_stream(format!("id: {stream}-0\nretry: 20\ndata:\n\n"));
        }
        if self.config.sse {
            return sse_call(id, name, arguments, modern);
        }
        let mut result = run_tool(&name, &arguments).await;
        if modern {
            result["resultType"] = json!("complete");
        }
        json_response(200, &json!({"jsonrpc": "2.0", "id": id, "result": result}))
    }

    fn supported(&self) -> Vec<String> {
        let mut supported = vec![MODERN.to_string()];
        if self.config.eras == Eras::Both {
            supported.extend(self.config.legacy_versions.iter().cloned());
        }
        supported
    }

    fn unauthorized(&self, headers: &HeaderMap) -> Option<Response<Body>> {
        let token = self.config.bearer.as_ref()?;
        if header(headers, "authorization") == Some(format!("Bearer {token}").as_str()) {
            return None;
        }
        let mut response = plain(401, r#"{"error":"invalid_token"}"#);
        response.headers_mut().insert("www-authenticate", r#"Bearer realm="mcp""#.parse().unwrap());
        Some(response)
    }
}

/// Streams a `tools/call` answer: comment, notification, (legacy) a ping
/// request, then the response with its JSON over several `data:` lines,
/// then silence until the client hangs up.
fn sse_call(id: Value, name: String, arguments: Value, modern: bool) -> Response<Body> {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<String, std::io::Error>>(4);
    tokio::spawn(async move {
        let note = json!({"jsonrpc": "2.0", "method": "notifications/message",
            "params": {"level": "info", "data": format!("calling {name}")}});
        let mut events = vec![": lictor test stream\n\n".to_string(), format!("id: 1\ndata: {note}\n\n")];
        if !modern {
            events.push(format!(
                "id: 2\nevent: message\ndata: {}\n\n",
                json!({"jsonrpc": "2.0", "id": "srv-1", "method": "ping"})
            ));
        }
        for event in events {
            if tx.send(Ok(event)).await.is_err() {
                return;
            }
        }
        let mut result = run_tool(&name, &arguments).await;
        if modern {
            result["resultType"] = json!("complete");
        }
        let response =
            serde_json::to_string_pretty(&json!({"jsonrpc": "2.0", "id": id, "result": result})).unwrap();
        let data: String = response.lines().map(|line| format!("data: {line}\r\n")).collect();
        let _ = tx.send(Ok(format!("id: 3\r\n{data}\r\n"))).await;
        let _ = tokio::time::timeout(Duration::from_secs(10), tx.closed()).await;
    });
    let stream = futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) });
    Response::builder()
        .status(200)
        .header("content-type", "text/event-stream")
        .header("cache-control", "no-cache")
        .header("x-accel-buffering", "no")
        .body(Body::wrap(reqwest::Body::wrap_stream(stream)))
        .unwrap()
}

/// Checks the `Mcp-Param-*` headers of a modern `tools/call` against the
/// arguments, for every `x-mcp-header` property of the schema.
fn check_param_headers(
    schema: &Value,
    path: &[&str],
    arguments: &Value,
    headers: &HeaderMap,
) -> Result<(), String> {
    for (key, property) in schema["properties"].as_object().into_iter().flatten() {
        let path = [path, &[key.as_str()]].concat();
        check_param_headers(property, &path, arguments, headers)?;
        let Some(name) = property["x-mcp-header"].as_str() else { continue };
        let value = path.iter().try_fold(arguments, |value, key| value.get(key));
        let Some(value) = value.filter(|value| !value.is_null()) else { continue };
        let sent = header(headers, &format!("mcp-param-{}", name.to_ascii_lowercase()))
            .ok_or_else(|| format!("missing Mcp-Param-{name}"))?;
        let sent = decode(sent).ok_or_else(|| format!("Mcp-Param-{name} is badly encoded"))?;
        let matches = match value {
            Value::String(s) => *s == sent,
            Value::Number(n) => sent.parse::<f64>().ok() == n.as_f64(),
            Value::Bool(b) => b.to_string() == sent,
            _ => false,
        };
        if !matches {
            return Err(format!("Mcp-Param-{name} does not match the arguments"));
        }
    }
    Ok(())
}

async fn run_tool(name: &str, args: &Value) -> Value {
    let text = |text: String| json!({"content": [{"type": "text", "text": text}]});
    let missing = |field: &str| json!({"content": [{"type": "text", "text": format!("missing argument `{field}`")}], "isError": true});
    match name {
        "echo" => match args["text"].as_str() {
            Some(t) => json!({"content": [{"type": "text", "text": t}], "structuredContent": {"text": t}}),
            None => missing("text"),
        },
        "send_email" => match (args["to"].as_str(), args["subject"].as_str()) {
            (Some(to), Some(_)) => {
                let mut result = text(format!("email to {to} queued"));
                result["structuredContent"] = json!({"message_id": "msg-0001", "to": to});
                result
            }
            (None, _) => missing("to"),
            (_, None) => missing("subject"),
        },
        "delete_records" => match (args["table"].as_str(), args["count"].as_u64()) {
            (Some(table), Some(count)) => text(format!("deleted {count} records from {table}")),
            (None, _) => missing("table"),
            (_, None) => missing("count"),
        },
        "transfer_funds" => match (args["amount_usd"].as_f64(), args["to"].as_str()) {
            (Some(amount), Some(to)) => {
                let mut result = text(format!("transferred {amount:.2} USD to {to}"));
                result["structuredContent"] =
                    json!({"transfer_id": "tr-0001", "amount_usd": amount, "to": to});
                result
            }
            (None, _) => missing("amount_usd"),
            (_, None) => missing("to"),
        },
        "fail" => json!({"content": [{"type": "text", "text": "the tool failed: quota exhausted"}],
            "structuredContent": {"reason": "quota"}, "isError": true}),
        "slow" => {
            let ms = args["ms"].as_u64().unwrap_or(0);
            tokio::time::sleep(Duration::from_millis(ms)).await;
            text(format!("slept {ms} ms"))
        }
        _ => json!({"content": [{"type": "text", "text": args.to_string()}], "structuredContent": args}),
    }
}

/// The tools every test server offers.
fn catalogue() -> Vec<Value> {
    vec![
        json!({"name": "echo", "title": "Echo", "description": "Returns the text it is given.",
            "inputSchema": {"type": "object", "properties": {"text": {"type": "string", "description": "Text to echo."}},
                "required": ["text"], "additionalProperties": false},
            "outputSchema": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]},
            "annotations": {"readOnlyHint": true, "idempotentHint": true, "openWorldHint": false}}),
        json!({"name": "send_email", "title": "Send email", "description": "Sends an email on the user's behalf.",
            "inputSchema": {"type": "object", "properties": {
                "to": {"type": "string", "format": "email", "description": "Recipient address."},
                "subject": {"type": "string", "maxLength": 200},
                "body": {"type": "string"}}, "required": ["to", "subject", "body"]},
            "annotations": {"readOnlyHint": false, "destructiveHint": false, "idempotentHint": false, "openWorldHint": true}}),
        json!({"name": "delete_records", "title": "Delete records", "description": "Deletes rows from a table.",
            "inputSchema": {"type": "object", "properties": {
                "table": {"type": "string", "enum": ["customers", "orders", "invoices"]},
                "count": {"type": "integer", "minimum": 1}}, "required": ["table", "count"]},
            "annotations": {"readOnlyHint": false, "destructiveHint": true, "idempotentHint": false, "openWorldHint": false}}),
        json!({"name": "transfer_funds", "title": "Transfer funds", "description": "Wires money to an account.",
            "inputSchema": {"type": "object", "properties": {
                "amount_usd": {"type": "number", "exclusiveMinimum": 0},
                "to": {"type": "string", "description": "Destination IBAN."}}, "required": ["amount_usd", "to"]},
            "annotations": {"readOnlyHint": false, "destructiveHint": true, "idempotentHint": false, "openWorldHint": true}}),
        json!({"name": "fail", "description": "Always fails (a tool execution error).",
            "inputSchema": {"type": "object", "properties": {}},
            "annotations": {"readOnlyHint": true, "openWorldHint": false}}),
        json!({"name": "slow", "description": "Sleeps, then answers.",
            "inputSchema": {"type": "object", "properties": {"ms": {"type": "integer", "minimum": 0, "maximum": 60_000}},
                "required": ["ms"]},
            "annotations": {"readOnlyHint": true, "openWorldHint": false}}),
    ]
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

/// Decodes `=?base64?…?=` header values (2026-07-28 "Value Encoding").
fn decode(value: &str) -> Option<String> {
    match value.strip_prefix("=?base64?").and_then(|rest| rest.strip_suffix("?=")) {
        Some(encoded) => {
            String::from_utf8(base64::engine::general_purpose::STANDARD.decode(encoded).ok()?).ok()
        }
        None => Some(value.to_string()),
    }
}

fn event_stream(events: String) -> Response<Body> {
    Response::builder()
        .status(200)
        .header("content-type", "text/event-stream")
        .body(Body::from(events))
        .unwrap()
}

fn json_response(status: u16, body: &Value) -> Response<Body> {
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap())
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

fn rpc_error(status: u16, id: Value, code: i64, message: &str, data: Option<Value>) -> Response<Body> {
    let mut error = json!({"code": code, "message": message});
    if let Some(data) = data {
        error["data"] = data;
    }
    json_response(status, &json!({"jsonrpc": "2.0", "id": id, "error": error}))
}

fn plain(status: u16, body: &str) -> Response<Body> {
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap())
        .header("content-type", "text/plain")
        .body(Body::from(body.to_string()))
        .unwrap()
}
