//! The one error body every Lictor endpoint answers with.
//!
//! `error_code` strings are part of the contract: they never change meaning
//! and are listed (with their HTTP status) in [`ErrorCode`] and
//! `docs/errors.md`. Validation errors also name where the bad input was:
//! `path` is a JSONPath into the request body (`$.intent.action.type`),
//! `parameter` names a query, path or header parameter.

use std::fmt;

#[cfg(feature = "endpoints")]
use dropshot::{ErrorStatusCode, HttpError, HttpResponseError};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Every `error_code` Lictor answers with.
///
/// INVARIANT: the string of a code (`as_str`) and its status never change
/// once released; new failure kinds get new codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// The request body is not well-formed JSON.
    MalformedJson,
    /// A required field is missing (`path` names it).
    MissingField,
    /// A field the operation does not know was sent (`path` names it).
    UnknownField,
    /// A field has the wrong type or an unacceptable value (`path` names it).
    InvalidField,
    /// A query, path or header parameter is invalid (`parameter` names it).
    InvalidParameter,
    /// The pagination cursor was not issued by this list or is corrupt.
    InvalidCursor,
    /// The request is well-formed but cannot be carried out as asked.
    InvalidRequest,
    /// A policy module does not compile (`path` names the module,
    /// `location` the file, line and column).
    PolicyCompileError,
    /// The request body is larger than the configured limit.
    BodyTooLarge,
    /// The request body has a content type other than `application/json`.
    UnsupportedMediaType,
    /// No credentials, or credentials that are unknown, malformed or revoked.
    Unauthenticated,
    /// The operation is destructive and needs a fresh, strong sign-in
    /// that the credentials do not carry: `step_up` says what is needed
    /// (docs/operators.md, "Step-up").
    StepUpRequired,
    /// The credentials are valid but may not perform this operation.
    Forbidden,
    /// The object does not exist (or belongs to another tenant).
    NotFound,
    /// An object with this identifier already exists.
    AlreadyExists,
    /// The `Idempotency-Key` was already used with a different request.
    IdempotencyConflict,
    /// The operation conflicts with the object's current state.
    Conflict,
    /// The credential or its tenant used up its rate limit: retry after
    /// `Retry-After` seconds (the `RateLimit-*` headers tell the state).
    RateLimited,
    /// The store cannot be reached; nothing was written.
    StoreUnavailable,
    /// The store lost the connection while committing and could not be
    /// read back in time: the request may or may not have been recorded.
    /// Retry an intent only with the same `Idempotency-Key`.
    OutcomeUnknown,
    /// An upstream MCP server could not be reached or broke the protocol.
    UpstreamUnavailable,
    /// The gateway is shutting down: `/readyz` says so while it finishes
    /// what it accepted. Nothing was done; send it to another replica.
    Draining,
    /// An unexpected failure inside the gateway.
    Internal,
}

impl ErrorCode {
    /// All codes, in documentation order.
    pub const ALL: [ErrorCode; 23] = [
        ErrorCode::MalformedJson,
        ErrorCode::MissingField,
        ErrorCode::UnknownField,
        ErrorCode::InvalidField,
        ErrorCode::InvalidParameter,
        ErrorCode::InvalidCursor,
        ErrorCode::InvalidRequest,
        ErrorCode::PolicyCompileError,
        ErrorCode::BodyTooLarge,
        ErrorCode::UnsupportedMediaType,
        ErrorCode::Unauthenticated,
        ErrorCode::StepUpRequired,
        ErrorCode::Forbidden,
        ErrorCode::NotFound,
        ErrorCode::AlreadyExists,
        ErrorCode::IdempotencyConflict,
        ErrorCode::Conflict,
        ErrorCode::RateLimited,
        ErrorCode::StoreUnavailable,
        ErrorCode::OutcomeUnknown,
        ErrorCode::UpstreamUnavailable,
        ErrorCode::Draining,
        ErrorCode::Internal,
    ];

    /// The stable wire string.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::MalformedJson => "malformed_json",
            ErrorCode::MissingField => "missing_field",
            ErrorCode::UnknownField => "unknown_field",
            ErrorCode::InvalidField => "invalid_field",
            ErrorCode::InvalidParameter => "invalid_parameter",
            ErrorCode::InvalidCursor => "invalid_cursor",
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::PolicyCompileError => "policy_compile_error",
            ErrorCode::BodyTooLarge => "body_too_large",
            ErrorCode::UnsupportedMediaType => "unsupported_media_type",
            ErrorCode::Unauthenticated => "unauthenticated",
            ErrorCode::StepUpRequired => "step_up_required",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::NotFound => "not_found",
            ErrorCode::AlreadyExists => "already_exists",
            ErrorCode::IdempotencyConflict => "idempotency_conflict",
            ErrorCode::Conflict => "conflict",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::StoreUnavailable => "store_unavailable",
            ErrorCode::OutcomeUnknown => "outcome_unknown",
            ErrorCode::UpstreamUnavailable => "upstream_unavailable",
            ErrorCode::Draining => "draining",
            ErrorCode::Internal => "internal",
        }
    }

    /// The HTTP status this code is always sent with.
    pub const fn status(self) -> u16 {
        match self {
            ErrorCode::MalformedJson
            | ErrorCode::MissingField
            | ErrorCode::UnknownField
            | ErrorCode::InvalidField
            | ErrorCode::InvalidParameter
            | ErrorCode::InvalidCursor
            | ErrorCode::InvalidRequest
            | ErrorCode::PolicyCompileError => 400,
            ErrorCode::Unauthenticated | ErrorCode::StepUpRequired => 401,
            ErrorCode::Forbidden => 403,
            ErrorCode::NotFound => 404,
            ErrorCode::AlreadyExists | ErrorCode::IdempotencyConflict | ErrorCode::Conflict => 409,
            ErrorCode::BodyTooLarge => 413,
            ErrorCode::UnsupportedMediaType => 415,
            ErrorCode::RateLimited => 429,
            ErrorCode::StoreUnavailable | ErrorCode::OutcomeUnknown | ErrorCode::Draining => 503,
            ErrorCode::UpstreamUnavailable => 502,
            ErrorCode::Internal => 500,
        }
    }

    /// Parses a wire string back into a code.
    pub fn parse(s: &str) -> Option<ErrorCode> {
        ErrorCode::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// In the schema, a string enum of every code (so generated clients get it
/// typed), each listed with its status.
impl JsonSchema for ErrorCode {
    fn schema_name() -> String {
        "ErrorCode".into()
    }

    fn json_schema(_: &mut schemars::r#gen::SchemaGenerator) -> schemars::schema::Schema {
        use schemars::schema::{InstanceType, Metadata, SchemaObject};
        let listed: Vec<String> =
            ErrorCode::ALL.iter().map(|c| format!("- `{}` ({})", c.as_str(), c.status())).collect();
        SchemaObject {
            metadata: Some(Box::new(Metadata {
                description: Some(format!(
                    "A stable error code (see docs/errors.md), with the HTTP status it comes with:\n\n{}",
                    listed.join("\n")
                )),
                ..Metadata::default()
            })),
            instance_type: Some(InstanceType::String.into()),
            enum_values: Some(ErrorCode::ALL.iter().map(|c| serde_json::Value::from(c.as_str())).collect()),
            ..SchemaObject::default()
        }
        .into()
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A place in a source file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SourceLocation {
    /// The file (a module name).
    pub file: String,
    /// Line, from 1.
    pub line: u32,
    /// Column, from 1.
    pub column: u32,
}

/// The error body of every failed request: an [`ErrorCode`] (the stable
/// codes documented in `docs/errors.md`), a message, the request id, and
/// where the bad input is.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "Error")]
pub struct ApiError {
    /// Stable machine-readable code. Clients should treat a code they do
    /// not know as a failure of its HTTP status.
    #[schemars(with = "ErrorCode")]
    pub error_code: String,
    /// Human-readable description (lowercase, no trailing period).
    pub message: String,
    /// The id of the request, also sent as the `x-request-id` header.
    pub request_id: String,
    /// JSONPath of the offending field in the request body, for validation
    /// errors (for example `$.intent.action.type`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Name of the offending query, path or header parameter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameter: Option<String>,
    /// Where in a policy module the error is (`policy_compile_error`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<SourceLocation>,
    /// What sign-in the operation needs (`step_up_required`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_up: Option<crate::operators::StepUpChallenge>,
    #[serde(skip)]
    #[schemars(skip)]
    status: u16,
}

impl ApiError {
    /// A new error with the status implied by `code`.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError {
            error_code: code.as_str().to_string(),
            message: message.into(),
            request_id: String::new(),
            path: None,
            parameter: None,
            location: None,
            step_up: None,
            status: code.status(),
        }
    }

    /// Names the JSONPath of the offending body field.
    pub fn at_path(mut self, path: impl Into<String>) -> ApiError {
        self.path = Some(path.into());
        self
    }

    /// Names the place in a policy module.
    pub fn at_location(mut self, location: SourceLocation) -> ApiError {
        self.location = Some(location);
        self
    }

    /// States what sign-in is needed (`step_up_required`).
    pub fn needing(mut self, challenge: crate::operators::StepUpChallenge) -> ApiError {
        self.step_up = Some(challenge);
        self
    }

    /// Names the offending parameter.
    pub fn at_parameter(mut self, parameter: impl Into<String>) -> ApiError {
        self.parameter = Some(parameter.into());
        self
    }

    /// Stamps the request id into the body.
    pub fn with_request_id(mut self, request_id: &str) -> ApiError {
        request_id.clone_into(&mut self.request_id);
        self
    }

    /// The HTTP status code sent with this error.
    pub fn status(&self) -> u16 {
        self.status
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.error_code, self.message)?;
        if let Some(path) = &self.path {
            write!(f, " (at {path})")?;
        }
        if let Some(parameter) = &self.parameter {
            write!(f, " (parameter {parameter})")?;
        }
        Ok(())
    }
}

impl std::error::Error for ApiError {}

#[cfg(feature = "endpoints")]
/// Dropshot's own errors (raised before a handler runs, for example by the
/// router) are mapped onto the closest stable code.
impl From<HttpError> for ApiError {
    fn from(error: HttpError) -> ApiError {
        let status = error.status_code.as_u16();
        let code = match status {
            401 => ErrorCode::Unauthenticated,
            403 => ErrorCode::Forbidden,
            404 => ErrorCode::NotFound,
            409 => ErrorCode::Conflict,
            413 => ErrorCode::BodyTooLarge,
            415 => ErrorCode::UnsupportedMediaType,
            503 => ErrorCode::StoreUnavailable,
            400..=499 => ErrorCode::InvalidRequest,
            _ => ErrorCode::Internal,
        };
        let mut api = ApiError::new(code, error.external_message);
        // Keep the original status (for example 405) even when the code
        // generalises it.
        api.status = status;
        api
    }
}

#[cfg(feature = "endpoints")]
impl HttpResponseError for ApiError {
    fn status_code(&self) -> ErrorStatusCode {
        ErrorStatusCode::from_u16(self.status).unwrap_or(ErrorStatusCode::INTERNAL_SERVER_ERROR)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for code in ErrorCode::ALL {
            assert!(seen.insert(code.as_str()), "duplicate code {code}");
            assert_eq!(ErrorCode::parse(code.as_str()), Some(code));
            assert!((400..600).contains(&code.status()));
        }
    }

    fn read(path: &str) -> String {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        std::fs::read_to_string(root.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    /// `docs/errors.md` lists exactly the codes, with their statuses, and
    /// every SDK knows every code: a code added here and not there fails.
    #[test]
    fn the_docs_and_every_sdk_know_every_code() {
        let docs = read("docs/errors.md");
        let documented: Vec<(String, u16)> = docs
            .lines()
            .filter_map(|line| {
                let mut cells = line.strip_prefix("| `")?.splitn(2, "` | ");
                let code = cells.next()?.to_string();
                let status = cells.next()?.split(' ').next()?.parse().ok()?;
                Some((code, status))
            })
            .collect();
        let mut want: Vec<(String, u16)> =
            ErrorCode::ALL.iter().map(|c| (c.as_str().to_string(), c.status())).collect();
        let mut got = documented.clone();
        want.sort();
        got.sort();
        assert_eq!(got, want, "docs/errors.md's table must list every error_code with its status, once");
        // The TypeScript SDK types its codes with the generated union.
        for sdk in [
            "sdk-rust/src/error.rs",
            "sdk-python/src/lictor/errors.py",
            "sdk-typescript/src/generated/schema.ts",
        ] {
            let text = read(sdk);
            for code in ErrorCode::ALL {
                assert!(text.contains(&format!("\"{}\"", code.as_str())), "{sdk} does not know `{code}`");
            }
        }
    }

    #[test]
    fn body_omits_absent_locations() {
        let e = ApiError::new(ErrorCode::NotFound, "no such agent `a`").with_request_id("r1");
        let v = serde_json::to_value(&e).unwrap_or_default();
        assert_eq!(
            v,
            serde_json::json!({"error_code": "not_found", "message": "no such agent `a`", "request_id": "r1"})
        );
        assert_eq!(e.status(), 404);
    }
}
