//! A client for one upstream MCP server over Streamable HTTP, speaking both
//! protocol eras: the modern, stateless 2026-07-28 revision (every request
//! carries `_meta` and mirrored headers) and the legacy, `initialize`-based
//! revisions 2025-03-26 through 2025-11-25 (sessions via `Mcp-Session-Id`).
//!
//! The client connects lazily on first use: it sends `server/discover` the
//! modern way and stays stateless if the server answers it; otherwise it
//! falls back to `initialize`, keeps the session and re-initialises once
//! when the server forgets it (404). Answers may be a JSON body or an SSE
//! stream. `tools/call` results come back verbatim, because the gateway
//! hands them to the agent unchanged.
//!
//! It is not a general MCP client: it offers no client capabilities
//! (sampling, elicitation, roots), answers server-to-client requests with
//! "method not found" (pings with an empty result), and speaks only to the
//! one configured URL (no redirects). The credential headers configured for
//! the upstream never appear in errors, logs or `Debug` output.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use reqwest::{StatusCode, Url};
use serde_json::{Map, Value, json};
use tokio::sync::Mutex;

use super::headers::{self, ParamHeader};
use super::jsonrpc::{self, Id, Message, Notification, Payload, Request, Response, RpcError};
use super::protocol::{
    HEADER_MISMATCH, LATEST_LEGACY_VERSION, LEGACY_VERSIONS, META_CLIENT_CAPABILITIES, META_CLIENT_INFO,
    META_PROTOCOL_VERSION, META_SERVER_INFO, MISSING_REQUIRED_CLIENT_CAPABILITY, MODERN_VERSION,
    UNSUPPORTED_PROTOCOL_VERSION, is_modern_protocol_error,
};
use super::sse::{SseEvent, SseParser};

/// The largest JSON-RPC message (JSON body or SSE event) read from an upstream.
const MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;
/// `tools/list` pages followed before giving up on a server that never ends.
pub(crate) const MAX_TOOL_PAGES: usize = 100;
/// Bytes of an error body read to make an excerpt.
const EXCERPT_READ_BYTES: usize = 64 * 1024;
/// Characters of an error body kept in [`UpstreamError::HttpStatus`].
const EXCERPT_CHARS: usize = 512;
/// Times a broken legacy SSE stream is resumed (`Last-Event-ID`).
const MAX_RESUMPTIONS: usize = 5;
/// The longest `retry:` delay honoured before resuming a stream.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(5);
/// What every POST accepts: both answer forms of Streamable HTTP.
const ACCEPT_BOTH: &str = "application/json, text/event-stream";

/// Headers the transport sets itself; configuring them is refused.
const RESERVED_HEADERS: [&str; 10] = [
    "accept",
    "content-type",
    "content-length",
    "transfer-encoding",
    "connection",
    "host",
    headers::PROTOCOL_VERSION,
    headers::SESSION_ID,
    headers::METHOD,
    headers::NAME,
];

/// How to reach one upstream MCP server.
#[derive(Clone)]
pub struct UpstreamConfig {
    /// The upstream's name in the gateway (used in errors and logs).
    pub name: String,
    /// The MCP endpoint, `http://` or `https://`.
    pub url: String,
    /// Headers sent on every request: the upstream's own credential (e.g.
    /// `Authorization`). Never the agent's token: MCP forbids passing that on.
    pub headers: Vec<(String, String)>,
    /// The bound on each HTTP exchange, from sending the request to reading
    /// the JSON-RPC response (an SSE stream included).
    pub timeout: Duration,
    /// CAs trusted beside the system's (`--ca-file`).
    pub roots: crate::tls::OutboundRoots,
}

impl fmt::Debug for UpstreamConfig {
    /// Shows header names only: the values are credentials.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UpstreamConfig")
            .field("name", &self.name)
            .field("headers", &self.headers.iter().map(|(name, _)| name.as_str()).collect::<Vec<_>>())
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// A tool as the upstream lists it.
#[derive(Clone, Debug, PartialEq)]
pub struct Tool {
    /// The tool's name, unique on its server.
    pub name: String,
    /// A human-readable title.
    pub title: Option<String>,
    /// What the tool does.
    pub description: Option<String>,
    /// The JSON Schema of the arguments.
    pub input_schema: Value,
    /// The JSON Schema of `structuredContent`, if the tool declares one.
    pub output_schema: Option<Value>,
    /// Behaviour hints. Untrusted unless the server is.
    pub annotations: ToolAnnotations,
    /// The full tool object as received.
    pub raw: Value,
}

impl Tool {
    /// Reads one element of a `tools/list` result; the error says why it is
    /// not a usable tool.
    pub fn from_value(raw: Value) -> Result<Tool, String> {
        let object = raw.as_object().ok_or("a tool must be a json object")?;
        let name = object
            .get("name")
            .and_then(Value::as_str)
            .filter(|name| !name.is_empty())
            .ok_or("a tool needs a non-empty string `name`")?
            .to_string();
        let input_schema = object
            .get("inputSchema")
            .filter(|schema| schema.is_object())
            .cloned()
            .ok_or_else(|| format!("tool `{name}` has no `inputSchema` object"))?;
        let output_schema = match object.get("outputSchema") {
            None | Some(Value::Null) => None,
            Some(schema @ (Value::Object(_) | Value::Bool(_))) => Some(schema.clone()),
            Some(_) => return Err(format!("tool `{name}` has an `outputSchema` that is not a schema")),
        };
        let text = |key: &str| object.get(key).and_then(Value::as_str).map(str::to_string);
        let annotations = object.get("annotations").map(ToolAnnotations::from_value).unwrap_or_default();
        Ok(Tool {
            title: text("title"),
            description: text("description"),
            name,
            input_schema,
            output_schema,
            annotations,
            raw,
        })
    }

    /// The name to show a person: `title`, then `annotations.title`, then `name`.
    pub fn display_name(&self) -> &str {
        self.title.as_deref().or(self.annotations.title.as_deref()).unwrap_or(&self.name)
    }
}

/// A tool's behaviour hints (`annotations`). Each is `None` when the server
/// did not say (or said something that is not a boolean); the methods apply
/// the spec's defaults.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ToolAnnotations {
    /// A human-readable title.
    pub title: Option<String>,
    /// The tool does not modify its environment (default `false`).
    pub read_only_hint: Option<bool>,
    /// A modifying tool may destroy things (default `true`).
    pub destructive_hint: Option<bool>,
    /// Repeating a call with the same arguments has no further effect
    /// (default `false`).
    pub idempotent_hint: Option<bool>,
    /// The tool reaches beyond a closed domain, e.g. the internet
    /// (default `true`).
    pub open_world_hint: Option<bool>,
}

impl ToolAnnotations {
    /// Reads an `annotations` object; anything else gives no hints.
    pub fn from_value(value: &Value) -> Self {
        let flag = |key: &str| value.get(key).and_then(Value::as_bool);
        ToolAnnotations {
            title: value.get("title").and_then(Value::as_str).map(str::to_string),
            read_only_hint: flag("readOnlyHint"),
            destructive_hint: flag("destructiveHint"),
            idempotent_hint: flag("idempotentHint"),
            open_world_hint: flag("openWorldHint"),
        }
    }

    /// Whether the tool only reads.
    pub fn read_only(&self) -> bool {
        self.read_only_hint.unwrap_or(false)
    }

    /// Whether the tool may destroy things (never for a read-only tool).
    pub fn destructive(&self) -> bool {
        !self.read_only() && self.destructive_hint.unwrap_or(true)
    }

    /// Whether repeating a call is harmless.
    pub fn idempotent(&self) -> bool {
        self.read_only() || self.idempotent_hint.unwrap_or(false)
    }

    /// Whether the tool reaches an open world.
    pub fn open_world(&self) -> bool {
        self.open_world_hint.unwrap_or(true)
    }
}

/// What the upstream answered to `tools/call`.
#[derive(Clone, Debug, PartialEq)]
pub enum CallOutcome {
    /// The `CallToolResult` exactly as received (`content`,
    /// `structuredContent`, `isError`, `_meta`, …): tool failures
    /// (`isError: true`) are results too.
    Result(Map<String, Value>),
    /// The upstream's JSON-RPC error (e.g. `-32602` for an unknown tool),
    /// code, message and data as received.
    Error(RpcError),
}

impl CallOutcome {
    /// Whether the tool ran and reported a failure (`isError: true`).
    pub fn is_tool_error(&self) -> bool {
        matches!(self, CallOutcome::Result(result) if result.get("isError") == Some(&Value::Bool(true)))
    }

    /// Whether the upstream asks for client input first (2026-07-28
    /// `resultType: "input_required"`).
    pub fn needs_input(&self) -> bool {
        matches!(self, CallOutcome::Result(result)
            if result.get("resultType").and_then(Value::as_str) == Some("input_required"))
    }
}

/// The protocol era an upstream was found to speak.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Era {
    /// 2026-07-28: stateless, per-request `_meta`.
    Modern,
    /// 2025-03-26 … 2025-11-25: `initialize` and sessions.
    Legacy,
}

/// What the client and the upstream agreed on.
#[derive(Clone, Debug, PartialEq)]
pub struct Negotiated {
    /// The era.
    pub era: Era,
    /// The protocol version in use.
    pub protocol_version: String,
    /// The server's `Implementation` (`name`, `version`, …), if it sent one.
    pub server_info: Option<Value>,
    /// The server's capabilities.
    pub capabilities: Value,
    /// The server's instructions for its clients, if any.
    pub instructions: Option<String>,
}

/// Why talking to an upstream failed. Every variant names the upstream;
/// none carries its credential headers or URL.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum UpstreamError {
    /// The configuration cannot be used.
    #[error("upstream `{upstream}` is misconfigured: {reason}")]
    Config {
        /// The upstream's name.
        upstream: String,
        /// What is wrong.
        reason: String,
    },
    /// The upstream could not be reached, or the connection broke.
    #[error("upstream `{upstream}` is unreachable: {reason}")]
    Unreachable {
        /// The upstream's name.
        upstream: String,
        /// The transport's explanation.
        reason: String,
    },
    /// An exchange took longer than the configured timeout.
    #[error("upstream `{upstream}` did not answer within {} ms", .timeout.as_millis())]
    Timeout {
        /// The upstream's name.
        upstream: String,
        /// The configured bound.
        timeout: Duration,
    },
    /// The upstream answered with an HTTP status that is not a usable answer.
    #[error("upstream `{upstream}` answered http {status}: {body}")]
    HttpStatus {
        /// The upstream's name.
        upstream: String,
        /// The HTTP status.
        status: u16,
        /// The start of the body, whitespace collapsed, credentials redacted.
        body: String,
    },
    /// The upstream broke the protocol (bad JSON, wrong id, no result, …).
    #[error("upstream `{upstream}` broke the mcp protocol: {reason}")]
    Protocol {
        /// The upstream's name.
        upstream: String,
        /// What it did.
        reason: String,
    },
    /// The upstream speaks no protocol version Lictor speaks.
    #[error("upstream `{upstream}` speaks no protocol version lictor supports (it offers `{}`)", .offered.join("`, `"))]
    UnsupportedVersion {
        /// The upstream's name.
        upstream: String,
        /// The versions it offered.
        offered: Vec<String>,
    },
    /// The upstream answered a request other than a tool call's outcome
    /// with a JSON-RPC error.
    #[error("upstream `{upstream}` refused `{method}`: {error}")]
    Rpc {
        /// The upstream's name.
        upstream: String,
        /// The method refused.
        method: String,
        /// The error as received.
        error: RpcError,
    },
}

impl UpstreamError {
    /// A stable code for the kind of failure.
    pub fn code(&self) -> &'static str {
        match self {
            UpstreamError::Config { .. } => "upstream_misconfigured",
            UpstreamError::Unreachable { .. } => "upstream_unreachable",
            UpstreamError::Timeout { .. } => "upstream_timeout",
            UpstreamError::HttpStatus { .. } => "upstream_http_status",
            UpstreamError::Protocol { .. } => "upstream_protocol_violation",
            UpstreamError::UnsupportedVersion { .. } => "upstream_unsupported_version",
            UpstreamError::Rpc { .. } => "upstream_rpc_error",
        }
    }

    /// The upstream's name.
    pub fn upstream(&self) -> &str {
        match self {
            UpstreamError::Config { upstream, .. }
            | UpstreamError::Unreachable { upstream, .. }
            | UpstreamError::Timeout { upstream, .. }
            | UpstreamError::HttpStatus { upstream, .. }
            | UpstreamError::Protocol { upstream, .. }
            | UpstreamError::UnsupportedVersion { upstream, .. }
            | UpstreamError::Rpc { upstream, .. } => upstream,
        }
    }

    /// The upstream's HTTP status, for [`UpstreamError::HttpStatus`].
    pub fn http_status(&self) -> Option<u16> {
        match self {
            UpstreamError::HttpStatus { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The JSON-RPC error the gateway answers an agent with: `-32603`, and
    /// in `data` the upstream, this error's [`code`](Self::code), the HTTP
    /// status and the upstream's own JSON-RPC error where there is one.
    pub fn to_rpc_error(&self) -> RpcError {
        let mut data = Map::new();
        data.insert("upstream".into(), self.upstream().into());
        data.insert("error_code".into(), self.code().into());
        if let Some(status) = self.http_status() {
            data.insert("status".into(), status.into());
        }
        if let UpstreamError::Rpc { error, .. } = self {
            data.insert("upstream_error".into(), json!({"code": error.code, "message": error.message}));
        }
        RpcError::internal_error(self.to_string()).with_data(Value::Object(data))
    }
}

/// How requests are addressed once the era is known.
#[derive(Clone, Debug)]
enum Route {
    /// The `initialize` request itself: no protocol headers yet.
    Handshake,
    /// Stateless 2026-07-28.
    Modern,
    /// A legacy session (possibly without a session id).
    Legacy { version: String, session: Option<HeaderValue> },
}

/// The negotiated state shared by all requests until the session is lost.
#[derive(Debug)]
struct Connection {
    negotiated: Negotiated,
    route: Route,
}

impl Connection {
    fn has_session(&self) -> bool {
        matches!(self.route, Route::Legacy { session: Some(_), .. })
    }

    fn era(&self) -> Era {
        self.negotiated.era
    }
}

/// What discovery concluded.
enum Discovery {
    Modern(Connection),
    Legacy(&'static str),
}

/// How the upstream answered one request at the HTTP level.
enum Answer {
    /// A 2xx carrying the JSON-RPC response to the request.
    Payload(Payload),
    /// A non-2xx status, with a JSON-RPC error if the body held one.
    Rejected { status: StatusCode, excerpt: String, error: Option<(Option<Id>, RpcError)> },
}

/// A client for one upstream MCP server. Cheap to share behind an `Arc`;
/// concurrent calls run in parallel on one connection pool.
pub struct UpstreamClient {
    name: String,
    url: Url,
    http: reqwest::Client,
    credentials: HeaderMap,
    secrets: Vec<String>,
    timeout: Duration,
    next_id: AtomicU64,
    // INVARIANT: `None` until the first successful connect, and again after
    // `close`; replaced only while the lock is held, so one caller connects
    // while the others wait for its result.
    connection: Mutex<Option<Arc<Connection>>>,
    // Modern era: each listed tool's `x-mcp-header` arguments.
    param_headers: RwLock<HashMap<String, Vec<ParamHeader>>>,
    log: slog::Logger,
}

impl fmt::Debug for UpstreamClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UpstreamClient")
            .field("name", &self.name)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl UpstreamClient {
    /// A client for `config`. Nothing is sent until the first call.
    pub fn new(config: UpstreamConfig) -> Result<Self, UpstreamError> {
        let UpstreamConfig { name, url, headers, timeout, roots } = config;
        let misconfigured = |reason: String| UpstreamError::Config { upstream: name.clone(), reason };
        if name.trim().is_empty() {
            return Err(misconfigured("the name is empty".into()));
        }
        let url = Url::parse(&url)
            .ok()
            .filter(|url| matches!(url.scheme(), "http" | "https") && url.host().is_some())
            .ok_or_else(|| misconfigured("`url` is not an http or https url".into()))?;
        if timeout.is_zero() {
            return Err(misconfigured("`timeout` must be positive".into()));
        }
        let mut credentials = HeaderMap::new();
        let mut secrets = Vec::new();
        for (header, value) in headers {
            let parsed = HeaderName::from_bytes(header.trim().as_bytes())
                .map_err(|_| misconfigured(format!("`{header}` is not a valid header name")))?;
            if RESERVED_HEADERS.contains(&parsed.as_str())
                || parsed.as_str().starts_with(headers::PARAM_PREFIX)
            {
                return Err(misconfigured(format!("header `{header}` is set by the mcp transport")));
            }
            let mut parsed_value = HeaderValue::from_str(value.trim()).map_err(|_| {
                misconfigured(format!("the value of header `{header}` is not a valid header value"))
            })?;
            parsed_value.set_sensitive(true);
            credentials.append(parsed, parsed_value);
            secrets.extend(secret_forms(&value));
        }
        secrets.sort_by_key(|secret| std::cmp::Reverse(secret.len()));
        let http = roots
            .client_builder()
            .connect_timeout(timeout)
            .build()
            .map_err(|e| misconfigured(format!("cannot build the http client: {e}")))?;
        Ok(UpstreamClient {
            name,
            url,
            http,
            credentials,
            secrets,
            timeout,
            next_id: AtomicU64::new(1),
            connection: Mutex::new(None),
            param_headers: RwLock::new(HashMap::new()),
            log: slog::Logger::root(slog::Discard, slog::o!()),
        })
    }

    /// The same client logging to `log` (warnings for rejected tools,
    /// session renewals, failed clean-ups).
    pub fn with_logger(mut self, log: slog::Logger) -> Self {
        self.log = log.new(slog::o!("upstream" => self.name.clone()));
        self
    }

    /// The upstream's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The negotiated era, version and server details, connecting first if
    /// needed.
    pub async fn negotiated(&self) -> Result<Negotiated, UpstreamError> {
        Ok(self.connection().await?.negotiated.clone())
    }

    /// Every tool the upstream offers, following `nextCursor` for at most
    /// `MAX_TOOL_PAGES` pages. Tools that are malformed, or (modern era)
    /// whose `x-mcp-header` annotations break the spec's rules, are left out
    /// with a warning, as 2026-07-28 requires.
    pub async fn list_tools(&self) -> Result<Vec<Tool>, UpstreamError> {
        let method = "tools/list";
        let mut tools = Vec::new();
        let mut names = HashSet::new();
        let mut params_headers = HashMap::new();
        let mut cursors = HashSet::new();
        let mut cursor: Option<String> = None;
        for _ in 0..MAX_TOOL_PAGES {
            let mut params = Map::new();
            if let Some(cursor) = cursor.take() {
                params.insert("cursor".into(), Value::String(cursor));
            }
            let (payload, era) = self.request(method, params, HeaderMap::new()).await?;
            let mut result = self.result_object(payload, method)?;
            if result.get("resultType").and_then(Value::as_str) == Some("input_required") {
                return Err(
                    self.protocol(format!("`{method}` asked for client input, which lictor cannot give"))
                );
            }
            let Some(Value::Array(page)) = result.remove("tools") else {
                return Err(self.protocol(format!("the result of `{method}` has no `tools` array")));
            };
            for raw in page {
                let tool = match Tool::from_value(raw) {
                    Ok(tool) => tool,
                    Err(reason) => {
                        slog::warn!(self.log, "upstream tool left out"; "reason" => reason);
                        continue;
                    }
                };
                if era == Era::Modern {
                    match headers::param_headers(&tool.input_schema) {
                        Ok(found) => {
                            params_headers.insert(tool.name.clone(), found);
                        }
                        Err(reason) => {
                            slog::warn!(self.log, "upstream tool left out"; "tool" => &tool.name, "reason" => reason);
                            continue;
                        }
                    }
                }
                if names.insert(tool.name.clone()) {
                    tools.push(tool);
                } else {
                    slog::warn!(self.log, "upstream tool listed twice, first kept"; "tool" => &tool.name);
                }
            }
            match result.remove("nextCursor") {
                None | Some(Value::Null) => {
                    *self.param_headers.write().unwrap_or_else(PoisonError::into_inner) = params_headers;
                    return Ok(tools);
                }
                Some(Value::String(next)) => {
                    if !cursors.insert(next.clone()) {
                        return Err(self.protocol(format!("`{method}` repeated the cursor `{next}`")));
                    }
                    cursor = Some(next);
                }
                Some(_) => return Err(self.protocol(format!("`nextCursor` of `{method}` is not a string"))),
            }
        }
        Err(self.protocol(format!("`{method}` did not end within {MAX_TOOL_PAGES} pages")))
    }

    /// Calls a tool. A result (tool failures with `isError: true` included)
    /// and the upstream's JSON-RPC error are both outcomes, returned as
    /// received; only transport and protocol failures are errors.
    pub async fn call_tool(
        &self,
        name: &str,
        arguments: &Map<String, Value>,
    ) -> Result<CallOutcome, UpstreamError> {
        let method = "tools/call";
        let mut params = Map::new();
        params.insert("name".into(), name.into());
        params.insert("arguments".into(), Value::Object(arguments.clone()));
        let mut relisted = false;
        loop {
            let (payload, era) =
                self.request(method, params.clone(), self.call_headers(name, arguments)).await?;
            match payload {
                Payload::Result(Value::Object(result)) => return Ok(CallOutcome::Result(result)),
                Payload::Result(_) => {
                    return Err(self.protocol(format!("the result of `{method}` is not an object")));
                }
                // The tool's `x-mcp-header` arguments may have changed since
                // the last listing: the spec says relist, then retry.
                Payload::Error(error) if era == Era::Modern && error.code == HEADER_MISMATCH && !relisted => {
                    relisted = true;
                    self.list_tools().await?;
                }
                Payload::Error(error) if era == Era::Modern && is_modern_protocol_error(error.code) => {
                    return Err(self.rpc_error(method, error));
                }
                Payload::Error(error) => return Ok(CallOutcome::Error(error)),
            }
        }
    }

    /// Ends a legacy session (HTTP DELETE, best effort) and forgets the
    /// negotiated state; the next call connects again.
    pub async fn close(&self) {
        let Some(connection) = self.connection.lock().await.take() else { return };
        if connection.has_session() {
            self.terminate(&connection.route).await;
        }
    }

    // ---- connection state ------------------------------------------------

    async fn connection(&self) -> Result<Arc<Connection>, UpstreamError> {
        let mut current = self.connection.lock().await;
        if let Some(connection) = current.as_ref() {
            return Ok(Arc::clone(connection));
        }
        let connection = Arc::new(self.connect().await?);
        *current = Some(Arc::clone(&connection));
        Ok(connection)
    }

    /// Replaces a session the server no longer knows, unless another caller
    /// already did.
    async fn renew(&self, stale: &Arc<Connection>) -> Result<Arc<Connection>, UpstreamError> {
        let mut current = self.connection.lock().await;
        if let Some(connection) = current.as_ref().filter(|current| !Arc::ptr_eq(current, stale)) {
            return Ok(Arc::clone(connection));
        }
        *current = None;
        slog::info!(self.log, "upstream session expired, initialising again");
        let connection = Arc::new(self.initialize(LATEST_LEGACY_VERSION).await?);
        *current = Some(Arc::clone(&connection));
        Ok(connection)
    }

    async fn connect(&self) -> Result<Connection, UpstreamError> {
        match self.discover().await? {
            Discovery::Modern(connection) => Ok(connection),
            Discovery::Legacy(version) => self.initialize(version).await,
        }
    }

    /// Asks `server/discover` the modern way and decides the era from the
    /// answer (2026-07-28 "Backward Compatibility").
    async fn discover(&self) -> Result<Discovery, UpstreamError> {
        let method = "server/discover";
        let id = self.next_id();
        let mut params = Map::new();
        params.insert("_meta".into(), modern_meta());
        let body = Request::new(id.clone(), method, Some(Value::Object(params))).to_bytes();
        let answer = match self.exchange(&Route::Modern, &id, method, body, HeaderMap::new()).await {
            Ok((answer, _)) => answer,
            // Not JSON-RPC at all: not a modern server.
            Err(UpstreamError::Protocol { reason, .. }) => {
                slog::debug!(self.log, "discovery answer unusable, trying initialize"; "reason" => reason);
                return Ok(Discovery::Legacy(LATEST_LEGACY_VERSION));
            }
            Err(error) => return Err(error),
        };
        let error = match answer {
            Answer::Payload(Payload::Result(result)) => return self.discovered(result),
            Answer::Payload(Payload::Error(error)) => error,
            Answer::Rejected { status, excerpt, .. } if is_fatal_status(status) => {
                return Err(self.status_error(status, excerpt));
            }
            Answer::Rejected { error: Some((_, error)), .. } => error,
            Answer::Rejected { .. } => return Ok(Discovery::Legacy(LATEST_LEGACY_VERSION)),
        };
        match error.code {
            UNSUPPORTED_PROTOCOL_VERSION => {
                let supported = supported_versions(error.data.as_ref());
                match best_legacy(&supported) {
                    Some(version) => Ok(Discovery::Legacy(version)),
                    None => Err(self.unsupported(supported)),
                }
            }
            HEADER_MISMATCH | MISSING_REQUIRED_CLIENT_CAPABILITY => Err(self.rpc_error(method, error)),
            _ => Ok(Discovery::Legacy(LATEST_LEGACY_VERSION)),
        }
    }

    fn discovered(&self, result: Value) -> Result<Discovery, UpstreamError> {
        let Some(listed) = result.get("supportedVersions") else {
            // Some result, but not a modern one.
            return Ok(Discovery::Legacy(LATEST_LEGACY_VERSION));
        };
        let supported = supported_versions(Some(&json!({"supported": listed})));
        if supported.iter().any(|version| version == MODERN_VERSION) {
            let server_info = result
                .pointer(&format!("/_meta/{}", META_SERVER_INFO.replace('/', "~1")))
                .or_else(|| result.get("serverInfo"))
                .cloned();
            let negotiated = Negotiated {
                era: Era::Modern,
                protocol_version: MODERN_VERSION.to_string(),
                server_info,
                capabilities: result.get("capabilities").cloned().unwrap_or_else(|| json!({})),
                instructions: result.get("instructions").and_then(Value::as_str).map(str::to_string),
            };
            return Ok(Discovery::Modern(Connection { negotiated, route: Route::Modern }));
        }
        match best_legacy(&supported) {
            Some(version) => Ok(Discovery::Legacy(version)),
            None => Err(self.unsupported(supported)),
        }
    }

    /// The legacy handshake: `initialize` (accepting a counter-offer of a
    /// supported version, or retrying once with one the server names in an
    /// error), then `notifications/initialized`.
    async fn initialize(&self, offer: &'static str) -> Result<Connection, UpstreamError> {
        let method = "initialize";
        let mut offer = offer;
        let mut retried = false;
        loop {
            let id = self.next_id();
            let params = json!({"protocolVersion": offer, "capabilities": {}, "clientInfo": client_info()});
            let body = Request::new(id.clone(), method, Some(params)).to_bytes();
            let (answer, session) =
                self.exchange(&Route::Handshake, &id, method, body, HeaderMap::new()).await?;
            let error = match answer {
                Answer::Payload(Payload::Result(result)) => return self.initialized(result, session).await,
                Answer::Payload(Payload::Error(error)) => error,
                Answer::Rejected { status, error: Some((_, error)), .. } if !is_fatal_status(status) => error,
                Answer::Rejected { status, excerpt, .. } => return Err(self.status_error(status, excerpt)),
            };
            let supported = supported_versions(error.data.as_ref());
            match best_legacy(&supported) {
                Some(version) if version != offer && !retried => {
                    offer = version;
                    retried = true;
                }
                _ if !supported.is_empty() => return Err(self.unsupported(supported)),
                _ => return Err(self.rpc_error(method, error)),
            }
        }
    }

    async fn initialized(
        &self,
        result: Value,
        session: Option<HeaderValue>,
    ) -> Result<Connection, UpstreamError> {
        let Value::Object(result) = result else {
            return Err(self.protocol("the result of `initialize` is not an object".into()));
        };
        let version = result
            .get("protocolVersion")
            .and_then(Value::as_str)
            .ok_or_else(|| self.protocol("the result of `initialize` has no `protocolVersion`".into()))?
            .to_string();
        if let Some(session) = &session
            && !session.to_str().is_ok_and(headers::is_valid_session_id)
        {
            return Err(self.protocol("the session id is not visible ascii".into()));
        }
        let route = Route::Legacy { version: version.clone(), session };
        if !LEGACY_VERSIONS.contains(&version.as_str()) {
            // The spec says disconnect; end the session it may have opened.
            if matches!(route, Route::Legacy { session: Some(_), .. }) {
                self.terminate(&route).await;
            }
            return Err(self.unsupported(vec![version]));
        }
        let notification = Notification::new("notifications/initialized", None).to_bytes();
        self.notify(&route, "notifications/initialized", notification).await?;
        let negotiated = Negotiated {
            era: Era::Legacy,
            protocol_version: version,
            server_info: result.get("serverInfo").cloned(),
            capabilities: result.get("capabilities").cloned().unwrap_or_else(|| json!({})),
            instructions: result.get("instructions").and_then(Value::as_str).map(str::to_string),
        };
        Ok(Connection { negotiated, route })
    }

    // ---- requests ----------------------------------------------------------

    /// Sends a request on the current connection; renews a legacy session
    /// once on 404. `modern_headers` are added in the modern era only.
    async fn request(
        &self,
        method: &str,
        params: Map<String, Value>,
        modern_headers: HeaderMap,
    ) -> Result<(Payload, Era), UpstreamError> {
        let mut connection = self.connection().await?;
        let mut renewed = false;
        loop {
            let id = self.next_id();
            let mut params = params.clone();
            let mut extra = HeaderMap::new();
            if connection.era() == Era::Modern {
                params.insert("_meta".into(), modern_meta());
                extra = modern_headers.clone();
            }
            let body = Request::new(id.clone(), method, Some(Value::Object(params))).to_bytes();
            match self.exchange(&connection.route, &id, method, body, extra).await?.0 {
                Answer::Payload(payload) => return Ok((payload, connection.era())),
                Answer::Rejected { status: StatusCode::NOT_FOUND, .. }
                    if connection.has_session() && !renewed =>
                {
                    renewed = true;
                    connection = self.renew(&connection).await?;
                }
                Answer::Rejected { error: Some((Some(error_id), error)), .. } if error_id == id => {
                    return Ok((Payload::Error(error), connection.era()));
                }
                Answer::Rejected { status, excerpt, .. } => return Err(self.status_error(status, excerpt)),
            }
        }
    }

    /// `Mcp-Name` and `Mcp-Param-*` for a modern `tools/call`.
    fn call_headers(&self, name: &str, arguments: &Map<String, Value>) -> HeaderMap {
        let mut out = HeaderMap::new();
        if let Ok(value) = HeaderValue::from_str(&headers::encode_value(name)) {
            out.insert(HeaderName::from_static(headers::NAME), value);
        }
        let known = self.param_headers.read().unwrap_or_else(PoisonError::into_inner);
        for param in known.get(name).into_iter().flatten() {
            let header = HeaderName::from_bytes(param.header_name().as_bytes());
            let value = param.value(arguments).and_then(|value| HeaderValue::from_str(&value).ok());
            if let (Ok(header), Some(value)) = (header, value) {
                out.insert(header, value);
            }
        }
        out
    }

    /// One POST and the reading of its answer, bounded by the timeout.
    /// Also returns the `Mcp-Session-Id` response header.
    async fn exchange(
        &self,
        route: &Route,
        id: &Id,
        method: &str,
        body: Vec<u8>,
        extra: HeaderMap,
    ) -> Result<(Answer, Option<HeaderValue>), UpstreamError> {
        let work = async {
            let response = self.post(route, Some(method), body, extra).await?;
            let session = response.headers().get(headers::SESSION_ID).cloned();
            Ok((self.read_answer(response, id, route, method).await?, session))
        };
        tokio::time::timeout(self.timeout, work).await.unwrap_or_else(|_| Err(self.timeout_error()))
    }

    /// A notification POST, which the server must accept with 202.
    async fn notify(&self, route: &Route, method: &str, body: Vec<u8>) -> Result<(), UpstreamError> {
        let work = async {
            let mut response = self.post(route, Some(method), body, HeaderMap::new()).await?;
            let status = response.status();
            if status.is_success() {
                return Ok(());
            }
            let body = read_limited(&mut response, EXCERPT_READ_BYTES).await.map(|(body, _)| body);
            Err(self.status_error(status, self.excerpt(&body.unwrap_or_default())))
        };
        tokio::time::timeout(self.timeout, work).await.unwrap_or_else(|_| Err(self.timeout_error()))
    }

    async fn post(
        &self,
        route: &Route,
        method: Option<&str>,
        body: Vec<u8>,
        extra: HeaderMap,
    ) -> Result<reqwest::Response, UpstreamError> {
        let mut headers = self.base_headers(route, method);
        headers.insert(ACCEPT, HeaderValue::from_static(ACCEPT_BOTH));
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.extend(extra);
        crate::telemetry::propagate(&mut headers);
        self.http
            .post(self.url.clone())
            .headers(headers)
            .body(body)
            .send()
            .await
            .map_err(|e| self.transport_error(e, "cannot send the request"))
    }

    /// Credentials plus the era's protocol headers.
    fn base_headers(&self, route: &Route, method: Option<&str>) -> HeaderMap {
        let mut headers = self.credentials.clone();
        let version = HeaderName::from_static(headers::PROTOCOL_VERSION);
        match route {
            Route::Handshake => {}
            Route::Modern => {
                headers.insert(version, HeaderValue::from_static(MODERN_VERSION));
                if let Some(value) = method.and_then(|method| HeaderValue::from_str(method).ok()) {
                    headers.insert(HeaderName::from_static(headers::METHOD), value);
                }
            }
            Route::Legacy { version: negotiated, session } => {
                if let Ok(value) = HeaderValue::from_str(negotiated) {
                    headers.insert(version, value);
                }
                if let Some(session) = session {
                    headers.insert(HeaderName::from_static(headers::SESSION_ID), session.clone());
                }
            }
        }
        headers
    }

    async fn read_answer(
        &self,
        mut response: reqwest::Response,
        id: &Id,
        route: &Route,
        method: &str,
    ) -> Result<Answer, UpstreamError> {
        let status = response.status();
        if !status.is_success() {
            let body = read_limited(&mut response, EXCERPT_READ_BYTES).await.map(|(body, _)| body);
            let body = body.unwrap_or_default();
            let error = match jsonrpc::parse_message(&body) {
                Ok(Message::Response(Response { id, payload: Payload::Error(error) })) => Some((id, error)),
                _ => None,
            };
            return Ok(Answer::Rejected { status, excerpt: self.excerpt(&body), error });
        }
        if status == StatusCode::ACCEPTED || status == StatusCode::NO_CONTENT {
            return Err(
                self.protocol(format!("answered `{method}` with http {} and no response", status.as_u16()))
            );
        }
        let content_type = response.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
        if mime_essence(content_type) == "text/event-stream" {
            return self.read_stream(response, id, route, method).await.map(Answer::Payload);
        }
        let (body, truncated) = read_limited(&mut response, MAX_MESSAGE_BYTES)
            .await
            .map_err(|e| self.transport_error(e, "the connection broke while reading the response"))?;
        if truncated {
            return Err(
                self.protocol(format!("the response to `{method}` exceeds {MAX_MESSAGE_BYTES} bytes"))
            );
        }
        match jsonrpc::parse_message(&body) {
            Ok(Message::Response(response)) => self.matching(response, id, method).map(Answer::Payload),
            Ok(_) => {
                Err(self
                    .protocol(format!("answered `{method}` with a json-rpc message that is not a response")))
            }
            Err(error) => Err(self.protocol(format!(
                "answered `{method}` with a body that is not json-rpc: {}",
                error.message
            ))),
        }
    }

    /// Reads an SSE answer until the response to `id`, resuming a broken
    /// legacy stream with `Last-Event-ID` (2025-11-25 polling).
    async fn read_stream(
        &self,
        mut response: reqwest::Response,
        id: &Id,
        route: &Route,
        method: &str,
    ) -> Result<Payload, UpstreamError> {
        let mut parser = SseParser::new(MAX_MESSAGE_BYTES);
        let mut resumptions = 0;
        loop {
            let broke = loop {
                match response.chunk().await {
                    Ok(Some(chunk)) => {
                        let events = parser.feed(&chunk).map_err(|e| self.protocol(e.to_string()))?;
                        for event in events {
                            if let Some(payload) = self.stream_event(event, id, route, method).await? {
                                return Ok(payload);
                            }
                        }
                    }
                    Ok(None) => break None,
                    Err(error) => break Some(error),
                }
            };
            let resumable = matches!(route, Route::Legacy { .. }) && resumptions < MAX_RESUMPTIONS;
            let Some(last_event_id) = parser.last_event_id().filter(|_| resumable).map(str::to_string) else {
                return Err(match broke {
                    Some(error) => self.transport_error(error, "the event stream broke"),
                    None => {
                        self.protocol(format!("the event stream ended before the response to `{method}`"))
                    }
                });
            };
            resumptions += 1;
            tokio::time::sleep(parser.retry().unwrap_or(Duration::ZERO).min(MAX_RETRY_DELAY)).await;
            response = self.resume(route, &last_event_id, method).await?;
            parser.reconnected();
        }
    }

    /// Reopens a legacy stream after `last_event_id` (HTTP GET).
    async fn resume(
        &self,
        route: &Route,
        last_event_id: &str,
        method: &str,
    ) -> Result<reqwest::Response, UpstreamError> {
        let mut headers = self.base_headers(route, None);
        headers.insert(ACCEPT, HeaderValue::from_static("text/event-stream"));
        let last = HeaderValue::from_str(last_event_id)
            .map_err(|_| self.protocol("the event id is not a valid header value".into()))?;
        headers.insert(HeaderName::from_static(headers::LAST_EVENT_ID), last);
        let mut response = self
            .http
            .get(self.url.clone())
            .headers(headers)
            .send()
            .await
            .map_err(|e| self.transport_error(e, "cannot resume the event stream"))?;
        let status = response.status();
        if status == StatusCode::METHOD_NOT_ALLOWED {
            return Err(self.protocol(format!("the event stream for `{method}` broke and cannot be resumed")));
        }
        if !status.is_success() {
            let body = read_limited(&mut response, EXCERPT_READ_BYTES).await.map(|(body, _)| body);
            return Err(self.status_error(status, self.excerpt(&body.unwrap_or_default())));
        }
        Ok(response)
    }

    /// Handles one SSE event; `Some` once it is the awaited response.
    async fn stream_event(
        &self,
        event: SseEvent,
        id: &Id,
        route: &Route,
        method: &str,
    ) -> Result<Option<Payload>, UpstreamError> {
        // Priming events (an id and empty data) and foreign event types
        // carry no JSON-RPC message.
        if event.event != "message" || event.data.trim().is_empty() {
            return Ok(None);
        }
        match jsonrpc::parse_message(event.data.as_bytes()) {
            Ok(Message::Response(response)) => self.matching(response, id, method).map(Some),
            Ok(Message::Request(request)) => {
                self.answer_server_request(route, request).await;
                Ok(None)
            }
            Ok(Message::Notification(_)) => Ok(None),
            Ok(Message::Batch(_)) => Err(self.protocol("sent a json-rpc batch on the event stream".into())),
            Err(error) => {
                Err(self.protocol(format!("sent an event that is not json-rpc: {}", error.message)))
            }
        }
    }

    /// Answers a legacy server's request on a response stream: `ping` with
    /// an empty result, anything else (sampling, elicitation, roots, which
    /// the gateway never offered) with "method not found".
    async fn answer_server_request(&self, route: &Route, request: Request) {
        if !matches!(route, Route::Legacy { .. }) {
            slog::debug!(self.log, "ignored a server request"; "method" => &request.method);
            return;
        }
        let response = if request.method == "ping" {
            Response::result(request.id, json!({}))
        } else {
            Response::error(Some(request.id), RpcError::method_not_found(&request.method))
        };
        if let Err(error) = self.notify(route, "", response.to_bytes()).await {
            slog::warn!(self.log, "cannot answer a server request"; "method" => &request.method, "error" => %error);
        }
    }

    /// Ends a legacy session with HTTP DELETE; failures are only logged.
    async fn terminate(&self, route: &Route) {
        let request = self.http.delete(self.url.clone()).headers(self.base_headers(route, None)).send();
        match tokio::time::timeout(self.timeout, request).await {
            Ok(Ok(response)) if response.status().is_success() => {}
            Ok(Ok(response)) if response.status() == StatusCode::METHOD_NOT_ALLOWED => {}
            Ok(Ok(response)) => {
                slog::debug!(self.log, "session not ended"; "status" => response.status().as_u16())
            }
            Ok(Err(error)) => {
                slog::debug!(self.log, "session not ended"; "error" => %self.transport_error(error, "delete"));
            }
            Err(_) => slog::debug!(self.log, "session not ended"; "error" => "timeout"),
        }
    }

    // ---- small pieces ------------------------------------------------------

    fn next_id(&self) -> Id {
        Id::from(self.next_id.fetch_add(1, Ordering::Relaxed))
    }

    /// The payload of a response, if it answers `id`.
    fn matching(&self, response: Response, id: &Id, method: &str) -> Result<Payload, UpstreamError> {
        match (&response.id, &response.payload) {
            (Some(got), _) if got == id => Ok(response.payload),
            (Some(got), _) => Err(self.protocol(format!("answered `{method}` (id {id}) with id {got}"))),
            // One request per POST: an error without id can only be about it.
            (None, Payload::Error(_)) => Ok(response.payload),
            (None, Payload::Result(_)) => Err(self.protocol(format!("answered `{method}` without an id"))),
        }
    }

    fn result_object(&self, payload: Payload, method: &str) -> Result<Map<String, Value>, UpstreamError> {
        match payload {
            Payload::Result(Value::Object(result)) => Ok(result),
            Payload::Result(_) => Err(self.protocol(format!("the result of `{method}` is not an object"))),
            Payload::Error(error) => Err(self.rpc_error(method, error)),
        }
    }

    fn protocol(&self, reason: String) -> UpstreamError {
        UpstreamError::Protocol { upstream: self.name.clone(), reason: self.redact(&reason) }
    }

    fn unsupported(&self, offered: Vec<String>) -> UpstreamError {
        UpstreamError::UnsupportedVersion { upstream: self.name.clone(), offered }
    }

    fn rpc_error(&self, method: &str, error: RpcError) -> UpstreamError {
        UpstreamError::Rpc { upstream: self.name.clone(), method: method.to_string(), error }
    }

    fn timeout_error(&self) -> UpstreamError {
        UpstreamError::Timeout { upstream: self.name.clone(), timeout: self.timeout }
    }

    fn status_error(&self, status: StatusCode, excerpt: String) -> UpstreamError {
        UpstreamError::HttpStatus { upstream: self.name.clone(), status: status.as_u16(), body: excerpt }
    }

    fn transport_error(&self, error: reqwest::Error, context: &str) -> UpstreamError {
        if error.is_timeout() {
            return self.timeout_error();
        }
        let error = error.without_url();
        let mut reason = context.to_string();
        let mut cause: Option<&dyn std::error::Error> = Some(&error);
        while let Some(current) = cause {
            let text = current.to_string();
            if !reason.contains(&text) {
                reason.push_str(": ");
                reason.push_str(&text);
            }
            cause = current.source();
        }
        UpstreamError::Unreachable { upstream: self.name.clone(), reason: self.redact(&reason) }
    }

    /// A short, single-line, credential-free excerpt of a body.
    fn excerpt(&self, body: &[u8]) -> String {
        let text = self.redact(&String::from_utf8_lossy(body));
        let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
        match text.char_indices().nth(EXCERPT_CHARS) {
            Some((cut, _)) => format!("{}…", &text[..cut]),
            None => text,
        }
    }

    /// Removes the configured credentials and the URL from a text.
    fn redact(&self, text: &str) -> String {
        let mut text = text.replace(self.url.as_str(), "[url]");
        for secret in &self.secrets {
            text = text.replace(secret.as_str(), "[redacted]");
        }
        text
    }
}

/// The forms of a credential worth redacting: the whole value and, for
/// `Scheme token` values, the token alone. Very short strings are left
/// alone (redacting `a` would garble every message).
fn secret_forms(value: &str) -> Vec<String> {
    let value = value.trim();
    let mut forms = vec![value.to_string()];
    if let Some((_, token)) = value.rsplit_once(' ') {
        forms.push(token.to_string());
    }
    forms.retain(|form| form.len() >= 4);
    forms
}

/// Statuses after which falling back to another era or version is
/// pointless: authentication, rate limiting and server failures.
fn is_fatal_status(status: StatusCode) -> bool {
    matches!(status.as_u16(), 401 | 403 | 407 | 429) || status.is_server_error()
}

/// The `supported` versions listed in an error's or result's data.
fn supported_versions(data: Option<&Value>) -> Vec<String> {
    data.and_then(|data| data.get("supported"))
        .and_then(Value::as_array)
        .map(|versions| versions.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .unwrap_or_default()
}

/// The newest legacy version Lictor supports among `offered`.
fn best_legacy(offered: &[String]) -> Option<&'static str> {
    LEGACY_VERSIONS.into_iter().find(|version| offered.iter().any(|offered| offered == version))
}

/// Who Lictor is, for `clientInfo`.
fn client_info() -> Value {
    json!({"name": "lictor", "version": env!("CARGO_PKG_VERSION")})
}

/// The `_meta` every modern request carries. Lictor declares no client
/// capabilities: the agent behind it is not reachable from the upstream.
fn modern_meta() -> Value {
    let mut meta = Map::new();
    meta.insert(META_PROTOCOL_VERSION.into(), MODERN_VERSION.into());
    meta.insert(META_CLIENT_CAPABILITIES.into(), json!({}));
    meta.insert(META_CLIENT_INFO.into(), client_info());
    Value::Object(meta)
}

/// `text/event-stream; charset=utf-8` → `text/event-stream`.
fn mime_essence(content_type: &str) -> String {
    content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase()
}

/// Reads at most `limit` bytes of a body; the flag says whether more was left.
async fn read_limited(
    response: &mut reqwest::Response,
    limit: usize,
) -> Result<(Vec<u8>, bool), reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        let room = limit - body.len();
        if chunk.len() > room {
            body.extend_from_slice(&chunk[..room]);
            return Ok((body, true));
        }
        body.extend_from_slice(&chunk);
    }
    Ok((body, false))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(headers: Vec<(&str, &str)>) -> UpstreamConfig {
        UpstreamConfig {
            name: "crm".into(),
            url: "http://127.0.0.1:9/mcp".into(),
            headers: headers.into_iter().map(|(n, v)| (n.to_string(), v.to_string())).collect(),
            timeout: Duration::from_secs(1),
            roots: crate::tls::OutboundRoots::default(),
        }
    }

    #[test]
    fn configuration_is_checked_without_echoing_credentials() {
        assert!(UpstreamClient::new(config(vec![("authorization", "Bearer sekrit\n")])).is_ok());
        let err = UpstreamClient::new(config(vec![("authorization", "Bearer s\u{1}ekrit")])).unwrap_err();
        assert_eq!(err.code(), "upstream_misconfigured");
        assert!(!err.to_string().contains("ekrit"), "{err}");
        let err = UpstreamClient::new(config(vec![("Mcp-Session-Id", "x")])).unwrap_err();
        assert!(err.to_string().contains("set by the mcp transport"), "{err}");
        let mut ftp = config(vec![]);
        ftp.url = "ftp://example.com/".into();
        assert_eq!(UpstreamClient::new(ftp).unwrap_err().code(), "upstream_misconfigured");
        let shown = format!("{:?}", config(vec![("authorization", "Bearer sekrit")]));
        assert!(shown.contains("authorization") && !shown.contains("sekrit"), "{shown}");
    }

    #[test]
    fn excerpts_are_bounded_single_line_and_redacted() {
        let client = UpstreamClient::new(config(vec![("authorization", "Bearer tok-123456")])).unwrap();
        let excerpt = client.excerpt(b"bad token\n\n tok-123456 at http://127.0.0.1:9/mcp");
        assert_eq!(excerpt, "bad token [redacted] at [url]");
        let long = client.excerpt("é".repeat(2000).as_bytes());
        assert_eq!(long.chars().count(), EXCERPT_CHARS + 1);
    }

    #[test]
    fn annotations_apply_the_spec_defaults() {
        let none = ToolAnnotations::default();
        assert!(!none.read_only() && none.destructive() && !none.idempotent() && none.open_world());
        let read_only = ToolAnnotations::from_value(&json!({"readOnlyHint": true, "destructiveHint": true}));
        assert!(read_only.read_only() && !read_only.destructive() && read_only.idempotent());
        let junk = ToolAnnotations::from_value(&json!({"destructiveHint": "no"}));
        assert_eq!(junk.destructive_hint, None);
    }

    #[test]
    fn tools_need_a_name_and_an_input_schema() {
        let tool = Tool::from_value(json!({"name":"echo","inputSchema":{"type":"object"},
            "annotations":{"title":"Echo it"}}))
        .unwrap();
        assert_eq!(tool.display_name(), "Echo it");
        assert!(Tool::from_value(json!({"name":"x"})).is_err());
        assert!(Tool::from_value(json!({"inputSchema":{}})).is_err());
        assert!(Tool::from_value(json!({"name":"x","inputSchema":{},"outputSchema":3})).is_err());
    }

    #[test]
    fn upstream_errors_map_to_internal_json_rpc_errors_with_the_status() {
        let error =
            UpstreamError::HttpStatus { upstream: "crm".into(), status: 502, body: "bad gateway".into() };
        let rpc = error.to_rpc_error();
        assert_eq!(rpc.code, jsonrpc::INTERNAL_ERROR);
        assert_eq!(
            rpc.data,
            Some(json!({"upstream":"crm","error_code":"upstream_http_status","status":502}))
        );
    }
}
