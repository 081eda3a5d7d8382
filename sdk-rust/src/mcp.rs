//! Tool calls through the gateway over `POST /v1/mcp` (MCP JSON-RPC,
//! Streamable HTTP, protocol revision 2025-11-25 with a session).
//!
//! The session `initialize` opens is kept and shared by clones of the
//! [`Gateway`]; when the gateway no longer knows it (`404`) the client
//! initialises again once and repeats the request, as MCP prescribes.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

use crate::error::{Error, rpc_error};
use crate::gateway::{Gateway, retry_after, transport, unexpected};
use crate::generated::types;

/// The MCP revision spoken.
const PROTOCOL_VERSION: &str = "2025-11-25";

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// What a tool answered (MCP's `CallToolResult`).
#[derive(Clone, Debug, PartialEq)]
pub struct ToolResult {
    /// The content blocks (`{"type": "text", "text": …}`, …).
    pub content: Vec<Value>,
    /// `structuredContent`, if the tool gave one.
    pub structured_content: Option<Value>,
    /// `isError`: the tool ran and failed (a tool execution error, passed
    /// through verbatim; the call was still allowed and audited).
    pub is_error: bool,
    /// The whole result.
    pub raw: Value,
}

impl ToolResult {
    fn from_value(raw: Value) -> ToolResult {
        ToolResult {
            content: raw["content"].as_array().cloned().unwrap_or_default(),
            structured_content: raw.get("structuredContent").cloned(),
            is_error: raw["isError"].as_bool().unwrap_or(false),
            raw,
        }
    }

    /// The text of the content blocks, joined with newlines.
    pub fn text(&self) -> String {
        self.content.iter().filter_map(|c| c["text"].as_str()).collect::<Vec<_>>().join("\n")
    }
}

impl Gateway {
    /// Calls the tool `name` (`<upstream>.<tool>`, e.g. `github.create_issue`)
    /// with `arguments`, through the gateway's pipeline.
    ///
    /// A denial is the typed error of the check that denied it
    /// ([`Error::Capability`], [`Error::Intent`], [`Error::Policy`],
    /// [`Error::Budget`], [`Error::ApprovalRequired`]); an upstream failure is
    /// [`Error::Rpc`].
    pub async fn call_tool(&self, name: &str, arguments: Value) -> Result<ToolResult, Error> {
        self.call_tool_inner(name, arguments, None).await
    }

    /// [`Gateway::call_tool`] resuming with an approval a human approved for
    /// exactly this call (it is used once).
    pub async fn call_tool_with_approval(
        &self,
        name: &str,
        arguments: Value,
        approval_id: &str,
    ) -> Result<ToolResult, Error> {
        self.call_tool_inner(name, arguments, Some(approval_id)).await
    }

    /// Waits for the human to decide the approval `required` names, then
    /// repeats the identical call with it. A rejected or expired approval
    /// answers its [`Error::ApprovalRequired`] again (with that status); one
    /// still pending after `timeout` is [`Error::Timeout`].
    pub async fn resume_after_approval(
        &self,
        required: &crate::ApprovalRequired,
        timeout: Duration,
    ) -> Result<ToolResult, Error> {
        let id = required
            .approval_id
            .as_deref()
            .ok_or_else(|| Error::InvalidArgument(format!("no approval to wait for: {}", required.denied)))?;
        let approval = self.wait_for_approval(id, timeout).await?;
        if approval.status == types::ApprovalStatus::Pending {
            return Err(Error::Timeout(format!("approval `{id}`")));
        }
        self.call_tool_with_approval(&required.tool, required.arguments.clone(), id).await
    }

    /// The tools this credential may call (`tools/list`, every page).
    pub async fn list_tools(&self) -> Result<Vec<Value>, Error> {
        let mut tools = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let params = match &cursor {
                Some(cursor) => json!({"cursor": cursor}),
                None => json!({}),
            };
            let answer = self.mcp_request("tools/list", params, None, None).await?;
            if let Some(error) = answer.get("error") {
                return Err(rpc_error(error, "", &Value::Null));
            }
            let result = &answer["result"];
            tools.extend(result["tools"].as_array().cloned().unwrap_or_default());
            match result["nextCursor"].as_str() {
                Some(next) => cursor = Some(next.to_string()),
                None => return Ok(tools),
            }
        }
    }

    /// Ends the MCP session, if one is open (`DELETE /v1/mcp`).
    pub async fn close_mcp_session(&self) -> Result<(), Error> {
        let session = self.take_session();
        if let Some(session) = session {
            let response = self
                .http()
                .delete(format!("{}/v1/mcp", self.url()))
                .header("Mcp-Session-Id", session)
                .header("MCP-Protocol-Version", PROTOCOL_VERSION)
                .send()
                .await
                .map_err(transport)?;
            if !response.status().is_success() && response.status().as_u16() != 404 {
                return Err(unexpected(response).await);
            }
        }
        Ok(())
    }

    async fn call_tool_inner(
        &self,
        name: &str,
        arguments: Value,
        approval: Option<&str>,
    ) -> Result<ToolResult, Error> {
        let params = json!({"name": name, "arguments": arguments});
        let answer = self.mcp_request("tools/call", params, approval, Some(name)).await?;
        if let Some(error) = answer.get("error") {
            return Err(rpc_error(error, name, &arguments));
        }
        Ok(ToolResult::from_value(answer.get("result").cloned().unwrap_or(Value::Null)))
    }

    /// One JSON-RPC request in the session (opened or reopened as needed),
    /// retried on `429`/`503`; answers the JSON-RPC response.
    async fn mcp_request(
        &self,
        method: &str,
        params: Value,
        approval: Option<&str>,
        _tool: Option<&str>,
    ) -> Result<Value, Error> {
        let message = json!({"jsonrpc": "2.0", "id": NEXT_ID.fetch_add(1, Ordering::Relaxed), "method": method,
            "params": params});
        let mut reinitialised = false;
        let mut retry = 0;
        loop {
            let session = self.session().await?;
            let mut request = self
                .http()
                .post(format!("{}/v1/mcp", self.url()))
                .header("Mcp-Session-Id", &session)
                .header("MCP-Protocol-Version", PROTOCOL_VERSION)
                .header(reqwest::header::ACCEPT, "application/json, text/event-stream")
                .json(&message);
            if let Some(approval) = approval {
                request = request.header("Lictor-Approval-Id", approval);
            }
            let response = request.send().await.map_err(transport)?;
            let status = response.status().as_u16();
            if status == 404 && !reinitialised {
                // The gateway forgot the session (expired, or another
                // replica's store lost it): open a new one, once.
                reinitialised = true;
                self.forget_session(&session);
                continue;
            }
            if matches!(status, 429 | 503) && retry < self.inner.retry.max_retries {
                retry += 1;
                let after = retry_after(response.headers());
                tokio::time::sleep(self.inner.retry.delay(retry, after)).await;
                continue;
            }
            if status != 200 {
                return Err(unexpected(response).await);
            }
            return response.json::<Value>().await.map_err(transport);
        }
    }

    /// The open session, initialising one if there is none.
    async fn session(&self) -> Result<String, Error> {
        if let Some(session) = self.inner.mcp_session.lock().ok().and_then(|s| s.clone()) {
            return Ok(session);
        }
        let initialize = json!({"jsonrpc": "2.0", "id": NEXT_ID.fetch_add(1, Ordering::Relaxed),
            "method": "initialize", "params": {"protocolVersion": PROTOCOL_VERSION, "capabilities": {},
            "clientInfo": {"name": "lictor-client-rust", "version": env!("CARGO_PKG_VERSION")}}});
        let response = self
            .http()
            .post(format!("{}/v1/mcp", self.url()))
            .header(reqwest::header::ACCEPT, "application/json, text/event-stream")
            .json(&initialize)
            .send()
            .await
            .map_err(transport)?;
        if response.status().as_u16() != 200 {
            return Err(unexpected(response).await);
        }
        let session = response
            .headers()
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .ok_or_else(|| Error::Unexpected { status: 200, body: "initialize opened no session".into() })?;
        let answer: Value = response.json().await.map_err(transport)?;
        if let Some(error) = answer.get("error") {
            return Err(rpc_error(error, "", &Value::Null));
        }
        let initialized = self
            .http()
            .post(format!("{}/v1/mcp", self.url()))
            .header("Mcp-Session-Id", &session)
            .header("MCP-Protocol-Version", PROTOCOL_VERSION)
            .json(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .send()
            .await
            .map_err(transport)?;
        if !initialized.status().is_success() {
            return Err(unexpected(initialized).await);
        }
        if let Ok(mut slot) = self.inner.mcp_session.lock() {
            *slot = Some(session.clone());
        }
        Ok(session)
    }

    fn forget_session(&self, session: &str) {
        if let Ok(mut slot) = self.inner.mcp_session.lock()
            && slot.as_deref() == Some(session)
        {
            *slot = None;
        }
    }

    fn take_session(&self) -> Option<String> {
        self.inner.mcp_session.lock().ok().and_then(|mut slot| slot.take())
    }
}
