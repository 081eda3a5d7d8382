//! Head seals: the tail of a log that no checkpoint covers yet cannot be
//! forged, extended or cut by someone who can write the database but does
//! not hold the key file (gateway stopped, rows edited, gateway started).

use std::time::Duration;

use lictor_api::ids::TenantId;
use reqwest::Method;
use serde_json::Value;

use crate::audit::{exec, failure, truncate};
use crate::audit_tree::rewrite_history;
use crate::support::{Backend, Fixture, TestGateway, approve_intent, block_intent, eventually};

/// Checkpoints only on demand (an export), so the whole log is the
/// unanchored tail a seal alone protects.
fn no_checkpoints(c: &mut lictor_server::Config) {
    c.checkpoints.every = 1_000_000;
    c.checkpoints.interval = Duration::from_secs(3600);
}

async fn gateway(backend: Backend) -> (TestGateway, Fixture) {
    let gw = TestGateway::start_with(backend, no_checkpoints).await;
    let f = gw.tenant_fixture().await;
    // The second to last is a block with reasons, for a rewrite to change.
    for intent in [approve_intent(), block_intent(), approve_intent()] {
        gw.declare(&f.live, intent).await.expect(200);
    }
    (gw, f)
}

fn tenant(f: &Fixture) -> TenantId {
    TenantId::parse(f.tenant.clone()).unwrap()
}

async fn checkpoints(gw: &TestGateway, f: &Fixture) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM audit_checkpoints WHERE tenant_id = $1")
        .bind(&f.tenant)
        .fetch_one(&gw.db().await)
        .await
        .unwrap()
}

/// The log does not verify, the export is refused, readiness counts it and
/// nothing is ever signed over it — not even after more decisions, which
/// the gateway still records.
async fn assert_never_signed(gw: &TestGateway, f: &Fixture, reason: &str) -> Value {
    let verified = gw.verify(&f.tenant).await;
    assert_eq!(failure(&verified).1, reason, "{verified}");
    let before = checkpoints(gw, f).await;
    let export =
        gw.request(Method::GET, "/v1/admin/audit/export").bearer_auth(&f.admin).send().await.unwrap();
    assert_eq!(export.status().as_u16(), 409);
    let ready = gw.call(Method::GET, "/readyz", None, None).await.expect(200);
    assert_eq!(ready["audit_logs_refused"], 1, "{ready}");
    // Decisions are still recorded, and the head stays unsealed.
    gw.declare(&f.live, block_intent()).await.expect(200);
    let again = gw.verify(&f.tenant).await;
    assert_eq!(failure(&again).1, "unsealed_head", "the forgery is never sealed over: {again}");
    let export =
        gw.request(Method::GET, "/v1/admin/audit/export").bearer_auth(&f.admin).send().await.unwrap();
    assert_eq!(export.status().as_u16(), 409);
    assert_eq!(checkpoints(gw, f).await, before, "no checkpoint is signed over the forged log");
    verified
}

/// A forged entry appended after the head, chained with the documented
/// formula, the head moved onto it.
async fn appended_entries_are_not_sealed(backend: Backend) {
    let (mut gw, f) = gateway(backend).await;
    gw.stop().await;
    let store = gw.open_store().await;
    let last = store.audit_entries_after(&tenant(&f), 0, 1000).await.unwrap().pop().unwrap().unwrap();
    let mut forged = last.record.clone();
    forged.entry_id = lictor_api::ids::AuditEntryId::parse("aud_forged").unwrap();
    forged.seq += 1;
    forged.prev_hash = last.hash.clone();
    let hash = forged.hash();
    let mut tx = store.begin().await.unwrap();
    tx.insert_audit_entry(&forged, &hash).await.unwrap();
    tx.commit().await.unwrap();
    store.close().await;
    exec(
        &gw,
        &format!("UPDATE audit_heads SET seq = {}, hash = '{hash}' WHERE tenant_id = $1", forged.seq),
        &f.tenant,
    )
    .await;
    let gw = gw.replica(backend, no_checkpoints).await;
    // Its seal no longer matches; or, once the tree caught up with the
    // forged head, the writer left the head unsealed.
    let verified = assert_never_signed(&gw, &f, "unsealed_head").await;
    let found = verified["first_failure"]["found"].as_str().unwrap();
    assert!(["a seal that does not match the head", "no seal"].contains(&found), "{verified}");
}

/// Entries deleted at the end and the head moved back onto what remains.
async fn a_truncated_tail_is_not_sealed(backend: Backend) {
    let (mut gw, f) = gateway(backend).await;
    gw.stop().await;
    let store = gw.open_store().await;
    let rows = store.audit_entries_after(&tenant(&f), 0, 1000).await.unwrap();
    let keep = &rows[rows.len() - 3].as_ref().unwrap();
    let (seq, hash) = (keep.record.seq, keep.hash.clone());
    store.close().await;
    truncate(&gw, &f.tenant, seq, &hash).await;
    let gw = gw.replica(backend, no_checkpoints).await;
    assert_never_signed(&gw, &f, "unsealed_head").await;
}

/// An entry edited and every later hash recomputed, head included.
async fn a_rewritten_tail_is_not_sealed(backend: Backend) {
    let (mut gw, f) = gateway(backend).await;
    gw.stop().await;
    let head = gw.open_store().await.audit_head(&tenant(&f)).await.unwrap().unwrap();
    rewrite_history(&gw, &f, head.seq - 1).await;
    let gw = gw.replica(backend, no_checkpoints).await;
    assert_never_signed(&gw, &f, "unsealed_head").await;
}

/// A seal copied from another tenant's head, or erased, vouches for
/// nothing.
async fn a_seal_from_elsewhere_or_none_does_not_count(backend: Backend) {
    let (mut gw, f) = gateway(backend).await;
    let other = gw.tenant_fixture().await;
    gw.stop().await;
    exec(
        &gw,
        &format!(
            "UPDATE audit_heads SET seal = (SELECT seal FROM audit_heads WHERE tenant_id = '{}') WHERE tenant_id = $1",
            other.tenant
        ),
        &f.tenant,
    )
    .await;
    exec(&gw, "UPDATE audit_heads SET seal = NULL WHERE tenant_id = $1", &other.tenant).await;
    let gw = gw.replica(backend, no_checkpoints).await;
    let verified = gw.verify(&f.tenant).await;
    assert_eq!(failure(&verified).1, "unsealed_head", "{verified}");
    let verified = gw.verify(&other.tenant).await;
    assert_eq!(failure(&verified).1, "unsealed_head", "{verified}");
    assert_eq!(verified["first_failure"]["found"], "no seal", "{verified}");
}

/// A store of an earlier version has no seals: the start that adds them
/// seals every head whose log verifies, and a head that is unsealed on any
/// later start stays refused.
async fn heads_of_an_earlier_version_are_sealed_once(backend: Backend) {
    let (mut gw, f) = gateway(backend).await;
    gw.stop().await;
    // The store as the previous version left it.
    let db = gw.db().await;
    for sql in ["ALTER TABLE audit_heads DROP COLUMN seal", "DELETE FROM _sqlx_migrations WHERE version = 6"]
    {
        sqlx::query(sql).execute(&db).await.unwrap();
    }
    db.close().await;
    let mut gw = gw.replica(backend, no_checkpoints).await;
    let verified = gw.verify(&f.tenant).await;
    assert_eq!(verified["ok"], true, "{verified}");
    gw.declare(&f.live, block_intent()).await.expect(200);
    assert_eq!(gw.verify(&f.tenant).await["ok"], true);
    gw.stop().await;
    // Erasing a seal later is not an upgrade.
    exec(&gw, "UPDATE audit_heads SET seal = NULL WHERE tenant_id = $1", &f.tenant).await;
    let gw = gw.replica(backend, no_checkpoints).await;
    assert_never_signed(&gw, &f, "unsealed_head").await;
}

/// A rotated checkpoint key seals from then on; heads sealed by the old
/// one still verify, on a replica that learns of the rotation late too.
async fn seals_survive_a_key_rotation(backend: Backend) {
    let (gw, f) = gateway(backend).await;
    let replica = gw.replica(backend, no_checkpoints).await;
    gw.rotate_key(lictor_server::signing::Purpose::Checkpoint).await;
    replica.declare(&f.live, approve_intent()).await.expect(200);
    gw.declare(&f.live, approve_intent()).await.expect(200);
    assert_eq!(replica.verify(&f.tenant).await["ok"], true);
    assert_eq!(gw.verify(&f.tenant).await["ok"], true);
    // Once the gateway has read the new key, it seals with it.
    let newest = gw.open_store().await.key_ids().await.unwrap();
    let newest =
        newest.iter().filter(|k| k.purpose == "checkpoint-ed25519").map(|k| k.kid.clone()).next_back();
    let newest = format!("{}.", newest.unwrap());
    let sealed = eventually(Duration::from_secs(10), async || {
        gw.declare(&f.live, approve_intent()).await.expect(200);
        let seal: String = sqlx::query_scalar("SELECT seal FROM audit_heads WHERE tenant_id = $1")
            .bind(&f.tenant)
            .fetch_one(&gw.db().await)
            .await
            .unwrap();
        seal.starts_with(&newest).then_some(())
    })
    .await;
    assert!(sealed.is_some(), "the new key seals");
    assert_eq!(replica.verify(&f.tenant).await["ok"], true);
}

crate::on_both_backends!(
    appended_entries_are_not_sealed,
    a_truncated_tail_is_not_sealed,
    a_rewritten_tail_is_not_sealed,
    a_seal_from_elsewhere_or_none_does_not_count,
    heads_of_an_earlier_version_are_sealed_once,
    seals_survive_a_key_rotation,
);
