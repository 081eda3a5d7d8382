//! The gateway's domain errors and their one conversion to the wire.

use lictor_api::{ApiError, ErrorCode};

use crate::rate_limit::RateState;
use crate::store::StoreError;

/// Everything a request can fail with. [`From<Error> for ApiError`] is the
/// only place these become HTTP answers.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Input rejected during extraction (already carries code and location).
    #[error("{0}")]
    Invalid(ApiError),
    /// Missing, malformed, unknown or revoked credentials.
    #[error("{0}")]
    Unauthenticated(String),
    /// Valid credentials without the right to do this.
    #[error("{0}")]
    Forbidden(String),
    /// A destructive operation without the fresh, strong sign-in it needs.
    #[error("{message}")]
    StepUp {
        /// Why.
        message: String,
        /// What is needed.
        challenge: Box<lictor_api::operators::StepUpChallenge>,
    },
    /// No such object (or it belongs to another tenant).
    #[error("{}", not_found(*object, id))]
    NotFound {
        /// What kind of object.
        object: Object,
        /// The identifier asked for.
        id: String,
    },
    /// The identifier is taken.
    #[error("{object} `{id}` already exists")]
    AlreadyExists {
        /// What kind of object.
        object: Object,
        /// The identifier.
        id: String,
    },
    /// An `Idempotency-Key` reused with a different request.
    #[error("{0}")]
    IdempotencyConflict(String),
    /// The operation conflicts with the object's current state.
    #[error("{object} `{id}` {state}")]
    Conflict {
        /// What kind of object.
        object: Object,
        /// The identifier.
        id: String,
        /// The state that forbids the operation, as the end of a sentence
        /// ("is already approved").
        state: String,
    },
    /// A query, path or header parameter is unacceptable.
    #[error("{message}")]
    InvalidParameter {
        /// The parameter.
        parameter: String,
        /// Why.
        message: String,
    },
    /// A body field is unacceptable beyond what its type checks.
    #[error("{message}")]
    InvalidField {
        /// JSONPath of the field.
        path: String,
        /// Why.
        message: String,
    },
    /// A pagination cursor that this list did not issue.
    #[error("cursor is not valid for this list")]
    InvalidCursor,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The credential or its tenant used up its rate limit.
    #[error("rate limit reached: {} bucket is empty, retry in {} s", .0.refused_by(), .0.retry_after_s())]
    RateLimited(Box<RateState>),
    /// An upstream MCP server failed before the call could be decided.
    #[error("{0}")]
    Upstream(String),
    /// The gateway is shutting down.
    #[error("the gateway is shutting down: send requests to another replica")]
    Draining,
    /// A bug or an impossible state.
    #[error("internal error: {0}")]
    Internal(String),
}

/// A kind of object the API names, in errors about one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Object {
    /// A tenant.
    Tenant,
    /// An agent.
    Agent,
    /// An API key.
    ApiKey,
    /// An intent.
    Intent,
    /// An approval.
    Approval,
    /// A policy draft.
    PolicyDraft,
    /// A policy proposal (two-person rule).
    PolicyProposal,
    /// An upstream MCP server.
    Upstream,
    /// A tool of an upstream.
    Tool,
    /// An audit payload, by digest.
    Payload,
    /// An audit entry, by sequence number.
    AuditEntry,
    /// A tenant's signed checkpoint (the id is the tenant's).
    Checkpoint,
    /// A tenant's audit log (the id is the tenant's).
    AuditLog,
    /// A legacy MCP session.
    McpSession,
    /// A route.
    Route,
    /// An integration (audit sink or notification channel).
    Integration,
    /// A person operating a tenant.
    Operator,
    /// A discovered agent.
    DiscoveredAgent,
    /// A tenant's AI service in the discovery catalogue.
    CatalogueService,
}

impl Object {
    /// The name used in messages.
    pub fn name(self) -> &'static str {
        match self {
            Object::Tenant => "tenant",
            Object::Agent => "agent",
            Object::ApiKey => "api key",
            Object::Intent => "intent",
            Object::Approval => "approval",
            Object::PolicyDraft => "policy draft",
            Object::PolicyProposal => "policy proposal",
            Object::Upstream => "upstream",
            Object::Tool => "tool",
            Object::Payload => "payload",
            Object::AuditEntry => "audit entry",
            Object::Checkpoint => "checkpoint",
            Object::AuditLog => "audit log",
            Object::McpSession => "session",
            Object::Route => "route",
            Object::Integration => "integration",
            Object::Operator => "operator",
            Object::DiscoveredAgent => "discovered agent",
            Object::CatalogueService => "catalogue service",
        }
    }
}

impl std::fmt::Display for Object {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

fn not_found(object: Object, id: &str) -> String {
    match object {
        Object::Checkpoint => format!("tenant `{id}` has no checkpoint yet"),
        Object::McpSession => format!("unknown or ended session `{id}`"),
        _ => format!("no {object} `{id}`"),
    }
}

impl Error {
    /// No `object` named `id` (or none the caller may see).
    pub fn not_found(object: Object, id: impl std::fmt::Display) -> Error {
        Error::NotFound { object, id: id.to_string() }
    }

    /// `id` is taken.
    pub fn already_exists(object: Object, id: impl std::fmt::Display) -> Error {
        Error::AlreadyExists { object, id: id.to_string() }
    }

    /// `object` `id` is in a `state` that forbids the operation.
    pub fn conflict(object: Object, id: impl std::fmt::Display, state: impl Into<String>) -> Error {
        Error::Conflict { object, id: id.to_string(), state: state.into() }
    }
}

impl From<ApiError> for Error {
    fn from(error: ApiError) -> Error {
        Error::Invalid(error)
    }
}

impl From<Error> for ApiError {
    fn from(error: Error) -> ApiError {
        match error {
            Error::Invalid(api) => api,
            Error::Unauthenticated(m) => ApiError::new(ErrorCode::Unauthenticated, m),
            Error::Forbidden(m) => ApiError::new(ErrorCode::Forbidden, m),
            Error::StepUp { message, challenge } => {
                ApiError::new(ErrorCode::StepUpRequired, message).needing(*challenge)
            }
            error @ Error::NotFound { .. } => ApiError::new(ErrorCode::NotFound, error.to_string()),
            error @ Error::AlreadyExists { .. } => ApiError::new(ErrorCode::AlreadyExists, error.to_string()),
            Error::IdempotencyConflict(m) => ApiError::new(ErrorCode::IdempotencyConflict, m),
            error @ Error::Conflict { .. } => ApiError::new(ErrorCode::Conflict, error.to_string()),
            Error::InvalidParameter { parameter, message } => {
                ApiError::new(ErrorCode::InvalidParameter, message).at_parameter(parameter)
            }
            Error::InvalidField { path, message } => {
                ApiError::new(ErrorCode::InvalidField, message).at_path(path)
            }
            Error::InvalidCursor => {
                ApiError::new(ErrorCode::InvalidCursor, "cursor is not valid for this list")
                    .at_parameter("cursor")
            }
            Error::Store(StoreError::Unavailable(_)) => ApiError::new(
                ErrorCode::StoreUnavailable,
                "the store is unavailable; nothing was written, retry later",
            ),
            Error::Store(StoreError::OutcomeUnknown(_)) => ApiError::new(
                ErrorCode::OutcomeUnknown,
                "the store did not confirm the commit and could not be read back: this may have been \
                 recorded. Retry an intent only with the same Idempotency-Key; read anything else back \
                 before repeating it",
            ),
            Error::Store(StoreError::Duplicate(m)) => ApiError::new(ErrorCode::AlreadyExists, m.message()),
            Error::Store(StoreError::Conflict(m)) => ApiError::new(ErrorCode::Conflict, m),
            error @ Error::RateLimited(_) => ApiError::new(ErrorCode::RateLimited, error.to_string()),
            Error::Upstream(m) => ApiError::new(ErrorCode::UpstreamUnavailable, m),
            error @ Error::Draining => ApiError::new(ErrorCode::Draining, error.to_string()),
            Error::Store(StoreError::Corrupt(_) | StoreError::Database(_)) | Error::Internal(_) => {
                ApiError::new(ErrorCode::Internal, "internal error; the request id identifies it in the logs")
            }
        }
    }
}

impl Error {
    /// Whether operators should hear about it (the client cannot fix it).
    pub fn is_server_side(&self) -> bool {
        matches!(self, Error::Store(_) | Error::Internal(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_errors_carry_their_object_and_read_as_sentences() {
        let error = Error::not_found(Object::ApiKey, "key_1");
        assert!(matches!(&error, Error::NotFound { object: Object::ApiKey, id } if id == "key_1"));
        let api = ApiError::from(error);
        assert_eq!(
            (api.error_code.as_str(), api.message.as_str()),
            (ErrorCode::NotFound.as_str(), "no api key `key_1`")
        );
        let api = ApiError::from(Error::not_found(Object::Checkpoint, "acme"));
        assert_eq!(api.message, "tenant `acme` has no checkpoint yet");
        let api = ApiError::from(Error::already_exists(Object::Agent, "bot"));
        assert_eq!(
            (api.error_code.as_str(), api.message.as_str()),
            (ErrorCode::AlreadyExists.as_str(), "agent `bot` already exists")
        );
        let api = ApiError::from(Error::conflict(Object::Payload, "ab12", "is already erased"));
        assert_eq!(
            (api.error_code.as_str(), api.message.as_str()),
            (ErrorCode::Conflict.as_str(), "payload `ab12` is already erased")
        );
    }

    #[test]
    fn a_driver_error_stays_the_source_and_never_reaches_the_client() {
        let error = Error::from(StoreError::from(sqlx::Error::PoolTimedOut));
        let chain = std::iter::successors(std::error::Error::source(&error), |e| e.source());
        let driver = chain.filter_map(|e| e.downcast_ref::<sqlx::Error>()).next();
        assert!(matches!(driver, Some(sqlx::Error::PoolTimedOut)), "the driver's error is in the chain");
        let api = ApiError::from(error);
        assert_eq!(api.error_code, ErrorCode::StoreUnavailable.as_str());
        assert!(!api.message.contains("pool"), "{}", api.message);
    }
}
