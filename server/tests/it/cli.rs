//! What the `lictor` binary says when it cannot do what it was asked: each
//! message names the cause and, where there is one, the way out.

use std::process::{Command, Output};

fn lictor(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lictor"))
        .args(args)
        .env_remove("LICTOR_ADMIN_KEY")
        .env_remove("DATABASE_URL")
        .env_remove("LICTOR_DATA_DIR")
        .env_remove("LICTOR_LISTEN")
        .output()
        .unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A loopback port nothing listens on.
pub fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[test]
fn an_unreachable_database_is_named_with_its_cause_and_no_password() {
    let url = format!("postgres://lictor:s3cret@127.0.0.1:{}/lictor", closed_port());
    let dir = tempfile::tempdir().unwrap();
    let output = lictor(
        &["serve", "--database-url", &url, "--listen", "127.0.0.1:0", "--data-dir"]
            .into_iter()
            .chain([dir.path().to_str().unwrap()])
            .collect::<Vec<_>>(),
    );
    assert_eq!(output.status.code(), Some(1));
    let text = stderr(&output);
    let redacted = url.replace("s3cret", "***");
    assert!(text.contains(&format!("cannot connect to `{redacted}`")), "{text}");
    assert!(text.to_lowercase().contains("connection refused"), "{text}");
    assert!(!text.contains("s3cret"), "{text}");
}

#[test]
fn policy_test_names_a_missing_or_wrong_bundle_directory() {
    let output = lictor(&["policy", "test", "/no/such/bundle"]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(stderr(&output).trim(), "lictor: `/no/such/bundle`: no such directory");

    let empty = tempfile::tempdir().unwrap();
    let output = lictor(&["policy", "test", empty.path().to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("has no `.rego` files: a bundle directory holds"),
        "{}",
        stderr(&output)
    );

    let file = empty.path().join("policy.rego");
    std::fs::write(&file, "package lictor\n").unwrap();
    let output = lictor(&["policy", "test", file.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("not a directory (give the bundle's directory"), "{}", stderr(&output));
}
