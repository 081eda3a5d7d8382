//! `/v1/tool-call`: a tool call for runtimes that do not speak MCP.

use std::time::Instant;

use lictor_api::ApiError;
use lictor_api::tools::{ApprovalHeader, ToolCallRequest, ToolCallResponse, UpstreamFailure};
use serde_json::json;

use super::intents::{Arrival, check_approval_id};
use crate::caller::{Acting, Caller};
use crate::catalog::ToolLookup;
use crate::clock;
use crate::error::{Error, Object};
use crate::mcp::upstream::CallOutcome;
use crate::pipeline::FrontTimings;
use crate::tool_call::{self, ToolCall, ToolCallResult};

/// `POST /v1/tool-call`.
pub(crate) async fn call_tool(
    caller: &Caller<'_>,
    arrival: Arrival,
    headers: Result<ApprovalHeader, ApiError>,
    body: Result<ToolCallRequest, ApiError>,
) -> Result<ToolCallResponse, Error> {
    let Acting { principal, key, tenant, authenticate_us } = caller.agent().await?;
    let started = Instant::now();
    let (headers, body) = (headers?, body?);
    let approval_id = check_approval_id(headers.approval_id)?;
    let agent = match (principal.bound_agent(), &body.agent_id) {
        (Some(bound), Some(named)) if bound != named => {
            return Err(Error::InvalidField {
                path: "$.agent_id".into(),
                message: format!("these credentials act for agent `{bound}`, not `{named}`"),
            });
        }
        (Some(bound), _) => bound.clone(),
        (None, Some(named)) => named.clone(),
        (None, None) => {
            return Err(Error::InvalidField {
                path: "$.agent_id".into(),
                message: "name the calling agent with `agent_id` (the key is not restricted to one)".into(),
            });
        }
    };
    let tool = match caller.state.catalog.resolve(&tenant, &body.tool, body.server.as_ref()).await? {
        ToolLookup::Found(tool) => tool,
        ToolLookup::Unknown => return Err(Error::not_found(Object::Tool, &body.tool)),
        ToolLookup::Ambiguous(names) => {
            return Err(Error::InvalidField {
                path: "$.tool".into(),
                message: format!(
                    "several upstreams offer `{}`: use one of `{}`",
                    body.tool,
                    names.join("`, `")
                ),
            });
        }
        ToolLookup::Unavailable(error) => return Err(Error::Upstream(error.to_string())),
    };
    let validate_us = clock::duration_us(arrival.parse + started.elapsed());
    let outcome = tool_call::run(
        caller.state,
        ToolCall {
            tenant,
            key,
            token: principal.token().cloned(),
            agent,
            tool,
            arguments: body.arguments,
            approval_id,
            received: arrival.at,
            front: FrontTimings { authenticate_us, validate_us },
        },
    )
    .await?;
    Ok(match outcome {
        ToolCallResult::Denied { decision, .. } => {
            ToolCallResponse { decision: *decision, result: None, upstream_error: None }
        }
        ToolCallResult::Forwarded { decision, outcome: CallOutcome::Result(result) } => ToolCallResponse {
            decision: *decision,
            result: Some(serde_json::Value::Object(result)),
            upstream_error: None,
        },
        ToolCallResult::Forwarded { decision, outcome: CallOutcome::Error(error) } => ToolCallResponse {
            decision: *decision,
            result: None,
            upstream_error: Some(UpstreamFailure {
                code: error.code,
                message: error.message,
                data: error.data.unwrap_or(json!(null)),
            }),
        },
        ToolCallResult::UpstreamFailed { decision, error } => {
            let rpc = error.to_rpc_error();
            ToolCallResponse {
                decision: *decision,
                result: None,
                upstream_error: Some(UpstreamFailure {
                    code: rpc.code,
                    message: rpc.message,
                    data: rpc.data.unwrap_or(json!(null)),
                }),
            }
        }
    })
}
