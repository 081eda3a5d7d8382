//! The audit log as a signed Merkle tree: checkpoints, proofs, verification
//! against the checkpoint, payload erasure and offline-verifiable exports.

use std::time::Duration;

use lictor_server::audit::checkpoint::{Checkpoint, NoteVerifier};
use lictor_server::audit::export::{parse_keys, verify_export};
use lictor_server::audit::merkle::{self, Hash};
use reqwest::Method;
use serde_json::{Value, json};

use crate::audit::{exec, failure, truncate};
use crate::support::{
    Backend, Fixture, TestGateway, approve_intent, block_intent, escalate_intent, eventually, modify_intent,
};

/// A gateway that checkpoints every 4 entries or 150 ms.
async fn gateway(backend: Backend) -> TestGateway {
    TestGateway::start_with(backend, fast_checkpoints).await
}

fn fast_checkpoints(c: &mut lictor_server::Config) {
    c.checkpoints.every = 4;
    c.checkpoints.interval = Duration::from_millis(150);
    c.checkpoints.origin = "lictor.test".into();
}

async fn decide(gw: &TestGateway, f: &Fixture, n: usize) {
    for i in 0..n {
        let intent = [approve_intent(), block_intent(), escalate_intent(), modify_intent()][i % 4].clone();
        gw.declare(&f.live, intent).await.expect(200);
    }
}

fn hash(hex_text: &Value) -> Hash {
    hex::decode(hex_text.as_str().unwrap()).unwrap().try_into().unwrap()
}

async fn entries(gw: &TestGateway, f: &Fixture) -> Vec<Value> {
    let page = gw.get("/v1/admin/audit?limit=500", &f.admin).await.expect(200);
    page["items"].as_array().unwrap().clone()
}

async fn verifier(gw: &TestGateway) -> NoteVerifier {
    let keys = gw.call(Method::GET, "/.well-known/lictor/keys", None, None).await.expect(200);
    assert_eq!(keys["keys"][0]["purpose"], "audit-checkpoint");
    assert_eq!(keys["keys"][0]["name"], "lictor.test");
    NoteVerifier::parse(keys["keys"][0]["vkey"].as_str().unwrap()).unwrap()
}

/// Waits until the latest checkpoint covers the whole log.
async fn checkpoint_at_head(gw: &TestGateway, f: &Fixture) -> Value {
    eventually(Duration::from_secs(10), async || {
        let head = gw.verify(&f.tenant).await["head"]["seq"].as_u64()?;
        let latest = gw.get("/v1/admin/audit/checkpoints/latest", &f.admin).await;
        (latest.status.as_u16() == 200 && latest.body["tree_size"] == head).then_some(latest.body)
    })
    .await
    .expect("a checkpoint at the head")
}

async fn checkpoints_sign_the_tree_and_proofs_check_against_them(backend: Backend) {
    let gw = gateway(backend).await;
    let f = gw.tenant_fixture().await;
    // Two checkpoints at least, whatever the machine's speed: one at the
    // head after the first decisions, one after the rest.
    decide(&gw, &f, 5).await;
    checkpoint_at_head(&gw, &f).await;
    decide(&gw, &f, 4).await;
    let latest = checkpoint_at_head(&gw, &f).await;
    let size = latest["tree_size"].as_u64().unwrap();

    // Anyone with the public key checks the note and recomputes the root.
    let checkpoint = Checkpoint::open(latest["note"].as_str().unwrap(), &verifier(&gw).await).unwrap();
    assert_eq!(checkpoint.origin, format!("lictor.test/tenants/{}", f.tenant));
    assert_eq!(checkpoint.tree_size, size);
    assert_eq!(hex::encode(checkpoint.root_hash), latest["root_hash"]);
    let leaves: Vec<Hash> = entries(&gw, &f).await.iter().map(|e| hash(&e["hash"])).collect();
    assert_eq!(leaves.len() as u64, size);
    assert_eq!(merkle::root_from_leaves(&leaves), checkpoint.root_hash);

    // Inclusion of every entry in the signed tree.
    for seq in 1..=size {
        let proof = gw.get(&format!("/v1/admin/audit/proof/inclusion?seq={seq}"), &f.admin).await.expect(200);
        assert_eq!(proof["tree_size"], size);
        assert_eq!(proof["root_hash"], latest["root_hash"]);
        assert_eq!(proof["checkpoint"]["tree_size"], size);
        let path: Vec<Hash> = proof["proof"].as_array().unwrap().iter().map(hash).collect();
        let leaf = merkle::leaf_hash(&hash(&proof["entry_hash"]));
        assert_eq!(hex::encode(leaf), proof["leaf_hash"]);
        merkle::verify_inclusion(&leaf, seq - 1, size, &path, &checkpoint.root_hash).unwrap();
    }
    // Consistency between two signed checkpoints.
    let list = gw.get("/v1/admin/audit/checkpoints?limit=500", &f.admin).await.expect(200);
    let items = list["items"].as_array().unwrap();
    assert!(items.len() >= 2, "{list}");
    assert_eq!(items[0]["tree_size"], size, "largest first");
    let older = &items[items.len() - 1];
    let from = older["tree_size"].as_u64().unwrap();
    let proof = gw
        .get(&format!("/v1/admin/audit/proof/consistency?from={from}&to={size}"), &f.admin)
        .await
        .expect(200);
    assert_eq!(proof["from_root"], older["root_hash"]);
    let path: Vec<Hash> = proof["proof"].as_array().unwrap().iter().map(hash).collect();
    merkle::verify_consistency(from, size, &hash(&older["root_hash"]), &checkpoint.root_hash, &path).unwrap();

    // Bad requests name their parameter.
    for (query, parameter) in [
        ("proof/inclusion?seq=0", "seq"),
        (&format!("proof/inclusion?seq=1&tree_size={}", size + 100), "tree_size"),
        (&format!("proof/consistency?from={}&to={size}", size + 1), "from"),
        ("proof/consistency?from=0", "from"),
    ] {
        let e = gw.get(&format!("/v1/admin/audit/{query}"), &f.admin).await;
        assert_eq!(e.expect_error(400, "invalid_parameter")["parameter"], parameter, "{query}");
    }
    gw.get("/v1/admin/audit/checkpoints", &f.live).await.expect_error(403, "forbidden");
    let other = gw.tenant_fixture().await;
    gw.get(&format!("/v1/admin/audit/checkpoints?tenant={}", f.tenant), &other.admin)
        .await
        .expect_error(404, "not_found");

    // Verification reports the checkpoint it checked.
    let verified = gw.verify(&f.tenant).await;
    assert_eq!(verified["ok"], true, "{verified}");
    assert_eq!(verified["checkpoint"]["tree_size"], size);
}

/// Rewrites entry `seq` and re-hashes everything after it, head included,
/// as an attacker with database access would: the chain links again, the
/// signed root does not.
pub(crate) async fn rewrite_history(gw: &TestGateway, f: &Fixture, seq: u64) {
    let store = gw.open_store().await;
    let tenant = lictor_api::ids::TenantId::parse(f.tenant.clone()).unwrap();
    let rows = store.audit_entries_after(&tenant, seq - 2, 1000).await.unwrap();
    let mut rows = rows.into_iter().map(Result::unwrap);
    let mut prev = rows.next().unwrap().hash;
    let db = gw.db().await;
    for row in rows {
        let mut record = row.record;
        if record.seq == seq {
            record.reasons.clear();
        }
        record.prev_hash = prev;
        let digest = record.hash();
        sqlx::query("UPDATE audit_entries SET reasons = '[]', prev_hash = $1, hash = $2 WHERE tenant_id = $3 AND seq = $4")
            .bind(&record.prev_hash)
            .bind(&digest)
            .bind(&f.tenant)
            .bind(i64::try_from(record.seq).unwrap())
            .execute(&db)
            .await
            .unwrap();
        if record.seq != seq {
            // Only the target's reasons change; restore the others'.
            sqlx::query("UPDATE audit_entries SET reasons = $1 WHERE tenant_id = $2 AND seq = $3")
                .bind(serde_json::to_string(&record.reasons).unwrap())
                .bind(&f.tenant)
                .bind(i64::try_from(record.seq).unwrap())
                .execute(&db)
                .await
                .unwrap();
        }
        prev = digest;
    }
    sqlx::query("UPDATE audit_heads SET hash = $1 WHERE tenant_id = $2")
        .bind(&prev)
        .bind(&f.tenant)
        .execute(&db)
        .await
        .unwrap();
    // The rewrite is consistent: only the signed root can tell.
    store.close().await;
}

async fn a_rewritten_history_does_not_match_its_checkpoint(backend: Backend) {
    let gw = gateway(backend).await;
    let f = gw.tenant_fixture().await;
    decide(&gw, &f, 6).await;
    let size = checkpoint_at_head(&gw, &f).await["tree_size"].as_u64().unwrap();
    rewrite_history(&gw, &f, f.base + 2).await;
    let verified = gw.verify(&f.tenant).await;
    // The first checkpoint that covers the rewritten entry: the latest, or
    // an earlier one if the gateway signed one in between.
    let (seq, reason) = failure(&verified);
    assert_eq!(reason, "checkpoint_mismatch", "{verified}");
    assert!((f.base + 2..=size).contains(&seq), "{verified}");
}

async fn a_truncated_log_falls_short_of_its_checkpoint(backend: Backend) {
    let gw = gateway(backend).await;
    let f = gw.tenant_fixture().await;
    decide(&gw, &f, 6).await;
    let size = checkpoint_at_head(&gw, &f).await["tree_size"].as_u64().unwrap();
    // Delete the last two entries and move the head back to cover it up.
    let keep = size - 2;
    let kept_hash = entries(&gw, &f).await[(keep - 1) as usize]["hash"].as_str().unwrap().to_string();
    truncate(&gw, &f.tenant, keep, &kept_hash).await;
    let verified = gw.verify(&f.tenant).await;
    assert_eq!(failure(&verified), (keep + 1, "truncated".into()));
    assert_eq!(verified["verified"], keep, "what remains verifies");
}

/// Swaps the signed root of `checkpoint` for another one: its signature no
/// longer holds.
async fn forge_root(gw: &TestGateway, f: &Fixture, checkpoint: &Value) {
    let note = checkpoint["note"].as_str().unwrap();
    let size = checkpoint["tree_size"].as_u64().unwrap();
    let root_line = note.split('\n').nth(2).unwrap();
    let forged = note.replacen(root_line, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", 1);
    exec(
        gw,
        &format!(
            "UPDATE audit_checkpoints SET note = '{forged}' WHERE tenant_id = $1 AND tree_size = {size}"
        ),
        &f.tenant,
    )
    .await;
}

async fn a_forged_checkpoint_is_refused(backend: Backend) {
    let gw = gateway(backend).await;
    let f = gw.tenant_fixture().await;
    decide(&gw, &f, 3).await;
    let latest = checkpoint_at_head(&gw, &f).await;
    let size = latest["tree_size"].as_u64().unwrap();
    forge_root(&gw, &f, &latest).await;
    let verified = gw.verify(&f.tenant).await;
    assert_eq!(failure(&verified), (size, "bad_checkpoint".into()));
}

async fn ranges_verify_against_the_signed_tree(backend: Backend) {
    let gw = gateway(backend).await;
    let f = gw.tenant_fixture().await;
    decide(&gw, &f, 10).await;
    let size = checkpoint_at_head(&gw, &f).await["tree_size"].as_u64().unwrap();
    let (from, to) = (f.base + 2, f.base + 7);
    let range =
        gw.get(&format!("/v1/admin/audit/verify?from_seq={from}&to_seq={to}"), &f.admin).await.expect(200);
    assert_eq!(range["ok"], true, "{range}");
    assert_eq!(range["verified"], to - from + 1);
    assert_eq!(range["range"], json!({"from_seq": from, "to_seq": to}));
    // A damaged tree node: the range's ends no longer prove into the root.
    exec(
        &gw,
        "UPDATE audit_tree SET hash = '00' || substr(hash, 3) WHERE tenant_id = $1 AND level = 0",
        &f.tenant,
    )
    .await;
    let range =
        gw.get(&format!("/v1/admin/audit/verify?from_seq={from}&to_seq={to}"), &f.admin).await.expect(200);
    assert_eq!(failure(&range), (from, "not_in_checkpoint".into()));
    let e = gw.get(&format!("/v1/admin/audit/verify?from_seq={}", size + 50), &f.admin).await;
    assert_eq!(e.expect_error(400, "invalid_parameter")["parameter"], "from_seq");
    let e = gw.get(&format!("/v1/admin/audit/verify?from_seq={to}&to_seq={from}"), &f.admin).await;
    assert_eq!(e.expect_error(400, "invalid_parameter")["parameter"], "to_seq");
}

/// Logs written before the tree existed are hashed into it when the
/// gateway starts.
async fn an_old_log_gets_its_tree(backend: Backend) {
    let mut gw = gateway(backend).await;
    let f = gw.tenant_fixture().await;
    decide(&gw, &f, 5).await;
    exec(&gw, "DELETE FROM audit_checkpoints WHERE tenant_id = $1", &f.tenant).await;
    exec(&gw, "DELETE FROM audit_tree WHERE tenant_id = $1", &f.tenant).await;
    exec(&gw, "UPDATE audit_heads SET tree_size = 0, frontier = '[]' WHERE tenant_id = $1", &f.tenant).await;
    gw.stop().await;
    let gw = gw.replica(backend, fast_checkpoints).await;
    let latest = checkpoint_at_head(&gw, &f).await;
    let leaves: Vec<Hash> = entries(&gw, &f).await.iter().map(|e| hash(&e["hash"])).collect();
    assert_eq!(hex::encode(merkle::root_from_leaves(&leaves)), latest["root_hash"]);
    let proof = gw.get("/v1/admin/audit/proof/inclusion?seq=2", &f.admin).await.expect(200);
    assert_eq!(proof["root_hash"], latest["root_hash"]);
    assert_eq!(gw.verify(&f.tenant).await["ok"], true);
}

async fn payloads_are_erased_and_the_chain_still_verifies(backend: Backend) {
    let gw = gateway(backend).await;
    let f = gw.tenant_fixture().await;
    let d = gw.declare(&f.live, modify_intent()).await.expect(200);
    let trail = gw.get(&format!("/v1/intents/{}/audit", d["intent_id"].as_str().unwrap()), &f.admin).await;
    let digest = trail.expect(200)["items"][0]["payload_digest"].as_str().unwrap().to_string();
    let payload = gw.get(&format!("/v1/admin/audit/payloads/{digest}"), &f.admin).await.expect(200);
    assert!(payload["body"]["content"].as_str().unwrap().contains("4111"), "{payload}");
    assert!(payload["erased_at"].is_null());

    let path = format!("/v1/admin/audit/payloads/{digest}?reason=retention%20policy");
    gw.call(Method::DELETE, &path, Some(&f.live), None).await.expect_error(403, "forbidden");
    gw.call(Method::DELETE, &path, Some(&f.admin), None).await.expect(204);
    let erased = gw.get(&format!("/v1/admin/audit/payloads/{digest}"), &f.admin).await.expect(200);
    assert!(erased["body"].is_null());
    assert!(erased["erased_by"].as_str().unwrap().starts_with("key:"));
    gw.call(Method::DELETE, &path, Some(&f.admin), None).await.expect_error(409, "conflict");
    gw.call(Method::DELETE, &format!("/v1/admin/audit/payloads/{}", "a".repeat(64)), Some(&f.admin), None)
        .await
        .expect_error(404, "not_found");
    let e = gw.call(Method::DELETE, "/v1/admin/audit/payloads/xyz", Some(&f.admin), None).await;
    assert_eq!(e.expect_error(400, "invalid_parameter")["parameter"], "digest");
    let log = gw.get("/v1/admin/audit?kind=payload_erased", &f.admin).await.expect(200);
    assert_eq!(log["items"].as_array().unwrap().len(), 1);
    assert_eq!(gw.verify(&f.tenant).await["ok"], true, "the chain keeps the digest, not the body");
}

async fn export(gw: &TestGateway, f: &Fixture, format: &str) -> (String, String) {
    let response = gw
        .request(Method::GET, &format!("/v1/admin/audit/export?format={format}"))
        .bearer_auth(&f.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let content_type = response.headers()["content-type"].to_str().unwrap().to_string();
    (content_type, response.text().await.unwrap())
}

async fn exports_verify_offline_with_the_public_key_alone(backend: Backend) {
    let gw = gateway(backend).await;
    let f = gw.tenant_fixture().await;
    decide(&gw, &f, 7).await;
    // A checkpoint before the head, so that the export carries several.
    checkpoint_at_head(&gw, &f).await;
    decide(&gw, &f, 3).await;
    let keys_document = gw.call(Method::GET, "/.well-known/lictor/keys", None, None).await.expect(200);
    let keys = parse_keys(&keys_document.to_string()).unwrap();
    let head = gw.verify(&f.tenant).await["head"]["seq"].as_u64().unwrap();
    for format in ["ndjson", "csv"] {
        let (content_type, text) = export(&gw, &f, format).await;
        assert!(content_type.starts_with(if format == "csv" { "text/csv" } else { "application/x-ndjson" }));
        let report =
            verify_export(text.as_bytes(), &keys, |_| {}).unwrap_or_else(|e| panic!("{format}: {e:?}"));
        assert_eq!(report.entries, head, "{format}");
        // Every checkpoint signed up to the head is in the file, each
        // checked against the entries and proven to extend the one before.
        let signed = gw.get("/v1/admin/audit/checkpoints?limit=100", &f.admin).await.expect(200);
        let signed =
            signed["items"].as_array().unwrap().iter().filter(|c| c["tree_size"].as_u64().unwrap() <= head);
        assert_eq!(report.checkpoints, signed.count() as u64, "{format}");
        assert!(report.checkpoints >= 2, "{format}: one before the head, one at it");
        // One changed character anywhere in an entry breaks it.
        let tampered = text.replacen("\"verdict\":\"block\"", "\"verdict\":\"approve\"", 1).replacen(
            ",block,",
            ",approve,",
            1,
        );
        assert_ne!(tampered, text);
        assert!(verify_export(tampered.as_bytes(), &keys, |_| {}).is_err(), "{format}");
        // Without its last lines (the checkpoint) it is incomplete.
        let cut = &text[..text.rfind("\n\"").or_else(|| text[..text.len() - 1].rfind('\n')).unwrap()];
        assert!(verify_export(cut.as_bytes(), &keys, |_| {}).is_err(), "{format}");
    }
    let e = gw.get("/v1/admin/audit/export?format=xml", &f.admin).await;
    assert_eq!(e.expect_error(400, "invalid_parameter")["parameter"], "format");
    gw.get("/v1/admin/audit/export", &f.live).await.expect_error(403, "forbidden");
    // The export is an admin read, and the entries it covers stay covered.
    let checkpoints = gw.get("/v1/admin/audit/checkpoints", &f.admin).await.expect(200);
    assert!(checkpoints["items"].as_array().unwrap().iter().any(|c| c["tree_size"] == head));
    assert_eq!(gw.verify(&f.tenant).await["ok"], true);
}

/// `lictor keys rotate --key checkpoint` on a running deployment: new
/// checkpoints are signed with the new key, both keys are published, and
/// files signed before the rotation still verify.
async fn a_rotated_checkpoint_key_signs_from_then_on_and_old_files_still_verify(backend: Backend) {
    let gw = gateway(backend).await;
    let f = gw.tenant_fixture().await;
    decide(&gw, &f, 5).await;
    let before = checkpoint_at_head(&gw, &f).await;
    let (_, old_file) = export(&gw, &f, "ndjson").await;
    let old_keys = gw.call(Method::GET, "/.well-known/lictor/keys", None, None).await.expect(200);
    assert_eq!(old_keys["keys"].as_array().unwrap().len(), 1);

    let rotated = gw.rotate_key(lictor_server::signing::Purpose::Checkpoint).await;
    assert_eq!(rotated.generation, 2);
    let keys = eventually(Duration::from_secs(10), async || {
        let keys = gw.call(Method::GET, "/.well-known/lictor/keys", None, None).await.expect(200);
        (keys["keys"].as_array()?.len() == 2).then_some(keys)
    })
    .await
    .expect("the new key is published");
    assert_eq!(keys["keys"][1]["key_id"], old_keys["keys"][0]["key_id"], "newest first");
    let new_key_id = keys["keys"][0]["key_id"].as_str().unwrap();
    assert_ne!(new_key_id, before["key_id"].as_str().unwrap());

    decide(&gw, &f, 5).await;
    let after = checkpoint_at_head(&gw, &f).await;
    assert_eq!(after["key_id"], new_key_id, "{after}");
    assert_eq!(gw.verify(&f.tenant).await["ok"], true);

    let all = parse_keys(&keys.to_string()).unwrap();
    let only_old = parse_keys(&old_keys.to_string()).unwrap();
    verify_export(old_file.as_bytes(), &all, |_| {}).unwrap();
    verify_export(old_file.as_bytes(), &only_old, |_| {}).unwrap();
    let (_, new_file) = export(&gw, &f, "ndjson").await;
    verify_export(new_file.as_bytes(), &all, |_| {}).unwrap();
    assert!(verify_export(new_file.as_bytes(), &only_old, |_| {}).is_err(), "signed by the new key only");
}

/// Logs of several pages: verification and exports read a few pages ahead
/// by `seq` range. Every entry is still walked in order, a range crosses
/// page boundaries, an export holds every entry, and a gap longer than a
/// page is reported where it starts.
async fn logs_of_many_pages_verify_and_export_whole(backend: Backend) {
    use futures::StreamExt;
    let gw = gateway(backend).await;
    let mut f = gw.tenant_fixture().await;
    gw.unthrottle(&f.tenant).await;
    // The change of limits is audited too.
    f.base += 1;
    let n = 2_600;
    futures::stream::iter(0..n)
        .map(|i| gw.declare(&f.live, [approve_intent(), block_intent(), escalate_intent()][i % 3].clone()))
        .buffer_unordered(8)
        .for_each(|answer| async move {
            answer.expect(200);
        })
        .await;
    let verified = gw.verify(&f.tenant).await;
    assert_eq!(verified["ok"], true, "{verified}");
    let head = verified["head"]["seq"].as_u64().unwrap();
    assert!(head >= f.base + n as u64, "{verified}");
    assert_eq!(verified["verified"], head);

    let (from, to) = (990, 2_010);
    let range =
        gw.get(&format!("/v1/admin/audit/verify?from_seq={from}&to_seq={to}"), &f.admin).await.expect(200);
    assert_eq!(range["ok"], true, "{range}");
    assert_eq!(range["verified"], to - from + 1);

    let keys_document = gw.call(Method::GET, "/.well-known/lictor/keys", None, None).await.expect(200);
    let keys = parse_keys(&keys_document.to_string()).unwrap();
    let (_, text) = export(&gw, &f, "ndjson").await;
    let report = verify_export(text.as_bytes(), &keys, |_| {}).unwrap_or_else(|e| panic!("{e:?}"));
    assert!(report.entries >= head, "{} < {head}", report.entries);

    exec(&gw, "DELETE FROM audit_entries WHERE tenant_id = $1 AND seq > 1000 AND seq <= 2200", &f.tenant)
        .await;
    let verified = gw.verify(&f.tenant).await;
    assert_eq!(failure(&verified), (1001, "sequence_gap".into()));
    assert_eq!(verified["first_failure"]["found"], "2201");
    assert_eq!(verified["verified"], 1000);
}

/// The checkpoints of `f`'s tenant larger than `size`.
async fn checkpoints_beyond(gw: &TestGateway, f: &Fixture, size: u64) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM audit_checkpoints WHERE tenant_id = $1 AND tree_size > $2")
        .bind(&f.tenant)
        .bind(i64::try_from(size).unwrap())
        .fetch_one(&gw.db().await)
        .await
        .unwrap()
}

/// Asks for an export: a log that does not verify gets none (409), and
/// nothing is signed for it.
async fn export_is_refused(gw: &TestGateway, f: &Fixture) -> Value {
    let response =
        gw.request(Method::GET, "/v1/admin/audit/export").bearer_auth(&f.admin).send().await.unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 409, "{body}");
    assert!(body["message"].as_str().is_some_and(|m| m.contains("does not verify")), "{body}");
    body
}

/// The whole rewrite: an old entry edited, every later hash and link
/// recomputed, the tree dropped so that the gateway rebuilds it from the
/// forged entries on its next start. The earlier checkpoints still hold
/// the true roots: the gateway signs nothing over the forgery, says why,
/// and every verifier sees it.
async fn a_consistent_rewrite_is_never_signed(backend: Backend) {
    let mut gw = gateway(backend).await;
    let f = gw.tenant_fixture().await;
    decide(&gw, &f, 6).await;
    let size = checkpoint_at_head(&gw, &f).await["tree_size"].as_u64().unwrap();
    gw.stop().await;
    rewrite_history(&gw, &f, f.base + 2).await;
    exec(&gw, "DELETE FROM audit_tree WHERE tenant_id = $1", &f.tenant).await;
    exec(&gw, "UPDATE audit_heads SET tree_size = 0, frontier = '[]' WHERE tenant_id = $1", &f.tenant).await;
    let gw = gw.replica(backend, fast_checkpoints).await;
    decide(&gw, &f, 5).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(checkpoints_beyond(&gw, &f, size).await, 0, "nothing is signed over the forged log");
    let ready = gw.call(Method::GET, "/readyz", None, None).await.expect(200);
    assert_eq!(ready["audit_logs_refused"], 1, "readiness reports it: {ready}");
    let verified = gw.verify(&f.tenant).await;
    assert_eq!(failure(&verified).1, "checkpoint_mismatch", "{verified}");
    export_is_refused(&gw, &f).await;
    assert_eq!(checkpoints_beyond(&gw, &f, size).await, 0);
}

/// Entries deleted after a checkpoint, the head moved back: the export
/// does not sign a checkpoint over what remains.
async fn a_log_truncated_into_a_checkpoint_gets_no_new_one(backend: Backend) {
    let mut gw = gateway(backend).await;
    let f = gw.tenant_fixture().await;
    decide(&gw, &f, 6).await;
    let size = checkpoint_at_head(&gw, &f).await["tree_size"].as_u64().unwrap();
    gw.stop().await;
    let signed = checkpoints_beyond(&gw, &f, 0).await;
    let keep = size - 2;
    let kept_hash = {
        let store = gw.open_store().await;
        let tenant = lictor_api::ids::TenantId::parse(f.tenant.clone()).unwrap();
        let rows = store.audit_entries_after(&tenant, keep - 1, 1).await.unwrap();
        let hash = rows.into_iter().next().unwrap().unwrap().hash;
        store.close().await;
        hash
    };
    exec(&gw, &format!("DELETE FROM audit_entries WHERE tenant_id = $1 AND seq > {keep}"), &f.tenant).await;
    exec(&gw, "DELETE FROM audit_tree WHERE tenant_id = $1", &f.tenant).await;
    exec(
        &gw,
        &format!("UPDATE audit_heads SET seq = {keep}, hash = '{kept_hash}', tree_size = 0, frontier = '[]' WHERE tenant_id = $1"),
        &f.tenant,
    )
    .await;
    let gw = gw.replica(backend, fast_checkpoints).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let verified = gw.verify(&f.tenant).await;
    assert_eq!(failure(&verified), (keep + 1, "truncated".into()));
    export_is_refused(&gw, &f).await;
    assert_eq!(
        checkpoints_beyond(&gw, &f, 0).await,
        signed,
        "no checkpoint is signed over the truncated log"
    );
}

/// A later checkpoint signed over a rewrite (by a gateway of an earlier
/// version) does not hide it: every checkpoint is checked, not the latest.
async fn every_checkpoint_is_checked_not_only_the_latest(backend: Backend) {
    let gw = gateway(backend).await;
    let f = gw.tenant_fixture().await;
    decide(&gw, &f, 6).await;
    let first = checkpoint_at_head(&gw, &f).await;
    let size = first["tree_size"].as_u64().unwrap();
    decide(&gw, &f, 4).await;
    let latest = checkpoint_at_head(&gw, &f).await;
    assert!(latest["tree_size"].as_u64().unwrap() > size);
    // The earlier checkpoint no longer vouches for the entries it covers,
    // while the latest still does.
    forge_root(&gw, &f, &first).await;
    let verified = gw.verify(&f.tenant).await;
    assert_eq!(failure(&verified), (size, "bad_checkpoint".into()), "{verified}");
}

/// The stored tree serves every proof: a damaged node is found by the
/// verification (the entries are whole) and no export carries its proofs.
async fn a_damaged_tree_is_found_and_never_exported(backend: Backend) {
    let gw = gateway(backend).await;
    let f = gw.tenant_fixture().await;
    decide(&gw, &f, 6).await;
    let first = checkpoint_at_head(&gw, &f).await["tree_size"].as_u64().unwrap();
    decide(&gw, &f, 5).await;
    let second = checkpoint_at_head(&gw, &f).await["tree_size"].as_u64().unwrap();
    assert!(second > first);
    exec(&gw, &format!("UPDATE audit_tree SET hash = '{}' WHERE tenant_id = $1", "0".repeat(64)), &f.tenant)
        .await;
    let verified = gw.verify(&f.tenant).await;
    let (seq, reason) = failure(&verified);
    assert_eq!(reason, "tree_mismatch", "{verified}");
    assert!(seq <= second, "the first checkpoint whose proof fails: {verified}");
    // The verification's finding stops the checkpointer too.
    export_is_refused(&gw, &f).await;
    let ready = gw.call(Method::GET, "/readyz", None, None).await.expect(200);
    assert_eq!(ready["audit_logs_refused"], 1, "{ready}");
}

crate::on_both_backends!(
    a_damaged_tree_is_found_and_never_exported,
    logs_of_many_pages_verify_and_export_whole,
    checkpoints_sign_the_tree_and_proofs_check_against_them,
    a_rewritten_history_does_not_match_its_checkpoint,
    a_truncated_log_falls_short_of_its_checkpoint,
    a_forged_checkpoint_is_refused,
    ranges_verify_against_the_signed_tree,
    an_old_log_gets_its_tree,
    payloads_are_erased_and_the_chain_still_verifies,
    exports_verify_offline_with_the_public_key_alone,
    a_rotated_checkpoint_key_signs_from_then_on_and_old_files_still_verify,
    a_consistent_rewrite_is_never_signed,
    a_log_truncated_into_a_checkpoint_gets_no_new_one,
    every_checkpoint_is_checked_not_only_the_latest,
);
