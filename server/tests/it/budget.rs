use serde_json::json;

use crate::support::{Backend, TestGateway, approve_intent, block_intent, intent};

fn payment(usd: f64) -> serde_json::Value {
    intent(json!({"type": "transact", "verb": "pay",
        "payload": {"estimated_impact": {"reversible": true, "financial_exposure_usd": usd}}}))
}

async fn only_approved_intents_consume_the_decision_budget(backend: Backend) {
    let gw = TestGateway::start(backend).await;
    let f = gw.tenant_fixture().await;
    gw.patch("/v1/agents/agent-1", &f.admin, &json!({"budget": {"max_decisions_24h": 2}})).await.expect(200);
    // Blocked and escalated decisions consume nothing.
    for _ in 0..3 {
        assert_eq!(gw.declare(&f.live, block_intent()).await.expect(200)["verdict"], "block");
    }
    // Test keys consume nothing.
    for _ in 0..3 {
        assert_eq!(gw.declare(&f.test, approve_intent()).await.expect(200)["verdict"], "approve");
    }
    assert_eq!(gw.declare(&f.live, approve_intent()).await.expect(200)["verdict"], "approve");
    assert_eq!(gw.declare(&f.live, approve_intent()).await.expect(200)["verdict"], "approve");
    let over = gw.declare(&f.live, approve_intent()).await.expect(200);
    assert_eq!(over["verdict"], "escalate");
    let reason = over["reasons"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(reason["stage"], "budget");
    assert_eq!(reason["code"], "budget_decisions_exceeded");
    let budget = over["stages"].as_array().unwrap().iter().find(|s| s["name"] == "budget").unwrap().clone();
    assert_eq!(budget["outcome"], "escalate");
    assert!(over["approval"]["approval_id"].is_string());
    // The escalation consumed nothing either: raising the limit by one lets one more through.
    gw.patch("/v1/agents/agent-1", &f.admin, &json!({"budget": {"max_decisions_24h": 3}})).await.expect(200);
    assert_eq!(gw.declare(&f.live, approve_intent()).await.expect(200)["verdict"], "approve");
    assert_eq!(gw.declare(&f.live, approve_intent()).await.expect(200)["verdict"], "escalate");
    // `{}` removes every limit.
    gw.patch("/v1/agents/agent-1", &f.admin, &json!({"budget": {}})).await.expect(200);
    assert_eq!(gw.declare(&f.live, approve_intent()).await.expect(200)["verdict"], "approve");
}

async fn exposure_budget_sums_financial_exposure(backend: Backend) {
    let gw = TestGateway::start(backend).await;
    let f = gw.tenant_fixture().await;
    gw.patch("/v1/agents/agent-1", &f.admin, &json!({"budget": {"max_exposure_usd_24h": 1000}}))
        .await
        .expect(200);
    assert_eq!(gw.declare(&f.live, payment(600.0)).await.expect(200)["verdict"], "approve");
    let over = gw.declare(&f.live, payment(400.01)).await.expect(200);
    assert_eq!(over["verdict"], "escalate");
    assert_eq!(over["reasons"][0]["code"], "budget_exposure_exceeded");
    assert_eq!(gw.declare(&f.live, payment(400.0)).await.expect(200)["verdict"], "approve");
    assert_eq!(gw.declare(&f.live, payment(0.5)).await.expect(200)["verdict"], "escalate");
    // Shadow decisions that would approve consume budget too (they are acted on).
    assert_eq!(gw.declare(&f.shadow, payment(0.5)).await.expect(200)["would_be_verdict"], "escalate");
}

async fn concurrent_intents_never_overshoot_a_budget(backend: Backend) {
    let gw = TestGateway::start(backend).await;
    let f = gw.tenant_fixture().await;
    gw.patch("/v1/agents/agent-1", &f.admin, &json!({"budget": {"max_decisions_24h": 5}})).await.expect(200);
    let calls: Vec<_> = (0..30).map(|_| gw.declare(&f.live, approve_intent())).collect();
    let verdicts: Vec<_> = futures::future::join_all(calls)
        .await
        .into_iter()
        .map(|a| a.expect(200)["verdict"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(verdicts.iter().filter(|v| *v == "approve").count(), 5, "{verdicts:?}");
    assert_eq!(verdicts.iter().filter(|v| *v == "escalate").count(), 25);
}

/// Someone with write access to the database sets the agent's usage
/// negative: the budget check must fail closed, not read it as zero.
async fn a_negative_usage_count_fails_closed(backend: Backend) {
    let gw = TestGateway::start(backend).await;
    let f = gw.tenant_fixture().await;
    gw.patch("/v1/agents/agent-1", &f.admin, &json!({"budget": {"max_decisions_24h": 1}})).await.expect(200);
    assert_eq!(gw.declare(&f.live, approve_intent()).await.expect(200)["verdict"], "approve");
    assert_eq!(gw.declare(&f.live, approve_intent()).await.expect(200)["verdict"], "escalate");
    let db = gw.db().await;
    sqlx::query("UPDATE budget_usage SET decisions = -1000 WHERE agent_id = 'agent-1'")
        .execute(&db)
        .await
        .unwrap();
    gw.declare(&f.live, approve_intent()).await.expect_error(500, "internal");
    // Nothing was decided on the damaged count.
    let listed = gw.get("/v1/intents?limit=50", &f.admin).await.expect(200);
    assert_eq!(listed["items"].as_array().unwrap().len(), 2, "{listed}");
}

crate::on_both_backends!(
    a_negative_usage_count_fails_closed,
    only_approved_intents_consume_the_decision_budget,
    exposure_budget_sums_financial_exposure,
    concurrent_intents_never_overshoot_a_budget,
);
