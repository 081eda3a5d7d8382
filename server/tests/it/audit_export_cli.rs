//! `lictor audit verify-export` on the conformance vectors: the exit code
//! and the one-line verdict of every file `manifest.json` lists, standard
//! input, and the usage errors (exit 2). Offline: no gateway, no backend.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

fn vectors() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../conformance/vectors/audit")
}

fn lictor(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lictor")).args(["audit", "verify-export"]).args(args).output().unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

#[test]
fn every_vector_gets_its_verdict_and_exit_code() {
    let dir = vectors();
    let manifest: Value = serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    let key = dir.join("key.txt");
    for vector in manifest["vectors"].as_array().unwrap() {
        let file = dir.join(vector["file"].as_str().unwrap());
        let mut args = vec![file.to_str().unwrap().to_string(), "--key".into(), key.to_str().unwrap().into()];
        if let Some(trusted) = vector["trusted"].as_str() {
            args.extend(["--trusted".into(), dir.join(trusted).to_str().unwrap().into()]);
        }
        let output = lictor(&args.iter().map(String::as_str).collect::<Vec<_>>());
        let expect = &vector["expect"];
        let text = stdout(&output);
        if expect["valid"] == true {
            assert_eq!(output.status.code(), Some(0), "{file:?}: {text}");
            let entries = expect["entries"].as_u64().unwrap();
            assert!(text.starts_with(&format!("ok: tenant `acme`: {entries} entries, ")), "{text}");
            assert!(text.contains(expect["root_hash"].as_str().unwrap()), "{text}");
            assert!(text.contains(&format!("; {} checkpoints checked", expect["checkpoints"])), "{text}");
            if vector["trusted"].is_string() {
                assert!(text.ends_with("; extends the trusted checkpoint of 5\n"), "{text}");
            }
        } else {
            assert_eq!(output.status.code(), Some(1), "{file:?}: {text}");
            let want = format!("FAILED at seq {}: {}: ", expect["seq"], expect["reason"].as_str().unwrap());
            assert!(text.starts_with(&want), "{file:?}: {text}");
            assert_eq!(text.lines().count(), 1, "{text}");
        }
    }
}

#[test]
fn keys_come_inline_or_from_the_published_document_and_files_from_stdin() {
    let dir = vectors();
    let vkey = std::fs::read_to_string(dir.join("key.txt")).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_lictor"))
        .args(["audit", "verify-export", "-", "--key", vkey.trim()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let bytes = std::fs::read(dir.join("valid.csv")).unwrap();
    child.stdin.take().unwrap().write_all(&bytes).unwrap();
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));

    let file = dir.join("valid.ndjson");
    let document = dir.join("keys.json");
    let output = lictor(&[file.to_str().unwrap(), "--key", document.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
}

#[test]
fn unreadable_files_and_keys_exit_2() {
    let dir = vectors();
    let file = dir.join("valid.ndjson");
    let key = dir.join("key.txt");
    let missing = lictor(&["/nonexistent/export.ndjson", "--key", key.to_str().unwrap()]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("cannot open"));
    let bad_key = lictor(&[file.to_str().unwrap(), "--key", "not-a-key"]);
    assert_eq!(bad_key.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad_key.stderr).contains("neither a keys file nor a verifier key"));
    let untrusted =
        lictor(&[file.to_str().unwrap(), "--key", key.to_str().unwrap(), "--trusted", key.to_str().unwrap()]);
    assert_eq!(untrusted.status.code(), Some(2), "a trusted checkpoint that does not open is a usage error");
    assert!(String::from_utf8_lossy(&untrusted.stderr).contains("the trusted checkpoint"));
    let no_key = lictor(&[file.to_str().unwrap()]);
    assert_eq!(no_key.status.code(), Some(2));
}
