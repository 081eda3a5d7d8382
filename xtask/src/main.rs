//! Developer tasks for the Lictor workspace, run as `cargo xtask <task>`.
//!
//! - `openapi [--check]`: write (or check) `openapi/lictor.json` from the
//!   API trait, without compiling or starting the server.
//! - `sdk [--check]`: regenerate (or check) the generated part of the Rust,
//!   Python and TypeScript SDKs from `openapi/lictor.json` (see [`sdk`]).
//! - `test`: run every test of the project (the README's test command):
//!   the Rust workspace, the README walk-through, the Python and TypeScript
//!   SDKs' tests (each when that SDK exists), the SDK READMEs' install
//!   commands and quickstarts, then `sdk --check`; each step announced and
//!   timed.
//! - `walkthrough`: run the README's walk-through against a fresh gateway.
//! - `quickstarts`: run each SDK README's install commands and quickstart,
//!   as written, against `lictor serve --demo` (see [`quickstarts`]).
//! - `schemathesis`: fuzz the API from its spec against `lictor serve
//!   --demo` (see [`schemathesis`]).
//! - `ci`: every CI gate in CI order: formatting, lints, the spec check,
//!   the bundles under OPA, tests.
//! - `opa`: every shipped bundle passes OPA's strict check and its Rego
//!   tests under OPA, installed as a Go module (see [`opa`]).
//! - `bench [--quick] [--no-postgres] [--no-micro]`: the benchmarks (see
//!   [`bench`]).
//!
//! It depends on the contract crate only, never on the server, so the spec
//! regenerates in seconds.

mod bench;
mod gateway;
mod helm;
mod image;
mod opa;
mod quickstarts;
mod schemathesis;
mod sdk;

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use lictor_pg_cluster::{Cluster, Settings};

pub(crate) const SPEC_PATH: &str = "openapi/lictor.json";

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = workspace_root()?;
    match args.first().map(String::as_str) {
        Some("openapi") => openapi(&root, args.iter().any(|a| a == "--check")),
        Some("sdk") => sdk::sdk(&root, args.iter().any(|a| a == "--check")),
        Some("schemathesis") => schemathesis::schemathesis(&root),
        Some("test") => test(&root),
        Some("walkthrough") => walkthrough(&root),
        Some("quickstarts") => quickstarts::quickstarts(&root),
        Some("conformance") => conformance(&root, &args[1..]),
        Some("ci") => ci(&root),
        Some("bench") => bench::bench(&root, &args[1..]),
        Some("opa") => opa::opa(&root),
        Some("image") => image::image(&root),
        Some("helm") => helm::helm(&root),
        _ => {
            eprintln!(
                "usage: cargo xtask <openapi [--check] | sdk [--check] | test | walkthrough | quickstarts | schemathesis | \
                 conformance [--postgres | --database-url URL] | ci | bench [--quick] [--no-postgres] [--no-micro] | opa | image | helm>"
            );
            std::process::exit(2);
        }
    }
}

fn workspace_root() -> Result<PathBuf> {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(Path::to_path_buf).context("xtask has no parent directory")
}

fn openapi(root: &Path, check: bool) -> Result<()> {
    let text = lictor_api::openapi_text().map_err(anyhow::Error::msg)?;
    let path = root.join(SPEC_PATH);
    if check {
        let current = std::fs::read_to_string(&path).unwrap_or_default();
        if current != text {
            bail!("{SPEC_PATH} is stale: run `cargo xtask openapi` and commit the result");
        }
        println!("{SPEC_PATH} is up to date");
        return Ok(());
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    println!("wrote {SPEC_PATH}");
    Ok(())
}

/// `go install PACKAGE@VERSION` into `target/tools`; `hint` says what to
/// do without Go.
pub(crate) fn go_install(root: &Path, package: &str, hint: &str) -> Result<()> {
    let tools = root.join("target").join("tools");
    println!("==> go install {package} (into target/tools)");
    let status = Command::new("go")
        .args(["install", package])
        .env("GOBIN", &tools)
        .current_dir(root)
        .status()
        .with_context(|| format!("starting `go` ({hint})"))?;
    if !status.success() {
        bail!("`go install {package}` failed ({status})");
    }
    Ok(())
}

pub(crate) fn run(root: &Path, program: &str, args: &[&str]) -> Result<()> {
    println!("==> {program} {}", args.join(" "));
    let status = Command::new(program)
        .args(args)
        .current_dir(root)
        .status()
        .with_context(|| format!("starting {program}"))?;
    if !status.success() {
        bail!("`{program} {}` failed ({status})", args.join(" "));
    }
    Ok(())
}

/// Every test of the project: the Rust workspace (unit, integration on SQLite
/// and PostgreSQL, the policy bundle's Rego tests, the spec drift test, the
/// Rust SDK against a live gateway), the README walk-through, the Python and
/// TypeScript SDKs' tests against the `lictor` binary (each only once that
/// SDK exists), and the generated SDK code's drift check.
fn test(root: &Path) -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let binary = root.join("target/debug/lictor");
    let python = root.join("sdk-python/pyproject.toml").is_file();
    let typescript = root.join("sdk-typescript/package.json").is_file();
    let steps: Vec<(&str, Step)> = vec![
        (
            "the Rust workspace: unit, integration (SQLite and PostgreSQL), SDK and conformance tests",
            Box::new(|| run(root, &cargo, &["test", "--workspace", "--locked"])),
        ),
        ("the README walk-through against a fresh gateway", Box::new(|| walkthrough(root))),
        (
            "the Python SDK's tests",
            Box::new(|| {
                if !python {
                    eprintln!("warning: skipped: sdk-python/pyproject.toml does not exist yet");
                    return Ok(());
                }
                // `walkthrough` built it; built again so this step stands alone.
                run(root, &cargo, &["build", "--bin", "lictor", "--locked"])?;
                let pytest = sdk::python_venv(root)?.with_file_name("pytest");
                sdk::run_in(
                    &root.join("sdk-python"),
                    &pytest.to_string_lossy(),
                    &["-q"],
                    &[("LICTOR_BIN", &binary)],
                )
            }),
        ),
        (
            "the TypeScript SDK's tests",
            Box::new(|| {
                if !typescript {
                    eprintln!("warning: skipped: sdk-typescript/package.json does not exist yet");
                    return Ok(());
                }
                run(root, &cargo, &["build", "--bin", "lictor", "--locked"])?;
                sdk::npm_install(root)?;
                sdk::run_in(&root.join("sdk-typescript"), "npm", &["test"], &[("LICTOR_BIN", &binary)])
            }),
        ),
        (
            "the SDK READMEs' install commands and quickstarts against `lictor serve --demo`",
            Box::new(|| quickstarts::quickstarts(root)),
        ),
        ("the generated SDK code matches the spec", Box::new(|| sdk::sdk(root, true))),
    ];
    let total = steps.len();
    let started = std::time::Instant::now();
    for (i, (what, step)) in steps.iter().enumerate() {
        let began = std::time::Instant::now();
        println!("\n==> [{}/{total}] {what}", i + 1);
        step().with_context(|| format!("step {}/{total} ({what}) failed", i + 1))?;
        println!("==> [{}/{total}] passed in {}", i + 1, elapsed(began));
    }
    println!("\n==> every test passed ({total} steps, {})", elapsed(started));
    Ok(())
}

/// One step of `test`: what it checks, and how.
type Step<'a> = Box<dyn Fn() -> Result<()> + 'a>;

/// `3m07s`, `41s`.
fn elapsed(since: std::time::Instant) -> String {
    let seconds = since.elapsed().as_secs();
    match seconds / 60 {
        0 => format!("{seconds}s"),
        minutes => format!("{minutes}m{:02}s", seconds % 60),
    }
}

/// The `sh` blocks of the README's "Walk-through" section, in order.
fn walkthrough_script(readme: &str) -> String {
    let mut script = String::new();
    let mut in_section = false;
    let mut in_block = false;
    for line in readme.lines() {
        if line.starts_with("## ") {
            in_section = line.trim() == "## Walk-through";
            continue;
        }
        if !in_section {
            continue;
        }
        if line.starts_with("```") {
            in_block = !in_block && line.trim() == "```sh";
            continue;
        }
        if in_block {
            script.push_str(line);
            script.push('\n');
        }
    }
    script
}

/// Runs `lictor-conformance` against the embedded gateway, and with
/// `--database-url` (or `--postgres`, a throwaway cluster) also against two
/// `lictor serve` replicas sharing that PostgreSQL database. Reports go
/// to `target/conformance/`.
fn conformance(root: &Path, args: &[String]) -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    run(root, &cargo, &["build", "--locked", "--bin", "lictor", "--bin", "lictor-conformance"])?;
    let suite = root.join("target/debug/lictor-conformance");
    let reports = root.join("target/conformance");
    std::fs::create_dir_all(&reports)?;
    let report = |name: &str| -> Vec<String> {
        let file = |ext: &str| reports.join(format!("{name}.{ext}")).to_string_lossy().into_owned();
        vec!["--junit".into(), file("xml"), "--json".into(), file("json")]
    };
    println!("==> conformance: embedded gateway");
    let mut embedded = report("embedded");
    embedded.push("--disruptive".into());
    run(root, &suite.to_string_lossy(), &embedded.iter().map(String::as_str).collect::<Vec<_>>())?;
    // `--postgres`: a throwaway cluster of our own, stopped when done.
    let mut cluster = None;
    let (database_url, psql) = match args {
        [flag, url] if flag == "--database-url" => (url.clone(), "psql".to_string()),
        [flag] if flag == "--postgres" => {
            let started = Cluster::start(Settings { name: "lictor-conformance-pg", durable: true })?
                .context("--postgres needs the PostgreSQL server binaries (initdb, pg_ctl)")?;
            let urls = (started.url("postgres"), started.bin().join("psql").to_string_lossy().into_owned());
            cluster = Some(started);
            urls
        }
        [] => return Ok(()),
        _ => bail!("usage: cargo xtask conformance [--postgres | --database-url postgres://…]"),
    };
    let binary = root.join("target/debug/lictor");
    let admin_key = format!("lictor_admin_conformance_{}_0123456789abcdef", std::process::id());
    let mut replicas = Vec::new();
    // Replicas of one store share its signing keys: one key file for both.
    let keys_dir = std::env::temp_dir().join(format!("lictor-conformance-{}-keys", std::process::id()));
    let _ = std::fs::remove_dir_all(&keys_dir);
    let keys_file = keys_dir.join("keys.json");
    for i in 0..2 {
        let data = std::env::temp_dir().join(format!("lictor-conformance-{}-{i}", std::process::id()));
        let _ = std::fs::remove_dir_all(&data);
        replicas.push(gateway::start(
            &binary,
            &data,
            &admin_key,
            Some(&database_url),
            Some(&keys_file),
            "warn",
        )?);
    }
    println!("==> conformance: two replicas on PostgreSQL ({}, {})", replicas[0].url, replicas[1].url);
    let mut suite_args: Vec<String> = Vec::new();
    for replica in &replicas {
        suite_args.extend(["--base-url".to_string(), replica.url.clone()]);
    }
    suite_args.extend(report("replicas"));
    // The disruptive cases' hooks: rotate both signing keys with the CLI;
    // take the store away by holding the audit heads' lock from psql (the
    // gateways' writes then time out), give it back by ending that session;
    // tamper with the audit log through psql.
    let lictor = binary.to_string_lossy();
    let keys = keys_file.to_string_lossy();
    let rotate = format!(
        "'{lictor}' keys rotate --key token --database-url '{database_url}' --keys-file '{keys}' && \
         '{lictor}' keys rotate --key checkpoint --database-url '{database_url}' --keys-file '{keys}'"
    );
    let store_down = format!(
        "(PGAPPNAME=lictor-fault '{psql}' '{database_url}' -qc \
           'BEGIN; LOCK TABLE audit_heads IN EXCLUSIVE MODE; SELECT pg_sleep(600)' >/dev/null 2>&1 &) && \
         for _ in $(seq 100); do \
           [ \"$('{psql}' '{database_url}' -tAc \"SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) \
              WHERE a.application_name = 'lictor-fault' AND l.granted AND l.relation = 'audit_heads'::regclass\")\" = 1 ] \
             && exit 0; sleep 0.1; done; exit 1"
    );
    let store_up = format!(
        "'{psql}' '{database_url}' -qtAc \"SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
           WHERE application_name = 'lictor-fault'\" >/dev/null"
    );
    suite_args.extend([
        "--disruptive".to_string(),
        "--hook-rotate-keys".into(),
        rotate,
        "--hook-store-down".into(),
        store_down,
        "--hook-store-up".into(),
        store_up,
        "--hook-sql".into(),
        format!("'{psql}' '{database_url}' -v ON_ERROR_STOP=1 -q"),
    ]);
    let status = Command::new(&suite)
        .args(&suite_args)
        .env("LICTOR_ADMIN_KEY", &admin_key)
        .env_remove("LICTOR_BASE_URL")
        .current_dir(root)
        .status()
        .with_context(|| format!("running {}", suite.display()))?;
    drop(replicas);
    drop(cluster);
    // The keys of a throwaway store are not worth keeping.
    let _ = std::fs::remove_dir_all(&keys_dir);
    if !status.success() {
        bail!("the conformance suite failed against the replicas ({status})");
    }
    Ok(())
}

/// Starts the `lictor` binary on a fresh SQLite directory and runs the
/// README's walk-through against it, checking what it prints.
fn walkthrough(root: &Path) -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    run(root, &cargo, &["build", "--locked", "--bin", "lictor"])?;
    let readme = std::fs::read_to_string(root.join("README.md"))?;
    let script = walkthrough_script(&readme);
    if !script.contains("curl") {
        bail!("README.md has no walk-through `sh` blocks");
    }
    let data = std::env::temp_dir().join(format!("lictor-walkthrough-{}", std::process::id()));
    let admin_key = format!("lictor_admin_walkthrough_{}_0123456789abcdef", std::process::id());
    let binary = root.join("target/debug/lictor");
    let _ = std::fs::remove_dir_all(&data);
    let gateway = gateway::start(&binary, &data, &admin_key, None, None, "warn")?;
    let url = gateway.url.clone();
    println!("==> README walk-through against {url}");
    let output = Command::new("bash")
        .args(["-euo", "pipefail", "-c", &script])
        .env("LICTOR_URL", &url)
        .env("ADMIN", &admin_key)
        .env("LICTOR", &binary)
        .output()
        .context("running bash")?;
    drop(gateway);
    let _ = std::fs::remove_dir_all(&data);
    let printed = String::from_utf8_lossy(&output.stdout);
    print!("{printed}");
    eprint!("{}", String::from_utf8_lossy(&output.stderr));
    if !output.status.success() {
        bail!("the README walk-through failed ({})", output.status);
    }
    let expected = [
        r#"{"verdict":"approve","reasons":[]}"#,
        r#"{"verdict":"approve_modified","content":"Your card [REDACTED CARD] was charged."}"#,
        r#""verdict":"escalate","reasons":["irreversible_high_value"]"#,
        r#"{"verdict":"block","reasons":["transact_over_limit"]"#,
        r#""ok": true"#,
        "complete and untampered",
        r#"{"verdict":"approve","reasons":[]}"#,
        r#"{"verdict":"block","reasons":["action_type_not_allowed"]}"#,
        r#"{"status":"approved","note":"invoice checked"}"#,
        r#"{"verdict":"approve","reasons":["irreversible_high_value","approved_by_human"]}"#,
        r#"{"verdict":"block","reasons":["irreversible_high_value","approval_used"]}"#,
        r#"{"reason":"walk-through over"}"#,
        r#"{"verdict":"block","reasons":["token_revoked"]}"#,
        r#""changes":["escalate -> block: 4""#,
        r#"{"outcome":"promoted","active":"freeze payments"}"#,
        r#"{"verdict":"block","reasons":["payments_frozen"],"policy":"freeze payments"}"#,
        r#"{"outcome":"rolled_back","active":"default"}"#,
        r#"{"verdict":"escalate","reasons":["irreversible_high_value"],"policy":"default"}"#,
    ];
    let mut rest: &str = &printed;
    for want in expected {
        match rest.find(want) {
            Some(at) => rest = &rest[at + want.len()..],
            None => bail!("the README walk-through did not print `{want}` (in order)"),
        }
    }
    println!(
        "==> README walk-through: every verdict reached, chain verified, token narrowed, approval used once, \
         policy promoted and rolled back"
    );
    Ok(())
}

fn ci(root: &Path) -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    run(root, &cargo, &["fmt", "--all", "--check"])?;
    run(root, &cargo, &["clippy", "--workspace", "--all-targets", "--locked", "--", "-D", "warnings"])?;
    openapi(root, true)?;
    sdk::sdk(root, true)?;
    opa::opa(root)?;
    helm::helm(root)?;
    test(root)?;
    image::image(root)
}
