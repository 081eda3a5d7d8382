//! The load generator: keep-alive HTTP/1.1 connections over loopback,
//! driven closed-loop (every connection sends its next request as soon as
//! the last is answered) or open-loop (requests are due at a fixed rate and
//! their latency counts from when they were due, so a stalled server is
//! charged for the queue it causes — no coordinated omission).
//!
//! It is built on hyper's client connection directly: no pool, no retries,
//! nothing between the socket and the clock.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use serde_json::{Value, json};
use tokio::net::TcpStream;

/// What to send.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The gateway's address.
    pub addr: SocketAddr,
    /// The request path.
    pub path: String,
    /// `Authorization: Bearer …`.
    pub key: String,
    /// Request bodies, sent in turn.
    pub bodies: Vec<Bytes>,
    /// Open an MCP session (2025-11-25) on each connection first, and send
    /// its id with every request.
    pub mcp_session: bool,
    /// An answer counts only with a `result` member (JSON-RPC; OPA's data
    /// API, whose answer has none when the decision is undefined).
    pub expect_result: bool,
}

/// How to drive it.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    /// Connections.
    pub connections: usize,
    /// Measured time.
    pub duration: Duration,
    /// Unmeasured time before it.
    pub warmup: Duration,
    /// Requests per second (open loop); `None`: closed loop.
    pub rate: Option<u64>,
    /// Open loop: a request due longer ago than this is not sent but
    /// counted as an error (`unsent`), so an overloaded gateway cannot
    /// make a run last for minutes.
    pub backlog_limit: Duration,
}

/// What a run measured.
#[derive(Clone, Debug, Serialize)]
pub struct Outcome {
    /// `closed` or `open`.
    pub mode: &'static str,
    /// The target rate (open loop).
    pub target_rps: Option<u64>,
    /// Connections used.
    pub connections: usize,
    /// Seconds from the start of the measured window to the last answer
    /// (at least the window).
    pub seconds: f64,
    /// Requests answered in the measured window.
    pub requests: u64,
    /// Of which not 200 (or a JSON-RPC error on MCP).
    pub errors: u64,
    /// Of the errors, requests never sent because the gateway was more than
    /// the backlog limit behind the rate.
    pub unsent: u64,
    /// Every request answered, warm-up included (for CPU time per request).
    pub answered_total: u64,
    /// Of the answers, decisions blocked because the policy evaluation ran
    /// into a limit (`policy_limit_exceeded`): with a bundle that decides
    /// in microseconds, only a time limit that counted a busy host's delays
    /// rather than work would produce them.
    pub limit_blocks: u64,
    /// Answered requests per second.
    pub rps: f64,
    /// Latency percentiles in microseconds.
    pub latency_us: Latency,
    /// The first error seen, if any.
    pub first_error: Option<String>,
}

/// Latency percentiles (µs).
#[derive(Clone, Debug, Serialize)]
pub struct Latency {
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// Largest.
    pub max: u64,
    /// Mean.
    pub mean: f64,
}

struct Connection {
    sender: SendRequest<Full<Bytes>>,
    session: Option<String>,
}

async fn connect(plan: &Plan) -> anyhow::Result<Connection> {
    let stream =
        TcpStream::connect(plan.addr).await.with_context(|| format!("connecting to {}", plan.addr))?;
    stream.set_nodelay(true)?;
    let (sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    let mut connection = Connection { sender, session: None };
    if plan.mcp_session {
        let initialize = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "lictor-load", "version": env!("CARGO_PKG_VERSION")}}});
        let (status, headers, body) =
            send(&mut connection, plan, Bytes::from(initialize.to_string())).await?;
        let session = headers
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .with_context(|| format!("initialize answered {status} without a session: {body:?}"))?;
        connection.session = Some(session);
        let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        send(&mut connection, plan, Bytes::from(initialized.to_string())).await?;
    }
    Ok(connection)
}

async fn send(
    connection: &mut Connection,
    plan: &Plan,
    body: Bytes,
) -> anyhow::Result<(http::StatusCode, http::HeaderMap, Bytes)> {
    let mut request = http::Request::post(plan.path.as_str())
        .header(http::header::HOST, plan.addr.to_string())
        .header(http::header::AUTHORIZATION, format!("Bearer {}", plan.key))
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(http::header::ACCEPT, "application/json, text/event-stream");
    if let Some(session) = &connection.session {
        request = request.header("Mcp-Session-Id", session).header("MCP-Protocol-Version", "2025-11-25");
    }
    let request = request.body(Full::new(body))?;
    connection.sender.ready().await?;
    let response = connection.sender.send_request(request).await?;
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await?.to_bytes();
    Ok((parts.status, parts.headers, bytes))
}

/// Whether an answer counts as served: HTTP 200, and on MCP a JSON-RPC result.
fn served(plan: &Plan, status: http::StatusCode, body: &[u8]) -> bool {
    status == http::StatusCode::OK
        && (!plan.expect_result
            || serde_json::from_slice::<Value>(body).is_ok_and(|v| v.get("result").is_some()))
}

/// The reason code of a decision a policy limit cut off.
const LIMIT_CODE: &[u8] = b"policy_limit_exceeded";

#[derive(Default)]
struct Tally {
    histogram: Option<Histogram<u64>>,
    /// When the last measured answer came.
    last: Option<Instant>,
    requests: u64,
    errors: u64,
    unsent: u64,
    answered_total: u64,
    limit_blocks: u64,
    first_error: Option<String>,
}

fn histogram() -> anyhow::Result<Histogram<u64>> {
    // 1 µs to 60 s, 3 significant figures.
    Ok(Histogram::new_with_bounds(1, 60_000_000, 3)?)
}

/// Runs `plan` shaped by `shape`.
pub async fn run(plan: Plan, shape: Shape) -> anyhow::Result<Outcome> {
    if plan.bodies.is_empty() {
        bail!("no request bodies");
    }
    let plan = Arc::new(plan);
    let mut connections = Vec::with_capacity(shape.connections);
    for _ in 0..shape.connections {
        connections.push(connect(&plan).await?);
    }
    let start = Instant::now() + Duration::from_millis(50);
    let measure_from = start + shape.warmup;
    let end = measure_from + shape.duration;
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for (index, mut connection) in connections.into_iter().enumerate() {
        let plan = Arc::clone(&plan);
        let next = Arc::clone(&next);
        tasks.push(tokio::spawn(async move {
            let mut tally = Tally { histogram: Some(histogram()?), ..Tally::default() };
            let mut turn = index;
            tokio::time::sleep_until(start.into()).await;
            loop {
                let due = match shape.rate {
                    // Open loop: the next request due, whoever sends it.
                    Some(rate) => {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let due = start + Duration::from_secs_f64(i as f64 / rate as f64);
                        if due >= end {
                            break;
                        }
                        if Instant::now() > due + shape.backlog_limit {
                            // The gateway is this far behind the rate: the
                            // request is never sent, and counts as an error
                            // (so the run ends in bounded time).
                            if due >= measure_from {
                                tally.requests += 1;
                                tally.errors += 1;
                                tally.unsent += 1;
                                tally.first_error.get_or_insert_with(|| {
                                    format!(
                                        "not sent: the gateway fell more than {:?} behind the rate",
                                        shape.backlog_limit
                                    )
                                });
                            }
                            continue;
                        }
                        tokio::time::sleep_until(due.into()).await;
                        due
                    }
                    None => {
                        let now = Instant::now();
                        if now >= end {
                            break;
                        }
                        now
                    }
                };
                turn += 1;
                let body = plan.bodies[turn % plan.bodies.len()].clone();
                let result = send(&mut connection, &plan, body).await;
                let done = Instant::now();
                tally.answered_total += 1;
                if due < measure_from {
                    continue;
                }
                tally.requests += 1;
                tally.last = Some(tally.last.map_or(done, |last| last.max(done)));
                if let Ok((_, _, body)) = &result
                    && body.windows(LIMIT_CODE.len()).any(|w| w == LIMIT_CODE)
                {
                    tally.limit_blocks += 1;
                }
                let failure = match &result {
                    Ok((status, _, body)) if served(&plan, *status, body) => None,
                    Ok((status, _, body)) => Some(format!("{status}: {}", String::from_utf8_lossy(body))),
                    Err(error) => Some(format!("{error:#}")),
                };
                if let Some(failure) = failure {
                    tally.errors += 1;
                    tally.first_error.get_or_insert(failure);
                    if result.is_err() {
                        // The connection is gone: open another.
                        connection = connect(&plan).await?;
                    }
                }
                let micros = u64::try_from(done.duration_since(due).as_micros()).unwrap_or(u64::MAX).max(1);
                if let Some(histogram) = tally.histogram.as_mut() {
                    histogram.saturating_record(micros);
                }
            }
            anyhow::Ok(tally)
        }));
    }
    let mut total = Tally { histogram: Some(histogram()?), ..Tally::default() };
    for task in tasks {
        let tally = task.await??;
        total.requests += tally.requests;
        total.errors += tally.errors;
        total.answered_total += tally.answered_total;
        total.unsent += tally.unsent;
        total.limit_blocks += tally.limit_blocks;
        total.last = total.last.max(tally.last);
        if total.first_error.is_none() {
            total.first_error = tally.first_error;
        }
        if let (Some(sum), Some(part)) = (total.histogram.as_mut(), tally.histogram.as_ref()) {
            sum.add(part)?;
        }
    }
    let histogram = total.histogram.unwrap_or(histogram()?);
    // Throughput over the time the answers took: when the gateway falls
    // behind an open-loop rate, the requests due in the window are answered
    // after it, and the rate served is what they show.
    let seconds = total
        .last
        .map(|last| last.duration_since(measure_from).as_secs_f64())
        .unwrap_or_default()
        .max(shape.duration.as_secs_f64());
    Ok(Outcome {
        mode: if shape.rate.is_some() { "open" } else { "closed" },
        target_rps: shape.rate,
        connections: shape.connections,
        seconds,
        requests: total.requests,
        errors: total.errors,
        unsent: total.unsent,
        answered_total: total.answered_total,
        limit_blocks: total.limit_blocks,
        rps: (total.requests - total.errors) as f64 / seconds,
        latency_us: Latency {
            p50: histogram.value_at_quantile(0.50),
            p90: histogram.value_at_quantile(0.90),
            p99: histogram.value_at_quantile(0.99),
            p999: histogram.value_at_quantile(0.999),
            max: histogram.max(),
            mean: histogram.mean(),
        },
        first_error: total.first_error,
    })
}
