//! Tool calls: the MCP front door (`/v1/mcp`) and its plain-HTTP twin
//! (`/v1/tool-call`). Both map a call to an intent, run the full pipeline
//! and forward approved calls to the upstream MCP server that owns the tool.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::ids::AgentId;
use crate::intents::Decision;
use crate::tokens::UpstreamName;

/// Body of `POST /v1/tool-call`.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ToolCallRequest {
    /// The tool: `<upstream>.<tool>`, or the bare tool name with `server`
    /// (or when only one upstream offers it).
    #[schemars(length(min = 1, max = 200))]
    pub tool: String,
    /// The tool's arguments.
    #[serde(default)]
    pub arguments: serde_json::Map<String, serde_json::Value>,
    /// The upstream server that owns the tool.
    #[serde(default)]
    pub server: Option<UpstreamName>,
    /// The calling agent, for agent keys not restricted to one agent
    /// (capability tokens and restricted keys name it already).
    #[serde(default)]
    pub agent_id: Option<AgentId>,
}

/// A forwarded call that failed at the upstream (the decision stands).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct UpstreamFailure {
    /// JSON-RPC code: the upstream's own error code, or -32603 when the
    /// upstream could not be reached or answered badly.
    pub code: i64,
    /// What happened.
    pub message: String,
    /// Details: the upstream name, its HTTP status, its error data.
    pub data: serde_json::Value,
}

/// Answer to `POST /v1/tool-call` (HTTP 200 for every verdict).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ToolCallResponse {
    /// The decision on the call.
    pub decision: Decision,
    /// The upstream's `CallToolResult`, verbatim, when the call was
    /// approved and forwarded (it may itself report `isError`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<serde_json::Value>,
    /// Why forwarding failed, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream_error: Option<UpstreamFailure>,
}

/// Headers of `POST /v1/tool-call`.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
pub struct ApprovalHeader {
    /// An approved approval for exactly this call; it is used once.
    #[serde(rename = "Lictor-Approval-Id")]
    #[schemars(with = "Option<crate::ids::ApprovalId>")]
    pub approval_id: Option<String>,
}

/// The one JSON-RPC version: the string `2.0`.
fn jsonrpc_version(_: &mut schemars::r#gen::SchemaGenerator) -> schemars::schema::Schema {
    schemars::schema::Schema::Object(schemars::schema::SchemaObject {
        instance_type: Some(schemars::schema::InstanceType::String.into()),
        enum_values: Some(vec![serde_json::Value::from("2.0")]),
        ..Default::default()
    })
}

/// A JSON-RPC 2.0 message as MCP sends it (a request, a notification or a
/// response). Batches (arrays) are rejected: no MCP revision since
/// 2025-06-18 allows them.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct JsonRpcMessage {
    /// Always `2.0`.
    #[schemars(schema_with = "jsonrpc_version")]
    pub jsonrpc: String,
    /// Request id (absent for notifications).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<serde_json::Value>,
    /// The method (requests and notifications).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// The parameters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<serde_json::Value>,
    /// A response's result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<serde_json::Value>,
    /// A response's error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<serde_json::Value>,
}

/// MCP transport headers of `POST /v1/mcp`.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
pub struct McpHeaders {
    /// The protocol revision (`2026-07-28`, `2025-11-25`, `2025-06-18`).
    #[serde(rename = "MCP-Protocol-Version")]
    pub protocol_version: Option<String>,
    /// The session issued by `initialize` (2025 revisions only).
    #[serde(rename = "Mcp-Session-Id")]
    pub session_id: Option<String>,
    /// Mirror of the JSON-RPC method (2026-07-28).
    #[serde(rename = "Mcp-Method")]
    pub method: Option<String>,
    /// Mirror of the tool name of `tools/call` (2026-07-28).
    #[serde(rename = "Mcp-Name")]
    pub name: Option<String>,
    /// An approved approval for exactly this tool call; used once.
    #[serde(rename = "Lictor-Approval-Id")]
    #[schemars(with = "Option<crate::ids::ApprovalId>")]
    pub approval_id: Option<String>,
}

/// Headers of `DELETE /v1/mcp`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
pub struct McpSessionHeaders {
    /// The session to end (issued by `initialize`).
    #[serde(rename = "Mcp-Session-Id")]
    pub session_id: String,
}

/// JSON-RPC error codes of denied tool calls (HTTP 200, `error.data`
/// carries `{stage, reason, intent_id}`).
pub mod rpc_codes {
    /// The capability token does not allow the call.
    pub const CAPABILITY: i64 = -32010;
    /// The call cannot be mapped to a valid intent, or its agent is unknown
    /// or suspended.
    pub const INTENT: i64 = -32011;
    /// The policy blocked the call.
    pub const POLICY: i64 = -32012;
    /// The agent's budget is exhausted (an approval may be attached).
    pub const BUDGET: i64 = -32013;
    /// A human must approve the call first (resume with
    /// `Lictor-Approval-Id` once approved), or the approval presented
    /// cannot be used (rejected, expired, used, for another request) or
    /// the agent's approval queue is full.
    pub const APPROVAL_REQUIRED: i64 = -32014;
}

/// A JSON-RPC 2.0 error object.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct JsonRpcErrorObject {
    /// The code (`-32010`…`-32014` for denials, standard codes otherwise).
    pub code: i64,
    /// What happened.
    pub message: String,
    /// Details; for denials `{stage, reason, intent_id, …}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<serde_json::Value>,
}

/// A JSON-RPC 2.0 response: `result` or `error`, with the request's `id`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct JsonRpcResponse {
    /// Always `2.0`.
    pub jsonrpc: String,
    /// The request's id (`null` when the request could not be read).
    pub id: serde_json::Value,
    /// The result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<serde_json::Value>,
    /// The error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<JsonRpcErrorObject>,
}

/// Response headers of `POST /v1/mcp`.
#[derive(Clone, Debug, Default, Serialize, JsonSchema)]
pub struct McpResponseHeaders {
    /// The session `initialize` opened (2025 revisions).
    #[serde(rename = "Mcp-Session-Id", skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
}

/// The answer of `POST /v1/mcp`: a JSON-RPC response (HTTP 200, or 400 for
/// messages that cannot be read), or HTTP 202 with no body for
/// notifications.
#[cfg(feature = "endpoints")]
pub struct McpReply {
    status: http::StatusCode,
    body: Option<Vec<u8>>,
    headers: Vec<(http::HeaderName, String)>,
}

#[cfg(feature = "endpoints")]
impl McpReply {
    /// A JSON-RPC response with `status` (200 normally; 400/404 for
    /// transport-level rejections the MCP transport defines).
    pub fn json(status: http::StatusCode, body: &JsonRpcResponse) -> McpReply {
        // A response that cannot be written is answered as a JSON-RPC
        // internal error, never as an empty body.
        let bytes = serde_json::to_vec(body).unwrap_or_else(|e| {
            serde_json::json!({"jsonrpc": "2.0", "id": null, "error": {"code": -32603, "message": format!("internal error: {e}")}})
                .to_string()
                .into_bytes()
        });
        McpReply { status, body: Some(bytes), headers: Vec::new() }
    }

    /// `202 Accepted` with no body (notifications).
    pub fn accepted() -> McpReply {
        McpReply { status: http::StatusCode::ACCEPTED, body: None, headers: Vec::new() }
    }

    /// Adds a response header.
    pub fn with_header(mut self, name: http::HeaderName, value: impl Into<String>) -> McpReply {
        self.headers.push((name, value.into()));
        self
    }

    /// The HTTP status.
    pub fn status(&self) -> http::StatusCode {
        self.status
    }
}

#[cfg(feature = "endpoints")]
impl dropshot::HttpResponse for McpReply {
    fn to_result(self) -> Result<http::Response<dropshot::Body>, dropshot::HttpError> {
        let mut builder = http::Response::builder().status(self.status);
        for (name, value) in self.headers {
            builder = builder.header(name, value);
        }
        let response = match self.body {
            Some(bytes) => builder.header(http::header::CONTENT_TYPE, "application/json").body(bytes.into()),
            None => builder.body(dropshot::Body::empty()),
        };
        response.map_err(|e| dropshot::HttpError::for_internal_error(e.to_string()))
    }

    fn response_metadata() -> dropshot::ApiEndpointResponse {
        let mut metadata = <dropshot::HttpResponseHeaders<
            dropshot::HttpResponseOk<JsonRpcResponse>,
            McpResponseHeaders,
        > as dropshot::HttpResponse>::response_metadata();
        metadata.description = Some(
            "The JSON-RPC response; denials are JSON-RPC errors with HTTP 200. \
             Notifications are answered 202 Accepted with no body."
                .into(),
        );
        metadata
    }

    fn status_code(&self) -> http::StatusCode {
        self.status
    }
}
