//! `/healthz`, `/readyz` and `/metrics`.

use lictor_api::system::{Health, Readiness};

use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

use crate::caller::Caller;
use crate::error::{Error, Object};
use crate::state::GatewayState;

/// Liveness: answering at all is the answer.
pub(crate) fn health() -> Health {
    Health { status: "ok".into(), version: env!("CARGO_PKG_VERSION").into() }
}

/// Readiness: the gateway is not shutting down (`503 draining`), the
/// store answers a query and the decision writer can commit (after a
/// failed commit, a probe write through the writer must succeed first);
/// with the count of audit logs the checkpointer refuses to sign over.
pub(crate) async fn ready(caller: &Caller<'_>) -> Result<Readiness, Error> {
    readiness(caller.state).await
}

/// [`ready`] for the management listener, which has no caller.
pub(crate) async fn readiness(state: &GatewayState) -> Result<Readiness, Error> {
    if state.draining.load(std::sync::atomic::Ordering::SeqCst) {
        return Err(Error::Draining);
    }
    state.store.ping().await?;
    state.pipeline.writer().writable().await?;
    let refused = state.checkpoints.refused().len();
    Ok(Readiness {
        status: "ready".into(),
        store: state.store.backend().kind(),
        audit_logs_refused: u64::try_from(refused).unwrap_or(u64::MAX),
    })
}

/// `GET /metrics`: the Prometheus exposition, to the holder of the
/// metrics token (`--metrics-token`); `404` when none is configured, so
/// an unconfigured gateway does not reveal that it could serve them.
pub(crate) async fn metrics(caller: &Caller<'_>) -> Result<String, Error> {
    if caller.state.config.metrics_token.is_none() {
        return Err(Error::not_found(Object::Route, "GET /metrics"));
    }
    scrape(caller.state, caller.authorization()).await
}

/// The exposition for a request that presented `authorization`: the
/// metrics token when one is configured (`401` without it), anyone's
/// otherwise (the `--metrics-listen` listener without a token, which the
/// operator keeps on a private address).
pub(crate) async fn scrape(
    state: &GatewayState,
    authorization: Option<&http::HeaderValue>,
) -> Result<String, Error> {
    if let Some(token) = state.config.metrics_token.as_deref() {
        let presented = authorization.and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
        // Compared as digests, in constant time: the comparison says
        // nothing about how much of a guess was right.
        let digest = |text: &str| Sha256::digest(text.as_bytes());
        let matches =
            presented.is_some_and(|p| bool::from(digest(p).as_slice().ct_eq(digest(token).as_slice())));
        if !matches {
            return Err(Error::Unauthenticated(
                "`GET /metrics` needs the metrics token as a bearer token".into(),
            ));
        }
    }
    state.scrape_metrics().await.map_err(|e| Error::Internal(format!("encoding metrics: {e}")))
}
