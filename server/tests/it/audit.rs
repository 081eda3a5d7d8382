use lictor_api::audit::AuditKind;
use lictor_api::ids::{AuditEntryId, TenantId};
use lictor_api::operators::{Person, ProviderName};
use lictor_server::audit::AuditRecord;
use lictor_server::store::AuditFilter;
use serde_json::{Value, json};

use crate::support::{
    ADMIN_KEY, Backend, Fixture, TestGateway, approve_intent, block_intent, escalate_intent,
};

/// A tenant with a chain of `n` decisions.
async fn chain(gw: &TestGateway, n: usize) -> Fixture {
    let mut f = gw.tenant_fixture().await;
    gw.unthrottle(&f.tenant).await;
    // The change of limits is audited too.
    f.base += 1;
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
    assert_eq!(verified["verified"], f.base + n as u64);
    f
}

/// Runs `sql` against the gateway's database with `$1` bound to `tenant`.
pub(crate) async fn exec(gw: &TestGateway, sql: &str, tenant: &str) {
    let db = gw.db().await;
    sqlx::query(sqlx::AssertSqlSafe(sql.to_string())).bind(tenant).execute(&db).await.unwrap();
}

/// Cuts the tenant's log after entry `seq` (with `hash`) and moves its
/// head back onto it, as an attacker covering up a deletion would.
pub(crate) async fn truncate(gw: &TestGateway, tenant: &str, seq: u64, hash: &str) {
    exec(gw, &format!("DELETE FROM audit_entries WHERE tenant_id = $1 AND seq > {seq}"), tenant).await;
    exec(gw, &format!("UPDATE audit_heads SET seq = {seq}, hash = '{hash}' WHERE tenant_id = $1"), tenant)
        .await;
}

/// The seq and reason of the first failure a verification reports.
pub(crate) fn failure(verified: &Value) -> (u64, String) {
    assert_eq!(verified["ok"], false, "tampering must be detected: {verified}");
    let f = &verified["first_failure"];
    (f["seq"].as_u64().unwrap(), f["reason"].as_str().unwrap().to_string())
}

async fn verify_detects_an_edited_entry(backend: Backend) {
    let gw = TestGateway::start(backend).await;
    let f = chain(&gw, 4).await;
    let b = f.base;
    exec(
        &gw,
        &format!("UPDATE audit_entries SET verdict = 'approve' WHERE tenant_id = $1 AND seq = {}", b + 2),
        &f.tenant,
    )
    .await;
    let verified = gw.verify(&f.tenant).await;
    assert_eq!(failure(&verified), (b + 2, "hash_mismatch".into()));
    assert_eq!(verified["verified"], b + 1);
}

async fn verify_detects_an_edited_hash(backend: Backend) {
    let gw = TestGateway::start(backend).await;
    let f = chain(&gw, 4).await;
    let forged = "1".repeat(64);
    exec(
        &gw,
        &format!("UPDATE audit_entries SET hash = '{forged}' WHERE tenant_id = $1 AND seq = {}", f.base + 3),
        &f.tenant,
    )
    .await;
    let verified = gw.verify(&f.tenant).await;
    assert_eq!(failure(&verified), (f.base + 3, "hash_mismatch".into()));
    assert_eq!(verified["first_failure"]["found"], forged.as_str());
}

async fn verify_detects_a_deleted_entry(backend: Backend) {
    let gw = TestGateway::start(backend).await;
    let f = chain(&gw, 5).await;
    let b = f.base;
    exec(&gw, &format!("DELETE FROM audit_entries WHERE tenant_id = $1 AND seq = {}", b + 3), &f.tenant)
        .await;
    let verified = gw.verify(&f.tenant).await;
    assert_eq!(failure(&verified), (b + 3, "sequence_gap".into()));
    assert_eq!(verified["first_failure"]["found"], (b + 4).to_string());
}

async fn verify_detects_reordered_entries(backend: Backend) {
    let gw = TestGateway::start(backend).await;
    let f = chain(&gw, 5).await;
    let b = f.base;
    exec(
        &gw,
        &format!("UPDATE audit_entries SET seq = -1 WHERE tenant_id = $1 AND seq = {}", b + 2),
        &f.tenant,
    )
    .await;
    exec(
        &gw,
        &format!("UPDATE audit_entries SET seq = {} WHERE tenant_id = $1 AND seq = {}", b + 2, b + 3),
        &f.tenant,
    )
    .await;
    exec(
        &gw,
        &format!("UPDATE audit_entries SET seq = {} WHERE tenant_id = $1 AND seq = -1", b + 3),
        &f.tenant,
    )
    .await;
    let verified = gw.verify(&f.tenant).await;
    assert_eq!(failure(&verified), (b + 2, "broken_link".into()));
}

async fn verify_detects_an_inserted_entry(backend: Backend) {
    let gw = TestGateway::start(backend).await;
    let f = chain(&gw, 4).await;
    // Make room after seq 2 and copy entry 2 into the gap, re-pointed at
    // entry 2: its hash no longer matches, and entry 4 no longer links.
    let b = f.base;
    exec(
        &gw,
        &format!("UPDATE audit_entries SET seq = seq + 1000 WHERE tenant_id = $1 AND seq > {}", b + 2),
        &f.tenant,
    )
    .await;
    exec(&gw, "UPDATE audit_entries SET seq = seq - 999 WHERE tenant_id = $1 AND seq > 1000", &f.tenant)
        .await;
    exec(
        &gw,
        &format!(
            "INSERT INTO audit_entries (tenant_id, seq, entry_id, version, ts, kind, intent_id, agent_id, environment,
                 enforced, verdict, stage, reasons, bundle_hash, input_digest, payload_digest, prev_hash, hash)
             SELECT tenant_id, {}, 'aud_forged', version, ts, kind, intent_id, agent_id, environment, enforced,
                 verdict, stage, reasons, bundle_hash, input_digest, payload_digest, hash, hash
             FROM audit_entries WHERE tenant_id = $1 AND seq = {}",
            b + 3,
            b + 2
        ),
        &f.tenant,
    )
    .await;
    let verified = gw.verify(&f.tenant).await;
    assert_eq!(failure(&verified), (b + 3, "hash_mismatch".into()));
}

async fn verify_detects_a_truncated_tail(backend: Backend) {
    let gw = TestGateway::start(backend).await;
    let f = chain(&gw, 4).await;
    let b = f.base;
    exec(&gw, &format!("DELETE FROM audit_entries WHERE tenant_id = $1 AND seq >= {}", b + 3), &f.tenant)
        .await;
    let verified = gw.verify(&f.tenant).await;
    assert_eq!(failure(&verified), (b + 4, "head_mismatch".into()));
    assert_eq!(verified["verified"], b + 2, "what remains verifies");
}

async fn verify_reports_an_undecodable_entry(backend: Backend) {
    let gw = TestGateway::start(backend).await;
    let f = chain(&gw, 3).await;
    let b = f.base;
    exec(
        &gw,
        &format!("UPDATE audit_entries SET verdict = 'maybe' WHERE tenant_id = $1 AND seq = {}", b + 2),
        &f.tenant,
    )
    .await;
    let verified = gw.verify(&f.tenant).await;
    assert_eq!(failure(&verified), (b + 2, "undecodable_entry".into()));
}

/// A SQLite column damaged into a BLOB cannot go into the JSON a page is
/// read as: the page is read again row by row, and the entry named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_verify_names_an_entry_json_cannot_hold() {
    let gw = TestGateway::start(Backend::Sqlite).await;
    let f = chain(&gw, 3).await;
    let b = f.base;
    exec(
        &gw,
        &format!("UPDATE audit_entries SET reasons = X'00FF' WHERE tenant_id = $1 AND seq = {}", b + 2),
        &f.tenant,
    )
    .await;
    let verified = gw.verify(&f.tenant).await;
    assert_eq!(failure(&verified), (b + 2, "undecodable_entry".into()));
    assert_eq!(verified["verified"], b + 1);
}

/// An entry naming a person, appended through the store as the writer
/// appends entries: stored as the person's canonical JSON, read back (a
/// page at a time and row by row) as the record its hash covers, and
/// served by the API as an object. The entries before it have no person.
async fn entries_naming_a_person_read_back_as_written(backend: Backend) {
    let mut gw = TestGateway::start(backend).await;
    let f = gw.tenant_fixture().await;
    gw.stop().await;
    let store = gw.open_store().await;
    let tenant = TenantId::parse(&f.tenant).unwrap();
    let last = store.audit_entries_after(&tenant, 0, 1000).await.unwrap().pop().unwrap().unwrap();
    let mut record = AuditRecord::new(
        AuditEntryId::parse("aud_person").unwrap(),
        AuditKind::AgentUpdated,
        tenant.clone(),
        last.record.seq + 1,
        last.record.ts + 1,
        last.hash.clone(),
    );
    record.principal = Some("session:ses_1".into());
    record.person = Some(Person {
        issuer: "https://login.example.com".into(),
        subject: "00u1x9k2".into(),
        provider: ProviderName::parse("okta").unwrap(),
        username: None,
        email: Some("zoë@example.com".into()),
        name: Some("Zoë \"Zed\" Müller,\tOps".into()),
    });
    let hash = record.hash();
    let mut tx = store.begin().await.unwrap();
    tx.insert_audit_entry(&record, &hash).await.unwrap();
    tx.commit().await.unwrap();

    let paged = store.audit_entries_after(&tenant, 0, 1000).await.unwrap();
    let rows = store.list_audit_entries(&tenant, &AuditFilter::default(), 0, 1000).await.unwrap();
    let paged: Vec<_> = paged.into_iter().map(Result::unwrap).collect();
    assert_eq!(paged.len() as u64, f.base + 1);
    for (a, b) in paged.iter().zip(&rows) {
        assert_eq!((&a.record, &a.hash), (&b.record, &b.hash));
        assert_eq!(a.record.hash(), a.hash, "every entry still hashes to its hash");
        assert_eq!(a.record.person.is_some(), a.record.seq == record.seq);
    }
    assert_eq!((&paged[paged.len() - 1].record, &paged[paged.len() - 1].hash), (&record, &hash));
    store.close().await;
    let db = gw.db().await;
    let stored: Option<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT person FROM audit_entries WHERE tenant_id = $1 AND seq = {}",
        record.seq
    )))
    .bind(&f.tenant)
    .fetch_one(&db)
    .await
    .unwrap();
    assert_eq!(
        stored.as_deref(),
        Some(concat!(
            r#"{"email":"zoë@example.com","issuer":"https://login.example.com","#,
            r#""name":"Zoë \"Zed\" Müller,\tOps","provider":"okta","subject":"00u1x9k2"}"#
        ))
    );

    let gw = gw.replica(backend, |_| {}).await;
    let log = gw.get("/v1/admin/audit?limit=500", &f.admin).await.expect(200);
    let entry = log["items"].as_array().unwrap().last().unwrap();
    assert_eq!(entry["entry_id"], "aud_person");
    assert_eq!(
        entry["person"],
        json!({"issuer": "https://login.example.com", "subject": "00u1x9k2", "provider": "okta",
               "email": "zoë@example.com", "name": "Zoë \"Zed\" Müller,\tOps"})
    );
    assert_eq!(entry["hash"], hash);
    assert!(log["items"][0].get("person").is_none(), "absent when unset: {log}");
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
    assert_eq!(own["verified"], b.base + 2);
    gw.get(&format!("/v1/admin/audit/verify?tenant={}", a.tenant), &b.admin)
        .await
        .expect_error(404, "not_found");
    gw.get("/v1/admin/audit/verify", &b.live).await.expect_error(403, "forbidden");
}

fn kinds(page: &Value) -> Vec<String> {
    page["items"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap().to_string()).collect()
}

async fn admin_actions_are_entries_naming_their_principal(backend: Backend) {
    let gw = TestGateway::start(backend).await;
    let f = gw.tenant_fixture().await;
    let log = gw.get(&format!("/v1/admin/audit?tenant={}", f.tenant), ADMIN_KEY).await.expect(200);
    assert_eq!(
        kinds(&log),
        [
            "tenant_created",
            "api_key_created",
            "api_key_created",
            "api_key_created",
            "api_key_created",
            "agent_created"
        ]
    );
    assert_eq!(log["items"][0]["principal"], "superadmin");
    assert_eq!(log["items"][0]["seq"], 1);
    assert_eq!(log["items"][5]["agent_id"], "agent-1");
    assert!(log["items"][5]["principal"].as_str().unwrap().starts_with("key:key_"));
    assert!(log["items"].as_array().unwrap().iter().all(|e| e["payload_digest"].is_string()));

    // Every change is an entry; a change that changes nothing is none.
    let minted = gw.mint(&f.admin, json!({"subject": "agent-1", "ttl_seconds": 60})).await;
    gw.patch("/v1/agents/agent-1", &f.admin, &json!({"status": "suspended"})).await.expect(200);
    gw.post(
        "/v1/admin/upstreams",
        &f.admin,
        &json!({"name": "crm", "url": "http://127.0.0.1:9/mcp",
        "credential": {"header": "Authorization", "value": "Bearer never-logged"}}),
    )
    .await
    .expect(201);
    gw.delete("/v1/admin/upstreams/crm", &f.admin).await.expect(204);
    gw.post(&format!("/v1/admin/tenants/{}/webhook-secret", f.tenant), &f.admin, &json!({}))
        .await
        .expect(200);
    let key = gw
        .post(
            "/v1/admin/api-keys",
            &f.admin,
            &json!({"tenant": f.tenant, "environment": "live",
        "role": "agent", "name": "temp"}),
        )
        .await
        .expect(201);
    let key_id = key["api_key"]["id"].as_str().unwrap();
    gw.delete(&format!("/v1/admin/api-keys/{key_id}"), &f.admin).await.expect(204);
    gw.delete(&format!("/v1/admin/api-keys/{key_id}"), &f.admin).await.expect(204);
    let tenant = gw
        .patch(
            &format!("/v1/admin/tenants/{}", f.tenant),
            &f.admin,
            &json!({"store_failure": "open_in_shadow"}),
        )
        .await;
    assert_eq!(tenant.expect(200)["store_failure"], "open_in_shadow");
    gw.patch(
        &format!("/v1/admin/tenants/{}", f.tenant),
        &f.admin,
        &json!({"store_failure": "open_in_shadow"}),
    )
    .await
    .expect(200);

    let all = gw.get("/v1/admin/audit?limit=500", &f.admin).await.expect(200);
    let later: Vec<String> = kinds(&all).into_iter().skip(6).collect();
    assert_eq!(
        later,
        [
            "token_minted",
            "agent_updated",
            "upstream_created",
            "upstream_deleted",
            "webhook_secret_rotated",
            "api_key_created",
            "api_key_revoked",
            "tenant_updated"
        ]
    );
    let minted_entry = &all["items"][6];
    assert_eq!(minted_entry["jti"], minted["jti"]);
    assert_eq!(minted_entry["agent_id"], "agent-1");
    assert!(
        all["items"].as_array().unwrap()[6..]
            .iter()
            .all(|e| e["principal"].as_str().unwrap().starts_with("key:"))
    );
    assert_eq!(gw.verify(&f.tenant).await["ok"], true);

    // Filters and pages.
    let by_kind = gw.get("/v1/admin/audit?kind=api_key_created", &f.admin).await.expect(200);
    assert_eq!(by_kind["items"].as_array().unwrap().len(), 5);
    let by_jti = gw
        .get(&format!("/v1/admin/audit?jti={}", minted["jti"].as_str().unwrap()), &f.admin)
        .await
        .expect(200);
    assert_eq!(kinds(&by_jti), ["token_minted"]);
    let by_agent = gw.get("/v1/admin/audit?agent_id=agent-1&limit=1", &f.admin).await.expect(200);
    assert_eq!(kinds(&by_agent), ["agent_created"]);
    let next = gw
        .get(
            &format!(
                "/v1/admin/audit?agent_id=agent-1&limit=1&cursor={}",
                by_agent["next_cursor"].as_str().unwrap()
            ),
            &f.admin,
        )
        .await
        .expect(200);
    assert_eq!(kinds(&next), ["token_minted"]);
    let future = gw.get("/v1/admin/audit?from=2999-01-01T00:00:00Z", &f.admin).await.expect(200);
    assert_eq!(future["items"], json!([]));
    let e = gw.get("/v1/admin/audit?kind=nonsense", &f.admin).await;
    assert_eq!(e.expect_error(400, "invalid_parameter")["parameter"], "kind");
    gw.get("/v1/admin/audit", &f.live).await.expect_error(403, "forbidden");
    let other = gw.tenant_fixture().await;
    gw.get(&format!("/v1/admin/audit?tenant={}", f.tenant), &other.admin)
        .await
        .expect_error(404, "not_found");
}

/// Verification reads one consistent snapshot: entries committed while it
/// walks are never taken for a forgery.
async fn verify_never_cries_tamper_while_the_log_grows(backend: Backend) {
    let gw = TestGateway::start(backend).await;
    let f = chain(&gw, 3).await;
    let load = async {
        for i in 0..200 {
            gw.declare(&f.live, if i % 2 == 0 { approve_intent() } else { block_intent() }).await.expect(200);
        }
    };
    let check = async {
        for _ in 0..60 {
            let verified = gw.verify(&f.tenant).await;
            assert_eq!(verified["ok"], true, "a growing log is not a tampered one: {verified}");
        }
    };
    tokio::join!(load, check);
    assert_eq!(gw.verify(&f.tenant).await["verified"], f.base + 203);
}

/// Two replicas checkpointing one busy log side by side: a checkpoint the
/// other signed meanwhile is never taken for a truncation.
async fn replicas_checkpointing_side_by_side_refuse_nothing(backend: Backend) {
    let fast = |c: &mut lictor_server::Config| {
        c.checkpoints.every = 2;
        c.checkpoints.interval = std::time::Duration::from_millis(50);
    };
    let gw = TestGateway::start_with(backend, fast).await;
    let f = gw.tenant_fixture().await;
    // Under load, not under test: limits lifted before the replica starts,
    // so it reads them from the store rather than racing their change event.
    gw.unthrottle(&f.tenant).await;
    let other = gw.replica(backend, fast).await;
    let load = |gateway: &'static str| {
        let gw = if gateway == "first" { &gw } else { &other };
        let live = f.live.clone();
        async move {
            for _ in 0..100 {
                gw.declare(&live, approve_intent()).await.expect(200);
            }
        }
    };
    tokio::join!(load("first"), load("other"));
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    for replica in [&gw, &other] {
        let ready = replica.call(reqwest::Method::GET, "/readyz", None, None).await.expect(200);
        assert_eq!(ready["audit_logs_refused"], 0, "{ready}");
        let verified = replica.verify(&f.tenant).await;
        assert_eq!(verified["ok"], true, "{verified}");
    }
}

crate::on_both_backends!(
    verify_never_cries_tamper_while_the_log_grows,
    replicas_checkpointing_side_by_side_refuse_nothing,
    admin_actions_are_entries_naming_their_principal,
    verify_detects_an_edited_entry,
    verify_detects_an_edited_hash,
    verify_detects_a_deleted_entry,
    verify_detects_reordered_entries,
    verify_detects_an_inserted_entry,
    verify_detects_a_truncated_tail,
    verify_reports_an_undecodable_entry,
    chains_are_per_tenant,
    entries_naming_a_person_read_back_as_written,
);
