//! Developer tasks for the Tollgate workspace, run as `cargo xtask <task>`.
//!
//! - `openapi [--check]`: write (or check) `openapi/tollgate.json` from the
//!   API trait, without compiling or starting the server.
//! - `test`: run every test of the project (the README's test command).
//! - `ci`: every CI gate in CI order: formatting, lints, the spec check, tests.
//!
//! It depends on the contract crate only, never on the server, so the spec
//! regenerates in seconds.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

const SPEC_PATH: &str = "openapi/tollgate.json";

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = workspace_root()?;
    match args.first().map(String::as_str) {
        Some("openapi") => openapi(&root, args.iter().any(|a| a == "--check")),
        Some("test") => test(&root),
        Some("ci") => ci(&root),
        _ => {
            eprintln!("usage: cargo xtask <openapi [--check] | test | ci>");
            std::process::exit(2);
        }
    }
}

fn workspace_root() -> Result<PathBuf> {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(Path::to_path_buf).context("xtask has no parent directory")
}

fn openapi(root: &Path, check: bool) -> Result<()> {
    let text = tollgate_api::openapi_text().map_err(anyhow::Error::msg)?;
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

fn run(root: &Path, program: &str, args: &[&str]) -> Result<()> {
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
/// and PostgreSQL, the policy bundle's Rego tests, the spec drift test).
fn test(root: &Path) -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    run(root, &cargo, &["test", "--workspace", "--locked"])
}

fn ci(root: &Path) -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    run(root, &cargo, &["fmt", "--all", "--check"])?;
    run(root, &cargo, &["clippy", "--workspace", "--all-targets", "--locked", "--", "-D", "warnings"])?;
    openapi(root, true)?;
    test(root)
}
