//! Declaring intents: the shared scenario, a block is HTTP 200, shadow
//! never enforces, test never audits.

use lictor_client::types;
use serde_json::{Value, json};

use crate::{Case, CaseFuture, Context, Failure, Group, check, curl, failed};

/// The decision scenario every implementation runs (`conformance/vectors/scenarios`).
const SCENARIO: &str = include_str!("../../vectors/scenarios/decisions.json");
/// The published Intent Declaration API's example request, and structured
/// content redacted by pointer.
const PUBLISHED: &str = include_str!("../../vectors/scenarios/published.json");

pub(super) fn cases() -> Vec<Case> {
    vec![
        Case {
            id: "intents.shared_scenario",
            group: Group::Intents,
            title: "the shared decision scenarios (the published example included) give their verdicts and reasons",
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
        Case {
            id: "intents.async_and_polling",
            group: Group::Intents,
            title: "an async intent is accepted with 202 and its decision is read back by polling",
            disruptive: false,
            operations: &["intent_declare_async", "intent_decision_get"],
            run: async_and_polling,
        },
        Case {
            id: "intents.webhook_is_signed",
            group: Group::Intents,
            title: "an async intent's Decision is delivered to its callback, signed with the tenant's webhook secret",
            disruptive: false,
            operations: &["intent_declare_async", "tenant_webhook_secret_rotate"],
            run: webhook_is_signed,
        },
        Case {
            id: "intents.batch_per_item_outcomes",
            group: Group::Intents,
            title: "a batch answers each element on its own: decisions, and errors with paths rooted at the batch",
            disruptive: false,
            operations: &["intent_declare_batch"],
            run: batch_per_item_outcomes,
        },
        Case {
            id: "intents.list_and_audit_trail",
            group: Group::Intents,
            title: "intents are listed by filter, and each has its audit trail with the decision's entry",
            disruptive: false,
            operations: &["intent_list", "intent_audit_list"],
            run: list_and_audit_trail,
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
        Err(error) => Err(failed("POST /v1/intents: want HTTP 200 with a Decision, got", error, Some(repro))),
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
        let admin = lictor_client::Gateway::new(ctx.url()).api_key(&ctx.admin_key);
        for text in [SCENARIO, PUBLISHED] {
            let scenario: Value = serde_json::from_str(text).map_err(|e| failed("the scenario", e, None))?;
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
                    || {
                        format!(
                            "{name}: want {} {}, got {verdict} {reasons}",
                            want["verdict"], want["reasons"]
                        )
                    },
                    Some(repro.clone()),
                )?;
                if let Some(content) = want.get("modified_content") {
                    let got =
                        decision.modifications.as_ref().and_then(|m| m.modified_payload.content.clone());
                    check(
                        got.as_ref() == Some(content),
                        || format!("{name}: want content {content}, got {got:?}"),
                        Some(repro),
                    )?;
                }
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

fn async_and_polling(ctx: &Context) -> CaseFuture<'_> {
    Box::pin(async move {
        let (gw, url) = ctx.client(&ctx.live_key);
        let body = json!({"intent": transfer(&ctx.agent)?});
        let repro = curl("POST", &url, "/v1/intents:async", &ctx.live_key, Some(&body));
        let accepted = gw
            .declare_intent_async(transfer(&ctx.agent)?, None)
            .await
            .map_err(|e| failed("POST /v1/intents:async", e, Some(repro)))?;
        let id = accepted.intent_id.to_string();
        let path = format!("/v1/intents/{id}/decision");
        let repro = curl("GET", &url, &path, &ctx.live_key, None::<&()>);
        // Polled on another replica when there are several.
        let other = lictor_client::Gateway::new(ctx.url()).api_key(&ctx.live_key);
        let decision = other
            .wait_for_decision(&id, std::time::Duration::from_secs(30))
            .await
            .map_err(|e| failed("waiting for the async decision", e, Some(repro.clone())))?;
        check(
            decision.verdict == types::Verdict::Block
                && decision.intent_id.to_string() == id
                && codes(&decision).contains(&"transact_over_limit".to_string()),
            || {
                format!(
                    "async transfer: want block (transact_over_limit) for {id}, got {:?} {:?}",
                    decision.verdict,
                    codes(&decision)
                )
            },
            Some(repro),
        )
    })
}

fn batch_per_item_outcomes(ctx: &Context) -> CaseFuture<'_> {
    Box::pin(async move {
        let read = json!({"agent": {"id": ctx.agent}, "action": {"type": "access", "verb": "read"}});
        let pay = json!({"agent": {"id": ctx.agent}, "action": {"type": "transact", "verb": "transfer",
            "payload": {"estimated_impact": {"financial_exposure_usd": 25000}}}});
        let bad = json!({"agent": {"id": ctx.agent}, "action": {"type": "teleport", "verb": "go"}});
        let body = json!({"intents": [{"intent": read}, {"intent": pay}, {"intent": bad}]});
        let (status, answer, repro) =
            crate::raw(ctx, "POST", "/v1/intents:batch", &ctx.live_key, Some(&body)).await?;
        check(
            status == 200,
            || format!("want 200 for a batch, got {status}: {answer}"),
            Some(repro.clone()),
        )?;
        let results = answer["results"].as_array().cloned().unwrap_or_default();
        let summary: Vec<Value> = results
            .iter()
            .map(|r| {
                json!([
                    r["index"],
                    r["status"],
                    r["decision"]["verdict"],
                    r["error"]["error_code"],
                    r["error"]["path"]
                ])
            })
            .collect();
        let want = json!([
            [0, 200, "approve", null, null],
            [1, 200, "block", null, null],
            [2, 400, null, "invalid_field", "$.intents[2].intent.action.type"]
        ]);
        check(
            Value::Array(summary.clone()) == want,
            || {
                format!(
                    "batch results [index, status, verdict, error_code, path]: want {want}, got {}",
                    Value::Array(summary)
                )
            },
            Some(repro),
        )
    })
}

fn list_and_audit_trail(ctx: &Context) -> CaseFuture<'_> {
    Box::pin(async move {
        let (decision, _) = declare(ctx, &ctx.live_key, transfer(&ctx.agent)?).await?;
        let id = decision.intent_id.to_string();
        let (admin, url) = ctx.client(&ctx.admin_key);
        let path = format!("/v1/intents?agent_id={}&verdict=block&limit=100", ctx.agent);
        let repro = curl("GET", &url, &path, &ctx.admin_key, None::<&()>);
        let page = admin
            .retrying(|| {
                admin
                    .api()
                    .intent_list()
                    .agent_id(ctx.agent.as_str())
                    .verdict(types::Verdict::Block)
                    .limit(100)
                    .send()
            })
            .await
            .map_err(|e| failed("GET /v1/intents", e, Some(repro.clone())))?;
        check(
            page.items.iter().any(|i| i.intent_id.to_string() == id)
                && page
                    .items
                    .iter()
                    .all(|i| i.agent_id.to_string() == ctx.agent && i.verdict == Some(types::Verdict::Block)),
            || format!("the filtered list lacks {id} or holds intents that do not match the filter"),
            Some(repro),
        )?;
        let path = format!("/v1/intents/{id}/audit");
        let repro = curl("GET", &url, &path, &ctx.admin_key, None::<&()>);
        let trail = admin
            .retrying(|| admin.api().intent_audit_list().intent_id(id.as_str()).send())
            .await
            .map_err(|e| failed("GET the intent's audit trail", e, Some(repro.clone())))?;
        let want = decision.audit.as_ref().map(|a| a.hash.clone()).unwrap_or_default();
        check(
            trail
                .items
                .iter()
                .any(|e| e.hash == want && e.intent_id.as_ref().map(|i| i.to_string()) == Some(id.clone())),
            || format!("the trail of {id} lacks the decision's entry {want}"),
            Some(repro),
        )
    })
}

fn webhook_is_signed(ctx: &Context) -> CaseFuture<'_> {
    Box::pin(async move {
        let (admin, _) = ctx.client(&ctx.admin_key);
        let secret = admin
            .retrying(|| admin.api().tenant_webhook_secret_rotate().tenant_id(ctx.tenant.as_str()).send())
            .await
            .map_err(|e| failed("rotating the webhook secret", e, None))?
            .webhook_secret
            .clone();
        let (gw, url) = ctx.client(&ctx.live_key);
        let callback = ctx.upstream.webhook_url();
        let body = json!({"intent": transfer(&ctx.agent)?, "callback_url": callback});
        let repro = curl("POST", &url, "/v1/intents:async", &ctx.live_key, Some(&body));
        let accepted = gw
            .declare_intent_async(transfer(&ctx.agent)?, Some(&callback))
            .await
            .map_err(|e| failed("POST /v1/intents:async with a callback", e, Some(repro.clone())))?;
        let id = accepted.intent_id.to_string();
        let mut delivery = None;
        for _ in 0..150 {
            delivery = ctx
                .upstream
                .deliveries()
                .into_iter()
                .find(|d| String::from_utf8_lossy(&d.body).contains(&id));
            if delivery.is_some() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        let delivery = delivery.ok_or_else(|| {
            failed(
                &format!("no webhook delivery for {id} at {callback} within 30 s"),
                "",
                Some(repro.clone()),
            )
        })?;
        let header = delivery.signature.clone().unwrap_or_default();
        lictor_client::verify_webhook(&secret, &header, &delivery.body).map_err(|e| {
            failed(
                "the delivery's Lictor-Signature does not verify with the tenant's secret",
                e.code(),
                Some(repro.clone()),
            )
        })?;
        let decision: Value = serde_json::from_slice(&delivery.body)
            .map_err(|e| failed("the delivery is not JSON", e, Some(repro.clone())))?;
        let found = decision.get("verdict").or_else(|| decision.pointer("/decision/verdict")).cloned();
        check(
            found == Some(json!("block")),
            || format!("the delivered Decision: want verdict block, got {decision}"),
            Some(repro),
        )
    })
}
