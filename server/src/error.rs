//! The gateway's domain errors and their one conversion to the wire.

use lictor_api::{ApiError, ErrorCode};

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
    /// No such object (or it belongs to another tenant).
    #[error("{0}")]
    NotFound(String),
    /// The identifier is taken.
    #[error("{0}")]
    AlreadyExists(String),
    /// An `Idempotency-Key` reused with a different request.
    #[error("{0}")]
    IdempotencyConflict(String),
    /// The operation conflicts with the object's current state.
    #[error("{0}")]
    Conflict(String),
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
    /// An upstream MCP server failed before the call could be decided.
    #[error("{0}")]
    Upstream(String),
    /// A bug or an impossible state.
    #[error("internal error: {0}")]
    Internal(String),
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
            Error::NotFound(m) => ApiError::new(ErrorCode::NotFound, m),
            Error::AlreadyExists(m) => ApiError::new(ErrorCode::AlreadyExists, m),
            Error::IdempotencyConflict(m) => ApiError::new(ErrorCode::IdempotencyConflict, m),
            Error::Conflict(m) => ApiError::new(ErrorCode::Conflict, m),
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
            Error::Store(StoreError::Duplicate(m)) => ApiError::new(ErrorCode::AlreadyExists, m),
            Error::Store(StoreError::Conflict(m)) => ApiError::new(ErrorCode::Conflict, m),
            Error::Upstream(m) => ApiError::new(ErrorCode::UpstreamUnavailable, m),
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
