//! A COMMIT whose reply is lost: PostgreSQL applied it, the gateway never
//! heard back. The gateway reads the batch back and answers what is true —
//! the decision, or `503 outcome_unknown` if the store stays away — and
//! never "nothing was written" for something that was.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::cut_proxy::CutProxy;
use crate::support::{Backend, TestGateway, eventually, intent, postgres};

/// An approvable intent that carries `marker` (the proxy watches for it).
fn marked_intent(marker: &str) -> Value {
    intent(json!({"type": "access", "verb": "read",
        "target": {"type": "table", "identifier": marker, "sensitivity": "internal"}}))
}

/// How many intents and audit entries mention `marker`, and the tenant's
/// decisions counted against budgets.
async fn recorded(gw: &TestGateway, marker: &str) -> (i64, i64) {
    let db = gw.db().await;
    let like = format!("%{marker}%");
    let intents: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM intents WHERE request LIKE $1")
        .bind(&like)
        .fetch_one(&db)
        .await
        .unwrap();
    let entries: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_entries e JOIN intents i ON i.id = e.intent_id \
         WHERE i.request LIKE $1 AND e.kind = 'decision'",
    )
    .bind(&like)
    .fetch_one(&db)
    .await
    .unwrap();
    (intents, entries)
}

async fn behind_a_proxy() -> (CutProxy, TestGateway) {
    let url = postgres::fresh_database().await;
    let proxy = CutProxy::start(&url).await;
    let proxied = proxy.url(&url);
    let mut gw = TestGateway::start_with(Backend::Postgres, |c| c.database_url = Some(proxied)).await;
    // Direct connections for the test's own reads.
    gw.database_url = url;
    (proxy, gw)
}

#[tokio::test]
async fn a_lost_commit_reply_is_answered_with_the_decision_that_was_written() {
    let (proxy, gw) = behind_a_proxy().await;
    let f = gw.tenant_fixture().await;
    let marker = format!("lost-{}", uuid::Uuid::new_v4().simple());

    proxy.cut_commit_after(&marker, false);
    let decision = gw.declare(&f.live, marked_intent(&marker)).await.expect(200);
    assert_eq!(proxy.cuts(), 1, "the COMMIT's reply was not dropped");
    assert_eq!(decision["verdict"], "approve", "{decision}");
    assert_eq!(recorded(&gw, &marker).await, (1, 1));

    // What was answered is what was recorded.
    let id = decision["intent_id"].as_str().unwrap();
    let stored = gw.get(&format!("/v1/intents/{id}/decision"), &f.live).await.expect(200);
    assert_eq!(stored["decision"], decision);
    let verified = gw.verify(&f.tenant).await;
    assert_eq!(verified["ok"], true, "{verified}");
    assert_eq!(verified["verified"].as_u64().unwrap(), f.base + 1);
}

#[tokio::test]
async fn a_commit_that_cannot_be_read_back_is_outcome_unknown_and_a_keyed_retry_replays_it() {
    let (proxy, gw) = behind_a_proxy().await;
    let f = gw.tenant_fixture().await;
    let marker = format!("unknown-{}", uuid::Uuid::new_v4().simple());
    let body = json!({"intent": marked_intent(&marker)});
    let key = format!("key-{}", uuid::Uuid::new_v4().simple());
    let keyed = || {
        gw.request(Method::POST, "/v1/intents")
            .bearer_auth(&f.live)
            .header("Idempotency-Key", &key)
            .json(&body)
    };

    // The store stays away longer than the gateway reads back.
    proxy.cut_commit_after(&marker, true);
    let answer = gw.send(keyed()).await;
    assert_eq!(proxy.cuts(), 1, "the COMMIT's reply was not dropped");
    let error = answer.expect_error(503, "outcome_unknown");
    assert!(error["message"].as_str().unwrap().contains("Idempotency-Key"), "{error}");
    // It was in fact recorded.
    assert_eq!(recorded(&gw, &marker).await, (1, 1));

    proxy.heal();
    let ready = eventually(Duration::from_secs(20), async || {
        let answer = gw.call(Method::GET, "/readyz", None, None).await;
        (answer.status.as_u16() == 200).then_some(())
    })
    .await;
    assert!(ready.is_some(), "not ready once the store came back");

    // The retry with the same key answers the recorded decision; nothing
    // is decided, recorded or charged twice.
    let replayed = gw.send(keyed()).await.expect(200);
    assert_eq!(replayed["verdict"], "approve", "{replayed}");
    assert_eq!(recorded(&gw, &marker).await, (1, 1));
    let db = gw.db().await;
    let id: String = sqlx::query_scalar("SELECT id FROM intents WHERE request LIKE $1")
        .bind(format!("%{marker}%"))
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(replayed["intent_id"], id.as_str());
    let verified = gw.verify(&f.tenant).await;
    assert_eq!(verified["ok"], true, "{verified}");
    assert_eq!(verified["verified"].as_u64().unwrap(), f.base + 1);
}
