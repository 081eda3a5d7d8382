//! `/v1/mcp` and `/v1/tool-call`: tools listed from upstreams, approved
//! calls forwarded once, denied calls never forwarded; the upstream registry.

use lictor_client::{Error, ErrorCode, Gateway, types};
use serde_json::{Value, json};

use crate::{Case, CaseFuture, Context, Group, UPSTREAM, check, curl, expect_refusal, failed, typed};

pub(super) fn cases() -> Vec<Case> {
    vec![
        Case {
            id: "mcp.tools_listed_and_forwarded",
            group: Group::Mcp,
            title: "tools/list shows the upstream's tools as <upstream>.<tool>; an approved tools/call reaches it once",
            disruptive: false,
            operations: &["mcp_message_send"],
            run: tools_listed_and_forwarded,
        },
        Case {
            id: "mcp.denied_call_not_forwarded",
            group: Group::Mcp,
            title: "a tools/call the policy blocks is JSON-RPC error -32012 and never reaches the upstream",
            disruptive: false,
            operations: &["mcp_message_send"],
            run: denied_call_not_forwarded,
        },
        Case {
            id: "mcp.tool_call_endpoint",
            group: Group::Mcp,
            title: "POST /v1/tool-call answers 200 with the decision, forwarding only approved calls",
            disruptive: false,
            operations: &["tool_call"],
            run: tool_call_endpoint,
        },
        Case {
            id: "mcp.upstream_registry",
            group: Group::Mcp,
            title: "upstreams are registered, listed, refused when duplicated and deleted",
            disruptive: false,
            operations: &["upstream_create", "upstream_list", "upstream_delete"],
            run: upstream_registry,
        },
    ]
}

/// A marker unique to one call, so the upstream's record shows whether it came.
pub(crate) fn marker(what: &str) -> String {
    format!("conformance-{what}-{}", uuid::Uuid::new_v4().simple())
}

/// A `curl` for a `tools/call` on `/v1/mcp` (its session comes from `initialize`).
pub(crate) fn mcp_repro(url: &str, key: &str, tool: &str, arguments: &Value) -> String {
    let call = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": tool, "arguments": arguments}});
    format!(
        "{} -H 'MCP-Protocol-Version: 2025-11-25' -H 'Mcp-Session-Id: <from initialize>'",
        curl("POST", url, "/v1/mcp", key, Some(&call))
    )
}

fn tools_listed_and_forwarded(ctx: &Context) -> CaseFuture<'_> {
    Box::pin(async move {
        let (agent, url) = ctx.client(&ctx.agent_key);
        let tools = agent.list_tools().await.map_err(|e| failed("tools/list on /v1/mcp", e, None))?;
        let names: Vec<&str> = tools.iter().filter_map(|t| t["name"].as_str()).collect();
        for tool in crate::upstream::catalogue() {
            let want = format!("{UPSTREAM}.{}", tool["name"].as_str().unwrap_or_default());
            check(names.contains(&want.as_str()), || format!("tools/list lacks {want}: {names:?}"), None)?;
        }
        let mark = marker("echo");
        let tool = format!("{UPSTREAM}.echo");
        let arguments = json!({"text": mark});
        let repro = mcp_repro(&url, &ctx.agent_key, &tool, &arguments);
        let result = agent
            .call_tool(&tool, arguments)
            .await
            .map_err(|e| failed("an approved tools/call", e, Some(repro.clone())))?;
        check(
            !result.is_error && result.text().contains(&mark),
            || format!("want the upstream's echo of {mark}, got {:?}", result.raw),
            Some(repro.clone()),
        )?;
        let calls = ctx.upstream.calls_marked(&mark);
        check(
            calls.len() == 1,
            || format!("the upstream received the call {} times, want 1", calls.len()),
            Some(repro),
        )
    })
}

fn denied_call_not_forwarded(ctx: &Context) -> CaseFuture<'_> {
    Box::pin(async move {
        let (agent, url) = ctx.client(&ctx.agent_key);
        let mark = marker("transfer");
        let tool = format!("{UPSTREAM}.transfer_funds");
        let arguments = json!({"amount_usd": 25000, "to": mark});
        let repro = mcp_repro(&url, &ctx.agent_key, &tool, &arguments);
        let result = agent.call_tool(&tool, arguments).await;
        let denied = match &result {
            Err(Error::Policy(denied)) => denied,
            other => {
                return Err(failed(
                    "a transfer over the limit: want JSON-RPC error -32012",
                    format!("got {other:?}"),
                    Some(repro),
                ));
            }
        };
        check(
            denied.code == -32012
                && denied.reason.as_deref() == Some("transact_over_limit")
                && denied.verdict.as_deref() == Some("block")
                && denied.intent_id.is_some(),
            || format!("want -32012 transact_over_limit, verdict block, an intent id; got {denied:?}"),
            Some(repro.clone()),
        )?;
        let calls = ctx.upstream.calls_marked(&mark);
        check(
            calls.is_empty(),
            || format!("a blocked call reached the upstream {} time(s)", calls.len()),
            Some(repro),
        )
    })
}

fn tool_call_endpoint(ctx: &Context) -> CaseFuture<'_> {
    Box::pin(async move {
        let (agent, url) = ctx.client(&ctx.agent_key);
        for (tool, amount, verdict) in
            [("echo", None, types::Verdict::Approve), ("transfer_funds", Some(25000), types::Verdict::Block)]
        {
            let mark = marker(tool);
            let arguments = match amount {
                Some(amount) => json!({"amount_usd": amount, "to": mark}),
                None => json!({"text": mark}),
            };
            let body: types::ToolCallRequest =
                typed("tool call", json!({"tool": format!("{UPSTREAM}.{tool}"), "arguments": arguments}))?;
            let repro = curl("POST", &url, "/v1/tool-call", &ctx.agent_key, Some(&body));
            let answer = agent
                .retrying(|| agent.api().tool_call().body(body.clone()).send())
                .await
                .map_err(|e| failed("POST /v1/tool-call", e, Some(repro.clone())))?;
            let forwarded = ctx.upstream.calls_marked(&mark).len();
            let want_forwarded = usize::from(verdict == types::Verdict::Approve);
            check(
                answer.decision.verdict == verdict
                    && answer.result.is_some() == (want_forwarded == 1)
                    && forwarded == want_forwarded,
                || {
                    format!(
                        "{tool}: want {verdict:?}, result present={}, forwarded {want_forwarded}×; got {:?}, result present={}, forwarded {forwarded}×",
                        want_forwarded == 1,
                        answer.decision.verdict,
                        answer.result.is_some()
                    )
                },
                Some(repro),
            )?;
        }
        Ok(())
    })
}

fn upstream_registry(ctx: &Context) -> CaseFuture<'_> {
    Box::pin(async move {
        let (admin, url) = ctx.client(&ctx.admin_key);
        let name = "conformance-extra";
        let body: types::UpstreamCreate = typed(
            "upstream body",
            json!({"name": name, "url": ctx.upstream.url(), "credential": {"header": "X-Conformance", "value": "s3cret-value"}}),
        )?;
        let repro = curl("POST", &url, "/v1/admin/upstreams", &ctx.admin_key, Some(&body));
        let created = admin
            .retrying(|| admin.api().upstream_create().body(body.clone()).send())
            .await
            .map_err(|e| failed("registering an upstream", e, Some(repro.clone())))?;
        check(created.has_credential, || "has_credential must be true".into(), Some(repro.clone()))?;
        let again = admin.retrying(|| admin.api().upstream_create().body(body.clone()).send()).await;
        expect_refusal("registering the name twice", &again, 409, ErrorCode::AlreadyExists, Some(repro))?;
        let repro = curl("GET", &url, "/v1/admin/upstreams", &ctx.admin_key, None::<&()>);
        let listed = admin
            .retrying(|| admin.api().upstream_list().limit(100).send())
            .await
            .map_err(|e| failed("listing upstreams", e, Some(repro.clone())))?;
        let names: Vec<String> = listed.items.iter().map(|u| u.name.to_string()).collect();
        let text = serde_json::to_string(&listed.items).unwrap_or_default();
        check(
            names.iter().any(|n| n == name)
                && names.iter().any(|n| n == UPSTREAM)
                && !text.contains("s3cret-value"),
            || format!("the upstream list must hold {name} and {UPSTREAM} and never a credential: {names:?}"),
            Some(repro),
        )?;
        let path = format!("/v1/admin/upstreams/{name}");
        let repro = curl("DELETE", &url, &path, &ctx.admin_key, None::<&()>);
        admin
            .retrying(|| admin.api().upstream_delete().name(name).send())
            .await
            .map_err(|e| failed("deleting the upstream", e, Some(repro.clone())))?;
        let gone = admin.retrying(|| admin.api().upstream_delete().name(name).send()).await;
        expect_refusal("deleting it again", &gone, 404, ErrorCode::NotFound, Some(repro))?;
        // Its tools are gone from the agent's view too.
        let agent = Gateway::new(ctx.url()).api_key(&ctx.agent_key);
        let tools = agent.list_tools().await.map_err(|e| failed("tools/list", e, None))?;
        check(
            !tools.iter().any(|t| t["name"].as_str().is_some_and(|n| n.starts_with(&format!("{name}.")))),
            || format!("tools of the deleted upstream {name} are still listed"),
            None,
        )
    })
}
