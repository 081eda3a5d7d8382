//! The upstream MCP client (`lictor_server::mcp::upstream`) against a real
//! MCP server (`support::mcp_server`) in each protocol era, with JSON and
//! SSE answers, sessions, paging and credentials; and against wiremock for
//! the failures a real server does not produce on demand (500s, garbage,
//! wrong ids, stalls, refused connections). No database is involved.

use std::sync::Arc;
use std::time::{Duration, Instant};

use lictor_server::mcp::upstream::{CallOutcome, Era, UpstreamClient, UpstreamConfig, UpstreamError};
use serde_json::{Map, Value, json};
use wiremock::matchers::{body_partial_json, method};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::mcp_server::McpServer;

fn client_with(url: &str, headers: &[(&str, &str)], timeout: Duration) -> UpstreamClient {
    UpstreamClient::new(UpstreamConfig {
        name: "crm".into(),
        url: url.into(),
        headers: headers.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect(),
        timeout,
        roots: lictor_server::tls::OutboundRoots::default(),
    })
    .unwrap()
}

fn client(url: &str) -> UpstreamClient {
    client_with(url, &[], Duration::from_secs(5))
}

fn args(value: Value) -> Map<String, Value> {
    value.as_object().cloned().unwrap()
}

fn count(methods: &[String], name: &str) -> usize {
    methods.iter().filter(|m| *m == name).count()
}

async fn call(client: &UpstreamClient, tool: &str, arguments: Value) -> CallOutcome {
    client.call_tool(tool, &args(arguments)).await.unwrap()
}

fn result(outcome: CallOutcome) -> Map<String, Value> {
    match outcome {
        CallOutcome::Result(result) => result,
        CallOutcome::Error(error) => panic!("expected a result, got {error}"),
    }
}

// ---- legacy era --------------------------------------------------------------

#[tokio::test]
async fn mcp_legacy_server_gets_one_session_and_every_request_carries_it() {
    let server = McpServer::builder().legacy().start().await;
    let client = client(server.url());
    let tools = client.list_tools().await.unwrap();
    assert_eq!(tools.len(), 6);
    let echoed = result(call(&client, "echo", json!({"text": "hi"})).await);
    assert_eq!(
        Value::Object(echoed),
        json!({"content": [{"type": "text", "text": "hi"}], "structuredContent": {"text": "hi"}})
    );

    let negotiated = client.negotiated().await.unwrap();
    assert_eq!((negotiated.era, negotiated.protocol_version.as_str()), (Era::Legacy, "2025-11-25"));
    assert_eq!(negotiated.server_info.unwrap()["name"], "lictor-test-mcp");
    assert_eq!(
        server.methods(),
        ["server/discover", "initialize", "notifications/initialized", "tools/list", "tools/call"]
    );
    let call = &server.calls()[0];
    assert_eq!(call.header("mcp-protocol-version"), Some("2025-11-25"));
    assert!(call.header("mcp-session-id").is_some_and(|id| !id.is_empty()));
    assert_eq!(call.header("accept"), Some("application/json, text/event-stream"));
    assert_eq!(call.header("mcp-method"), None, "mirrored headers belong to the modern era");
    assert_eq!(server.sessions(), 1);
}

#[tokio::test]
async fn mcp_legacy_counter_offer_of_2025_06_18_is_accepted() {
    let server = McpServer::builder().legacy().legacy_versions(&["2025-06-18"]).start().await;
    let client = client(server.url());
    call(&client, "echo", json!({"text": "x"})).await;
    assert_eq!(client.negotiated().await.unwrap().protocol_version, "2025-06-18");
    assert_eq!(server.calls()[0].header("mcp-protocol-version"), Some("2025-06-18"));
}

#[tokio::test]
async fn mcp_legacy_counter_offer_of_an_unknown_version_is_refused_and_the_session_ended() {
    let server = McpServer::builder().legacy().legacy_versions(&["2024-11-05"]).start().await;
    let error = client(server.url()).list_tools().await.unwrap_err();
    assert_eq!(
        error,
        UpstreamError::UnsupportedVersion { upstream: "crm".into(), offered: vec!["2024-11-05".into()] }
    );
    assert_eq!(error.code(), "upstream_unsupported_version");
    assert_eq!(server.sessions(), 0, "the refused session is deleted");
    assert!(!server.methods().contains(&"tools/list".to_string()));
}

#[tokio::test]
async fn mcp_legacy_sse_answer_is_read_past_notifications_and_a_server_ping() {
    let server = McpServer::builder().legacy().sse().start().await;
    let client = client(server.url());
    let started = Instant::now();
    let echoed = result(call(&client, "echo", json!({"text": "streamed"})).await);
    assert_eq!(echoed["structuredContent"], json!({"text": "streamed"}));
    // The server keeps the stream open for 10 s after the response.
    assert!(started.elapsed() < Duration::from_secs(5), "the client waited for the stream to end");
    assert_eq!(count(&server.methods(), "response"), 1, "the server's ping is answered");
}

#[tokio::test]
async fn mcp_legacy_stream_closed_after_its_priming_event_is_resumed_with_last_event_id() {
    let server = McpServer::builder().legacy().sse_polling().start().await;
    let client = client(server.url());
    let deleted = result(call(&client, "delete_records", json!({"table": "invoices", "count": 2})).await);
    assert_eq!(deleted["content"][0]["text"], "deleted 2 records from invoices");
    let resumed = server.resumed();
    assert_eq!(resumed.len(), 1);
    assert!(resumed[0].ends_with("-0"), "resumed after the priming event: {resumed:?}");
}

#[tokio::test]
async fn mcp_forgotten_session_is_reinitialised_once_and_the_call_retried() {
    let server = McpServer::builder().legacy().start().await;
    let client = client(server.url());
    client.list_tools().await.unwrap();
    server.forget_sessions();
    let echoed = result(call(&client, "echo", json!({"text": "again"})).await);
    assert_eq!(echoed["structuredContent"]["text"], "again");
    let methods = server.methods();
    assert_eq!(count(&methods, "initialize"), 2);
    assert_eq!(count(&methods, "tools/call"), 2, "the 404'd call and its retry");
    assert_eq!(server.calls().len(), 1, "only the retry reached the tool");
}

#[tokio::test]
async fn mcp_close_ends_the_legacy_session() {
    let server = McpServer::builder().legacy().start().await;
    let client = client(server.url());
    client.list_tools().await.unwrap();
    assert_eq!(server.sessions(), 1);
    client.close().await;
    assert_eq!(server.sessions(), 0);
    client.list_tools().await.unwrap();
    assert_eq!(count(&server.methods(), "initialize"), 2, "the next call connects again");
}

// ---- modern era --------------------------------------------------------------

#[tokio::test]
async fn mcp_modern_server_is_spoken_to_statelessly_with_meta_and_mirrored_headers() {
    let server = McpServer::builder().modern().start().await;
    let client = client(server.url());
    assert_eq!(client.list_tools().await.unwrap().len(), 6);
    let sent = result(call(&client, "send_email", json!({"to": "a@b.c", "subject": "s", "body": "b"})).await);
    assert_eq!(sent["resultType"], "complete");

    let negotiated = client.negotiated().await.unwrap();
    assert_eq!((negotiated.era, negotiated.protocol_version.as_str()), (Era::Modern, "2026-07-28"));
    assert_eq!(negotiated.server_info.unwrap()["name"], "lictor-test-mcp");
    assert_eq!(server.methods(), ["server/discover", "tools/list", "tools/call"]);
    let call = &server.calls()[0];
    assert_eq!(call.header("mcp-protocol-version"), Some("2026-07-28"));
    assert_eq!(call.header("mcp-method"), Some("tools/call"));
    assert_eq!(call.header("mcp-name"), Some("send_email"));
    assert_eq!(call.header("mcp-session-id"), None);
}

#[tokio::test]
async fn mcp_modern_sse_answer_is_read_past_a_notification() {
    let server = McpServer::builder().modern().sse().start().await;
    let client = client(server.url());
    let started = Instant::now();
    let moved = result(call(&client, "transfer_funds", json!({"amount_usd": 12.5, "to": "DE89"})).await);
    assert_eq!(moved["structuredContent"]["amount_usd"], 12.5);
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn mcp_dual_era_server_is_spoken_to_in_the_modern_era() {
    let server = McpServer::builder().both().start().await;
    let client = client(server.url());
    call(&client, "echo", json!({"text": "x"})).await;
    assert_eq!(client.negotiated().await.unwrap().era, Era::Modern);
    assert_eq!(count(&server.methods(), "initialize"), 0);
    assert_eq!(server.sessions(), 0);
}

#[tokio::test]
async fn mcp_unsafe_tool_names_and_annotated_arguments_are_mirrored_encoded() {
    let region_tool = json!({"name": "grüß_region", "inputSchema": {"type": "object", "properties": {
        "region": {"type": "string", "x-mcp-header": "Region"}, "shard": {"type": "integer", "x-mcp-header": "Shard"},
        "query": {"type": "string"}}}});
    let server = McpServer::builder().modern().tool(region_tool).start().await;
    let client = client(server.url());
    client.list_tools().await.unwrap();
    call(&client, "grüß_region", json!({"region": "eu-west 1 ", "shard": 7, "query": "select"})).await;
    let call = &server.calls()[0];
    assert_eq!(call.header("mcp-name"), Some("=?base64?Z3LDvMOfX3JlZ2lvbg==?="));
    assert_eq!(call.header("mcp-param-region"), Some("=?base64?ZXUtd2VzdCAxIA==?="));
    assert_eq!(call.header("mcp-param-shard"), Some("7"));
}

#[tokio::test]
async fn mcp_header_mismatch_makes_the_client_relist_and_retry_once() {
    let region_tool = json!({"name": "regional", "inputSchema": {"type": "object", "properties": {
        "region": {"type": "string", "x-mcp-header": "Region"}}}});
    let server = McpServer::builder().modern().tool(region_tool).start().await;
    let client = client(server.url());
    // Not listed yet: the first call lacks `Mcp-Param-Region` and is refused.
    let outcome = result(call(&client, "regional", json!({"region": "us-east1"})).await);
    assert_eq!(outcome["structuredContent"], json!({"region": "us-east1"}));
    assert_eq!(server.methods(), ["server/discover", "tools/call", "tools/list", "tools/call"]);
    assert_eq!(server.calls()[0].header("mcp-param-region"), Some("us-east1"));
}

#[tokio::test]
async fn mcp_tools_with_invalid_param_annotations_are_left_out_in_the_modern_era() {
    let invalid = json!({"name": "bad", "inputSchema": {"type": "object", "properties": {
        "amount": {"type": "number", "x-mcp-header": "Amount"}}}});
    let modern = McpServer::builder().modern().tool(invalid.clone()).start().await;
    let names: Vec<_> =
        client(modern.url()).list_tools().await.unwrap().into_iter().map(|t| t.name).collect();
    assert!(!names.contains(&"bad".to_string()), "{names:?}");
    assert_eq!(names.len(), 6);
    let legacy = McpServer::builder().legacy().tool(invalid).start().await;
    assert_eq!(
        client(legacy.url()).list_tools().await.unwrap().len(),
        7,
        "legacy servers know no x-mcp-header"
    );
}

// ---- both eras ---------------------------------------------------------------

#[tokio::test]
async fn mcp_tool_list_pages_are_followed_in_both_eras() {
    for server in [
        McpServer::builder().legacy().page_size(4).start().await,
        McpServer::builder().modern().page_size(2).start().await,
    ] {
        let tools = client(server.url()).list_tools().await.unwrap();
        let names: Vec<_> = tools.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["echo", "send_email", "delete_records", "transfer_funds", "fail", "slow"]);
        let pages = count(&server.methods(), "tools/list");
        assert!(pages == 2 || pages == 3, "{pages} pages");
    }
}

#[tokio::test]
async fn mcp_tools_keep_schemas_annotations_and_the_raw_definition() {
    let server = McpServer::builder().start().await;
    let tools = client(server.url()).list_tools().await.unwrap();
    let email = tools.iter().find(|t| t.name == "send_email").unwrap();
    assert_eq!(email.title.as_deref(), Some("Send email"));
    assert_eq!(email.input_schema["required"], json!(["to", "subject", "body"]));
    let hints = &email.annotations;
    assert_eq!(
        (hints.read_only_hint, hints.destructive_hint, hints.idempotent_hint, hints.open_world_hint),
        (Some(false), Some(false), Some(false), Some(true))
    );
    assert!(!hints.destructive() && hints.open_world());
    let delete = tools.iter().find(|t| t.name == "delete_records").unwrap();
    assert!(delete.annotations.destructive());
    let echo = tools.iter().find(|t| t.name == "echo").unwrap();
    assert!(echo.annotations.read_only());
    assert_eq!(echo.output_schema.as_ref().unwrap()["required"], json!(["text"]));
    assert_eq!(echo.raw["annotations"]["idempotentHint"], true);
}

#[tokio::test]
async fn mcp_credential_header_is_forwarded_on_every_request() {
    for server in [
        McpServer::builder().legacy().bearer("upstream-secret-1").start().await,
        McpServer::builder().modern().bearer("upstream-secret-1").start().await,
    ] {
        let client = client_with(
            server.url(),
            &[("Authorization", "Bearer upstream-secret-1")],
            Duration::from_secs(5),
        );
        call(&client, "delete_records", json!({"table": "orders", "count": 3})).await;
        let call = &server.calls()[0];
        assert_eq!(call.name, "delete_records");
        assert_eq!(call.header("authorization"), Some("Bearer upstream-secret-1"));
        assert_eq!(call.arguments, json!({"table": "orders", "count": 3}));
    }
}

#[tokio::test]
async fn mcp_missing_credential_is_an_http_401_that_does_not_echo_the_header() {
    let server = McpServer::builder().bearer("right-token").start().await;
    let client =
        client_with(server.url(), &[("Authorization", "Bearer wrong-token-42")], Duration::from_secs(5));
    let error = client.list_tools().await.unwrap_err();
    assert_eq!(error.http_status(), Some(401), "{error}");
    assert!(!format!("{error} {error:?}").contains("wrong-token-42"));
    assert_eq!(server.methods(), Vec::<String>::new(), "nothing got past authentication");
}

#[tokio::test]
async fn mcp_tool_error_result_is_passed_through_verbatim() {
    for server in [McpServer::builder().legacy().start().await, McpServer::builder().modern().start().await] {
        let outcome = call(&client(server.url()), "fail", json!({})).await;
        assert!(outcome.is_tool_error());
        let mut expected = json!({"content": [{"type": "text", "text": "the tool failed: quota exhausted"}],
            "structuredContent": {"reason": "quota"}, "isError": true});
        if server.methods().iter().all(|m| m != "initialize") {
            expected["resultType"] = json!("complete");
        }
        assert_eq!(Value::Object(result(outcome)), expected);
    }
}

#[tokio::test]
async fn mcp_unknown_tool_is_the_upstreams_json_rpc_error() {
    for server in [McpServer::builder().legacy().start().await, McpServer::builder().modern().start().await] {
        let outcome = call(&client(server.url()), "no_such_tool", json!({})).await;
        let CallOutcome::Error(error) = outcome else { panic!("expected an error, got {outcome:?}") };
        assert_eq!((error.code, error.message.as_str()), (-32602, "Unknown tool: no_such_tool"));
    }
}

#[tokio::test]
async fn mcp_concurrent_first_calls_connect_once() {
    let server = McpServer::builder().legacy().start().await;
    let client = Arc::new(client(server.url()));
    let calls = (0..8).map(|i| {
        let client = Arc::clone(&client);
        async move { call(&client, "echo", json!({"text": format!("n{i}")})).await }
    });
    let outcomes = futures::future::join_all(calls).await;
    assert!(outcomes.iter().all(|o| !o.is_tool_error()));
    assert_eq!(count(&server.methods(), "initialize"), 1);
    assert_eq!(server.calls().len(), 8);
}

#[tokio::test]
async fn mcp_slow_tool_call_times_out() {
    let server = McpServer::builder().start().await;
    let client = client_with(server.url(), &[], Duration::from_millis(300));
    let error = client.call_tool("slow", &args(json!({"ms": 3000}))).await.unwrap_err();
    assert_eq!(error, UpstreamError::Timeout { upstream: "crm".into(), timeout: Duration::from_millis(300) });
    assert_eq!(error.code(), "upstream_timeout");
}

// ---- failure injection -------------------------------------------------------

async fn mock() -> (MockServer, String) {
    let mock = MockServer::start().await;
    let url = format!("{}/mcp", mock.uri());
    (mock, url)
}

#[tokio::test]
async fn mcp_http_500_is_reported_with_its_status_and_an_excerpt() {
    let (mock, url) = mock().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500).set_body_string("database\n  exploded"))
        .mount(&mock)
        .await;
    let error = client(&url).list_tools().await.unwrap_err();
    assert_eq!(
        error,
        UpstreamError::HttpStatus { upstream: "crm".into(), status: 500, body: "database exploded".into() }
    );
    let rpc = error.to_rpc_error();
    assert_eq!(rpc.code, -32603);
    assert_eq!(rpc.data.unwrap()["status"], 500);
}

#[tokio::test]
async fn mcp_garbage_body_is_a_protocol_violation() {
    let (mock, url) = mock().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "application/json")
                .set_body_string("<html>"),
        )
        .mount(&mock)
        .await;
    let error = client(&url).list_tools().await.unwrap_err();
    assert_eq!(error.code(), "upstream_protocol_violation", "{error}");
    assert!(error.to_string().contains("not json-rpc"), "{error}");
}

#[tokio::test]
async fn mcp_response_with_the_wrong_id_is_a_protocol_violation() {
    let (mock, url) = mock().await;
    let discovered = json!({"jsonrpc": "2.0", "id": 1, "result": {"supportedVersions": ["2026-07-28"], "capabilities": {}}});
    Mock::given(body_partial_json(json!({"method": "server/discover"})))
        .respond_with(ResponseTemplate::new(200).set_body_json(discovered))
        .mount(&mock)
        .await;
    Mock::given(body_partial_json(json!({"method": "tools/list"})))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"jsonrpc": "2.0", "id": 999, "result": {"tools": []}})),
        )
        .mount(&mock)
        .await;
    let error = client(&url).list_tools().await.unwrap_err();
    assert_eq!(error.code(), "upstream_protocol_violation");
    assert!(error.to_string().contains("id 999"), "{error}");
}

#[tokio::test]
async fn mcp_stalled_upstream_times_out() {
    let (mock, url) = mock().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(5)))
        .mount(&mock)
        .await;
    let started = Instant::now();
    let error = client_with(&url, &[], Duration::from_millis(200)).list_tools().await.unwrap_err();
    assert_eq!(error.code(), "upstream_timeout");
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn mcp_refused_connection_is_unreachable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    drop(listener);
    let error = client(&url).list_tools().await.unwrap_err();
    assert_eq!(error.code(), "upstream_unreachable", "{error}");
    assert!(!error.to_string().contains(&url), "errors do not carry the url: {error}");
}

#[tokio::test]
async fn mcp_credentials_echoed_by_an_upstream_are_redacted() {
    let (mock, url) = mock().await;
    let echo = |request: &wiremock::Request| {
        let auth =
            request.headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        ResponseTemplate::new(403).set_body_string(format!("forbidden for {auth}"))
    };
    Mock::given(method("POST")).respond_with(echo).mount(&mock).await;
    let client = client_with(&url, &[("Authorization", "Bearer tok-very-secret")], Duration::from_secs(5));
    let error = client.list_tools().await.unwrap_err();
    assert_eq!(error.http_status(), Some(403));
    assert!(!format!("{error:?}").contains("tok-very-secret"), "{error:?}");
    assert!(error.to_string().contains("[redacted]"), "{error}");
}

#[tokio::test]
async fn mcp_upstream_offering_only_unknown_versions_is_refused() {
    let (mock, url) = mock().await;
    let refusal = json!({"jsonrpc": "2.0", "id": 1, "error": {"code": -32022, "message": "Unsupported protocol version",
        "data": {"supported": ["2027-03-01"], "requested": "2026-07-28"}}});
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(400).set_body_json(refusal))
        .mount(&mock)
        .await;
    let error = client(&url).list_tools().await.unwrap_err();
    assert_eq!(
        error,
        UpstreamError::UnsupportedVersion { upstream: "crm".into(), offered: vec!["2027-03-01".into()] }
    );
}

// ---- interop with the official Rust SDK ----------------------------------------

/// The official Rust MCP SDK (`rmcp`) as an upstream: a third-party
/// implementation of both eras, served over hyper on loopback.
mod rmcp_interop {
    use std::borrow::Cow;
    use std::sync::Arc;

    use hyper_util::rt::TokioIo;
    use hyper_util::service::TowerToHyperService;
    use rmcp::model::{
        CallToolRequestParams, CallToolResponse, ListToolsResult, PaginatedRequestParams, ProtocolVersion,
        ServerConfig,
    };
    use rmcp::service::{RequestContext, RoleServer};
    use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
    use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
    use rmcp::{ErrorData, ServerHandler};

    use super::*;

    #[derive(Clone)]
    struct Weather {
        legacy_only: bool,
    }

    impl ServerHandler for Weather {
        fn get_info(&self) -> ServerConfig {
            serde_json::from_value(json!({"protocolVersion": "2025-11-25", "capabilities": {"tools": {}},
                "serverInfo": {"name": "rmcp-weather", "version": "1.0.0"}}))
            .unwrap()
        }

        fn supported_protocol_versions(&self) -> Cow<'static, [ProtocolVersion]> {
            if self.legacy_only {
                Cow::Owned(vec![ProtocolVersion::V_2025_11_25, ProtocolVersion::V_2025_06_18])
            } else {
                Cow::Borrowed(ProtocolVersion::KNOWN_VERSIONS)
            }
        }

        async fn list_tools(
            &self,
            _request: Option<PaginatedRequestParams>,
            _context: RequestContext<RoleServer>,
        ) -> Result<ListToolsResult, ErrorData> {
            Ok(serde_json::from_value(json!({"tools": [{"name": "forecast", "description": "Tomorrow's weather.",
                "inputSchema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
                "annotations": {"readOnlyHint": true, "openWorldHint": true}}]}))
            .unwrap())
        }

        async fn call_tool(
            &self,
            request: CallToolRequestParams,
            _context: RequestContext<RoleServer>,
        ) -> Result<CallToolResponse, ErrorData> {
            if request.name != "forecast" {
                return Err(ErrorData::invalid_params(format!("unknown tool `{}`", request.name), None));
            }
            let arguments = request.arguments.unwrap_or_default();
            let city = arguments.get("city").and_then(Value::as_str).unwrap_or("nowhere");
            let result = json!({"content": [{"type": "text", "text": format!("sunny in {city}")}],
                "structuredContent": {"city": city, "sky": "sunny"}});
            Ok(CallToolResponse::Complete(serde_json::from_value(result).unwrap()))
        }
    }

    /// Serves `handler` on 127.0.0.1 and returns the MCP endpoint.
    async fn serve(handler: Weather) -> String {
        let service = StreamableHttpService::new(
            move || Ok(handler.clone()),
            Arc::new(LocalSessionManager::default()),
            StreamableHttpServerConfig::default(),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/mcp", listener.local_addr().unwrap());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let service = TowerToHyperService::new(service.clone());
                tokio::spawn(async move {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        url
    }

    #[tokio::test]
    async fn mcp_rmcp_dual_era_server_is_spoken_to_in_the_modern_era() {
        let client = client(&serve(Weather { legacy_only: false }).await);
        let tools = client.list_tools().await.unwrap();
        assert_eq!(tools.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), ["forecast"]);
        assert!(tools[0].annotations.read_only());
        let negotiated = client.negotiated().await.unwrap();
        assert_eq!((negotiated.era, negotiated.protocol_version.as_str()), (Era::Modern, "2026-07-28"));
        let forecast = result(call(&client, "forecast", json!({"city": "Oslo"})).await);
        assert_eq!(forecast["structuredContent"], json!({"city": "Oslo", "sky": "sunny"}));
        let CallOutcome::Error(error) = call(&client, "hail", json!({})).await else {
            panic!("expected an error")
        };
        assert_eq!(error.code, -32602);
    }

    #[tokio::test]
    async fn mcp_rmcp_legacy_server_gets_a_session_and_streamed_answers() {
        let client = client(&serve(Weather { legacy_only: true }).await);
        let forecast = result(call(&client, "forecast", json!({"city": "Lima"})).await);
        assert_eq!(forecast["structuredContent"]["city"], "Lima");
        let negotiated = client.negotiated().await.unwrap();
        assert_eq!((negotiated.era, negotiated.protocol_version.as_str()), (Era::Legacy, "2025-11-25"));
        assert_eq!(negotiated.server_info.unwrap()["name"], "rmcp-weather");
        assert_eq!(client.list_tools().await.unwrap().len(), 1);
        client.close().await;
    }
}
