//! A tool call, end to end: map it to an intent, decide it with the full
//! pipeline, forward it (with the policy's modifications) to the upstream
//! that owns the tool when the decision lets the agent act, and record the
//! outcome in the audit log. Shared by `/v1/mcp` and `/v1/tool-call`.

use std::sync::Arc;
use std::time::Instant;

use tracing::Instrument as _;

use lictor_api::api_keys::Environment;
use lictor_api::ids::{AgentId, ApprovalId, TenantId};
use lictor_api::intents::{Decision, Reason, StageName, StageOutcome, StageReport, Verdict};
use lictor_api::tools::rpc_codes;
use serde_json::{Map, Value, json};

use crate::audit::digested;
use crate::audit::writer::{CommitOutcome, ToolResultJob};
use crate::catalog::CatalogTool;
use crate::clock::Timestamp;
use crate::config::ToolResults;
use crate::error::Error;
use crate::ids;
use crate::mcp::jsonrpc::RpcError;
use crate::mcp::upstream::{CallOutcome, UpstreamError};
use crate::pipeline::FrontTimings;
use crate::pipeline::{KeyContext, Submission};
use crate::state::GatewayState;
use crate::token::CapabilityToken;

/// A tool call to make.
pub(crate) struct ToolCall {
    pub tenant: TenantId,
    /// The caller's credentials.
    pub key: KeyContext,
    /// The capability token, when the caller presented one.
    pub token: Option<Arc<CapabilityToken>>,
    /// The agent calling.
    pub agent: AgentId,
    /// The tool.
    pub tool: CatalogTool,
    /// Its arguments.
    pub arguments: Map<String, Value>,
    /// An approval the call resumes with.
    pub approval_id: Option<ApprovalId>,
    /// When the gateway started on it.
    pub received: Instant,
    /// How long `authenticate` and `validate` took.
    pub front: FrontTimings,
}

/// What became of a call.
#[derive(Debug)]
pub(crate) enum ToolCallResult {
    /// The decision did not let the agent act: the JSON-RPC error to answer.
    Denied {
        /// The decision.
        decision: Box<Decision>,
        /// `-32010`…`-32014` with `{stage, reason, intent_id, …}`.
        error: RpcError,
    },
    /// Forwarded; the upstream's answer (a result, possibly `isError`, or
    /// its JSON-RPC error).
    Forwarded {
        /// The decision.
        decision: Box<Decision>,
        /// The upstream's answer.
        outcome: CallOutcome,
    },
    /// Forwarded, but the upstream could not be reached or broke protocol.
    UpstreamFailed {
        /// The decision.
        decision: Box<Decision>,
        /// What went wrong.
        error: UpstreamError,
    },
}

/// The stage that settled a decision that denies, and the reason that
/// settled it. A refusal by the approval step (`decide`: the presented
/// approval was rejected, expired or already used; the approval queue is
/// full) wins; otherwise the first stage that failed or escalated and its
/// first reason (the policy lists blocks before escalations).
fn deciding(decision: &Decision) -> (StageName, Option<&Reason>) {
    if let Some(reason) = decision.reasons.iter().find(|r| r.stage == StageName::Decide) {
        return (StageName::Decide, Some(reason));
    }
    let settled = |s: &&StageReport| matches!(s.outcome, StageOutcome::Fail | StageOutcome::Escalate);
    let stage = decision
        .stages
        .iter()
        .filter(settled)
        .find(|s| s.name != StageName::Decide)
        .map(|s| s.name)
        .unwrap_or(StageName::Decide);
    (stage, decision.reasons.iter().find(|r| r.stage == stage).or(decision.reasons.first()))
}

/// The JSON-RPC error of a decision that does not let the agent act.
/// `presented` is the approval the caller resumed with, if any.
pub(crate) async fn denial(
    state: &GatewayState,
    decision: &Decision,
    presented: Option<&ApprovalId>,
) -> RpcError {
    let (stage, reason) = deciding(decision);
    let mut data = Map::new();
    data.insert("stage".into(), json!(stage.as_str()));
    data.insert("reason".into(), json!(reason.map(|r| r.code.as_str())));
    data.insert("intent_id".into(), json!(decision.intent_id.as_str()));
    data.insert("verdict".into(), json!(decision.verdict.as_str()));
    data.insert("reasons".into(), json!(decision.reasons));
    let message = reason.map(|r| r.message.clone()).unwrap_or_else(|| "denied".into());
    let code = match (decision.verdict, stage) {
        (Verdict::Escalate, StageName::Budget) => rpc_codes::BUDGET,
        (Verdict::Escalate, _) | (_, StageName::Decide) => rpc_codes::APPROVAL_REQUIRED,
        (_, StageName::Capability) => rpc_codes::CAPABILITY,
        (_, StageName::Identity | StageName::Validate) => rpc_codes::INTENT,
        (_, StageName::Budget) => rpc_codes::BUDGET,
        _ => rpc_codes::POLICY,
    };
    let approval = decision.approval.as_ref().map(|a| &a.approval_id).or(presented);
    if let Some(approval_id) = approval {
        data.insert("approval_id".into(), json!(approval_id.as_str()));
        if let Ok(Some(row)) = state.store.get_approval(&decision.tenant, approval_id).await {
            let now = Timestamp::now();
            data.insert("status".into(), json!(row.status_at(now).as_str()));
            data.insert("expires_at".into(), json!(row.expires_at.to_string()));
        }
    }
    RpcError::new(code, message).with_data(Value::Object(data))
}

/// Makes `call`.
pub(crate) async fn run(state: &GatewayState, call: ToolCall) -> Result<ToolCallResult, Error> {
    let (request, problem) = call.tool.intent(&call.agent, &call.arguments).map_err(|message| {
        Error::Invalid(
            lictor_api::ApiError::new(lictor_api::ErrorCode::InvalidField, message).at_path("$.tool"),
        )
    })?;
    let invalid = problem.map(|message| Reason {
        stage: StageName::Validate,
        code: "invalid_arguments".into(),
        message: format!("tool `{}`: {message}", call.tool.target().full_name()),
    });
    let environment = call.key.environment;
    let submission = Submission {
        intent_id: ids::intent_id(),
        tenant: call.tenant.clone(),
        key: call.key.clone(),
        token: call.token.clone(),
        request,
        tool: Some(call.tool.target()),
        approval_id: call.approval_id.clone(),
        received: call.received,
        created_at: Timestamp::now(),
        pending: false,
        idempotency: None,
        callback_url: None,
        front: call.front,
        invalid,
    };
    let decision = match state.pipeline.decide(submission).await? {
        CommitOutcome::Committed(decision) => decision,
        _ => return Err(Error::Internal("a new tool call was already decided".into())),
    };
    if !decision.verdict.allows() {
        let error = denial(state, &decision, call.approval_id.as_ref()).await;
        return Ok(ToolCallResult::Denied { decision, error });
    }
    let arguments = decision
        .modifications
        .as_ref()
        .and_then(|m| m.modified_payload.arguments.clone())
        .unwrap_or(call.arguments);
    let upstream = call.tool.upstream.upstream.name.as_str();
    let span = tracing::info_span!(
        "upstream.call",
        otel.name = "upstream.call",
        otel.kind = "client",
        upstream,
        tool = call.tool.tool.name.as_str(),
        error = tracing::field::Empty,
        otel.status_code = tracing::field::Empty,
    );
    let started = Instant::now();
    let outcome =
        call.tool.upstream.client.call_tool(&call.tool.tool.name, &arguments).instrument(span.clone()).await;
    let error = match &outcome {
        Ok(CallOutcome::Result(result)) => {
            (result.get("isError") == Some(&Value::Bool(true))).then_some("tool_error")
        }
        Ok(CallOutcome::Error(_)) => Some("upstream_rpc_error"),
        Err(error) => Some(error.code()),
    };
    if let Some(error) = error {
        span.record("error", error);
        span.record("otel.status_code", "ERROR");
    }
    state.metrics.upstream_call(&call.tenant, upstream, started.elapsed(), error);

    let (status, reasons, payload) = match &outcome {
        Ok(CallOutcome::Result(result)) => {
            let value = Value::Object(result.clone());
            let status = if result.get("isError") == Some(&Value::Bool(true)) { "tool_error" } else { "ok" };
            (status, Vec::new(), Some(digested(&value)))
        }
        Ok(CallOutcome::Error(error)) => {
            let value = json!({"code": error.code, "message": error.message, "data": error.data});
            (
                "tool_error",
                vec![Reason {
                    stage: StageName::Audit,
                    code: "upstream_rpc_error".into(),
                    message: error.message.clone(),
                }],
                Some(digested(&value)),
            )
        }
        Err(error) => (
            "upstream_error",
            vec![Reason { stage: StageName::Audit, code: error.code().into(), message: error.to_string() }],
            None,
        ),
    };
    let record = ToolResultJob {
        tenant: call.tenant,
        intent_id: decision.intent_id.clone(),
        agent_id: decision.agent_id.clone(),
        environment,
        tool: call.tool.target().full_name(),
        jti: call.token.as_deref().map(|t| t.jti().to_string()),
        principal: match call.token.as_deref() {
            Some(token) => format!("token:{}", token.jti()),
            None => format!("key:{}", call.key.credential),
        },
        outcome: status.into(),
        reasons,
        payload,
    };
    if environment != Environment::Test {
        let writer = state.pipeline.writer();
        match state.config.tool_results {
            ToolResults::AfterAnswer => writer.record_tool_result(record).await?,
            ToolResults::BeforeAnswer => {
                writer.append_tool_result(record).await?;
            }
        }
    }
    Ok(match outcome {
        Ok(outcome) => ToolCallResult::Forwarded { decision, outcome },
        Err(error) => ToolCallResult::UpstreamFailed { decision, error },
    })
}
