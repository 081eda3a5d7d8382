//! Traces and logs of a real `lictor serve` process: its spans as an OTLP
//! receiver started here gets them over gRPC, and its JSON request events
//! as it writes them to standard error.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::mcp_server::McpServer;
use crate::support::process::{self, Deployment, Tenant};
use crate::support::{Backend, approve_intent, block_intent};

/// An OTLP/gRPC trace receiver: keeps every span it is sent, with the
/// service name of its resource.
#[derive(Clone, Default)]
struct Receiver {
    spans: Arc<Mutex<Vec<(String, Span)>>>,
}

#[tonic::async_trait]
impl TraceService for Receiver {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut kept = self.spans.lock().unwrap();
        for resource_spans in request.into_inner().resource_spans {
            let service = resource_spans
                .resource
                .iter()
                .flat_map(|r| &r.attributes)
                .find(|kv| kv.key == "service.name")
                .and_then(|kv| string(kv.value.as_ref().and_then(|v| v.value.as_ref())))
                .unwrap_or_default();
            for scope in resource_spans.scope_spans {
                kept.extend(scope.spans.into_iter().map(|span| (service.clone(), span)));
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse { partial_success: None }))
    }
}

fn string(value: Option<&AnyValue>) -> Option<String> {
    match value {
        Some(AnyValue::StringValue(text)) => Some(text.clone()),
        Some(AnyValue::IntValue(n)) => Some(n.to_string()),
        Some(AnyValue::BoolValue(b)) => Some(b.to_string()),
        _ => None,
    }
}

fn attribute(span: &Span, key: &str) -> Option<String> {
    span.attributes.iter().find(|kv| kv.key == key).and_then(|kv| string(kv.value.as_ref()?.value.as_ref()))
}

impl Receiver {
    /// Listens on a free loopback port; answers `http://address`.
    async fn start(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let service = TraceServiceServer::new(self.clone());
        tokio::spawn(async move {
            let incoming = tonic::transport::server::TcpIncoming::from(listener);
            let _ =
                tonic::transport::Server::builder().add_service(service).serve_with_incoming(incoming).await;
        });
        format!("http://{address}")
    }

    /// The spans of trace `trace_id` once `expected` of them arrived.
    async fn trace(&self, trace_id: &str, expected: usize) -> Vec<(String, Span)> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let spans: Vec<_> = self
                .spans
                .lock()
                .unwrap()
                .iter()
                .filter(|(_, span)| hex::encode(&span.trace_id) == trace_id)
                .cloned()
                .collect();
            if spans.len() >= expected || tokio::time::Instant::now() > deadline {
                return spans;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The one span named `name`, or a failure listing what there is.
fn named<'a>(spans: &'a [(String, Span)], name: &str) -> &'a Span {
    let found: Vec<_> = spans.iter().filter(|(_, s)| s.name == name).collect();
    assert_eq!(
        found.len(),
        1,
        "spans named {name}: {:?}",
        spans.iter().map(|(_, s)| &s.name).collect::<Vec<_>>()
    );
    &found[0].1
}

fn child_of(span: &Span, parent: &Span) -> bool {
    span.parent_span_id == parent.span_id
}

/// `lictor serve` with `env` and `extra` flags, reaching an MCP server as
/// upstream `mail`, and a provisioned tenant.
pub async fn with_upstream(env: &[(&str, &str)], extra: &[&str]) -> (Deployment, McpServer, String, Tenant) {
    let upstream = McpServer::builder().bearer("upstream-secret-7f3a").start().await;
    let mut deployment = Deployment::new(Backend::Sqlite).await;
    for (name, value) in env {
        deployment.set_env(name, value);
    }
    let upstream_flag = format!("mail={}", upstream.url());
    let credential = "mail=Authorization:Bearer upstream-secret-7f3a";
    let flags = [&["--upstream", &upstream_flag, "--upstream-credential", credential][..], extra].concat();
    let url = deployment.start_with(&flags).await;
    let tenant = process::provision(&process::client(), &url).await;
    (deployment, upstream, url, tenant)
}

const PIPELINE: [&str; 7] = ["validate", "identity", "capability", "risk", "policy", "budget", "decide"];

/// The request span under the caller's `traceparent`, one child per
/// pipeline stage, policy evaluation under the policy stage, the audit
/// append under the request; for a tool call, the upstream call too, whose
/// own context reaches the upstream as its `traceparent`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_intent_and_a_tool_call_are_traced_over_otlp() {
    let receiver = Receiver::default();
    let endpoint = receiver.start().await;
    let env = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ("OTEL_SERVICE_NAME", "lictor-under-test"),
    ];
    let (_deployment, upstream, url, tenant) = with_upstream(&env, &[]).await;
    let client = process::client();

    // An intent, under a caller's trace.
    let (intent_trace, caller_span) = ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7");
    let answer = process::send(
        process::call(&client, Method::POST, format!("{url}/v1/intents"), &tenant.live)
            .header("traceparent", format!("00-{intent_trace}-{caller_span}-01"))
            .json(&json!({"intent": approve_intent()})),
    )
    .await;
    let request_id = answer.headers["x-request-id"].to_str().unwrap().to_string();
    assert_eq!(answer.expect(200)["verdict"], "approve");
    let spans = receiver.trace(intent_trace, PIPELINE.len() + 3).await;
    assert!(spans.iter().all(|(service, _)| service == "lictor-under-test"), "{spans:?}");
    let request = named(&spans, "intent_declare");
    assert_eq!(hex::encode(&request.parent_span_id), caller_span, "the caller's span is the parent");
    assert_eq!(request.kind, SpanKind::Server as i32);
    assert_eq!(attribute(request, "request_id").as_deref(), Some(request_id.as_str()));
    assert_eq!(attribute(request, "tenant").as_deref(), Some(tenant.id.as_str()));
    assert_eq!(attribute(request, "verdict").as_deref(), Some("approve"));
    assert_eq!(attribute(request, "http.response.status_code").as_deref(), Some("200"));
    assert!(attribute(request, "principal").is_some_and(|p| p.starts_with("key:")), "{request:?}");
    for stage in PIPELINE {
        let span = named(&spans, stage);
        assert!(child_of(span, request), "{stage} is not the request's child");
        assert_eq!(attribute(span, "stage").as_deref(), Some(stage));
        assert!(span.end_time_unix_nano >= span.start_time_unix_nano);
    }
    assert_eq!(attribute(named(&spans, "policy"), "outcome").as_deref(), Some("pass"));
    let evaluation = named(&spans, "policy.evaluate");
    assert!(child_of(evaluation, named(&spans, "policy")));
    assert_eq!(attribute(evaluation, "bundle").as_deref(), Some("default"));
    let append = named(&spans, "audit.append");
    assert!(child_of(append, request));
    assert_eq!(attribute(append, "committed").as_deref(), Some("true"));

    // A tool call, under another trace.
    let (call_trace, caller_span) = ("0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331");
    let answer = process::send(
        process::call(&client, Method::POST, format!("{url}/v1/tool-call"), &tenant.live)
            .header("traceparent", format!("00-{call_trace}-{caller_span}-01"))
            .json(&json!({"tool": "mail.echo", "agent_id": "agent-1", "arguments": {"text": "traced"}})),
    )
    .await;
    assert_eq!(answer.expect(200)["decision"]["verdict"], "approve");
    let spans = receiver.trace(call_trace, PIPELINE.len() + 4).await;
    let request = named(&spans, "tool_call");
    assert_eq!(hex::encode(&request.parent_span_id), caller_span);
    for stage in PIPELINE {
        assert!(child_of(named(&spans, stage), request), "{stage}");
    }
    let call = named(&spans, "upstream.call");
    assert!(child_of(call, request));
    assert_eq!(call.kind, SpanKind::Client as i32);
    assert_eq!(attribute(call, "upstream").as_deref(), Some("mail"));
    assert_eq!(attribute(call, "tool").as_deref(), Some("echo"));
    // The upstream saw the call's own context: same trace, the call's span as parent.
    let calls = upstream.calls();
    let forwarded = calls.iter().find(|c| c.name == "echo").expect("the upstream got the call");
    let traceparent = &forwarded.headers["traceparent"];
    assert_eq!(traceparent, &format!("00-{call_trace}-{}-01", hex::encode(&call.span_id)));
}

/// Without the OTEL variables nothing is exported, and a caller's
/// `traceparent` is not passed on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_endpoint_nothing_is_traced_or_propagated() {
    let (_deployment, upstream, url, tenant) = with_upstream(&[], &[]).await;
    let client = process::client();
    let answer = process::send(
        process::call(&client, Method::POST, format!("{url}/v1/tool-call"), &tenant.live)
            .header("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
            .json(&json!({"tool": "mail.echo", "agent_id": "agent-1", "arguments": {"text": "untraced"}})),
    )
    .await;
    assert_eq!(answer.expect(200)["decision"]["verdict"], "approve");
    let calls = upstream.calls();
    let forwarded = calls.iter().find(|c| c.name == "echo").expect("the upstream got the call");
    assert!(!forwarded.headers.contains_key("traceparent"), "{:?}", forwarded.headers);
}

/// A variable asking for an exporter or protocol the gateway lacks stops
/// the start with a message naming it, instead of tracing nothing quietly.
#[test]
fn an_unsupported_exporter_is_refused() {
    for (name, value) in
        [("OTEL_TRACES_EXPORTER", "zipkin"), ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")]
    {
        let dir = tempfile::tempdir().unwrap();
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_lictor"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path())
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317")
            .env(name, value)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(1), "{name}={value}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(&format!("{name}={value}")), "{stderr}");
    }
}

/// The JSON lines of the gateway's log that are request events, by request id.
fn request_events(log: &str) -> HashMap<String, Value> {
    let mut events = HashMap::new();
    for line in log.lines().filter(|l| !l.trim().is_empty()) {
        let event: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line:?}"));
        assert!(event["timestamp"].is_string() && event["level"].is_string(), "{event}");
        if event["target"] == "lictor::request" {
            events.insert(event["request_id"].as_str().unwrap().to_string(), event);
        }
    }
    events
}

async fn declare(client: &reqwest::Client, url: &str, key: &str, body: Value, path: &str) -> (u16, String) {
    let answer =
        process::send(process::call(client, Method::POST, format!("{url}{path}"), key).json(&body)).await;
    (answer.status.as_u16(), answer.headers["x-request-id"].to_str().unwrap().to_string())
}

/// `--log-format json`: every line is one JSON object; each request has
/// one event with its id, tenant, principal, operation, status, verdict
/// and latency.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_is_one_json_event() {
    let mut deployment = Deployment::new(Backend::Sqlite).await;
    let url = deployment.start_with(&["--log-format", "json", "--log-level", "info"]).await;
    let client = process::client();
    let Tenant { id: tenant, live, .. } = process::provision(&client, &url).await;

    let (status, approved) =
        declare(&client, &url, &live, json!({"intent": approve_intent()}), "/v1/intents").await;
    assert_eq!(status, 200);
    let batch = json!({"intents": [{"intent": approve_intent()}, {"intent": block_intent()}]});
    let (status, batched) = declare(&client, &url, &live, batch, "/v1/intents:batch").await;
    assert_eq!(status, 200);
    let answer = process::send(process::call(
        &client,
        Method::GET,
        format!("{url}/v1/intents"),
        "lictor_live_unknown",
    ))
    .await;
    assert_eq!(answer.status.as_u16(), 401);
    let refused = answer.headers["x-request-id"].to_str().unwrap().to_string();

    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let events = loop {
        let events = request_events(&deployment.log());
        if [&approved, &batched, &refused].iter().all(|id| events.contains_key(*id))
            || tokio::time::Instant::now() > deadline
        {
            break events;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let event = &events[&approved];
    assert_eq!(event["level"], "INFO");
    assert_eq!(event["message"], "request");
    assert_eq!(event["operation"], "intent_declare");
    assert_eq!(event["status"], 200);
    assert_eq!(event["tenant"], tenant.as_str());
    assert!(event["principal"].as_str().is_some_and(|p| p.starts_with("key:")), "{event}");
    assert_eq!(event["verdict"], "approve");
    assert!(event["latency_us"].as_u64().is_some_and(|us| us > 0), "{event}");
    // A batch's event names its most restrictive verdict.
    assert_eq!(events[&batched]["operation"], "intent_declare_batch");
    assert_eq!(events[&batched]["verdict"], "block");
    let event = &events[&refused];
    assert_eq!(event["status"], 401);
    assert!(event.get("tenant").is_none() && event.get("verdict").is_none(), "{event}");
}
