//! `cargo xtask schemathesis`: fuzzes the API from `openapi/lictor.json`
//! with [Schemathesis](https://schemathesis.readthedocs.io) (from PyPI,
//! pinned in `conformance/schemathesis/requirements.txt`) against a live
//! `lictor serve --demo`, once with the demo's tenant-admin key and once
//! with its agent key, each on a fresh demo.
//!
//! Every generated request is checked three ways: no answer is a 5xx
//! (`not_a_server_error`), every answer matches its schema
//! (`response_schema_conformance`), and no request the schema calls valid
//! is refused as invalid (`schema_valid_requests_are_accepted`, in
//! `conformance/schemathesis/hooks.py`, with the documented allow-list of
//! rules no schema can express). Runs are seeded, so CI is repeatable; the
//! JUnit reports land in `target/schemathesis/`.
//!
//! The tenant-admin pass leaves out `api_key_revoke`: Schemathesis' stateful
//! phase feeds ids from responses to later calls, and revoking the key it
//! runs with would turn every later call into a `401`.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::quickstarts::Demo;

/// The checks every response goes through.
const CHECKS: &str = "not_a_server_error,response_schema_conformance,schema_valid_requests_are_accepted";

/// Cases per operation and phase, and the seed.
const MAX_EXAMPLES: &str = "50";
const SEED: &str = "1";

/// One pass: a name, the demo credential it runs with, and extra flags.
struct Pass {
    name: &'static str,
    credential: &'static str,
    extra: &'static [&'static str],
}

const PASSES: [Pass; 2] = [
    Pass {
        name: "tenant-admin",
        credential: "LICTOR_TENANT_ADMIN_KEY",
        extra: &["--exclude-operation-id", "api_key_revoke"],
    },
    Pass { name: "agent", credential: "LICTOR_API_KEY", extra: &[] },
];

/// Builds `lictor`, installs Schemathesis in `target/schemathesis-venv`
/// (once), and runs every pass; fails if any pass finds a failure.
pub fn schemathesis(root: &Path) -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    crate::run(root, &cargo, &["build", "--locked", "--bin", "lictor"])?;
    let venv = root.join("target/schemathesis-venv");
    let tool = venv.join("bin/schemathesis");
    let requirements = root.join("conformance/schemathesis/requirements.txt");
    let pinned = std::fs::read_to_string(&requirements).context("reading the pinned Schemathesis")?;
    let stamp = venv.join("requirements.txt");
    if !tool.is_file() || std::fs::read_to_string(&stamp).ok().as_deref() != Some(pinned.as_str()) {
        crate::run(root, "python3", &["-m", "venv", "--clear", &venv.to_string_lossy()])?;
        let pip = venv.join("bin/pip");
        crate::run(
            root,
            &pip.to_string_lossy(),
            &["install", "-q", "--disable-pip-version-check", "-r", &requirements.to_string_lossy()],
        )?;
        std::fs::write(&stamp, &pinned)?;
    }
    let reports = root.join("target/schemathesis");
    std::fs::create_dir_all(&reports)?;
    let spec = fuzzable_spec(root, &reports)?;
    let mut failed = Vec::new();
    for pass in &PASSES {
        // A pass whose report holds only errors of the generator itself (no
        // failed check) runs again, up to four times: Hypothesis occasionally
        // fails to describe a strategy ("AST constructor recursion depth
        // mismatch", a `KeyError` from `linecache`, both from CPython's
        // source inspection, which is not safe across threads: hence one
        // worker), which says nothing about the gateway. A failed check is
        // never retried.
        let mut passed = run_pass(root, &tool, &spec, &reports, pass)?;
        for _ in 0..4 {
            if passed || !only_generator_errors(&reports.join(format!("{}.xml", pass.name))) {
                break;
            }
            println!("==> schemathesis: {} key: only errors of the generator; again", pass.name);
            passed = run_pass(root, &tool, &spec, &reports, pass)?;
        }
        if !passed {
            failed.push(pass.name);
        }
    }
    if !failed.is_empty() {
        bail!(
            "schemathesis found failures with the {} key(s): see above and target/schemathesis/",
            failed.join(", ")
        );
    }
    println!("==> schemathesis: no 5xx, no answer outside its schema, no schema-valid request refused");
    Ok(())
}

/// The spec Schemathesis reads: the published one, except that bodies of
/// raw bytes (`format: binary`, the discovery ingest's vendor records) are
/// plain strings. Hypothesis fails to describe its binary strategy in the
/// coverage phase ("AST constructor recursion depth mismatch", every
/// time on that operation), which says nothing about the gateway; text is
/// what the ingest reads anyway.
fn fuzzable_spec(root: &Path, dir: &Path) -> Result<std::path::PathBuf> {
    let published = std::fs::read_to_string(root.join(crate::SPEC_PATH)).context("reading the spec")?;
    let mut document: serde_json::Value = serde_json::from_str(&published)?;
    if let Some(paths) = document.get_mut("paths").and_then(|p| p.as_object_mut()) {
        for operation in
            paths.values_mut().filter_map(|item| item.as_object_mut()).flat_map(|item| item.values_mut())
        {
            if let Some(schema) = operation
                .pointer_mut("/requestBody/content/application~1octet-stream/schema")
                .and_then(|s| s.as_object_mut())
            {
                schema.remove("format");
            }
        }
    }
    let path = dir.join("lictor.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&document)?)?;
    Ok(path)
}

/// Whether a JUnit report holds errors but no failed check.
fn only_generator_errors(junit: &Path) -> bool {
    let report = std::fs::read_to_string(junit).unwrap_or_default();
    report.contains("<error") && !report.contains("<failure")
}

/// One pass on a fresh demo; whether it found nothing.
fn run_pass(root: &Path, tool: &Path, spec: &Path, reports: &Path, pass: &Pass) -> Result<bool> {
    println!("==> schemathesis: {} key", pass.name);
    let demo = Demo::start(&root.join("target/debug/lictor"))?;
    let url = demo.exports.get("LICTOR_URL").context("the demo printed no URL")?;
    let key = demo
        .exports
        .get(pass.credential)
        .with_context(|| format!("the demo printed no {}", pass.credential))?;
    // The passes check what the gateway answers, not how often it lets a
    // key in: the demo tenant's rate limits go to their highest, or
    // Schemathesis would spend most of its cases on `429`s.
    let admin = demo.exports.get("LICTOR_ADMIN_KEY").context("the demo printed no superadmin key")?;
    let limits = r#"{"rate_limits": {"per_key": {"per_minute": 6000000, "burst": 100000},
        "per_tenant": {"per_minute": 6000000, "burst": 100000}}}"#;
    let status = crate::gateway::patch_json(url, admin, "/v1/admin/tenants/demo", limits)?;
    if status != 200 {
        bail!("lifting the demo tenant's rate limits answered {status}");
    }
    let junit = reports.join(format!("{}.xml", pass.name));
    let status = Command::new(tool)
        .arg("run")
        .arg(spec)
        .args(["--url", url])
        .args(["--header", &format!("Authorization: Bearer {key}")])
        // One worker: CPython 3.11's parser is not safe across threads, and
        // with two, Hypothesis's source inspection fails ("AST constructor
        // recursion depth mismatch") on some operation of most passes.
        .args(["--checks", CHECKS, "--max-examples", MAX_EXAMPLES, "--seed", SEED, "--workers", "1"])
        .args(["--no-color", "--report", "junit", "--report-junit-path"])
        .arg(&junit)
        .args(pass.extra)
        .env("PYTHONPATH", root.join("conformance/schemathesis"))
        .env("SCHEMATHESIS_HOOKS", "hooks")
        .current_dir(reports)
        .status()
        .with_context(|| format!("starting {}", tool.display()))?;
    drop(demo);
    Ok(status.success())
}
