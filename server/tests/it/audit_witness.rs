//! Witnessing: what only someone outside the database can see. A
//! `lictor audit monitor` run saves the latest checkpoint; a log restored
//! to an earlier state, or rewritten and re-signed by a gateway given other
//! keys, verifies on its own — and fails against the saved checkpoint
//! (`monitor`, `verify-export --trusted`) and the pinned key.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use reqwest::Method;

use crate::audit::exec;
use crate::audit_tree::rewrite_history;
use crate::support::{Backend, Fixture, TestGateway, approve_intent, block_intent, eventually};

fn fast_checkpoints(c: &mut lictor_server::Config) {
    c.checkpoints.every = 4;
    c.checkpoints.interval = Duration::from_millis(150);
}

fn lictor(args: &[&str], api_key: Option<&str>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_lictor"));
    command.args(args).env_remove("LICTOR_API_KEY");
    if let Some(key) = api_key {
        command.env("LICTOR_API_KEY", key);
    }
    // The gateway answering it runs on this test's runtime.
    tokio::task::block_in_place(|| command.output().unwrap())
}

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

/// A witness of one tenant's log: its pinned keys and saved checkpoint.
struct Witness {
    dir: tempfile::TempDir,
}

impl Witness {
    /// Pins the gateway's published keys, as an auditor would once.
    async fn pin(gw: &TestGateway) -> Witness {
        let dir = tempfile::tempdir().unwrap();
        let keys = gw.call(Method::GET, "/.well-known/lictor/keys", None, None).await.expect(200);
        std::fs::write(dir.path().join("keys.json"), keys.to_string()).unwrap();
        Witness { dir }
    }

    fn keys(&self) -> PathBuf {
        self.dir.path().join("keys.json")
    }

    fn state(&self) -> PathBuf {
        self.dir.path().join("checkpoint.note")
    }

    /// `lictor audit monitor`: its exit code and output.
    fn monitor(&self, gw: &TestGateway, f: &Fixture) -> (Option<i32>, String) {
        let (keys, state) = (self.keys(), self.state());
        let args = [
            "audit",
            "monitor",
            gw.url.as_str(),
            "--key",
            keys.to_str().unwrap(),
            "--state",
            state.to_str().unwrap(),
        ];
        let output = lictor(&args, Some(&f.admin));
        (output.status.code(), text(&output))
    }

    /// `lictor audit verify-export` of `file`, against the saved checkpoint
    /// when `trusted`.
    fn verify(&self, file: &Path, trusted: bool) -> (Option<i32>, String) {
        let (keys, state) = (self.keys(), self.state());
        let mut args =
            vec!["audit", "verify-export", file.to_str().unwrap(), "--key", keys.to_str().unwrap()];
        if trusted {
            args.extend(["--trusted", state.to_str().unwrap()]);
        }
        let output = lictor(&args, None);
        (output.status.code(), text(&output))
    }

    /// Exports the tenant's log into the witness's directory.
    async fn export(&self, gw: &TestGateway, f: &Fixture) -> PathBuf {
        let response =
            gw.request(Method::GET, "/v1/admin/audit/export").bearer_auth(&f.admin).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 200);
        let path = self.dir.path().join("export.ndjson");
        std::fs::write(&path, response.bytes().await.unwrap()).unwrap();
        path
    }
}

/// Decides `n` times, then waits until a checkpoint covers the head.
async fn grow(gw: &TestGateway, f: &Fixture, n: usize) -> u64 {
    for i in 0..n {
        gw.declare(&f.live, if i % 2 == 0 { approve_intent() } else { block_intent() }).await.expect(200);
    }
    let reached = eventually(Duration::from_secs(10), async || {
        let head = gw.verify(&f.tenant).await["head"]["seq"].as_u64()?;
        let latest = gw.get("/v1/admin/audit/checkpoints/latest", &f.admin).await;
        (latest.status.as_u16() == 200 && latest.body["tree_size"] == head).then_some(head)
    })
    .await;
    match reached {
        Some(head) => head,
        None => {
            let verified = gw.verify(&f.tenant).await;
            let latest = gw.get("/v1/admin/audit/checkpoints?limit=3", &f.admin).await.body;
            let ready = gw.call(Method::GET, "/readyz", None, None).await.body;
            panic!("no checkpoint at the head after {n} decisions: {verified} {latest} {ready}");
        }
    }
}

async fn the_monitor_follows_a_growing_log(backend: Backend) {
    let gw = TestGateway::start_with(backend, fast_checkpoints).await;
    let f = gw.tenant_fixture().await;
    let witness = Witness::pin(&gw).await;
    let first = grow(&gw, &f, 3).await;
    let (code, out) = witness.monitor(&gw, &f);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains(&format!("saved the first checkpoint seen, of {first} entries")), "{out}");
    let (code, out) = witness.monitor(&gw, &f);
    assert_eq!((code, out.contains("no new checkpoint")), (Some(0), true), "{out}");
    let second = grow(&gw, &f, 5).await;
    let (code, out) = witness.monitor(&gw, &f);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains(&format!("the checkpoint of {second} entries extends the one of {first}")), "{out}");
    // The export extends what the witness saw.
    let file = witness.export(&gw, &f).await;
    let (code, out) = witness.verify(&file, true);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains(&format!("extends the trusted checkpoint of {second}")), "{out}");
    // Without a key, or without the gateway, there is no verdict (exit 2).
    let output = lictor(&["audit", "monitor", &gw.url, "--key", "x", "--state", "s"], Some(&f.admin));
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    let keys = witness.keys();
    let state = witness.state();
    let args = [
        "audit",
        "monitor",
        "http://127.0.0.1:9",
        "--key",
        keys.to_str().unwrap(),
        "--state",
        state.to_str().unwrap(),
    ];
    let output = lictor(&args, Some(&f.admin));
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    let output = lictor(&args[..6], Some(&f.admin));
    assert_eq!(output.status.code(), Some(2), "--state is required: {}", text(&output));
    // A wrong URL is no verdict on the log, not an inconsistency.
    let wrong = format!("{}/nowhere", gw.url);
    let args =
        ["audit", "monitor", &wrong, "--key", keys.to_str().unwrap(), "--state", state.to_str().unwrap()];
    let output = lictor(&args, Some(&f.admin));
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    let (code, out) = witness.monitor(&gw, &f);
    assert_eq!(code, Some(0), "a failed run leaves the state as it was: {out}");
}

/// The head row as the gateway left it: what a backup holds.
async fn head_row(gw: &TestGateway, f: &Fixture) -> (i64, String, String) {
    let row: (i64, String, String) =
        sqlx::query_as("SELECT seq, hash, seal FROM audit_heads WHERE tenant_id = $1")
            .bind(&f.tenant)
            .fetch_one(&gw.db().await)
            .await
            .unwrap();
    row
}

/// The store restored to an earlier state (a backup): everything after
/// entry `seq` gone, checkpoints too, the head as it was then. Consistent,
/// sealed, verifiable — and shorter than what the witness saw.
async fn a_restored_backup_fails_only_against_the_witness(backend: Backend) {
    let mut gw = TestGateway::start_with(backend, fast_checkpoints).await;
    let f = gw.tenant_fixture().await;
    let witness = Witness::pin(&gw).await;
    grow(&gw, &f, 3).await;
    gw.stop().await;
    let (seq, hash, seal) = head_row(&gw, &f).await;
    let mut gw = gw.replica(backend, fast_checkpoints).await;
    grow(&gw, &f, 5).await;
    let (code, out) = witness.monitor(&gw, &f);
    assert_eq!(code, Some(0), "{out}");
    gw.stop().await;
    exec(&gw, &format!("DELETE FROM audit_entries WHERE tenant_id = $1 AND seq > {seq}"), &f.tenant).await;
    exec(
        &gw,
        &format!("DELETE FROM audit_checkpoints WHERE tenant_id = $1 AND tree_size > {seq}"),
        &f.tenant,
    )
    .await;
    exec(&gw, "DELETE FROM audit_tree WHERE tenant_id = $1", &f.tenant).await;
    exec(
        &gw,
        &format!(
            "UPDATE audit_heads SET seq = {seq}, hash = '{hash}', seal = '{seal}', tree_size = 0, frontier = '[]' \
             WHERE tenant_id = $1"
        ),
        &f.tenant,
    )
    .await;
    let gw = gw.replica(backend, fast_checkpoints).await;
    // On its own, the restored log is whole.
    assert_eq!(gw.verify(&f.tenant).await["ok"], true);
    let file = witness.export(&gw, &f).await;
    let (code, out) = witness.verify(&file, false);
    assert_eq!(code, Some(0), "{out}");
    // Against what the witness saw, it was cut.
    let (code, out) = witness.verify(&file, true);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains(&format!("FAILED at seq {}: truncated", seq + 1)), "{out}");
    let (code, out) = witness.monitor(&gw, &f);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("INCONSISTENT") && out.contains("cut"), "{out}");
}

/// History rewritten, every checkpoint and key id deleted, the seals
/// dropped with the schema rolled back, and the gateway started with keys
/// of the attacker's: it seals and signs the forgery, its API and its own
/// published key vouch for it — the pinned key and the witness do not.
async fn a_log_resigned_with_other_keys_fails_the_pinned_key(backend: Backend) {
    let mut gw = TestGateway::start_with(backend, fast_checkpoints).await;
    let f = gw.tenant_fixture().await;
    let witness = Witness::pin(&gw).await;
    grow(&gw, &f, 6).await;
    let (code, out) = witness.monitor(&gw, &f);
    assert_eq!(code, Some(0), "{out}");
    gw.stop().await;
    rewrite_history(&gw, &f, f.base + 2).await;
    let db = gw.db().await;
    for sql in [
        "DELETE FROM audit_checkpoints",
        "DELETE FROM audit_tree",
        "UPDATE audit_heads SET tree_size = 0, frontier = '[]'",
        "DELETE FROM key_ids",
        "ALTER TABLE audit_heads DROP COLUMN seal",
        "DELETE FROM _sqlx_migrations WHERE version = 6",
    ] {
        sqlx::query(sql).execute(&db).await.unwrap();
    }
    db.close().await;
    let other_keys = tempfile::tempdir().unwrap();
    let other = other_keys.path().join("keys.json");
    let gw = gw
        .replica(backend, move |c| {
            fast_checkpoints(c);
            c.keys_file = Some(other);
        })
        .await;
    grow(&gw, &f, 1).await;
    assert_eq!(gw.verify(&f.tenant).await["ok"], true, "the forger's gateway vouches for its forgery");
    let file = witness.export(&gw, &f).await;
    let (code, out) = witness.verify(&file, false);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("unknown_key"), "the pinned key did not sign it: {out}");
    let (code, out) = witness.monitor(&gw, &f);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("INCONSISTENT"), "{out}");
}

crate::on_both_backends!(
    the_monitor_follows_a_growing_log,
    a_restored_backup_fails_only_against_the_witness,
    a_log_resigned_with_other_keys_fails_the_pinned_key,
);
