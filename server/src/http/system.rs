//! `/healthz` and `/readyz`.

use lictor_api::system::{Health, Readiness};

use super::context::Context;
use crate::error::Error;

/// Liveness: answering at all is the answer.
pub fn health() -> Health {
    Health { status: "ok".into(), version: env!("CARGO_PKG_VERSION").into() }
}

/// Readiness: the store answers a query.
pub async fn ready(ctx: &Context<'_>) -> Result<Readiness, Error> {
    ctx.state.store.ping().await?;
    Ok(Readiness { status: "ready".into(), store: ctx.state.store.backend().kind() })
}
