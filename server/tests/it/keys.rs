//! The signing keys live outside the store: what the key file holds, what
//! the store holds, and what someone who can write the database can no
//! longer do with it.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use lictor_server::signing::Purpose;
use lictor_server::token::{self, Jti, TokenHeader};
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{Backend, TestGateway, approve_intent, eventually};

fn key_file(gw: &TestGateway) -> Value {
    let text = std::fs::read_to_string(&gw.keys_file).unwrap();
    serde_json::from_str(&text).unwrap()
}

async fn count(gw: &TestGateway, sql: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string())).fetch_one(&gw.db().await).await.unwrap()
}

/// The first start writes the key file, readable by its owner only; the
/// store holds ids and the checkpoint key's public half, no secret.
async fn the_key_file_holds_the_secrets_and_the_store_only_their_ids(backend: Backend) {
    let gw = TestGateway::start(backend).await;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&gw.keys_file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the key file is private to its owner");
    }
    let file = key_file(&gw);
    assert_eq!(file["format"], "lictor-keys/1");
    let token_kid = file["token_hmac"][0]["kid"].as_str().unwrap().to_string();
    let checkpoint_kid = file["checkpoint_ed25519"][0]["kid"].as_str().unwrap().to_string();
    let db = gw.db().await;
    let rows: Vec<(String, String, Option<String>)> =
        sqlx::query_as("SELECT kid, purpose, public_key FROM key_ids ORDER BY purpose")
            .fetch_all(&db)
            .await
            .unwrap();
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!((rows[0].0.as_str(), rows[0].2.is_some()), (checkpoint_kid.as_str(), true));
    assert_eq!((rows[1].0.as_str(), rows[1].2.is_none()), (token_kid.as_str(), true));
    assert_eq!(count(&gw, "SELECT COUNT(*) FROM signing_keys").await, 0, "no secret in the store");
    // The published key is the one in the file.
    let published = gw.call(Method::GET, "/.well-known/lictor/keys", None, None).await.expect(200);
    let seed: [u8; 32] = URL_SAFE_NO_PAD
        .decode(file["checkpoint_ed25519"][0]["secret"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let public = ed25519_dalek::SigningKey::from_bytes(&seed).verifying_key().to_bytes();
    assert_eq!(rows[0].2.as_deref(), Some(URL_SAFE_NO_PAD.encode(public).as_str()));
    assert!(published["keys"][0]["vkey"].as_str().is_some_and(|v| !v.is_empty()), "{published}");
}

/// A replica given other keys than the store was used with refuses to
/// start and names the missing key; the same keys inline (`LICTOR_KEYS`)
/// work.
async fn a_gateway_without_the_stores_keys_refuses_to_start(backend: Backend) {
    let mut gw = TestGateway::start(backend).await;
    let f = gw.tenant_fixture().await;
    let minted = gw.mint(&f.admin, json!({"subject": "agent-1", "ttl_seconds": 600})).await;
    gw.stop().await;
    let other = tempfile::tempdir().unwrap();
    let config = {
        let mut config = crate::support::test_config();
        config.data_dir = other.path().join("data");
        config.database_url = Some(gw.database_url.clone());
        config.keys_file = Some(other.path().join("keys.json"));
        config
    };
    let log = lictor_server::gateway::logger(&config).unwrap();
    let error = lictor_server::start(config, log).await.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(error.contains("does not hold") && error.contains("LICTOR_KEYS"), "{error}");
    assert!(!other.path().join("keys.json").exists(), "no keys are made up for a store that has some");

    let inline = std::fs::read_to_string(&gw.keys_file).unwrap();
    let replica = gw
        .replica(backend, move |c| {
            c.keys_file = None;
            c.keys = Some(inline);
        })
        .await;
    let d = replica.declare(minted["token"].as_str().unwrap(), approve_intent()).await.expect(200);
    assert_eq!(d["verdict"], "approve", "tokens minted before verify with the same keys");
}

/// Someone who can write the database cannot mint a token: a key id they
/// add to the store names no key the gateway holds.
async fn a_token_key_planted_in_the_store_mints_nothing(backend: Backend) {
    let gw = TestGateway::start(backend).await;
    let f = gw.tenant_fixture().await;
    let secret = [7u8; 32];
    let kid = "tok-attacker000000";
    let db = gw.db().await;
    sqlx::query(
        "INSERT INTO key_ids (kid, purpose, generation, public_key, created_at) VALUES ($1, 'token-hmac', 99, NULL, 0)",
    )
    .bind(kid)
    .execute(&db)
    .await
    .unwrap();
    let header = TokenHeader::root(
        kid,
        Jti::parse("forged-1").unwrap(),
        lictor_api::ids::TenantId::parse(f.tenant.clone()).unwrap(),
        lictor_api::ids::AgentId::parse("agent-1").unwrap(),
        chrono::Utc::now().timestamp(),
    );
    let forged = token::mint(&token::derive_root_key(&secret), &header, &[]).unwrap();
    let answer = gw.declare(&forged, approve_intent()).await;
    answer.expect_error(401, "unauthenticated");
}

/// Nor can they have checkpoints signed by a key of theirs: a checkpoint
/// key id added to the store is neither published nor used.
async fn a_checkpoint_key_planted_in_the_store_is_never_published(backend: Backend) {
    let gw = TestGateway::start_with(backend, |c| c.checkpoints.interval = Duration::from_millis(100)).await;
    let f = gw.tenant_fixture().await;
    let forged_public = ed25519_dalek::SigningKey::from_bytes(&[9u8; 32]).verifying_key().to_bytes();
    let db = gw.db().await;
    sqlx::query(
        "INSERT INTO key_ids (kid, purpose, generation, public_key, created_at)
         VALUES ('ckp-attacker000000', 'checkpoint-ed25519', 99, $1, 0)",
    )
    .bind(URL_SAFE_NO_PAD.encode(forged_public))
    .execute(&db)
    .await
    .unwrap();
    gw.declare(&f.live, approve_intent()).await.expect(200);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let keys = gw.call(Method::GET, "/.well-known/lictor/keys", None, None).await.expect(200);
    assert_eq!(keys["keys"].as_array().map(Vec::len), Some(1), "{keys}");
    let verified = gw.get(&format!("/v1/admin/audit/verify?tenant={}", f.tenant), &f.admin).await.expect(200);
    assert_eq!(verified["ok"], true, "{verified}");
}

/// A store of an earlier version kept the secrets: the first start moves
/// them into the key file and out of the store, and what they signed keeps
/// verifying.
async fn secrets_of_an_earlier_version_move_out_of_the_store(backend: Backend) {
    let mut gw = TestGateway::start(backend).await;
    let f = gw.tenant_fixture().await;
    let minted = gw.mint(&f.admin, json!({"subject": "agent-1", "ttl_seconds": 600})).await;
    gw.stop().await;
    // Put the store back as an earlier version left it.
    let file = key_file(&gw);
    let db = gw.db().await;
    for (purpose, list) in [("token-hmac", "token_hmac"), ("checkpoint-ed25519", "checkpoint_ed25519")] {
        let key = &file[list][0];
        let public: Option<String> = sqlx::query_scalar("SELECT public_key FROM key_ids WHERE kid = $1")
            .bind(key["kid"].as_str())
            .fetch_one(&db)
            .await
            .unwrap();
        sqlx::query(
            "INSERT INTO signing_keys (kid, purpose, generation, secret, public_key, created_at) VALUES ($1, $2, 1, $3, $4, 0)",
        )
        .bind(key["kid"].as_str())
        .bind(purpose)
        .bind(key["secret"].as_str())
        .bind(public)
        .execute(&db)
        .await
        .unwrap();
    }
    std::fs::remove_file(&gw.keys_file).unwrap();

    let again = gw.replica(backend, |_| {}).await;
    assert_eq!(key_file(&again)["token_hmac"][0]["kid"], file["token_hmac"][0]["kid"]);
    assert_eq!(key_file(&again)["checkpoint_ed25519"][0]["secret"], file["checkpoint_ed25519"][0]["secret"]);
    assert_eq!(count(&again, "SELECT COUNT(*) FROM signing_keys").await, 0, "the secrets left the store");
    let d = again.declare(minted["token"].as_str().unwrap(), approve_intent()).await.expect(200);
    assert_eq!(d["verdict"], "approve");
}

/// Once the keys live outside the store, a secret someone writes into the
/// old table is not adopted: the gateway refuses to start and says why,
/// and the key file stays as it was.
async fn a_secret_planted_in_the_old_table_is_refused(backend: Backend) {
    let mut gw = TestGateway::start(backend).await;
    gw.stop().await;
    let before = std::fs::read_to_string(&gw.keys_file).unwrap();
    let secret = [5u8; 32];
    let kid = {
        use sha2::{Digest, Sha256};
        format!("tok-{}", &hex::encode(Sha256::digest(Sha256::digest(secret)))[..16])
    };
    sqlx::query(
        "INSERT INTO signing_keys (kid, purpose, generation, secret, public_key, created_at)
         VALUES ($1, 'token-hmac', 9, $2, NULL, 0)",
    )
    .bind(&kid)
    .bind(URL_SAFE_NO_PAD.encode(secret))
    .execute(&gw.db().await)
    .await
    .unwrap();
    let mut config = crate::support::test_config();
    config.data_dir = gw.keys_file.parent().unwrap().join("data");
    config.database_url = Some(gw.database_url.clone());
    config.keys_file = Some(gw.keys_file.clone());
    let log = lictor_server::gateway::logger(&config).unwrap();
    let error = lictor_server::start(config, log).await.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(error.contains(&kid) && error.contains("will not use it"), "{error}");
    assert_eq!(std::fs::read_to_string(&gw.keys_file).unwrap(), before, "the key file is untouched");
}

/// A rotation reaches a running gateway through the shared key file.
async fn a_rotation_reaches_a_running_replica(backend: Backend) {
    let a = TestGateway::start(backend).await;
    let b = a.replica(backend, |_| {}).await;
    let f = a.tenant_fixture().await;
    let rotated = a.rotate_key(Purpose::Token).await;
    assert_eq!(rotated.generation, 2);
    assert_eq!(key_file(&a)["token_hmac"].as_array().map(Vec::len), Some(2));
    let minted = a.mint(&f.admin, json!({"subject": "agent-1", "ttl_seconds": 600})).await;
    assert_eq!(minted["kid"], rotated.kid.as_str());
    let d = b.declare(minted["token"].as_str().unwrap(), approve_intent()).await.expect(200);
    assert_eq!(d["verdict"], "approve", "the replica reads the new key from the file");
    let checkpoint = a.rotate_key(Purpose::Checkpoint).await;
    let published = eventually(Duration::from_secs(10), async || {
        let keys = b.call(Method::GET, "/.well-known/lictor/keys", None, None).await.expect(200);
        (keys["keys"].as_array()?.len() == 2).then_some(keys)
    })
    .await;
    assert!(published.is_some(), "the replica publishes {} too", checkpoint.kid);
}

crate::on_both_backends!(
    the_key_file_holds_the_secrets_and_the_store_only_their_ids,
    a_gateway_without_the_stores_keys_refuses_to_start,
    a_token_key_planted_in_the_store_mints_nothing,
    a_checkpoint_key_planted_in_the_store_is_never_published,
    secrets_of_an_earlier_version_move_out_of_the_store,
    a_rotation_reaches_a_running_replica,
    a_secret_planted_in_the_old_table_is_refused,
);
