use serde_json::Value;

use crate::support::{Backend, Fixture, TestGateway, approve_intent, block_intent, escalate_intent};

/// A tenant with a chain of `n` decisions.
async fn chain(gw: &TestGateway, n: usize) -> Fixture {
    let f = gw.tenant_fixture().await;
    for i in 0..n {
        let intent = match i % 3 {
            0 => approve_intent(),
            1 => block_intent(),
            _ => escalate_intent(),
        };
        gw.declare(&f.live, intent).await.expect(200);
    }
    let verified = gw.verify(&f.tenant).await;
    assert_eq!(verified["ok"], true, "{verified}");
    assert_eq!(verified["verified"], n as u64);
    f
}

async fn exec(gw: &TestGateway, sql: &str, tenant: &str) {
    let db = gw.db().await;
    sqlx::query(sqlx::AssertSqlSafe(sql.to_string())).bind(tenant).execute(&db).await.unwrap();
}

fn failure(verified: &Value) -> (u64, String) {
    assert_eq!(verified["ok"], false, "tampering must be detected: {verified}");
    let f = &verified["first_failure"];
    (f["seq"].as_u64().unwrap(), f["reason"].as_str().unwrap().to_string())
}

async fn verify_detects_an_edited_entry(backend: Backend) {
    let gw = TestGateway::start(backend).await;
    let f = chain(&gw, 4).await;
    exec(&gw, "UPDATE audit_entries SET verdict = 'approve' WHERE tenant_id = $1 AND seq = 2", &f.tenant)
        .await;
    let verified = gw.verify(&f.tenant).await;
    assert_eq!(failure(&verified), (2, "hash_mismatch".into()));
    assert_eq!(verified["verified"], 1);
}

async fn verify_detects_an_edited_hash(backend: Backend) {
    let gw = TestGateway::start(backend).await;
    let f = chain(&gw, 4).await;
    let forged = "1".repeat(64);
    exec(
        &gw,
        &format!("UPDATE audit_entries SET hash = '{forged}' WHERE tenant_id = $1 AND seq = 3"),
        &f.tenant,
    )
    .await;
    let verified = gw.verify(&f.tenant).await;
    assert_eq!(failure(&verified), (3, "hash_mismatch".into()));
    assert_eq!(verified["first_failure"]["found"], forged.as_str());
}

async fn verify_detects_a_deleted_entry(backend: Backend) {
    let gw = TestGateway::start(backend).await;
    let f = chain(&gw, 5).await;
    exec(&gw, "DELETE FROM audit_entries WHERE tenant_id = $1 AND seq = 3", &f.tenant).await;
    let verified = gw.verify(&f.tenant).await;
    assert_eq!(failure(&verified), (3, "sequence_gap".into()));
    assert_eq!(verified["first_failure"]["found"], "4");
}

async fn verify_detects_reordered_entries(backend: Backend) {
    let gw = TestGateway::start(backend).await;
    let f = chain(&gw, 5).await;
    exec(&gw, "UPDATE audit_entries SET seq = -1 WHERE tenant_id = $1 AND seq = 2", &f.tenant).await;
    exec(&gw, "UPDATE audit_entries SET seq = 2 WHERE tenant_id = $1 AND seq = 3", &f.tenant).await;
    exec(&gw, "UPDATE audit_entries SET seq = 3 WHERE tenant_id = $1 AND seq = -1", &f.tenant).await;
    let verified = gw.verify(&f.tenant).await;
    assert_eq!(failure(&verified), (2, "broken_link".into()));
}

async fn verify_detects_an_inserted_entry(backend: Backend) {
    let gw = TestGateway::start(backend).await;
    let f = chain(&gw, 4).await;
    // Make room after seq 2 and copy entry 2 into the gap, re-pointed at
    // entry 2: its hash no longer matches, and entry 4 no longer links.
    exec(&gw, "UPDATE audit_entries SET seq = seq + 100 WHERE tenant_id = $1 AND seq > 2", &f.tenant).await;
    exec(&gw, "UPDATE audit_entries SET seq = seq - 99 WHERE tenant_id = $1 AND seq > 100", &f.tenant).await;
    exec(
        &gw,
        "INSERT INTO audit_entries (tenant_id, seq, entry_id, version, ts, kind, intent_id, agent_id, environment,
             enforced, verdict, stage, reasons, bundle_hash, input_digest, payload_digest, prev_hash, hash)
         SELECT tenant_id, 3, 'aud_forged', version, ts, kind, intent_id, agent_id, environment, enforced, verdict,
             stage, reasons, bundle_hash, input_digest, payload_digest, hash, hash
         FROM audit_entries WHERE tenant_id = $1 AND seq = 2",
        &f.tenant,
    )
    .await;
    let verified = gw.verify(&f.tenant).await;
    assert_eq!(failure(&verified), (3, "hash_mismatch".into()));
}

async fn verify_detects_a_truncated_tail(backend: Backend) {
    let gw = TestGateway::start(backend).await;
    let f = chain(&gw, 4).await;
    exec(&gw, "DELETE FROM audit_entries WHERE tenant_id = $1 AND seq >= 3", &f.tenant).await;
    let verified = gw.verify(&f.tenant).await;
    assert_eq!(failure(&verified), (4, "head_mismatch".into()));
    assert_eq!(verified["verified"], 2, "what remains verifies");
}

async fn verify_reports_an_undecodable_entry(backend: Backend) {
    let gw = TestGateway::start(backend).await;
    let f = chain(&gw, 3).await;
    exec(&gw, "UPDATE audit_entries SET verdict = 'maybe' WHERE tenant_id = $1 AND seq = 2", &f.tenant).await;
    let verified = gw.verify(&f.tenant).await;
    assert_eq!(failure(&verified), (2, "undecodable_entry".into()));
}

async fn chains_are_per_tenant(backend: Backend) {
    let gw = TestGateway::start(backend).await;
    let a = chain(&gw, 3).await;
    let b = chain(&gw, 2).await;
    exec(&gw, "UPDATE audit_entries SET agent_id = 'mallory' WHERE tenant_id = $1 AND seq = 1", &a.tenant)
        .await;
    assert_eq!(gw.verify(&a.tenant).await["ok"], false);
    assert_eq!(gw.verify(&b.tenant).await["ok"], true);
    // A tenant admin verifies its own chain only.
    let own = gw.get("/v1/admin/audit/verify", &b.admin).await.expect(200);
    assert_eq!(own["verified"], 2);
    gw.get(&format!("/v1/admin/audit/verify?tenant={}", a.tenant), &b.admin)
        .await
        .expect_error(404, "not_found");
    gw.get("/v1/admin/audit/verify", &b.live).await.expect_error(403, "forbidden");
}

crate::on_both_backends!(
    verify_detects_an_edited_entry,
    verify_detects_an_edited_hash,
    verify_detects_a_deleted_entry,
    verify_detects_reordered_entries,
    verify_detects_an_inserted_entry,
    verify_detects_a_truncated_tail,
    verify_reports_an_undecodable_entry,
    chains_are_per_tenant,
);
