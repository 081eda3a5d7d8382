//! Declaring intents: the shared scenario, a block is HTTP 200, shadow
//! never enforces, test never audits.

use serde_json::{Value, json};
use tollgate_client::types;

use crate::{Case, CaseFuture, Context, Failure, Group, check, curl, failed};

/// The decision scenario every implementation runs (`conformance/vectors/scenarios`).
const SCENARIO: &str = include_str!("../../vectors/scenarios/decisions.json");

pub(super) fn cases() -> Vec<Case> {
    vec![
        Case {
            id: "intents.shared_scenario",
            group: Group::Intents,
            title: "the shared decision scenario gives its verdicts and reasons",
            disruptive: false,
            operations: &["intent_declare", "agent_create"],
            run: shared_scenario,
        },
        Case {
            id: "intents.block_is_a_decision",
            group: Group::Intents,
            title: "a block is HTTP 200 with a Decision, never an error status",
            disruptive: false,
            operations: &["intent_declare"],
            run: block_is_a_decision,
        },
        Case {
            id: "intents.shadow_never_enforces",
            group: Group::Intents,
            title: "a shadow key gets approve, not enforced, with the would-be verdict",
            disruptive: false,
            operations: &["intent_declare"],
            run: shadow_never_enforces,
        },
        Case {
            id: "intents.test_never_audits",
            group: Group::Intents,
            title: "a test key's decision has no audit entry",
            disruptive: false,
            operations: &["intent_declare"],
            run: test_never_audits,
        },
    ]
}

pub(crate) fn intent(agent: &str, action: Value) -> Result<types::Intent, Failure> {
    serde_json::from_value(json!({"agent": {"id": agent}, "action": action}))
        .map_err(|e| failed("building an intent", e, None))
}

/// Declares `intent` with `key`; the decision and a curl reproducing it.
pub(crate) async fn declare(
    ctx: &Context,
    key: &str,
    intent: types::Intent,
) -> Result<(types::Decision, String), Failure> {
    let (gw, url) = ctx.client(key);
    let repro = curl("POST", &url, "/v1/intents", key, Some(&json!({"intent": intent})));
    match gw.declare_intent(intent).await {
        Ok(decision) => Ok((decision, repro)),
        Err(error) => Err(failed("POST /v1/intents", error, Some(repro))),
    }
}

fn codes(decision: &types::Decision) -> Vec<String> {
    decision.reasons.iter().map(|r| r.code.clone()).collect()
}

fn transfer(agent: &str) -> Result<types::Intent, Failure> {
    intent(
        agent,
        json!({"type": "transact", "verb": "transfer",
        "payload": {"estimated_impact": {"financial_exposure_usd": 25000}}}),
    )
}

fn shared_scenario(ctx: &Context) -> CaseFuture<'_> {
    Box::pin(async move {
        let scenario: Value = serde_json::from_str(SCENARIO).map_err(|e| failed("the scenario", e, None))?;
        let admin = tollgate_client::Gateway::new(ctx.url()).api_key(&ctx.admin_key);
        let agent: types::AgentCreate = serde_json::from_value(scenario["agent"].clone())
            .map_err(|e| failed("the scenario's agent", e, None))?;
        if let Err(error) = admin.retrying(|| admin.api().agent_create().body(agent.clone()).send()).await
            && error.api().map(|a| a.status) != Some(409)
        {
            return Err(failed("registering the scenario's agent", error, None));
        }
        for step in scenario["steps"].as_array().into_iter().flatten() {
            let name = step["name"].as_str().unwrap_or_default();
            let intent: types::Intent =
                serde_json::from_value(step["intent"].clone()).map_err(|e| failed(name, e, None))?;
            let (decision, repro) = declare(ctx, &ctx.live_key, intent).await?;
            let want = &step["want"];
            let verdict = serde_json::to_value(decision.verdict).unwrap_or_default();
            let reasons = json!(codes(&decision));
            check(
                verdict == want["verdict"] && reasons == want["reasons"],
                || format!("{name}: want {} {}, got {verdict} {reasons}", want["verdict"], want["reasons"]),
                Some(repro.clone()),
            )?;
            if let Some(content) = want.get("modified_content") {
                let got = decision.modifications.as_ref().and_then(|m| m.modified_payload.content.clone());
                check(
                    got.as_deref() == content.as_str(),
                    || format!("{name}: want content {content}, got {got:?}"),
                    Some(repro),
                )?;
            }
        }
        Ok(())
    })
}

fn block_is_a_decision(ctx: &Context) -> CaseFuture<'_> {
    Box::pin(async move {
        let (decision, repro) = declare(ctx, &ctx.live_key, transfer(&ctx.agent)?).await?;
        check(
            decision.verdict == types::Verdict::Block && decision.enforced,
            || format!("want an enforced block, got {:?} enforced={}", decision.verdict, decision.enforced),
            Some(repro),
        )
    })
}

fn shadow_never_enforces(ctx: &Context) -> CaseFuture<'_> {
    Box::pin(async move {
        let (decision, repro) = declare(ctx, &ctx.shadow_key, transfer(&ctx.agent)?).await?;
        check(
            decision.verdict == types::Verdict::Approve
                && !decision.enforced
                && decision.would_be_verdict == Some(types::Verdict::Block)
                && decision.audit.is_some(),
            || {
                format!(
                    "want approve, enforced=false, would_be_verdict=block, audited; got {:?} enforced={} would_be={:?} audit={}",
                    decision.verdict,
                    decision.enforced,
                    decision.would_be_verdict,
                    decision.audit.is_some()
                )
            },
            Some(repro),
        )
    })
}

fn test_never_audits(ctx: &Context) -> CaseFuture<'_> {
    Box::pin(async move {
        let (decision, repro) = declare(ctx, &ctx.test_key, transfer(&ctx.agent)?).await?;
        check(
            decision.verdict == types::Verdict::Block && decision.audit.is_none(),
            || {
                format!(
                    "want block without an audit entry, got {:?} audit={:?}",
                    decision.verdict, decision.audit
                )
            },
            Some(repro),
        )
    })
}
