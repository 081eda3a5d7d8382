//! The suite catches a deliberately broken deployment: a reverse proxy in
//! front of an embedded gateway breaks one thing of the contract, and the
//! run against the proxy fails the cases that check it, with a clear
//! message and a `curl` line, while the cases that do not depend on it
//! still pass (so the report pinpoints the fault).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use futures::TryStreamExt as _;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt as _, Full, StreamBody};
use hyper::body::{Bytes, Frame, Incoming};
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use lictor_conformance::{CaseResult, Selection, Status, Target, embedded, report, run};
use serde_json::{Value, json};

/// What the proxy breaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Break {
    /// Nothing: every request and answer passes through unchanged.
    Nothing,
    /// A `block` Decision (`POST /v1/intents`, each element of
    /// `POST /v1/intents:batch`, `GET /v1/intents/{id}/decision`) becomes
    /// HTTP 403 `forbidden`.
    BlockAs403,
    /// Audit entry `seq` 2 disappears: from NDJSON and CSV exports and from
    /// `GET /v1/admin/audit` pages (no case reads those pages whole yet, so
    /// only the exports give it away).
    DropAuditEntry,
    /// Audit entry `seq` 2 disappears from CSV exports only.
    DropCsvAuditEntry,
}

/// The `seq` of the entry [`Break::DropAuditEntry`] hides.
const DROPPED_SEQ: u64 = 2;

type ProxyBody = BoxBody<Bytes, std::io::Error>;

/// A reverse proxy on a loopback port in front of `upstream`; it stops
/// when dropped.
struct Proxy {
    url: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct State {
    upstream: String,
    fault: Break,
    client: reqwest::Client,
}

impl Proxy {
    async fn start(upstream: &str, fault: Break) -> Proxy {
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()
            .unwrap();
        let state = Arc::new(State { upstream: upstream.trim_end_matches('/').to_string(), fault, client });
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                let state = Arc::clone(&state);
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request| {
                        let state = Arc::clone(&state);
                        async move { Ok::<_, Infallible>(forward(&state, request).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Proxy { url, task }
    }
}

/// Hop-by-hop headers (RFC 9110 §7.6.1) and `Host`, which the proxy's own
/// client sets; everything else passes as is.
fn end_to_end(name: &HeaderName) -> bool {
    !matches!(
        name.as_str(),
        "host"
            | "connection"
            | "keep-alive"
            | "proxy-connection"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
            | "content-length"
    )
}

fn full(status: StatusCode, headers: HeaderMap, body: impl Into<Bytes>) -> Response<ProxyBody> {
    let mut response =
        Response::new(Full::new(body.into()).map_err(|never: Infallible| match never {}).boxed());
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

async fn forward(state: &State, request: Request<Incoming>) -> Response<ProxyBody> {
    let (parts, body) = request.into_parts();
    let path = parts.uri.path().to_string();
    let path_and_query = parts.uri.path_and_query().map_or("/", |p| p.as_str()).to_string();
    let body = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(error) => return full(StatusCode::BAD_REQUEST, HeaderMap::new(), error.to_string()),
    };
    let mut outgoing =
        state.client.request(parts.method.clone(), format!("{}{path_and_query}", state.upstream));
    for (name, value) in parts.headers.iter().filter(|(name, _)| end_to_end(name)) {
        outgoing = outgoing.header(name, value);
    }
    let answer = match outgoing.body(body).send().await {
        Ok(answer) => answer,
        Err(error) => {
            return full(StatusCode::BAD_GATEWAY, HeaderMap::new(), format!("proxy: {error}"));
        }
    };
    let status = answer.status();
    let mut headers = HeaderMap::new();
    for (name, value) in
        answer.headers().iter().filter(|(name, _)| *name == header::CONTENT_LENGTH || end_to_end(name))
    {
        headers.append(name.clone(), value.clone());
    }
    if status == StatusCode::OK && rewrites(state.fault, &parts.method, &path) {
        let bytes = match answer.bytes().await {
            Ok(bytes) => bytes,
            Err(error) => return full(StatusCode::BAD_GATEWAY, HeaderMap::new(), format!("proxy: {error}")),
        };
        let (status, body) = rewrite(state.fault, &path, &headers, bytes);
        headers.remove(header::CONTENT_LENGTH);
        if status != StatusCode::OK {
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        return full(status, headers, body);
    }
    // Streamed through unchanged (MCP answers, downloads…); the upstream's
    // `Content-Length`, when it sent one, frames the body as before.
    let stream = answer.bytes_stream().map_ok(Frame::data).map_err(std::io::Error::other);
    let mut response = Response::new(StreamBody::new(stream).boxed());
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

/// Whether `fault` changes the answer to `method path`.
fn rewrites(fault: Break, method: &Method, path: &str) -> bool {
    match fault {
        Break::Nothing => false,
        Break::BlockAs403 => {
            (*method == Method::POST && (path == "/v1/intents" || path == "/v1/intents:batch"))
                || (*method == Method::GET && path.starts_with("/v1/intents/") && path.ends_with("/decision"))
        }
        Break::DropAuditEntry | Break::DropCsvAuditEntry => {
            *method == Method::GET && (path == "/v1/admin/audit/export" || path == "/v1/admin/audit")
        }
    }
}

/// The broken answer for a `200` whose body is `body`.
fn rewrite(fault: Break, path: &str, headers: &HeaderMap, body: Bytes) -> (StatusCode, Bytes) {
    let unchanged = (StatusCode::OK, body.clone());
    let request_id =
        headers.get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("req_proxy").to_string();
    let forbidden = || {
        json!({
            "error_code": "forbidden",
            "message": "the intent is blocked by policy",
            "request_id": request_id,
        })
    };
    let is_block = |decision: &Value| decision["verdict"] == "block";
    match fault {
        Break::Nothing => unchanged,
        Break::BlockAs403 => {
            let Ok(mut value) = serde_json::from_slice::<Value>(&body) else { return unchanged };
            if path == "/v1/intents:batch" {
                for item in value["results"].as_array_mut().into_iter().flatten() {
                    if is_block(&item["decision"]) {
                        item["status"] = json!(403);
                        item["decision"] = Value::Null;
                        item["error"] = forbidden();
                    }
                }
                (StatusCode::OK, Bytes::from(value.to_string()))
            } else if is_block(&value) || is_block(&value["decision"]) {
                (StatusCode::FORBIDDEN, Bytes::from(forbidden().to_string()))
            } else {
                unchanged
            }
        }
        Break::DropCsvAuditEntry if path == "/v1/admin/audit" || body.first() == Some(&b'{') => unchanged,
        Break::DropAuditEntry if path == "/v1/admin/audit" => {
            let Ok(mut value) = serde_json::from_slice::<Value>(&body) else { return unchanged };
            if let Some(items) = value["items"].as_array_mut() {
                items.retain(|entry| entry["seq"].as_u64() != Some(DROPPED_SEQ));
            }
            (StatusCode::OK, Bytes::from(value.to_string()))
        }
        Break::DropAuditEntry | Break::DropCsvAuditEntry => {
            (StatusCode::OK, Bytes::from(drop_export_entry(&body)))
        }
    }
}

/// The export without its entry `seq` [`DROPPED_SEQ`]: NDJSON line or CSV
/// row, every other byte kept.
fn drop_export_entry(body: &[u8]) -> Vec<u8> {
    let ndjson = body.first() == Some(&b'{');
    records(body)
        .into_iter()
        .filter(|record| {
            let text = String::from_utf8_lossy(record);
            let seq = if ndjson {
                serde_json::from_str::<Value>(&text)
                    .ok()
                    .filter(|v| v["type"] == "entry")
                    .and_then(|v| v["entry"]["seq"].as_u64())
            } else {
                // `record,version,entry_id,tenant,seq,…`: the first five
                // cells of an entry row are never quoted.
                let cells: Vec<&str> = text.splitn(6, ',').collect();
                (cells.first() == Some(&"entry")).then(|| cells.get(4)?.parse().ok()).flatten()
            };
            seq != Some(DROPPED_SEQ)
        })
        .flatten()
        .copied()
        .collect()
}

/// The records of an NDJSON or CSV body, each with its line end; a newline
/// inside a quoted CSV cell does not end a record.
fn records(body: &[u8]) -> Vec<&[u8]> {
    let (mut records, mut start, mut quoted) = (Vec::new(), 0, false);
    for (i, byte) in body.iter().enumerate() {
        match byte {
            b'"' => quoted = !quoted,
            b'\n' if !quoted => {
                records.push(&body[start..=i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if start < body.len() {
        records.push(&body[start..]);
    }
    records
}

fn selection(groups: &[&str]) -> Selection {
    Selection { only: groups.iter().map(|g| (*g).to_string()).collect(), ..Selection::default() }
}

fn case<'a>(results: &'a [CaseResult], id: &str) -> &'a CaseResult {
    results.iter().find(|r| r.id == id).unwrap_or_else(|| panic!("no case {id}"))
}

/// Asserts `id` failed and answers its message and curl line.
fn failed<'a>(results: &'a [CaseResult], id: &str, summary: &str) -> (&'a str, &'a str) {
    let result = case(results, id);
    assert_eq!(result.status, Status::Failed, "{id} must fail:\n{summary}");
    let failure = result.failure.as_ref().unwrap_or_else(|| panic!("{id} failed without a failure"));
    (&failure.message, failure.curl.as_deref().unwrap_or(""))
}

fn passed(results: &[CaseResult], id: &str, summary: &str) {
    assert_eq!(case(results, id).status, Status::Passed, "{id} must pass:\n{summary}");
}

/// The three reports all show `id`'s failure with `message` and `curl`.
fn reports_show(results: &[CaseResult], id: &str, message: &str, curl: &str) {
    let summary = report::summary(results);
    assert!(summary.contains(&format!("\n{id}: {message}\n")), "{summary}");
    if !curl.is_empty() {
        assert!(summary.contains(&format!("  reproduce: {curl}\n")), "{summary}");
    }
    let junit = report::junit(results).unwrap();
    let at = junit.find(&format!("name=\"{id}\"")).unwrap_or_else(|| panic!("{id} not in {junit}"));
    let end = junit[at..].find("</testcase>").map_or(junit.len(), |e| at + e);
    assert!(junit[at..end].contains("<failure"), "{}", &junit[at..end]);
    let json: Value = serde_json::from_str(&report::json(results)).unwrap();
    assert!(json["failed"].as_u64().unwrap() > 0, "{json}");
    let entry = json["cases"].as_array().unwrap().iter().find(|c| c["id"] == id).unwrap();
    assert_eq!(entry["status"], "failed");
    assert_eq!(entry["failure"]["message"], message);
}

/// The HTTP status `curl_line` gets, run by `sh`; `None` without `sh` or
/// `curl` here.
fn status_of(curl_line: &str) -> Option<String> {
    let output = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{curl_line} --max-time 20 -o /dev/null -w '%{{http_code}}'"))
        .output()
        .ok()?;
    (output.status.code() != Some(127)).then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transparent_proxy_changes_nothing() {
    let gateway = embedded::start().await.unwrap();
    let proxy = Proxy::start(&gateway.url, Break::Nothing).await;
    let target = Target::new(vec![proxy.url.clone()], gateway.admin_key.clone());
    let selection = Selection { property_cases: 4, ..Selection::default() };
    let results = run(target, &selection, |_| {}).await.unwrap_or_else(|f| panic!("{f:?}"));
    let summary = report::summary(&results);
    assert!(results.iter().all(|r| r.status != Status::Failed), "{summary}");
    passed(&results, "intents.block_is_a_decision", &summary);
    passed(&results, "audit.export_verifies_offline", &summary);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_block_answered_as_403_fails_the_run() {
    let gateway = embedded::start().await.unwrap();
    let proxy = Proxy::start(&gateway.url, Break::BlockAs403).await;
    let target = Target::new(vec![proxy.url.clone()], gateway.admin_key.clone());
    let mut reproduced = None;
    let results = run(target, &selection(&["core", "intents", "tokens", "audit", "auth"]), |result| {
        if result.id == "intents.block_is_a_decision"
            && let Some(curl) = result.failure.as_ref().and_then(|f| f.curl.as_deref())
        {
            reproduced = tokio::task::block_in_place(|| status_of(curl));
        }
    })
    .await
    .unwrap_or_else(|f| panic!("{f:?}"));
    let summary = report::summary(&results);
    println!("{summary}");

    let id = "intents.block_is_a_decision";
    let (message, curl) = failed(&results, id, &summary);
    assert!(message.contains("POST /v1/intents"), "{message}");
    assert!(message.contains("HTTP 403") && message.contains("forbidden"), "{message}");
    assert!(
        curl.starts_with(&format!("curl -sS -X POST '{}/v1/intents' -H 'Authorization: Bearer ", proxy.url)),
        "{curl}"
    );
    assert!(!curl.contains('\n') && curl.contains("\"verb\":\"transfer\""), "{curl}");
    reports_show(&results, id, message, curl);
    // The reproduction, run while the run's keys were still valid (the run
    // revokes them when it ends), shows the 403.
    match reproduced {
        Some(status) => assert_eq!(status, "403", "{curl}"),
        None => eprintln!("no `sh`/`curl` here: the reproduction was not run"),
    }
    // Some case says, in so many words, what the contract wants instead.
    assert!(
        results
            .iter()
            .filter_map(|r| r.failure.as_ref())
            .any(|f| f.message.contains("want a 200 Decision") && f.message.contains("403")),
        "no failure says a 200 Decision was expected:\n{summary}"
    );
    // Every other case that is answered a block fails too…
    for id in ["intents.shared_scenario", "intents.test_never_audits", "tokens.attenuation_only_narrows"] {
        let (message, _) = failed(&results, id, &summary);
        assert!(message.contains("HTTP 403"), "{id}: {message}");
    }
    // …and the cases that never see a block still pass.
    for id in [
        "core.health_and_readiness",
        "core.replicas_share_one_tenant",
        "intents.shadow_never_enforces",
        "audit.chain_verifies",
        "audit.export_verifies_offline",
        "auth.no_credentials",
        "auth.agent_key_on_admin_route",
    ] {
        passed(&results, id, &summary);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_audit_entry_fails_the_run() {
    let gateway = embedded::start().await.unwrap();
    let proxy = Proxy::start(&gateway.url, Break::DropAuditEntry).await;
    let target = Target::new(vec![proxy.url.clone()], gateway.admin_key.clone());
    let results = run(target, &selection(&["core", "intents", "audit", "auth"]), |_| {})
        .await
        .unwrap_or_else(|f| panic!("{f:?}"));
    let summary = report::summary(&results);
    println!("{summary}");

    let id = "audit.export_verifies_offline";
    let (message, curl) = failed(&results, id, &summary);
    assert!(message.starts_with("the ndjson export does not verify: "), "{message}");
    assert!(
        message.contains("SequenceGap") && message.contains(&format!("expected entry {DROPPED_SEQ}")),
        "{message}"
    );
    let want = format!(
        "curl -sS -X GET '{}/v1/admin/audit/export?format=ndjson' -H 'Authorization: Bearer ",
        proxy.url
    );
    assert!(curl.starts_with(&want) && !curl.contains('\n'), "{curl}");
    reports_show(&results, id, message, curl);
    // The listing with a hole is caught too, though the gateway's own
    // verification (which reads its store) passes.
    let (message, _) = failed(&results, "audit.chain_verifies", &summary);
    let hole = format!("skips from entry {} to entry {}", DROPPED_SEQ - 1, DROPPED_SEQ + 1);
    assert!(message.contains(&hole), "{message}");
    for id in [
        "core.health_and_readiness",
        "intents.shared_scenario",
        "intents.block_is_a_decision",
        "intents.shadow_never_enforces",
        "audit.inclusion_in_a_signed_checkpoint",
        "auth.no_credentials",
    ] {
        passed(&results, id, &summary);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_dropped_from_the_csv_export_only_fails_the_run() {
    // The NDJSON export is intact: the case must go on to the CSV one and
    // fail there.
    let gateway = embedded::start().await.unwrap();
    let proxy = Proxy::start(&gateway.url, Break::DropCsvAuditEntry).await;
    let target = Target::new(vec![proxy.url.clone()], gateway.admin_key.clone());
    let results =
        run(target, &selection(&["intents", "audit"]), |_| {}).await.unwrap_or_else(|f| panic!("{f:?}"));
    let summary = report::summary(&results);
    println!("{summary}");
    let id = "audit.export_verifies_offline";
    let (message, curl) = failed(&results, id, &summary);
    assert!(message.starts_with("the csv export does not verify: "), "{message}");
    assert!(
        message.contains("SequenceGap") && message.contains(&format!("expected entry {DROPPED_SEQ}")),
        "{message}"
    );
    let want = format!(
        "curl -sS -X GET '{}/v1/admin/audit/export?format=csv' -H 'Authorization: Bearer ",
        proxy.url
    );
    assert!(curl.starts_with(&want), "{curl}");
    reports_show(&results, id, message, curl);
    passed(&results, "audit.chain_verifies", &summary);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_that_disagree_fail_the_run() {
    // Two "replicas" that are two separate gateways: the run's tenant and
    // keys exist on the first only.
    let first = embedded::start().await.unwrap();
    let second = embedded::start().await.unwrap();
    let target = Target::new(vec![first.url.clone(), second.url.clone()], first.admin_key.clone());
    let results = run(target, &selection(&["core"]), |_| {}).await.unwrap_or_else(|f| panic!("{f:?}"));
    let summary = report::summary(&results);
    println!("{summary}");
    let id = "core.replicas_share_one_tenant";
    let (message, curl) = failed(&results, id, &summary);
    assert!(message.contains("GET the run's tenant") && message.contains("HTTP 401"), "{message}");
    assert!(
        curl.starts_with(&format!("curl -sS -X GET '{}/v1/admin/tenants/conformance-", second.url)),
        "{curl}"
    );
    reports_show(&results, id, message, curl);
    passed(&results, "core.health_and_readiness", &summary);
}
