//! Answers that carry the caller's rate-limit state (feature `endpoints`).

use dropshot::{ApiEndpointResponse, HttpError, HttpResponse};
use http::{HeaderMap, StatusCode};

use crate::ApiError;

/// An operation's answer with the rate-limit headers of the credential
/// that asked (`RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset`
/// and `RateLimit-Policy`, as the IETF `RateLimit` header fields draft
/// defines them), or, once the credential or its tenant has used its
/// limit, the `429 rate_limited` error with `Retry-After` too.
///
/// The document describes the operation's own answer; the 429 is one of
/// its errors, in the gateway's error shape. Credentials without a limit
/// (`test` keys, the superadmin) get no headers.
pub struct Limited<T> {
    answer: Result<T, ApiError>,
    headers: HeaderMap,
}

impl<T> Limited<T> {
    /// The operation's answer, with `headers`.
    pub fn new(answer: T, headers: HeaderMap) -> Limited<T> {
        Limited { answer: Ok(answer), headers }
    }

    /// An error answer (a `429 rate_limited`), with `headers`.
    pub fn refused(error: ApiError, headers: HeaderMap) -> Limited<T> {
        Limited { answer: Err(error), headers }
    }
}

fn status_of(error: &ApiError) -> StatusCode {
    StatusCode::from_u16(error.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

impl<T: HttpResponse + Send + Sync + 'static> HttpResponse for Limited<T> {
    fn to_result(self) -> Result<http::Response<dropshot::Body>, HttpError> {
        let mut response = match self.answer {
            Ok(answer) => answer.to_result()?,
            Err(error) => {
                let body =
                    serde_json::to_vec(&error).map_err(|e| HttpError::for_internal_error(e.to_string()))?;
                http::Response::builder()
                    .status(status_of(&error))
                    .header(http::header::CONTENT_TYPE, "application/json")
                    .body(dropshot::Body::from(body))
                    .map_err(|e| HttpError::for_internal_error(e.to_string()))?
            }
        };
        response.headers_mut().extend(self.headers);
        Ok(response)
    }

    fn response_metadata() -> ApiEndpointResponse {
        T::response_metadata()
    }

    fn status_code(&self) -> StatusCode {
        match &self.answer {
            Ok(answer) => answer.status_code(),
            Err(error) => status_of(error),
        }
    }
}

/// A report's answer: its typed JSON, or its CSV (`text/csv`, streamed)
/// when the caller asked for CSV. The document describes the JSON; the
/// rendering adds `text/csv` to the operation's answer.
pub enum Report<T> {
    /// The report as JSON.
    Json(T),
    /// The report as CSV, ready to stream.
    Csv(http::Response<dropshot::Body>),
}

impl<T> HttpResponse for Report<T>
where
    T: schemars::JsonSchema + serde::Serialize + Send + Sync + 'static,
{
    fn to_result(self) -> Result<http::Response<dropshot::Body>, HttpError> {
        match self {
            Report::Json(report) => dropshot::HttpResponseOk(report).to_result(),
            Report::Csv(response) => Ok(response),
        }
    }

    fn response_metadata() -> ApiEndpointResponse {
        dropshot::HttpResponseOk::<T>::response_metadata()
    }

    fn status_code(&self) -> StatusCode {
        StatusCode::OK
    }
}
