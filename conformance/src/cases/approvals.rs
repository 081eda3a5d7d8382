//! The approvals queue: an escalation opens an approval, a human decides it
//! once, the agent waits for it, and an approved tool call resumes once.

use std::time::Duration;

use lictor_client::{Error, ErrorCode, Gateway, types};
use serde_json::json;

use super::intents::{declare, intent};
use super::mcp::marker;
use crate::{Case, CaseFuture, Context, Group, UPSTREAM, check, curl, expect_refusal, failed};

pub(super) fn cases() -> Vec<Case> {
    vec![
        Case {
            id: "approvals.escalation_is_decided_once",
            group: Group::Approvals,
            title: "an escalation opens a pending approval that is listed, read, waited on and decided once",
            disruptive: false,
            operations: &["approval_list", "approval_get", "approval_decide", "approval_wait"],
            run: escalation_is_decided_once,
        },
        Case {
            id: "approvals.tool_call_resumes_once",
            group: Group::Approvals,
            title: "an escalated tools/call is forwarded once after approval, and the approval cannot be reused",
            disruptive: false,
            operations: &["mcp_message_send", "approval_decide"],
            run: tool_call_resumes_once,
        },
    ]
}

async fn decide(ctx: &Context, approval: &str, decision: &str) -> Result<types::Approval, Error> {
    let admin = Gateway::new(ctx.url()).api_key(&ctx.admin_key);
    let body: types::ApprovalDecide =
        serde_json::from_value(json!({"decision": decision, "note": "decided by the conformance suite"}))
            .map_err(|e| Error::InvalidArgument(e.to_string()))?;
    admin.retrying(|| admin.api().approval_decide().approval_id(approval).body(body.clone()).send()).await
}

fn escalation_is_decided_once(ctx: &Context) -> CaseFuture<'_> {
    Box::pin(async move {
        let pay = intent(
            &ctx.agent,
            json!({"type": "transact", "verb": "pay",
                "payload": {"estimated_impact": {"financial_exposure_usd": 2500, "reversible": false}}}),
        )?;
        let (decision, repro) = declare(ctx, &ctx.live_key, pay).await?;
        let approval = decision.approval.as_ref().map(|a| a.approval_id.to_string());
        let Some(id) = approval.filter(|_| decision.verdict == types::Verdict::Escalate) else {
            return Err(failed(
                "an irreversible 2,500 USD payment: want escalate with an approval",
                format!("got {:?}, approval {:?}", decision.verdict, decision.approval),
                Some(repro),
            ));
        };
        let (admin, url) = ctx.client(&ctx.admin_key);
        let repro = curl("GET", &url, "/v1/admin/approvals?status=pending", &ctx.admin_key, None::<&()>);
        let pending = admin
            .retrying(|| admin.api().approval_list().status(types::ApprovalStatus::Pending).limit(100).send())
            .await
            .map_err(|e| failed("listing pending approvals", e, Some(repro.clone())))?;
        check(
            pending.items.iter().any(|a| a.id.to_string() == id),
            || format!("the pending approvals lack {id}"),
            Some(repro),
        )?;
        let path = format!("/v1/admin/approvals/{id}");
        let repro = curl("GET", &url, &path, &ctx.admin_key, None::<&()>);
        let got = admin
            .retrying(|| admin.api().approval_get().approval_id(id.as_str()).send())
            .await
            .map_err(|e| failed("reading the approval", e, Some(repro.clone())))?;
        check(
            got.status == types::ApprovalStatus::Pending
                && got.intent_id.to_string() == decision.intent_id.to_string(),
            || {
                format!(
                    "want a pending approval for {}, got {:?} for {}",
                    decision.intent_id.as_str(),
                    got.status,
                    got.intent_id.as_str()
                )
            },
            Some(repro),
        )?;
        // The agent sees it pending, then decided.
        let agent = Gateway::new(ctx.url()).api_key(&ctx.live_key);
        let path = format!("/v1/approvals/{id}?wait_seconds=0");
        let repro = curl("GET", &url, &path, &ctx.live_key, None::<&()>);
        let waiting = agent
            .retrying(|| agent.api().approval_wait().approval_id(id.as_str()).wait_seconds(0).send())
            .await
            .map_err(|e| failed("the agent reading its approval", e, Some(repro.clone())))?;
        check(
            waiting.status == types::ApprovalStatus::Pending,
            || format!("want pending, got {:?}", waiting.status),
            Some(repro.clone()),
        )?;
        let repro_decide = curl(
            "POST",
            &url,
            &format!("/v1/admin/approvals/{id}/decide"),
            &ctx.admin_key,
            Some(&json!({"decision": "approve"})),
        );
        let decided = decide(ctx, &id, "approve")
            .await
            .map_err(|e| failed("approving", e, Some(repro_decide.clone())))?;
        check(
            decided.status == types::ApprovalStatus::Approved,
            || format!("want approved, got {:?}", decided.status),
            Some(repro_decide.clone()),
        )?;
        let waited = agent
            .wait_for_approval(&id, Duration::from_secs(10))
            .await
            .map_err(|e| failed("the agent waiting for its approval", e, Some(repro.clone())))?;
        check(
            waited.status == types::ApprovalStatus::Approved,
            || format!("the agent sees {:?}, want approved", waited.status),
            Some(repro),
        )?;
        let twice = decide(ctx, &id, "reject").await;
        expect_refusal("deciding an approval twice", &twice, 409, ErrorCode::Conflict, Some(repro_decide))
    })
}

fn tool_call_resumes_once(ctx: &Context) -> CaseFuture<'_> {
    Box::pin(async move {
        let agent = Gateway::new(ctx.url()).api_key(&ctx.agent_key);
        let mark = marker("approved-transfer");
        let tool = format!("{UPSTREAM}.transfer_funds");
        let arguments = json!({"amount_usd": 2500, "to": mark});
        let url = ctx.url().to_string();
        let repro = curl(
            "POST",
            &url,
            "/v1/tool-call",
            &ctx.agent_key,
            Some(&json!({"tool": tool, "arguments": arguments})),
        );
        let required = match agent.call_tool(&tool, arguments.clone()).await {
            Err(Error::ApprovalRequired(required)) => required,
            other => {
                return Err(failed(
                    "a 2,500 USD transfer: want -32014 approval required",
                    format!("got {other:?}"),
                    Some(repro),
                ));
            }
        };
        check(
            ctx.upstream.calls_marked(&mark).is_empty(),
            || "an escalated call reached the upstream before approval".into(),
            Some(repro.clone()),
        )?;
        let id = required
            .approval_id
            .clone()
            .ok_or_else(|| failed("-32014 without an approval_id", "", Some(repro.clone())))?;
        decide(ctx, &id, "approve").await.map_err(|e| failed("approving", e, None))?;
        let done = agent
            .resume_after_approval(&required, Duration::from_secs(20))
            .await
            .map_err(|e| failed("resuming after approval", e, Some(repro.clone())))?;
        check(
            !done.is_error && ctx.upstream.calls_marked(&mark).len() == 1,
            || {
                format!(
                    "the approved call must reach the upstream once; got {} call(s), result {:?}",
                    ctx.upstream.calls_marked(&mark).len(),
                    done.raw
                )
            },
            Some(repro.clone()),
        )?;
        // Used once: resuming again is refused, and nothing more is forwarded.
        let again = agent.call_tool_with_approval(&tool, arguments, &id).await;
        let used = matches!(&again, Err(Error::ApprovalRequired(r)) if r.denied.reason.as_deref() == Some("approval_used"));
        check(
            used && ctx.upstream.calls_marked(&mark).len() == 1,
            || format!("reusing the approval: want -32014 approval_used and no second call, got {again:?}"),
            Some(repro),
        )
    })
}
