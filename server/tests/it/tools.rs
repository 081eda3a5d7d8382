//! Tool calls through the gateway: `/v1/mcp` (both MCP eras) and
//! `/v1/tool-call`, against a real MCP server.

use lictor_server::catalog::ConfiguredUpstream;
use lictor_server::token::{self, Caveat};
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::mcp_server::McpServer;
use crate::support::{Backend, Fixture, LegacyMcp, TestGateway, modern_mcp};

pub const UPSTREAM_SECRET: &str = "Bearer upstream-secret-7f3a";

/// A gateway whose every tenant reaches `mail` (configured, with its own
/// credential), and a tenant that also registered `bank` through the API
/// with overrides mapping `transfer_funds` to a transaction.
pub async fn setup(backend: Backend) -> (TestGateway, McpServer, Fixture) {
    setup_with(backend, |_| {}).await
}

/// [`setup`], with `tweak` applied to the gateway's configuration.
pub async fn setup_with(
    backend: Backend,
    tweak: impl FnOnce(&mut lictor_server::config::Config) + Send + 'static,
) -> (TestGateway, McpServer, Fixture) {
    let upstream = McpServer::builder().bearer("upstream-secret-7f3a").start().await;
    let url = upstream.url().to_string();
    let gw = TestGateway::start_with(backend, move |c| {
        c.upstreams = vec![ConfiguredUpstream {
            name: lictor_api::tokens::UpstreamName::parse("mail").unwrap(),
            url: url.clone(),
            credential: Some(("Authorization".into(), UPSTREAM_SECRET.into())),
        }];
        tweak(c);
    })
    .await;
    let f = gw.tenant_fixture().await;
    gw.post(
        "/v1/admin/upstreams",
        &f.admin,
        &json!({
            "name": "bank",
            "url": upstream.url(),
            "credential": {"header": "Authorization", "value": UPSTREAM_SECRET},
            "tools": {"transfer_funds": {"action_type": "transact", "financial_exposure_from": "/amount_usd"}},
        }),
    )
    .await
    .expect(201);
    (gw, upstream, f)
}

/// A token for `agent-1` with extra mint fields.
pub async fn token(gw: &TestGateway, f: &Fixture, extra: Value) -> String {
    let mut body = json!({"subject": "agent-1", "ttl_seconds": 600});
    for (k, v) in extra.as_object().cloned().unwrap_or_default() {
        body[k] = v;
    }
    gw.mint(&f.admin, body).await["token"].as_str().unwrap().to_string()
}

fn tool_names(list: &Value) -> Vec<String> {
    let mut names: Vec<String> = list["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    names
}

async fn legacy_clients_list_and_call_tools(backend: Backend) {
    let (gw, upstream, f) = setup(backend).await;
    let credential = token(&gw, &f, json!({})).await;
    let mut mcp = LegacyMcp::connect(&gw, &credential).await;
    assert_eq!(mcp.request("ping", json!({})).await.expect(200)["result"], json!({}));

    let list = mcp.request("tools/list", json!({})).await.expect(200);
    let names = tool_names(&list);
    assert!(
        names.contains(&"mail.echo".to_string()) && names.contains(&"bank.transfer_funds".to_string()),
        "{names:?}"
    );
    let echo = list["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "mail.echo")
        .unwrap()
        .clone();
    assert_eq!(echo["annotations"]["readOnlyHint"], true);

    let answer = mcp.call_tool("mail.echo", json!({"text": "hello"}), None).await.expect(200);
    assert!(answer["id"].as_str().unwrap().starts_with("call-"), "the request id is preserved: {answer}");
    assert!(answer["result"]["content"][0]["text"].as_str().unwrap().contains("hello"), "{answer}");

    // The upstream saw its own credential, never the agent's token.
    let calls = upstream.calls();
    let call = calls.iter().find(|c| c.name == "echo").unwrap();
    assert_eq!(call.header("authorization"), Some(UPSTREAM_SECRET));
    assert!(!call.headers.values().any(|v| v.contains(&credential)));

    // The decision and the forwarded call are both in the audit log.
    let intents = gw.get("/v1/intents?limit=1", &f.admin).await.expect(200);
    let id = intents["items"][0]["intent_id"].as_str().unwrap();
    let trail = gw.get(&format!("/v1/intents/{id}/audit"), &f.admin).await.expect(200);
    let kinds: Vec<_> = trail["items"].as_array().unwrap().iter().map(|e| e["kind"].clone()).collect();
    assert_eq!(kinds, [json!("decision"), json!("tool_result")]);
    assert_eq!(trail["items"][0]["tool"], "mail.echo");
    assert_eq!(trail["items"][1]["outcome"], "ok");
    assert_eq!(gw.verify(&f.tenant).await["ok"], true);

    // A tool execution error is a result, passed through verbatim.
    let failed = mcp.call_tool("mail.fail", json!({}), None).await.expect(200);
    assert_eq!(failed["result"]["isError"], true);
    // Unknown tools are protocol errors.
    let unknown = mcp.call_tool("mail.nope", json!({}), None).await.expect(200);
    assert_eq!(unknown["error"]["code"], -32602);
}

async fn sessions_are_required_bound_and_deletable(backend: Backend) {
    let (gw, _upstream, f) = setup(backend).await;
    let credential = token(&gw, &f, json!({})).await;
    let list = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"});
    let without = gw.request(Method::POST, "/v1/mcp").bearer_auth(&credential).json(&list);
    let answer = gw.send(without).await;
    assert_eq!(answer.status.as_u16(), 400);
    assert_eq!(answer.body["error"]["code"], -32600);
    let unknown = gw
        .request(Method::POST, "/v1/mcp")
        .bearer_auth(&credential)
        .header("Mcp-Session-Id", "mcs_nope")
        .json(&list);
    assert_eq!(gw.send(unknown).await.status.as_u16(), 404);

    let mcp = LegacyMcp::connect(&gw, &credential).await;
    let session = mcp.session.clone().unwrap();
    assert!(session.chars().all(|c| ('\u{21}'..='\u{7e}').contains(&c)));
    // Another credential cannot use the session.
    let other = token(&gw, &f, json!({})).await;
    let stolen = gw
        .request(Method::POST, "/v1/mcp")
        .bearer_auth(&other)
        .header("Mcp-Session-Id", &session)
        .json(&list);
    assert_eq!(gw.send(stolen).await.status.as_u16(), 404);
    // DELETE ends it.
    let delete =
        gw.request(Method::DELETE, "/v1/mcp").bearer_auth(&credential).header("Mcp-Session-Id", &session);
    assert_eq!(gw.send(delete).await.status.as_u16(), 204);
    assert_eq!(mcp.send(list.clone()).await.status.as_u16(), 404);

    // Unreadable messages and batches are refused; notifications are 202.
    let garbage = gw
        .request(Method::POST, "/v1/mcp")
        .bearer_auth(&credential)
        .header("content-type", "application/json")
        .body("{");
    let answer = gw.send(garbage).await;
    assert_eq!((answer.status.as_u16(), answer.body["error"]["code"].clone()), (400, json!(-32700)));
    let batch = gw.request(Method::POST, "/v1/mcp").bearer_auth(&credential).json(&json!([list]));
    let answer = gw.send(batch).await;
    assert_eq!((answer.status.as_u16(), answer.body["error"]["code"].clone()), (400, json!(-32600)));
    // Credentials are checked first, with the gateway's typed error.
    gw.call(Method::POST, "/v1/mcp", None, Some(&list)).await.expect_error(401, "unauthenticated");
    gw.call(Method::POST, "/v1/mcp", Some(&f.admin), Some(&list)).await.expect_error(403, "forbidden");
    // An agent key not restricted to one agent cannot act over MCP.
    gw.call(Method::POST, "/v1/mcp", Some(&f.live), Some(&list)).await.expect_error(403, "forbidden");
}

async fn modern_clients_are_served_statelessly(backend: Backend) {
    let (gw, upstream, f) = setup(backend).await;
    let credential = token(&gw, &f, json!({})).await;
    let discover = modern_mcp(&gw, &credential, json!("d1"), "server/discover", json!({})).await.expect(200);
    assert_eq!(discover["result"]["supportedVersions"], json!(["2026-07-28"]));
    assert_eq!(discover["result"]["resultType"], "complete");
    assert!(discover.get("error").is_none());

    let list = modern_mcp(&gw, &credential, json!(2), "tools/list", json!({})).await.expect(200);
    assert_eq!(list["result"]["cacheScope"], "private");
    assert!(tool_names(&list).contains(&"mail.send_email".to_string()));

    let answer = modern_mcp(
        &gw,
        &credential,
        json!(3),
        "tools/call",
        json!({"name": "mail.echo", "arguments": {"text": "hi"}}),
    )
    .await;
    let answer = answer.expect(200);
    assert_eq!(answer["id"], 3);
    assert_eq!(answer["result"]["resultType"], "complete");
    assert_eq!(upstream.calls().iter().filter(|c| c.name == "echo").count(), 1);

    // Headers must agree with the body; versions must be known.
    let mismatched = gw
        .request(Method::POST, "/v1/mcp")
        .bearer_auth(&credential)
        .header("MCP-Protocol-Version", "2026-07-28")
        .header("Mcp-Method", "tools/list")
        .json(&json!({"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": {"name": "mail.echo",
            "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
                      "io.modelcontextprotocol/clientCapabilities": {}}}}));
    let answer = gw.send(mismatched).await;
    assert_eq!((answer.status.as_u16(), answer.body["error"]["code"].clone()), (400, json!(-32020)));
    let old = gw
        .request(Method::POST, "/v1/mcp")
        .bearer_auth(&credential)
        .header("MCP-Protocol-Version", "1999-01-01")
        .header("Mcp-Method", "tools/list")
        .json(&json!({"jsonrpc": "2.0", "id": 5, "method": "tools/list", "params": {
            "_meta": {"io.modelcontextprotocol/protocolVersion": "1999-01-01",
                      "io.modelcontextprotocol/clientCapabilities": {}}}}));
    let answer = gw.send(old).await;
    assert_eq!((answer.status.as_u16(), answer.body["error"]["code"].clone()), (400, json!(-32022)));
    assert_eq!(answer.body["error"]["data"]["requested"], "1999-01-01");
    let unknown = modern_mcp(&gw, &credential, json!(6), "resources/list", json!({})).await;
    assert_eq!((unknown.status.as_u16(), unknown.body["error"]["code"].clone()), (404, json!(-32601)));
}

async fn tools_list_shows_only_what_the_token_allows(backend: Backend) {
    let (gw, _upstream, f) = setup(backend).await;
    let narrow = token(&gw, &f, json!({"tools": ["mail.*"], "deny_tools": ["mail.send_email"]})).await;
    let mut mcp = LegacyMcp::connect(&gw, &narrow).await;
    let names = tool_names(&mcp.request("tools/list", json!({})).await.expect(200));
    assert!(names.iter().all(|n| n.starts_with("mail.")), "{names:?}");
    assert!(!names.contains(&"mail.send_email".to_string()));
    assert!(names.contains(&"mail.echo".to_string()));
    // Attenuated offline to one tool: it sees that tool only.
    let child = token::attenuate(
        &narrow,
        "only-echo",
        &[Caveat::Tools { allow: vec!["mail.echo".into()], deny: vec![] }],
    )
    .unwrap();
    let mut child_mcp = LegacyMcp::connect(&gw, &child).await;
    assert_eq!(tool_names(&child_mcp.request("tools/list", json!({})).await.expect(200)), ["mail.echo"]);
    let servers = token(&gw, &f, json!({"servers": ["bank"]})).await;
    let mut bank_mcp = LegacyMcp::connect(&gw, &servers).await;
    let names = tool_names(&bank_mcp.request("tools/list", json!({})).await.expect(200));
    assert!(!names.is_empty() && names.iter().all(|n| n.starts_with("bank.")), "{names:?}");
}

/// Every one of the five denial codes, triggered for real.
async fn denials_carry_typed_json_rpc_codes(backend: Backend) {
    let (gw, upstream, f) = setup(backend).await;

    // -32010 capability: the token does not allow the tool.
    let narrow = token(&gw, &f, json!({"tools": ["mail.echo"]})).await;
    let mut mcp = LegacyMcp::connect(&gw, &narrow).await;
    let denied = mcp
        .call_tool("mail.send_email", json!({"to": "a@b.c", "subject": "s", "body": "b"}), None)
        .await
        .expect(200);
    assert_eq!(denied["error"]["code"], -32010, "{denied}");
    assert_eq!(denied["error"]["data"]["stage"], "capability");
    assert_eq!(denied["error"]["data"]["reason"], "tool_not_allowed");
    assert!(denied["error"]["data"]["intent_id"].as_str().unwrap().starts_with("int_"));

    let credential = token(&gw, &f, json!({})).await;
    let mut mcp = LegacyMcp::connect(&gw, &credential).await;

    // -32012 policy: a transfer above 10,000 USD.
    let denied = mcp
        .call_tool("bank.transfer_funds", json!({"amount_usd": 25000, "to": "DE00"}), None)
        .await
        .expect(200);
    assert_eq!(denied["error"]["code"], -32012, "{denied}");
    assert_eq!(denied["error"]["data"]["reason"], "transact_over_limit");

    // -32014 approval required: irreversible and above 1,000 USD.
    let denied = mcp
        .call_tool("bank.transfer_funds", json!({"amount_usd": 2500, "to": "DE00"}), None)
        .await
        .expect(200);
    assert_eq!(denied["error"]["code"], -32014, "{denied}");
    let data = &denied["error"]["data"];
    assert!(data["approval_id"].as_str().unwrap().starts_with("apr_"));
    assert_eq!(data["status"], "pending");
    assert!(data["expires_at"].is_string());
    assert_eq!(data["stage"], "policy");

    // -32011 intent: arguments that cannot be mapped (the exposure is not a number).
    let denied = mcp
        .call_tool("bank.transfer_funds", json!({"amount_usd": "lots", "to": "DE00"}), None)
        .await
        .expect(200);
    assert_eq!(denied["error"]["code"], -32011, "{denied}");
    let data = &denied["error"]["data"];
    assert_eq!(
        (data["stage"].clone(), data["reason"].clone()),
        (json!("validate"), json!("invalid_arguments"))
    );
    // It is decided and audited like any other denial.
    let trail = gw
        .get(&format!("/v1/intents/{}/audit", data["intent_id"].as_str().unwrap()), &f.admin)
        .await
        .expect(200);
    assert_eq!(trail["items"][0]["verdict"], "block");
    assert_eq!(trail["items"][0]["stage"], "validate");
    // … and an agent that is suspended.
    gw.patch("/v1/agents/agent-1", &f.admin, &json!({"status": "suspended"})).await.expect(200);
    let denied = mcp.call_tool("mail.echo", json!({"text": "x"}), None).await.expect(200);
    assert_eq!(denied["error"]["code"], -32011, "{denied}");
    assert_eq!(denied["error"]["data"]["reason"], "agent_suspended");
    gw.patch(
        "/v1/agents/agent-1",
        &f.admin,
        &json!({"status": "active", "budget": {"max_decisions_24h": 1}}),
    )
    .await
    .expect(200);

    // -32013 budget: the agent may make one more approved decision today.
    mcp.call_tool("mail.echo", json!({"text": "one"}), None).await.expect(200)["result"].as_object().unwrap();
    let denied = mcp.call_tool("mail.echo", json!({"text": "two"}), None).await.expect(200);
    assert_eq!(denied["error"]["code"], -32013, "{denied}");
    assert_eq!(denied["error"]["data"]["stage"], "budget");

    // None of the denied calls reached the upstream.
    assert!(upstream.calls().iter().all(|c| c.name == "echo"));
    assert_eq!(upstream.calls().len(), 1);
}

async fn modifications_are_applied_before_forwarding(backend: Backend) {
    let (gw, upstream, f) = setup(backend).await;
    let credential = token(&gw, &f, json!({})).await;
    let mut mcp = LegacyMcp::connect(&gw, &credential).await;
    let answer = mcp
        .call_tool(
            "mail.send_email",
            json!({"to": "c@example.com", "subject": "receipt", "body": "card 4111 1111 1111 1111"}),
            None,
        )
        .await
        .expect(200);
    assert!(answer["result"].is_object(), "{answer}");
    let sent = upstream.calls().into_iter().find(|c| c.name == "send_email").unwrap();
    assert_eq!(sent.arguments["body"], "card [REDACTED CARD]");
    assert_eq!(sent.arguments["to"], "c@example.com");
    // In shadow nothing is enforced: the original arguments go through.
    let shadow_key = gw
        .post("/v1/admin/api-keys", &f.admin, &json!({"tenant": f.tenant, "environment": "shadow", "role": "agent", "name": "s", "agent_id": "agent-1"}))
        .await
        .expect(201)["key"]
        .as_str()
        .unwrap()
        .to_string();
    let mut shadow = LegacyMcp::connect(&gw, &shadow_key).await;
    shadow
        .call_tool(
            "mail.send_email",
            json!({"to": "c@example.com", "subject": "s", "body": "card 4111 1111 1111 1111"}),
            None,
        )
        .await
        .expect(200);
    let last = upstream.calls().into_iter().rfind(|c| c.name == "send_email").unwrap();
    assert_eq!(last.arguments["body"], "card 4111 1111 1111 1111");
}

async fn the_plain_http_twin_decides_and_forwards(backend: Backend) {
    let (gw, upstream, f) = setup(backend).await;
    let credential = token(&gw, &f, json!({})).await;
    let ok = gw
        .post("/v1/tool-call", &credential, &json!({"tool": "mail.echo", "arguments": {"text": "yo"}}))
        .await
        .expect(200);
    assert_eq!(ok["decision"]["verdict"], "approve");
    assert!(ok["result"]["content"].is_array());
    // A bare name with `server`, or unique across upstreams, resolves too.
    let ok = gw
        .post(
            "/v1/tool-call",
            &credential,
            &json!({"tool": "echo", "server": "mail", "arguments": {"text": "a"}}),
        )
        .await
        .expect(200);
    assert_eq!(ok["decision"]["verdict"], "approve");
    let ambiguous =
        gw.post("/v1/tool-call", &credential, &json!({"tool": "echo", "arguments": {"text": "a"}})).await;
    assert_eq!(ambiguous.expect_error(400, "invalid_field")["path"], "$.tool");
    // A block is HTTP 200 with the decision and no result.
    let blocked = gw
        .post(
            "/v1/tool-call",
            &credential,
            &json!({"tool": "bank.transfer_funds", "arguments": {"amount_usd": 50000, "to": "X"}}),
        )
        .await
        .expect(200);
    assert_eq!(blocked["decision"]["verdict"], "block");
    assert!(blocked.get("result").is_none());
    gw.post("/v1/tool-call", &credential, &json!({"tool": "mail.nope"})).await.expect_error(404, "not_found");
    // Malformed bodies are typed errors with the field's path.
    let e = gw.post("/v1/tool-call", &credential, &json!({"arguments": {}})).await;
    assert_eq!(e.expect_error(400, "missing_field")["path"], "$.tool");
    let e = gw.post("/v1/tool-call", &credential, &json!({"tool": "mail.echo", "arguments": [1]})).await;
    assert_eq!(e.expect_error(400, "invalid_field")["path"], "$.arguments");
    let e =
        gw.post("/v1/tool-call", &credential, &json!({"tool": "mail.echo", "server": "Not A Name"})).await;
    assert_eq!(e.expect_error(400, "invalid_field")["path"], "$.server");
    // Arguments the tool's mapping cannot read: a block at `validate`.
    let unreadable = json!({"tool": "bank.transfer_funds", "arguments": {"amount_usd": -5, "to": "X"}});
    let blocked = gw.post("/v1/tool-call", &credential, &unreadable).await.expect(200);
    assert_eq!(blocked["decision"]["verdict"], "block");
    assert_eq!(blocked["decision"]["reasons"][0]["code"], "invalid_arguments");
    assert!(blocked["decision"]["reasons"][0]["message"].as_str().unwrap().contains("/amount_usd"));
    // An unrestricted agent key names its agent.
    let e =
        gw.post("/v1/tool-call", &f.live, &json!({"tool": "mail.echo", "arguments": {"text": "x"}})).await;
    assert_eq!(e.expect_error(400, "invalid_field")["path"], "$.agent_id");
    let ok = gw
        .post(
            "/v1/tool-call",
            &f.live,
            &json!({"tool": "mail.echo", "arguments": {"text": "x"}, "agent_id": "agent-1"}),
        )
        .await
        .expect(200);
    assert_eq!(ok["decision"]["verdict"], "approve");
    assert_eq!(upstream.calls().iter().filter(|c| c.name == "echo").count(), 3);
}

async fn upstream_failures_are_reported_not_hidden(backend: Backend) {
    let (gw, _upstream, f) = setup(backend).await;
    // An upstream that is not listening.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    gw.post("/v1/admin/upstreams", &f.admin, &json!({"name": "down", "url": format!("http://{closed}/mcp")}))
        .await
        .expect(201);
    let credential = token(&gw, &f, json!({})).await;
    // Listing skips it; calling it names the failure.
    let mut mcp = LegacyMcp::connect(&gw, &credential).await;
    let names = tool_names(&mcp.request("tools/list", json!({})).await.expect(200));
    assert!(names.iter().all(|n| !n.starts_with("down.")));
    let answer = mcp.call_tool("down.echo", json!({}), None).await.expect(200);
    assert_eq!(answer["error"]["code"], -32603, "{answer}");
    assert_eq!(answer["error"]["data"]["upstream"], "down");
    let e = gw.post("/v1/tool-call", &credential, &json!({"tool": "echo", "server": "down"})).await;
    e.expect_error(502, "upstream_unavailable");
    // Upstream administration: configured upstreams are listed, not removable.
    let list = gw.get("/v1/admin/upstreams", &f.admin).await.expect(200);
    let names: Vec<_> =
        list["items"].as_array().unwrap().iter().map(|u| (u["name"].clone(), u["source"].clone())).collect();
    assert_eq!(
        names,
        [(json!("bank"), json!("api")), (json!("down"), json!("api")), (json!("mail"), json!("config"))]
    );
    assert!(list["items"].as_array().unwrap().iter().all(|u| u.get("credential").is_none()));
    gw.delete("/v1/admin/upstreams/mail", &f.admin).await.expect_error(409, "conflict");
    gw.delete("/v1/admin/upstreams/down", &f.admin).await.expect(204);
    gw.delete("/v1/admin/upstreams/down", &f.admin).await.expect_error(404, "not_found");
    gw.post("/v1/admin/upstreams", &f.admin, &json!({"name": "bank", "url": "http://x/mcp"}))
        .await
        .expect_error(409, "already_exists");
    let e = gw.post("/v1/admin/upstreams", &f.admin, &json!({"name": "bad", "url": "ftp://x"})).await;
    assert_eq!(e.expect_error(400, "invalid_field")["path"], "$.url");

    // What the MCP client refuses is refused when the upstream is created,
    // not on every listing after: a header the transport sets, a URL the
    // client cannot read, a bracketed host that is no IPv6 address.
    let refused = [
        (
            json!({"name": "bad", "url": "http://x/mcp", "credential": {"header": "Content-Type", "value": "x"}}),
            "$.credential.header",
        ),
        (
            json!({"name": "bad", "url": "http://x/mcp", "credential": {"header": "Mcp-Session-Id", "value": "x"}}),
            "$.credential.header",
        ),
        (json!({"name": "bad", "url": "http://a%zz/mcp"}), "$.url"),
        (json!({"name": "bad", "url": "http://[0]/mcp"}), "$.url"),
    ];
    for (body, path) in refused {
        let e = gw.post("/v1/admin/upstreams", &f.admin, &body).await;
        assert_eq!(e.expect_error(400, "invalid_field")["path"], path, "{body}");
    }
    // One stored before these checks no longer makes the whole list fail,
    // nor the tenant's other upstreams unreachable.
    let db = gw.db().await;
    sqlx::query(
        "INSERT INTO upstreams (tenant_id, name, url, credential_header, credential_value, tool_overrides, created_at) \
         VALUES ($1, 'stale', 'http://x/mcp', 'content-type', 'x', '{}', $2)",
    )
    .bind(&f.tenant)
    .bind(chrono::Utc::now().timestamp_micros())
    .execute(&db)
    .await
    .unwrap();
    let list = gw.get("/v1/admin/upstreams", &f.admin).await.expect(200);
    assert!(list["items"].as_array().unwrap().iter().any(|u| u["name"] == "stale"), "{list}");
    let names = tool_names(&mcp.request("tools/list", json!({})).await.expect(200));
    assert!(names.iter().any(|n| n.starts_with("bank.")), "{names:?}");
}

/// The `tool_result` entries in the tenant's chain, as the audit API
/// lists them.
async fn tool_results(gw: &TestGateway, f: &Fixture) -> usize {
    let page = gw.get("/v1/admin/audit?kind=tool_result&limit=500", &f.admin).await.expect(200);
    page["items"].as_array().unwrap().len()
}

/// Whichever way `tool_result` entries are committed, an audit read made
/// after an answer sees the call's entry, a stopping gateway commits every
/// entry first, and the chain verifies.
async fn tool_results_are_committed_before_reads_and_stops(backend: Backend) {
    use lictor_server::config::ToolResults;
    for mode in [ToolResults::AfterAnswer, ToolResults::BeforeAnswer] {
        let (mut gw, _upstream, f) = setup_with(backend, move |c| c.tool_results = mode).await;
        let credential = token(&gw, &f, json!({})).await;
        let mut mcp = LegacyMcp::connect(&gw, &credential).await;
        for n in 1..=5 {
            let answer = mcp.call_tool("mail.echo", json!({"text": format!("call {n}")}), None).await;
            let answer = answer.expect(200);
            assert!(answer.get("result").is_some(), "{mode:?}: {answer}");
            assert_eq!(tool_results(&gw, &f).await, n, "{mode:?}: read right after call {n}");
        }
        // The intent's own trail, read at once, holds the result too.
        let answer = mcp.call_tool("mail.echo", json!({"text": "last"}), None).await.expect(200);
        assert!(answer.get("result").is_some(), "{answer}");
        let intents = gw.get("/v1/intents?limit=1", &f.admin).await.expect(200);
        let intent = intents["items"][0]["intent_id"].as_str().unwrap().to_string();
        let trail = gw.get(&format!("/v1/intents/{intent}/audit"), &f.admin).await.expect(200);
        let kinds: Vec<&Value> = trail["items"].as_array().unwrap().iter().map(|e| &e["kind"]).collect();
        assert_eq!(kinds, [&json!("decision"), &json!("tool_result")], "{mode:?}");

        // A call answered just before the gateway stops is in the chain.
        mcp.call_tool("mail.echo", json!({"text": "before stop"}), None).await.expect(200);
        drop(mcp);
        gw.stop().await;
        let store = gw.open_store().await;
        let tenant = lictor_api::ids::TenantId::parse(&f.tenant).unwrap();
        let filter = lictor_server::store::AuditFilter {
            kind: Some(lictor_api::audit::AuditKind::ToolResult),
            ..Default::default()
        };
        let stored = store.list_audit_entries(&tenant, &filter, 0, 100).await.unwrap();
        assert_eq!(stored.len(), 7, "{mode:?}");
    }
}

crate::on_both_backends!(
    tool_results_are_committed_before_reads_and_stops,
    legacy_clients_list_and_call_tools,
    sessions_are_required_bound_and_deletable,
    modern_clients_are_served_statelessly,
    tools_list_shows_only_what_the_token_allows,
    denials_carry_typed_json_rpc_codes,
    modifications_are_applied_before_forwarding,
    the_plain_http_twin_decides_and_forwards,
    upstream_failures_are_reported_not_hidden,
);
