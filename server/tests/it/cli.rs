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
    // The cause follows the address: usually "connection refused", though
    // on a busy machine another process may have taken the port since.
    let cause = text.split_once(&format!("cannot connect to `{redacted}`: ")).map(|(_, cause)| cause.trim());
    assert!(cause.is_some_and(|c| !c.is_empty()), "{text}");
    assert_eq!(text.matches("cannot connect to").count(), 1, "said once: {text}");
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

/// `lictor serve --listen 127.0.0.1:0 ARGS`, configured by `args` alone
/// (none of the environment's settings), stdout piped; killed on drop.
fn spawn_serve(args: &[&str], stderr: std::process::Stdio) -> tokio::process::Child {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_lictor"));
    command.args(["serve", "--listen", "127.0.0.1:0", "--log-level", "warn"]).args(args);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("LICTOR_") {
            command.env_remove(&name);
        }
    }
    command
        .env_remove("DATABASE_URL")
        .stdout(std::process::Stdio::piped())
        .stderr(stderr)
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

/// `lictor serve` on `dir` without LICTOR_ADMIN_KEY, until it listens:
/// its URL, its stderr so far, and the process (killed on drop).
async fn serve_until_listening(
    dir: &std::path::Path,
    extra: &[&str],
) -> (String, String, tokio::process::Child) {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt};
    let dir = dir.to_str().unwrap();
    let args = [&["--data-dir", dir][..], extra].concat();
    let mut child = spawn_serve(&args, std::process::Stdio::piped());
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let first = tokio::time::timeout(std::time::Duration::from_secs(60), lines.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap_or_default();
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let url = first.strip_prefix("lictor listening on ").unwrap_or_else(|| panic!("{first:?}")).to_string();
    // Everything about the key is written before the listening line.
    let mut stderr = child.stderr.take().unwrap();
    let mut seen = Vec::new();
    let mut chunk = [0u8; 4096];
    while let Ok(Ok(n)) =
        tokio::time::timeout(std::time::Duration::from_millis(300), stderr.read(&mut chunk)).await
    {
        if n == 0 {
            break;
        }
        seen.extend_from_slice(&chunk[..n]);
    }
    (url, String::from_utf8_lossy(&seen).into_owned(), child)
}

fn generated_key(stderr: &str) -> Option<String> {
    stderr.split_whitespace().find(|w| w.starts_with("lictor_admin_")).map(str::to_string)
}

async fn tenants_status(url: &str, key: &str) -> u16 {
    let answer = reqwest::Client::new().get(format!("{url}/v1/admin/tenants")).bearer_auth(key).send().await;
    answer.unwrap().status().as_u16()
}

#[tokio::test]
async fn a_start_that_cannot_bind_names_why_and_keeps_the_key_for_the_next_start() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = busy.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");

    let output = lictor(&["serve", "--listen", &address, "--data-dir", data.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    let text = stderr(&output);
    assert!(text.contains(&format!("cannot listen on {address}: the address is already in use")), "{text}");
    assert!(text.contains("--listen"), "{text}");
    assert!(generated_key(&text).is_none(), "no key may be generated by a start that cannot serve: {text}");
    drop(busy);

    // The next start generates the key and shows it, once.
    let (url, text, first) = serve_until_listening(&data, &[]).await;
    let key = generated_key(&text).unwrap_or_else(|| panic!("no generated key shown: {text}"));
    assert!(text.contains("shown once"), "{text}");
    assert_eq!(tenants_status(&url, &key).await, 200);
    drop(first);

    // Later starts say how to get a new one.
    let (_, text, second) = serve_until_listening(&data, &[]).await;
    assert!(generated_key(&text).is_none(), "{text}");
    assert!(text.contains("Lost it? `lictor keys rotate --key admin`"), "{text}");
    assert!(text.contains("LICTOR_ADMIN_KEY"), "{text}");

    // Rotating prints a new key that works at once, and the old one stops.
    let output = lictor(&["keys", "rotate", "--key", "admin", "--data-dir", data.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let rotated = String::from_utf8(output.stdout).unwrap().trim().to_string();
    assert!(rotated.starts_with("lictor_admin_") && rotated != key, "{rotated}");
    let (url, _, _third) = serve_until_listening(&data, &[]).await;
    assert_eq!(tenants_status(&url, &rotated).await, 200);
    assert_eq!(tenants_status(&url, &key).await, 401);
    drop(second);
}

#[test]
fn serve_help_lists_the_admin_key_variable() {
    let output = lictor(&["serve", "--help"]);
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(text.contains("LICTOR_ADMIN_KEY"), "{text}");
    assert!(text.contains("lictor keys rotate --key admin"), "{text}");
}

/// `lictor serve --demo` until its credentials are printed: the `export`
/// lines as (name, value), the data directory it announced, and the process.
async fn demo() -> (std::collections::HashMap<String, String>, std::path::PathBuf, tokio::process::Child) {
    use tokio::io::AsyncBufReadExt;
    let mut child = spawn_serve(&["--demo"], std::process::Stdio::null());
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut exports = std::collections::HashMap::new();
    let mut dir = None;
    while !exports.contains_key("LICTOR_TOKEN") {
        let line = tokio::time::timeout(std::time::Duration::from_secs(60), lines.next_line())
            .await
            .unwrap()
            .unwrap()
            .unwrap_or_else(|| panic!("the demo ended before printing its credentials"));
        if let Some((name, value)) = line.strip_prefix("export ").and_then(|l| l.split_once('=')) {
            exports.insert(name.to_string(), value.to_string());
        }
        if let Some(rest) = line.strip_prefix("# The data lives in ") {
            dir = rest.split(" and is deleted").next().map(std::path::PathBuf::from);
        }
    }
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (exports, dir.unwrap_or_else(|| panic!("the demo did not say where its data lives")), child)
}

async fn tool_call(
    url: &str,
    credential: &str,
    tool: &str,
    arguments: serde_json::Value,
) -> serde_json::Value {
    let answer = reqwest::Client::new()
        .post(format!("{url}/v1/tool-call"))
        .bearer_auth(credential)
        .json(&serde_json::json!({"tool": tool, "arguments": arguments}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    answer.json().await.unwrap()
}

#[tokio::test]
async fn the_demo_provisions_everything_a_quickstart_needs_and_leaves_nothing_behind() {
    let (exports, dir, mut child) = demo().await;
    let url = &exports["LICTOR_URL"];
    assert!(dir.join("lictor.db").is_file(), "{dir:?}");
    assert_eq!(tenants_status(url, &exports["LICTOR_ADMIN_KEY"]).await, 200);
    assert!(exports["LICTOR_TENANT_ADMIN_KEY"].starts_with("lictor_live_"));

    // The token and the restricted agent key both reach the bank's tools.
    for credential in [&exports["LICTOR_TOKEN"], &exports["LICTOR_API_KEY"]] {
        let echoed = tool_call(url, credential, "bank.echo", serde_json::json!({"text": "hi"})).await;
        assert_eq!(echoed["decision"]["verdict"], "approve", "{echoed}");
        assert_eq!(echoed["result"]["content"][0]["text"], "hi", "{echoed}");
    }
    // `transfer_funds` is a transfer whose exposure is its amount: the
    // default policy blocks 25,000 USD and escalates 2,500 USD (irreversible).
    let token = &exports["LICTOR_TOKEN"];
    let big =
        tool_call(url, token, "bank.transfer_funds", serde_json::json!({"amount_usd": 25000, "to": "DE89"}))
            .await;
    assert_eq!(big["decision"]["verdict"], "block", "{big}");
    assert_eq!(big["decision"]["reasons"][0]["code"], "transact_over_limit", "{big}");
    assert!(big.get("result").is_none(), "a blocked call must not reach the bank: {big}");
    let mid =
        tool_call(url, token, "bank.transfer_funds", serde_json::json!({"amount_usd": 2500, "to": "DE89"}))
            .await;
    assert_eq!(mid["decision"]["verdict"], "escalate", "{mid}");
    let balance = tool_call(url, token, "bank.get_balance", serde_json::json!({"account": "acme"})).await;
    assert_eq!(balance["result"]["content"][0]["text"], "acme: 12,500.00 USD", "{balance}");

    // A graceful stop deletes the demo's data.
    let pid = child.id().unwrap().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let status =
        tokio::time::timeout(std::time::Duration::from_secs(30), child.wait()).await.unwrap().unwrap();
    assert!(status.success(), "{status:?}");
    assert!(!dir.exists(), "the demo left {dir:?} behind");
}

#[test]
fn the_demo_refuses_a_store_of_its_own() {
    let output = lictor(&["serve", "--demo", "--data-dir", "/tmp/somewhere"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("cannot be used with"), "{}", stderr(&output));
}

#[test]
fn token_attenuate_refuses_what_the_mint_endpoint_refuses() {
    let vectors: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../conformance/vectors/tokens/tokens.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let root =
        vectors["vectors"].as_array().unwrap().iter().find(|v| v["name"] == "root_no_caveats").unwrap();
    let token = root["token"].as_str().unwrap();
    for (flag, field) in [("--max-calls", "max_calls"), ("--rate-per-min", "rate_per_min")] {
        let output = lictor(&["token", "attenuate", token, flag, "0"]);
        assert_eq!(output.status.code(), Some(1));
        assert_eq!(stderr(&output).trim(), format!("lictor: {flag}: `{field}` must be at least 1"));
    }
    let output = lictor(&["token", "attenuate", token, "--max-usd", "12.345"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let narrowed = String::from_utf8(output.stdout).unwrap();
    let inspected = lictor(&["token", "inspect", narrowed.trim()]);
    let report: serde_json::Value = serde_json::from_slice(&inspected.stdout).unwrap();
    // The nearest cent, as the mint endpoint and the Rust SDK round.
    assert!(report["caveats"].as_array().unwrap().iter().any(|c| c["cents"] == 1235), "{report}");
}
