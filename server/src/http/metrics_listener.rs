//! `--metrics-listen`: a second, plain-HTTP listener for the machines that
//! watch the gateway from a private address (a pod IP behind a
//! NetworkPolicy, a management network): `GET /metrics` for the scraper,
//! `GET /healthz` and `GET /readyz` for the orchestrator's probes (which
//! then work whatever TLS or client certificates the API asks for).
//!
//! Without `--metrics-token`, `/metrics` answers anyone who reaches it:
//! the operator chose the address. With a token it asks for it there too.
//! Any other method or path is `404`; the API is never served here.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper_util::rt::TokioIo;
use lictor_api::ApiError;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::app::system;
use crate::error::{Error, Object};
use crate::state::GatewayState;

/// The listener's address and the task serving it.
pub(crate) struct MetricsListener {
    pub(crate) address: SocketAddr,
    pub(crate) task: JoinHandle<()>,
}

/// Binds `address` and serves `/metrics` from `state` until the task is
/// aborted.
pub(crate) async fn start(
    address: SocketAddr,
    state: GatewayState,
    log: slog::Logger,
) -> std::io::Result<MetricsListener> {
    let listener = TcpListener::bind(address).await?;
    let address = listener.local_addr()?;
    let state = Arc::new(state);
    let task = tokio::spawn(async move {
        loop {
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                Err(error) => {
                    slog::warn!(log, "metrics listener: accept failed"; "error" => %error);
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            };
            let state = Arc::clone(&state);
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request| {
                    let state = Arc::clone(&state);
                    async move { Ok::<_, Infallible>(answer(&state, request).await) }
                });
                // A scraper that goes away mid-answer is no concern of ours.
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(MetricsListener { address, task })
}

async fn answer(state: &GatewayState, request: hyper::Request<Incoming>) -> hyper::Response<Full<Bytes>> {
    let json = |value: serde_json::Result<Vec<u8>>| value.map_err(|e| Error::Internal(e.to_string()));
    let get = request.method() == hyper::Method::GET;
    let result = match request.uri().path() {
        "/metrics" if get => system::scrape(state, request.headers().get(http::header::AUTHORIZATION))
            .await
            .map(|text| (crate::metrics::CONTENT_TYPE, text.into_bytes())),
        "/healthz" if get => json(serde_json::to_vec(&system::health())).map(|b| ("application/json", b)),
        "/readyz" if get => system::readiness(state)
            .await
            .and_then(|ready| json(serde_json::to_vec(&ready)))
            .map(|b| ("application/json", b)),
        path => Err(Error::not_found(Object::Route, format!("{} {path}", request.method()))),
    };
    let (status, content_type, body) = match result {
        Ok((content_type, body)) => (200, content_type, Bytes::from(body)),
        Err(error) => {
            let error = ApiError::from(error);
            let body = serde_json::to_vec(&error).unwrap_or_default();
            (error.status(), "application/json", Bytes::from(body))
        }
    };
    let mut response = hyper::Response::new(Full::new(body));
    *response.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::OK);
    let headers = response.headers_mut();
    headers.insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static(content_type));
    headers.insert(http::header::CACHE_CONTROL, http::HeaderValue::from_static("no-store"));
    response
}
