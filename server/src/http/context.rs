//! One request's context: the state, its id, its headers.

use dropshot::RequestContext;
use lictor_api::ApiError;

use super::auth::Principal;
use crate::app::GatewayState;
use crate::error::Error;

/// What a handler knows about the request it serves.
pub struct Context<'a> {
    /// The gateway.
    pub state: &'a GatewayState,
    /// Dropshot's request id (also the `x-request-id` header).
    pub request_id: &'a str,
    headers: &'a http::HeaderMap,
    log: &'a slog::Logger,
}

impl<'a> Context<'a> {
    /// The context of `rqctx`.
    pub fn new(rqctx: &'a RequestContext<GatewayState>) -> Context<'a> {
        Context {
            state: rqctx.context(),
            request_id: &rqctx.request_id,
            headers: rqctx.request.headers(),
            log: &rqctx.log,
        }
    }

    /// Authenticates the caller.
    pub async fn principal(&self) -> Result<Principal, Error> {
        self.state.auth.authenticate(self.headers).await
    }

    /// Turns a failure into the answer, logging what the client cannot fix.
    pub fn fail(&self, error: Error) -> ApiError {
        if error.is_server_side() {
            slog::error!(self.log, "request failed"; "error" => %error);
        }
        ApiError::from(error).with_request_id(self.request_id)
    }

    /// Finishes a handler: `Ok` passes through, `Err` becomes the answer.
    pub fn finish<T>(&self, result: Result<T, Error>) -> Result<T, ApiError> {
        result.map_err(|e| self.fail(e))
    }
}
