//! `/healthz` and `/readyz`.

use lictor_api::system::{Health, Readiness};

use crate::caller::Caller;
use crate::error::Error;

/// Liveness: answering at all is the answer.
pub(crate) fn health() -> Health {
    Health { status: "ok".into(), version: env!("CARGO_PKG_VERSION").into() }
}

/// Readiness: the store answers a query and the decision writer can
/// commit (after a failed commit, a probe write through the writer must
/// succeed first); with the count of audit logs the checkpointer refuses
/// to sign over.
pub(crate) async fn ready(caller: &Caller<'_>) -> Result<Readiness, Error> {
    caller.state.store.ping().await?;
    caller.state.pipeline.writer().writable().await?;
    let refused = caller.state.checkpoints.refused().len();
    Ok(Readiness {
        status: "ready".into(),
        store: caller.state.store.backend().kind(),
        audit_logs_refused: u64::try_from(refused).unwrap_or(u64::MAX),
    })
}
