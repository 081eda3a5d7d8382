//! Typed errors: API errors keyed by `error_code`, one variant per pipeline
//! check that can deny a tool call, and transport failures.

use std::fmt;

use serde_json::Value;

use crate::generated::types;

/// Everything a gateway call can fail with.
///
/// A verdict is never an error: [`crate::Gateway::declare_intent`] answers a
/// `block` as a [`types::Decision`]. Tool calls are different — MCP answers
/// a denied call with a JSON-RPC error — so [`crate::Gateway::call_tool`]
/// reports each pipeline check that denied it as its own variant.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The gateway answered an HTTP error in its documented shape.
    #[error(transparent)]
    Api(ApiError),
    /// `-32010`: the capability token does not allow the call.
    #[error("capability denied the call: {0}")]
    Capability(Denied),
    /// `-32011`: not a valid intent, or the agent is unknown or suspended.
    #[error("the call is not a valid intent: {0}")]
    Intent(Denied),
    /// `-32012`: the policy blocked the call.
    #[error("policy blocked the call: {0}")]
    Policy(Denied),
    /// `-32013`: the agent's budget is exhausted.
    #[error("budget exhausted: {0}")]
    Budget(Denied),
    /// `-32014`: a human must approve the call first (or the approval
    /// presented cannot be used).
    #[error("approval required: {0}")]
    ApprovalRequired(Box<ApprovalRequired>),
    /// Any other JSON-RPC error: a protocol error, or the upstream's own.
    #[error(transparent)]
    Rpc(RpcError),
    /// The gateway could not be reached, or its answer could not be read.
    #[error("transport: {0}")]
    Transport(String),
    /// An answer the contract does not describe.
    #[error("unexpected answer (HTTP {status}): {body}")]
    Unexpected {
        /// Its status.
        status: u16,
        /// Its body, as text.
        body: String,
    },
    /// A value given to the SDK is not valid for the API.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// Waiting gave up before the gateway had an answer.
    #[error("timed out waiting for {0}")]
    Timeout(String),
}

impl Error {
    /// The API error, when the gateway answered one.
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            Error::Api(error) => Some(error),
            _ => None,
        }
    }

    /// The denial, when a pipeline check denied a tool call.
    pub fn denial(&self) -> Option<&Denied> {
        match self {
            Error::Capability(d) | Error::Intent(d) | Error::Policy(d) | Error::Budget(d) => Some(d),
            Error::ApprovalRequired(a) => Some(&a.denied),
            _ => None,
        }
    }
}

/// The stable `error_code`s of `docs/errors.md`.
///
/// `Unknown` keeps a code this SDK does not know yet (from a newer gateway)
/// instead of failing to read the answer.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// `malformed_json`
    MalformedJson,
    /// `missing_field`
    MissingField,
    /// `unknown_field`
    UnknownField,
    /// `invalid_field`
    InvalidField,
    /// `invalid_parameter`
    InvalidParameter,
    /// `invalid_cursor`
    InvalidCursor,
    /// `invalid_request`
    InvalidRequest,
    /// `policy_compile_error`
    PolicyCompileError,
    /// `unauthenticated`
    Unauthenticated,
    /// `step_up_required`: a destructive operation needs a more recent or
    /// stronger sign-in; [`ApiError::step_up`] says what.
    StepUpRequired,
    /// `forbidden`
    Forbidden,
    /// `not_found`
    NotFound,
    /// `already_exists`
    AlreadyExists,
    /// `idempotency_conflict`
    IdempotencyConflict,
    /// `conflict`
    Conflict,
    /// `body_too_large`
    BodyTooLarge,
    /// `unsupported_media_type`
    UnsupportedMediaType,
    /// `rate_limited`: retried automatically first, after `Retry-After`.
    RateLimited,
    /// `internal`
    Internal,
    /// `upstream_unavailable`
    UpstreamUnavailable,
    /// `store_unavailable`
    StoreUnavailable,
    /// `outcome_unknown`: the store lost the connection while committing;
    /// the request may have been recorded. Only a retry with the same
    /// `Idempotency-Key` is safe (the SDK's intent calls do exactly that).
    OutcomeUnknown,
    /// `draining`: the gateway is shutting down; retried automatically
    /// first (another replica behind the same address answers).
    Draining,
    /// A code this SDK does not know.
    Unknown(String),
}

const CODES: [(&str, ErrorCode); 23] = [
    ("malformed_json", ErrorCode::MalformedJson),
    ("missing_field", ErrorCode::MissingField),
    ("unknown_field", ErrorCode::UnknownField),
    ("invalid_field", ErrorCode::InvalidField),
    ("invalid_parameter", ErrorCode::InvalidParameter),
    ("invalid_cursor", ErrorCode::InvalidCursor),
    ("invalid_request", ErrorCode::InvalidRequest),
    ("policy_compile_error", ErrorCode::PolicyCompileError),
    ("unauthenticated", ErrorCode::Unauthenticated),
    ("step_up_required", ErrorCode::StepUpRequired),
    ("forbidden", ErrorCode::Forbidden),
    ("not_found", ErrorCode::NotFound),
    ("already_exists", ErrorCode::AlreadyExists),
    ("idempotency_conflict", ErrorCode::IdempotencyConflict),
    ("conflict", ErrorCode::Conflict),
    ("body_too_large", ErrorCode::BodyTooLarge),
    ("unsupported_media_type", ErrorCode::UnsupportedMediaType),
    ("rate_limited", ErrorCode::RateLimited),
    ("internal", ErrorCode::Internal),
    ("upstream_unavailable", ErrorCode::UpstreamUnavailable),
    ("store_unavailable", ErrorCode::StoreUnavailable),
    ("outcome_unknown", ErrorCode::OutcomeUnknown),
    ("draining", ErrorCode::Draining),
];

impl ErrorCode {
    /// The code for `text`.
    pub fn parse(text: &str) -> ErrorCode {
        CODES
            .iter()
            .find(|(code, _)| *code == text)
            .map(|(_, value)| value.clone())
            .unwrap_or_else(|| ErrorCode::Unknown(text.to_string()))
    }

    /// The wire string.
    pub fn as_str(&self) -> &str {
        match self {
            ErrorCode::Unknown(code) => code,
            known => CODES.iter().find(|(_, value)| value == known).map(|(code, _)| *code).unwrap_or(""),
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An HTTP error answer (`docs/errors.md`).
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{error_code} (HTTP {status}): {message} [request {request_id}]")]
pub struct ApiError {
    /// The HTTP status.
    pub status: u16,
    /// The stable code.
    pub error_code: ErrorCode,
    /// For people.
    pub message: String,
    /// Finds the request in the gateway's logs.
    pub request_id: String,
    /// JSONPath of the offending body field.
    pub path: Option<String>,
    /// The offending query, path or header parameter.
    pub parameter: Option<String>,
    /// Where in a policy module (`policy_compile_error`).
    pub location: Option<types::SourceLocation>,
    /// What sign-in is needed (`step_up_required`).
    pub step_up: Option<types::StepUpChallenge>,
    /// `Retry-After`, in seconds, when the gateway sent one.
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub(crate) fn from_body(status: u16, body: types::Error, retry_after: Option<u64>) -> ApiError {
        ApiError {
            status,
            error_code: ErrorCode::parse(&body.error_code),
            message: body.message,
            request_id: body.request_id,
            path: body.path,
            parameter: body.parameter,
            location: body.location,
            step_up: body.step_up,
            retry_after,
        }
    }
}

/// A pipeline check's denial of a tool call: the JSON-RPC error and its
/// `data` (`{stage, reason, intent_id, verdict, reasons}`).
#[derive(Clone, Debug, PartialEq)]
pub struct Denied {
    /// The JSON-RPC code (`-32010`…`-32014`).
    pub code: i64,
    /// The JSON-RPC message.
    pub message: String,
    /// The stage that denied it.
    pub stage: Option<String>,
    /// The deciding reason code (`tool_not_allowed`, `transact_over_limit`…).
    pub reason: Option<String>,
    /// The intent the call became (audited).
    pub intent_id: Option<String>,
    /// The verdict (`block` or `escalate`).
    pub verdict: Option<String>,
    /// Every reason code.
    pub reasons: Vec<String>,
    /// The whole `data` object.
    pub data: Value,
}

impl fmt::Display for Denied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.reason.as_deref().unwrap_or("denied"), self.message)?;
        if let Some(intent) = &self.intent_id {
            write!(f, " [intent {intent}]")?;
        }
        Ok(())
    }
}

/// `-32014`: the call waits for a human. Resume it with
/// [`crate::Gateway::resume_after_approval`] once approved.
#[derive(Clone, Debug, PartialEq)]
pub struct ApprovalRequired {
    /// The denial itself.
    pub denied: Denied,
    /// The approval to wait for (absent when the queue is full).
    pub approval_id: Option<String>,
    /// `pending`, `approved`, `rejected`, `expired` or `used`.
    pub status: Option<String>,
    /// When the approval expires (RFC 3339).
    pub expires_at: Option<String>,
    /// The tool called, to resume it.
    pub tool: String,
    /// The arguments, to resume the identical call.
    pub arguments: Value,
}

impl fmt::Display for ApprovalRequired {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.denied)?;
        if let Some(id) = &self.approval_id {
            write!(f, " [approval {id}, {}]", self.status.as_deref().unwrap_or("pending"))?;
        }
        Ok(())
    }
}

/// A JSON-RPC error that is not a pipeline denial.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("JSON-RPC error {code}: {message}")]
pub struct RpcError {
    /// The code (`-32603` for an upstream failure, the upstream's own…).
    pub code: i64,
    /// The message.
    pub message: String,
    /// `data`, if any.
    pub data: Option<Value>,
}

/// The typed error for a JSON-RPC `error` object of a `tools/call`.
pub(crate) fn rpc_error(error: &Value, tool: &str, arguments: &Value) -> Error {
    let code = error["code"].as_i64().unwrap_or(0);
    let message = error["message"].as_str().unwrap_or_default().to_string();
    let data = error.get("data").cloned().unwrap_or(Value::Null);
    let text = |name: &str| data[name].as_str().map(str::to_string);
    let denied = Denied {
        code,
        message: message.clone(),
        stage: text("stage"),
        reason: text("reason"),
        intent_id: text("intent_id"),
        verdict: text("verdict"),
        reasons: data["reasons"]
            .as_array()
            .map(|reasons| {
                reasons
                    .iter()
                    .filter_map(|r| r.as_str().or_else(|| r["code"].as_str()).map(str::to_string))
                    .collect()
            })
            .unwrap_or_default(),
        data: data.clone(),
    };
    match code {
        -32010 => Error::Capability(denied),
        -32011 => Error::Intent(denied),
        -32012 => Error::Policy(denied),
        -32013 => Error::Budget(denied),
        -32014 => Error::ApprovalRequired(Box::new(ApprovalRequired {
            approval_id: text("approval_id"),
            status: text("status"),
            expires_at: text("expires_at"),
            tool: tool.to_string(),
            arguments: arguments.clone(),
            denied,
        })),
        _ => Error::Rpc(RpcError { code, message, data: error.get("data").cloned() }),
    }
}
