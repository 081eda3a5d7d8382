//! What the gateway adds to an MCP tool call.
//!
//! Starts a real MCP server and a gateway (embedded SQLite in a temporary
//! directory, `synchronous=FULL`) in this process, both on loopback, and
//! times `tools/call` of a trivial tool (a) straight to the server and (b)
//! through `POST /v1/mcp` with a capability token — decided, audited twice
//! (the decision and the tool's result), then forwarded. Prints the
//! latency percentiles of both and the throughput with concurrent clients.
//!
//! `cargo bench -p lictor-server --bench tool_call` (set
//! `LICTOR_BENCH_CALLS` to change the number of sequential calls).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

#[path = "../tests/it/support/mcp_server.rs"]
#[allow(dead_code)]
mod mcp_server;

use std::time::{Duration, Instant};

use lictor_api::tokens::UpstreamName;
use lictor_server::Config;
use lictor_server::catalog::ConfiguredUpstream;
use serde_json::{Value, json};

const ADMIN_KEY: &str = "lictor_admin_bench_0123456789abcdefghijklmnopqrstuvwxyz";
const MODERN: &str = "2026-07-28";

/// A 2026-07-28 `tools/call` request of `echo` (or `<prefix>echo`).
fn call(client: &reqwest::Client, url: &str, bearer: &str, name: &str, id: u64) -> reqwest::RequestBuilder {
    let body = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {
        "name": name, "arguments": {"text": "hello"},
        "_meta": {"io.modelcontextprotocol/protocolVersion": MODERN,
                  "io.modelcontextprotocol/clientCapabilities": {}}}});
    client
        .post(url)
        .bearer_auth(bearer)
        .header("Accept", "application/json, text/event-stream")
        .header("MCP-Protocol-Version", MODERN)
        .header("Mcp-Method", "tools/call")
        .header("Mcp-Name", name)
        .json(&body)
}

async fn timed(requests: impl Iterator<Item = reqwest::RequestBuilder>) -> Vec<Duration> {
    let mut times = Vec::new();
    for request in requests {
        let started = Instant::now();
        let answer = request.send().await.unwrap();
        let status = answer.status();
        let body = answer.text().await.unwrap();
        times.push(started.elapsed());
        let answer: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{status}: {e}: {body}"));
        assert!(answer.get("result").is_some(), "{answer}");
    }
    times
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let at = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[at]
}

fn report(name: &str, mut times: Vec<Duration>) -> Duration {
    times.sort();
    let (p50, p90, p99) = (percentile(&times, 0.5), percentile(&times, 0.9), percentile(&times, 0.99));
    println!(
        "{name:<28} n={:<6} p50 {:>8.3} ms   p90 {:>8.3} ms   p99 {:>8.3} ms",
        times.len(),
        p50.as_secs_f64() * 1e3,
        p90.as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3
    );
    p50
}

async fn admin(client: &reqwest::Client, url: &str, key: &str, path: &str, body: Value) -> Value {
    let answer = client.post(format!("{url}{path}")).bearer_auth(key).json(&body).send().await.unwrap();
    let status = answer.status();
    let body: Value = answer.json().await.unwrap();
    assert!(status.is_success(), "{path}: {status} {body}");
    body
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(bench());
}

async fn bench() {
    let calls: u64 = std::env::var("LICTOR_BENCH_CALLS").ok().and_then(|n| n.parse().ok()).unwrap_or(2000);
    let upstream = mcp_server::McpServer::builder().modern().bearer("bench-secret").start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        admin_key: Some(ADMIN_KEY.into()),
        log_level: "critical".into(),
        data_dir: dir.path().join("data"),
        upstreams: vec![ConfiguredUpstream {
            name: UpstreamName::parse("mail").unwrap(),
            url: upstream.url().to_string(),
            credential: Some(("Authorization".into(), "Bearer bench-secret".into())),
        }],
        ..Config::default()
    };
    let log = lictor_server::gateway::logger(&config).unwrap();
    let gateway = lictor_server::start(config, log).await.unwrap();
    let url = format!("http://{}", gateway.local_addr());
    let client = reqwest::Client::new();

    admin(&client, &url, ADMIN_KEY, "/v1/admin/tenants", json!({"id": "bench", "name": "Bench"})).await;
    let key = admin(
        &client,
        &url,
        ADMIN_KEY,
        "/v1/admin/api-keys",
        json!({"tenant": "bench", "environment": "live", "role": "admin", "name": "bench"}),
    )
    .await["key"]
        .as_str()
        .unwrap()
        .to_string();
    admin(&client, &url, &key, "/v1/agents", json!({"id": "agent-1", "name": "Agent", "owner": "bench"}))
        .await;
    let token =
        admin(&client, &url, &key, "/v1/admin/mint", json!({"subject": "agent-1", "ttl_seconds": 3600}))
            .await["token"]
            .as_str()
            .unwrap()
            .to_string();

    let direct_url = upstream.url().to_string();
    let gateway_url = format!("{url}/v1/mcp");
    // Warm both paths (connections, the gateway's tool cache, SQLite pages).
    timed((0..100).map(|i| call(&client, &direct_url, "bench-secret", "echo", i))).await;
    timed((0..100).map(|i| call(&client, &gateway_url, &token, "mail.echo", i))).await;

    println!("tools/call of a trivial tool, sequential, one client (loopback, SQLite synchronous=FULL):");
    let direct = report(
        "direct to the MCP server",
        timed((0..calls).map(|i| call(&client, &direct_url, "bench-secret", "echo", i))).await,
    );
    let through = report(
        "through Lictor /v1/mcp",
        timed((0..calls).map(|i| call(&client, &gateway_url, &token, "mail.echo", i))).await,
    );
    println!("added by the gateway at p50: {:.3} ms", (through.saturating_sub(direct)).as_secs_f64() * 1e3);

    for workers in [8u64, 32] {
        let per_worker = (calls / workers).max(50);
        let started = Instant::now();
        let tasks: Vec<_> = (0..workers)
            .map(|w| {
                let (client, gateway_url, token) = (client.clone(), gateway_url.clone(), token.clone());
                tokio::spawn(async move {
                    timed(
                        (0..per_worker)
                            .map(|i| call(&client, &gateway_url, &token, "mail.echo", w * 1_000_000 + i)),
                    )
                    .await
                })
            })
            .collect();
        let mut all = Vec::new();
        for task in tasks {
            all.extend(task.await.unwrap());
        }
        let elapsed = started.elapsed();
        let total = all.len();
        report(&format!("through Lictor, {workers} clients"), all);
        println!(
            "  {:.0} tool calls/s ({total} calls in {:.2} s)",
            total as f64 / elapsed.as_secs_f64(),
            elapsed.as_secs_f64()
        );
    }

    let verified: Value = client
        .get(format!("{url}/v1/admin/audit/verify?tenant=bench"))
        .bearer_auth(ADMIN_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    println!("audit chain: ok={} entries={}", verified["ok"], verified["verified"]);
    let _ = gateway.stop().await;
}
