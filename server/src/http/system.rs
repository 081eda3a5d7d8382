//! `/healthz` and `/readyz`.

use lictor_api::system::{Health, Readiness};

use super::call::Call;
use crate::error::Error;

/// Liveness: answering at all is the answer.
pub fn health() -> Health {
    Health { status: "ok".into(), version: env!("CARGO_PKG_VERSION").into() }
}

/// Readiness: the store answers a query.
pub async fn ready(call: &Call<'_>) -> Result<Readiness, Error> {
    call.state.store.ping().await?;
    Ok(Readiness { status: "ready".into(), store: call.state.store.backend().kind() })
}
