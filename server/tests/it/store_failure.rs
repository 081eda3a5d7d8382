use std::time::Duration;

use serde_json::json;
use sqlx::Executor;

use crate::support::{Backend, TestGateway, approve_intent, block_intent};

async fn counts(gw: &TestGateway, tenant: &str) -> (i64, i64, i64) {
    let db = gw.db().await;
    let count = |sql: &'static str| {
        let db = db.clone();
        async move { sqlx::query_scalar::<_, i64>(sql).bind(tenant).fetch_one(&db).await.unwrap() }
    };
    (
        count("SELECT COUNT(*) FROM intents WHERE tenant_id = $1").await,
        count("SELECT COUNT(*) FROM audit_entries WHERE tenant_id = $1").await,
        count("SELECT COUNT(*) FROM budget_usage WHERE tenant_id = $1").await,
    )
}

/// Takes the lock the writer needs for `tenant` and keeps it until the
/// connection rolls back.
async fn hold_writer_lock(
    gw: &TestGateway,
    backend: Backend,
    tenant: &str,
) -> sqlx::pool::PoolConnection<sqlx::Any> {
    let db = gw.db().await;
    let mut holder = db.acquire().await.unwrap();
    match backend {
        Backend::Sqlite => {
            holder.execute("BEGIN IMMEDIATE").await.unwrap();
        }
        Backend::Postgres => {
            holder.execute("BEGIN").await.unwrap();
            sqlx::query("SELECT seq FROM audit_heads WHERE tenant_id = $1 FOR UPDATE")
                .bind(tenant)
                .fetch_one(&mut *holder)
                .await
                .unwrap();
        }
    }
    holder
}

/// A tenant may let `shadow` intents (never enforced) be answered while the
/// store cannot be written — marked unaudited; everything else fails closed.
async fn shadow_may_fail_open_unaudited_when_the_tenant_chose_it(backend: Backend) {
    let gw = TestGateway::start_with(backend, |c| c.lock_timeout = Duration::from_millis(200)).await;
    let f = gw.tenant_fixture().await;
    gw.declare(&f.shadow, approve_intent()).await.expect(200);

    // By default: closed, even in shadow.
    let mut holder = hold_writer_lock(&gw, backend, &f.tenant).await;
    gw.declare(&f.shadow, approve_intent()).await.expect_error(503, "store_unavailable");
    holder.execute("ROLLBACK").await.unwrap();
    drop(holder);

    let path = format!("/v1/admin/tenants/{}", f.tenant);
    let tenant = gw.patch(&path, &f.admin, &json!({"store_failure": "open_in_shadow"})).await;
    assert_eq!(tenant.expect(200)["store_failure"], "open_in_shadow");
    let before = counts(&gw, &f.tenant).await;
    let mut holder = hold_writer_lock(&gw, backend, &f.tenant).await;
    let d = gw.declare(&f.shadow, block_intent()).await.expect(200);
    assert_eq!(d["verdict"], "approve");
    assert_eq!(d["enforced"], false);
    assert!(d["would_be_verdict"].is_null(), "nothing was evaluated: {d}");
    assert_eq!(d["reasons"][0]["code"], "store_unavailable_unaudited");
    assert!(d.get("audit").is_none() || d["audit"].is_null());
    let audit = d["stages"].as_array().unwrap().iter().find(|s| s["name"] == "audit").unwrap().clone();
    assert_eq!(audit["outcome"], "fail");
    // Live decisions, tool calls and anything enforced still fail closed.
    gw.declare(&f.live, approve_intent()).await.expect_error(503, "store_unavailable");
    holder.execute("ROLLBACK").await.unwrap();
    drop(holder);
    assert_eq!(counts(&gw, &f.tenant).await, before, "the unaudited answer wrote nothing");
    assert_eq!(gw.verify(&f.tenant).await["ok"], true);
    let e = gw
        .patch(&format!("/v1/admin/tenants/{}", f.tenant), &f.admin, &json!({"store_failure": "sometimes"}))
        .await;
    assert_eq!(e.expect_error(400, "invalid_field")["path"], "$.store_failure");
}

/// While another session holds the lock the writer needs, decisions fail
/// with 503 and leave nothing behind; once it is released all is well.
async fn a_locked_store_answers_503_and_writes_nothing(backend: Backend) {
    let gw = TestGateway::start_with(backend, |c| c.lock_timeout = Duration::from_millis(200)).await;
    let f = gw.tenant_fixture().await;
    gw.patch("/v1/agents/agent-1", &f.admin, &json!({"budget": {"max_decisions_24h": 100}}))
        .await
        .expect(200);
    gw.declare(&f.live, approve_intent()).await.expect(200);
    let before = counts(&gw, &f.tenant).await;

    let mut holder = hold_writer_lock(&gw, backend, &f.tenant).await;
    for intent in [approve_intent(), block_intent()] {
        let e = gw.declare(&f.live, intent).await.expect_error(503, "store_unavailable");
        assert!(e.get("path").is_none());
    }
    holder.execute("ROLLBACK").await.unwrap();
    drop(holder);

    assert_eq!(counts(&gw, &f.tenant).await, before, "nothing half-written");
    let verified = gw.verify(&f.tenant).await;
    assert_eq!(verified["ok"], true);
    assert_eq!(verified["verified"], f.base + 2, "the budget change and the decision");
    assert_eq!(gw.declare(&f.live, approve_intent()).await.expect(200)["audit"]["seq"], f.base + 3);
}

/// With PostgreSQL gone entirely, requests answer 503 (and readiness says
/// so) until it is back. (An embedded SQLite database cannot become
/// unreachable; its failure mode is the lock above.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_unreachable_answers_503_until_it_is_back() {
    use crate::metrics::{TOKEN, scrape, value};
    let gw = TestGateway::start_with(Backend::Postgres, |c| c.metrics_token = Some(TOKEN.into())).await;
    let f = gw.tenant_fixture().await;
    gw.declare(&f.live, approve_intent()).await.expect(200);
    let db_name = gw.database_url.rsplit('/').next().unwrap().to_string();
    crate::support::postgres::admin_exec(format!("ALTER DATABASE {db_name} ALLOW_CONNECTIONS false")).await;
    crate::support::postgres::admin_exec(format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{db_name}'"
    ))
    .await;
    gw.declare(&f.live, approve_intent()).await.expect_error(503, "store_unavailable");
    gw.call(reqwest::Method::GET, "/readyz", None, None).await.expect_error(503, "store_unavailable");
    // The metrics still answer, and say so.
    let down = scrape(&gw).await;
    assert_eq!(value(&down, "lictor_store_up"), 0.0);
    assert!(value(&down, r#"lictor_store_errors_total{kind="unavailable"}"#) >= 1.0);
    crate::support::postgres::admin_exec(format!("ALTER DATABASE {db_name} ALLOW_CONNECTIONS true")).await;
    let back = crate::support::eventually(Duration::from_secs(20), async || {
        let answer = gw.declare(&f.live, approve_intent()).await;
        (answer.status == 200).then_some(answer.body)
    })
    .await
    .expect("recovers");
    assert_eq!(back["audit"]["seq"], f.base + 2);
    assert_eq!(gw.verify(&f.tenant).await["verified"], f.base + 2);
    assert_eq!(value(&scrape(&gw).await, "lictor_store_up"), 1.0);
}

crate::on_both_backends!(
    shadow_may_fail_open_unaudited_when_the_tenant_chose_it,
    a_locked_store_answers_503_and_writes_nothing
);
