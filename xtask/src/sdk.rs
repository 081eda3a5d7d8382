//! `cargo xtask sdk [--check]`: the generated part of every SDK, from
//! `openapi/lictor.json` alone.
//!
//! - Rust: progenitor (builder interface) + prettyplease into
//!   `sdk-rust/src/generated.rs`, under a banner naming this command and the
//!   spec's SHA-256.
//! - Python: `sdk-python/scripts/generate.py` in the SDK's virtualenv, into
//!   `sdk-python/src/lictor/_generated/`.
//! - TypeScript: the package's `generate` script, into
//!   `sdk-typescript/src/generated/schema.ts`.
//!
//! With `--check` everything is generated into a temporary directory and
//! compared with what is checked in; any difference fails, naming the
//! command that fixes it. A language whose generator is not there yet is
//! skipped with a warning, so the command works while the SDKs land.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};

use crate::SPEC_PATH;

const RUST_OUT: &str = "sdk-rust/src/generated.rs";
const PYTHON_SCRIPT: &str = "sdk-python/scripts/generate.py";
const PYTHON_OUT: &str = "sdk-python/src/lictor/_generated";
const TYPESCRIPT_PACKAGE: &str = "sdk-typescript/package.json";
const TYPESCRIPT_OUT: &str = "sdk-typescript/src/generated/schema.ts";

/// Regenerates (or, with `check`, checks) every SDK's generated code.
pub fn sdk(root: &Path, check: bool) -> Result<()> {
    let scratch = Scratch::new("sdk")?;
    let mut stale = Vec::new();
    if !rust(root, check, &scratch.0)? {
        stale.push(RUST_OUT);
    }
    match python(root, check, &scratch.0)? {
        Outcome::Fresh => {}
        Outcome::Stale => stale.push(PYTHON_OUT),
        Outcome::Skipped(why) => eprintln!("warning: skipping the Python SDK: {why}"),
    }
    match typescript(root, check, &scratch.0)? {
        Outcome::Fresh => {}
        Outcome::Stale => stale.push(TYPESCRIPT_OUT),
        Outcome::Skipped(why) => eprintln!("warning: skipping the TypeScript SDK: {why}"),
    }
    if !stale.is_empty() {
        bail!(
            "generated SDK code is stale ({}): run `cargo xtask sdk` and commit the result",
            stale.join(", ")
        );
    }
    Ok(())
}

enum Outcome {
    Fresh,
    Stale,
    Skipped(String),
}

/// A temporary directory removed when dropped.
pub struct Scratch(pub PathBuf);

impl Scratch {
    /// A fresh directory under the system's temporary directory.
    pub fn new(name: &str) -> Result<Scratch> {
        let dir = std::env::temp_dir().join(format!("lictor-xtask-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(Scratch(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The Rust client: returns whether the checked-in file is current (always
/// true when writing).
fn rust(root: &Path, check: bool, _scratch: &Path) -> Result<bool> {
    let text =
        std::fs::read_to_string(root.join(SPEC_PATH)).with_context(|| format!("reading {SPEC_PATH}"))?;
    let generated = rust_client(&text)?;
    let path = root.join(RUST_OUT);
    if check {
        let current = std::fs::read_to_string(&path).unwrap_or_default();
        if current != generated {
            eprintln!("{RUST_OUT} differs from what {SPEC_PATH} generates");
            return Ok(false);
        }
        println!("{RUST_OUT} is up to date");
        return Ok(true);
    }
    std::fs::write(&path, generated).with_context(|| format!("writing {}", path.display()))?;
    println!("wrote {RUST_OUT}");
    Ok(true)
}

/// The generated Rust client for the spec `text`, banner included.
pub fn rust_client(text: &str) -> Result<String> {
    let mut document: serde_json::Value =
        serde_json::from_str(text).context("parsing the OpenAPI document")?;
    // progenitor allows one success type and one error type per operation;
    // `mcp_message_send` also answers `202` without a body (notifications)
    // and 4XX with a JSON-RPC error (a message that is not JSON-RPC, an
    // ended session). The SDK's MCP client handles both itself, so the
    // generated method keeps the JSON success and the gateway's error shape.
    if let Some(responses) =
        document.pointer_mut("/paths/~1v1~1mcp/post/responses").and_then(serde_json::Value::as_object_mut)
    {
        responses.remove("202");
        responses.insert("4XX".into(), serde_json::json!({"$ref": "#/components/responses/Error"}));
    }
    // An error body must stay readable when a newer gateway answers a code
    // this client does not know: progenitor's enum would refuse it, so the
    // generated `Error` keeps `error_code` a string and the hand-written
    // `ErrorCode` (with its `Unknown`) types it.
    if let Some(code) = document.pointer_mut("/components/schemas/Error/properties/error_code") {
        let description = code.get("description").cloned().unwrap_or_default();
        *code = serde_json::json!({"type": "string", "description": description});
    }
    let spec: openapiv3::OpenAPI =
        serde_json::from_value(document).context("reading the OpenAPI document")?;
    let mut settings = progenitor::GenerationSettings::default();
    settings
        .with_interface(progenitor::InterfaceStyle::Builder)
        .with_tag(progenitor::TagStyle::Merged)
        .with_derive("PartialEq");
    let mut generator = progenitor::Generator::new(&settings);
    let tokens = generator.generate_tokens(&spec).map_err(|e| anyhow::anyhow!("progenitor: {e}"))?;
    let file: syn::File = syn::parse2(tokens).context("parsing progenitor's output")?;
    let body = prettyplease::unparse(&file);
    let digest = hex::encode(Sha256::digest(text.as_bytes()));
    Ok(format!(
        "// @generated by `cargo xtask sdk` from {SPEC_PATH} (SHA-256 {digest})\n\
         // with progenitor 0.15 (builder interface, merged tags; the 202 and JSON-RPC\n\
         // 4XX answers of `mcp_message_send` left out and `Error.error_code` read as a string,\n\
         // see xtask/src/sdk.rs) and prettyplease.\n\
         // Do not edit: change the API in server/api, run `cargo xtask openapi`,\n\
         // then `cargo xtask sdk`.\n\
         #![allow(missing_docs, clippy::all, unused_imports, unused_mut, unused_variables)]\n\n{body}"
    ))
}

/// The Python SDK's generated package.
fn python(root: &Path, check: bool, scratch: &Path) -> Result<Outcome> {
    if !root.join(PYTHON_SCRIPT).is_file() {
        return Ok(Outcome::Skipped(format!("{PYTHON_SCRIPT} does not exist yet")));
    }
    let python = python_venv(root)?;
    let out = if check { scratch.join("python") } else { root.join(PYTHON_OUT) };
    let out_arg = out.to_string_lossy().into_owned();
    let script = root.join(PYTHON_SCRIPT).to_string_lossy().into_owned();
    crate::run(root, &python.to_string_lossy(), &[&script, "--spec", SPEC_PATH, "--out", &out_arg])?;
    if !check {
        return Ok(Outcome::Fresh);
    }
    let (want, have) = (tree(&out)?, tree(&root.join(PYTHON_OUT))?);
    if want != have {
        eprintln!("{PYTHON_OUT} differs from what {SPEC_PATH} generates: {}", tree_difference(&want, &have));
        return Ok(Outcome::Stale);
    }
    println!("{PYTHON_OUT} is up to date");
    Ok(Outcome::Fresh)
}

/// The Python SDK's virtualenv interpreter, creating the venv if missing.
pub fn python_venv(root: &Path) -> Result<PathBuf> {
    let python = root.join("sdk-python/.venv/bin/python");
    if !python.is_file() {
        crate::run(root, "python3", &["-m", "venv", "sdk-python/.venv"])?;
        crate::run(root, "sdk-python/.venv/bin/pip", &["install", "-q", "-e", "sdk-python[test,langchain]"])?;
    }
    Ok(python)
}

/// The TypeScript SDK's generated schema.
fn typescript(root: &Path, check: bool, scratch: &Path) -> Result<Outcome> {
    let package = root.join(TYPESCRIPT_PACKAGE);
    if !package.is_file() {
        return Ok(Outcome::Skipped(format!("{TYPESCRIPT_PACKAGE} does not exist yet")));
    }
    let manifest: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&package)?)
        .with_context(|| format!("parsing {TYPESCRIPT_PACKAGE}"))?;
    if manifest["scripts"]["generate"].as_str().is_none() {
        return Ok(Outcome::Skipped(format!("{TYPESCRIPT_PACKAGE} has no `generate` script yet")));
    }
    npm_install(root)?;
    // Absolute paths: the script may resolve relative ones against the
    // package directory or against the directory npm was started from.
    let spec = root.join(SPEC_PATH).to_string_lossy().into_owned();
    let out = if check { scratch.join("schema.ts") } else { root.join(TYPESCRIPT_OUT) }
        .to_string_lossy()
        .into_owned();
    crate::run(
        root,
        "npm",
        &["--prefix", "sdk-typescript", "run", "generate", "--", "--spec", &spec, "--out", &out],
    )?;
    if !check {
        return Ok(Outcome::Fresh);
    }
    let want = std::fs::read(&out).with_context(|| format!("reading {out}"))?;
    let have = std::fs::read(root.join(TYPESCRIPT_OUT)).unwrap_or_default();
    if want != have {
        eprintln!("{TYPESCRIPT_OUT} differs from what {SPEC_PATH} generates");
        return Ok(Outcome::Stale);
    }
    println!("{TYPESCRIPT_OUT} is up to date");
    Ok(Outcome::Fresh)
}

/// `npm ci` in the TypeScript SDK when its `node_modules` is missing.
pub fn npm_install(root: &Path) -> Result<()> {
    if !root.join("sdk-typescript/node_modules").is_dir() {
        crate::run(root, "npm", &["ci", "--prefix", "sdk-typescript"])?;
    }
    Ok(())
}

/// Every file under `dir` (relative path → bytes), skipping caches.
fn tree(dir: &Path) -> Result<BTreeMap<PathBuf, Vec<u8>>> {
    let mut files = BTreeMap::new();
    if !dir.is_dir() {
        return Ok(files);
    }
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        for entry in std::fs::read_dir(&current).with_context(|| format!("reading {}", current.display()))? {
            let path = entry?.path();
            if path.file_name().is_some_and(|n| n == "__pycache__") {
                continue;
            }
            if path.is_dir() {
                pending.push(path);
            } else {
                let relative = path.strip_prefix(dir).unwrap_or(&path).to_path_buf();
                files.insert(relative, std::fs::read(&path)?);
            }
        }
    }
    Ok(files)
}

/// The first difference between two trees, for the error message.
fn tree_difference(want: &BTreeMap<PathBuf, Vec<u8>>, have: &BTreeMap<PathBuf, Vec<u8>>) -> String {
    for (path, bytes) in want {
        match have.get(path) {
            None => return format!("`{}` is missing", path.display()),
            Some(current) if current != bytes => return format!("`{}` differs", path.display()),
            Some(_) => {}
        }
    }
    have.keys()
        .find(|path| !want.contains_key(*path))
        .map(|path| format!("`{}` is not generated", path.display()))
        .unwrap_or_default()
}

/// Runs `program` with `args` in `dir` with extra environment variables.
pub fn run_in(dir: &Path, program: &str, args: &[&str], env: &[(&str, &Path)]) -> Result<()> {
    println!("==> (in {}) {program} {}", dir.display(), args.join(" "));
    let mut command = Command::new(program);
    command.args(args).current_dir(dir);
    for (name, value) in env {
        command.env(name, value);
    }
    let status = command.status().with_context(|| format!("starting {program}"))?;
    if !status.success() {
        bail!("`{program} {}` in {} failed ({status})", args.join(" "), dir.display());
    }
    Ok(())
}
