//! `cargo xtask opa`: the shipped bundles are portable Rego. Every bundle
//! under `policies/` (the default bundle and each template, its modules
//! with its `data.json`) must pass OPA's own strict compile check
//! (`opa check --strict`) and its Rego unit tests under OPA (`opa test`),
//! as they pass under regorus in `lictor policy test`.
//!
//! OPA is the Go module `github.com/open-policy-agent/opa` at [`VERSION`]:
//! `$LICTOR_OPA` when set, else `target/tools/opa` once installed there
//! with `go install` (needs Go and its module proxy).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Result, bail};

use crate::run;

/// The OPA release the bundles are checked against.
pub const VERSION: &str = "v1.22.4";

/// The `opa` binary: `$LICTOR_OPA`, or installed into `target/tools`.
pub(crate) fn opa_binary(root: &Path) -> Result<PathBuf> {
    if let Some(path) = std::env::var_os("LICTOR_OPA") {
        return Ok(PathBuf::from(path));
    }
    let tools = root.join("target").join("tools");
    let binary = tools.join("opa");
    let installed = Command::new(&binary)
        .arg("version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .is_some_and(|text| text.lines().any(|l| l.trim() == format!("Version: {}", &VERSION[1..])));
    if !installed {
        let package = format!("github.com/open-policy-agent/opa@{VERSION}");
        crate::go_install(root, &package, "OPA is installed as a Go module; or set LICTOR_OPA")?;
    }
    Ok(binary)
}

/// Every bundle directory: `policies/default` and `policies/templates/*`.
fn bundles(root: &Path) -> Result<Vec<PathBuf>> {
    let mut dirs = vec![root.join("policies").join("default")];
    let mut templates: Vec<PathBuf> = std::fs::read_dir(root.join("policies").join("templates"))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.is_dir())
        .collect();
    templates.sort();
    dirs.extend(templates);
    Ok(dirs)
}

/// A bundle's files as OPA loads them: its modules and its data (the
/// corpus, YAML, is the gateway's and not a data document).
fn bundle_files(dir: &Path) -> Result<Vec<String>> {
    let mut files: Vec<String> = std::fs::read_dir(dir)?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| {
            path.extension().is_some_and(|e| e == "rego")
                || path.file_name().is_some_and(|n| n == "data.json")
        })
        .map(|path| path.to_string_lossy().into_owned())
        .collect();
    files.sort();
    if !files.iter().any(|f| f.ends_with(".rego")) {
        bail!("{}: no Rego module", dir.display());
    }
    Ok(files)
}

pub fn opa(root: &Path) -> Result<()> {
    let binary = opa_binary(root)?;
    let opa = binary.to_string_lossy().into_owned();
    for dir in bundles(root)? {
        let files = bundle_files(&dir)?;
        let files: Vec<&str> = files.iter().map(String::as_str).collect();
        let check = [&["check", "--strict"][..], &files].concat();
        run(root, &opa, &check)?;
        let test = [&["test"][..], &files].concat();
        run(root, &opa, &test)?;
    }
    println!("every shipped bundle passes `opa check --strict` and `opa test` (OPA {VERSION})");
    Ok(())
}
