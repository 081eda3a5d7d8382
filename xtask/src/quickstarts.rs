//! `cargo xtask quickstarts`: each SDK README's install commands and
//! quickstart, run as written, against `lictor serve --demo`.
//!
//! A README marks what runs with an HTML comment on the line before a
//! fenced block: `<!-- ci: run -->` before a `sh` block runs it, and
//! `<!-- ci: file PATH -->` writes the block to `PATH` first. The marked
//! blocks of one README run, in order, as one `bash -euo pipefail` script
//! in a new scratch directory, with the demo's `export` lines in the
//! environment and `LICTOR_REPO` naming this checkout. Nothing is rewritten:
//! the commands a reader copies are the commands that ran. A README whose
//! script fails, or does not print what its quickstart should, fails the task.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

use crate::gateway::Process;

/// One SDK's README and what its quickstart must print, in order.
struct Readme {
    name: &'static str,
    path: &'static str,
    prints: &'static [&'static str],
}

const READMES: [Readme; 3] = [
    Readme {
        name: "rust",
        path: "sdk-rust/README.md",
        prints: &["go ahead (int_", "acme: 12,500.00 USD", "refused: transact_over_limit"],
    },
    Readme {
        name: "python",
        path: "sdk-python/README.md",
        prints: &["hello through the gate", "refused: transact_over_limit", "['bank.echo']"],
    },
    Readme {
        name: "typescript",
        path: "sdk-typescript/README.md",
        prints: &["approve []", "acme: 12,500.00 USD", "refused: transact_over_limit"],
    },
];

const END_OF_FILE: &str = "LICTOR_QUICKSTART_EOF";

/// The script a README's marked blocks make.
fn script(markdown: &str) -> Result<String> {
    let mut script = String::new();
    let mut lines = markdown.lines().peekable();
    while let Some(line) = lines.next() {
        let Some(marker) = line.trim().strip_prefix("<!-- ci: ").and_then(|m| m.strip_suffix(" -->")) else {
            continue;
        };
        let fence = lines.next().unwrap_or_default();
        if !fence.starts_with("```") {
            bail!("`{line}` must be followed by a fenced block, not `{fence}`");
        }
        let mut body = String::new();
        for line in lines.by_ref() {
            if line.starts_with("```") {
                break;
            }
            body.push_str(line);
            body.push('\n');
        }
        match marker.split_once(' ') {
            None if marker == "run" => {
                if fence.trim() != "```sh" {
                    bail!("`<!-- ci: run -->` goes before a ```sh block, not `{fence}`");
                }
                script.push_str(&body);
            }
            Some(("file", path)) => {
                if body.contains(END_OF_FILE) {
                    bail!("the block for `{path}` contains `{END_OF_FILE}`");
                }
                script.push_str(&format!("cat > '{path}' <<'{END_OF_FILE}'\n{body}{END_OF_FILE}\n"));
            }
            _ => bail!("unknown marker `{line}` (expected `<!-- ci: run -->` or `<!-- ci: file PATH -->`)"),
        }
    }
    Ok(script)
}

/// A running `lictor serve --demo` and the credentials it printed.
pub(crate) struct Demo {
    pub(crate) process: Process,
    pub(crate) exports: BTreeMap<String, String>,
    pub(crate) data: PathBuf,
}

impl Demo {
    pub(crate) fn start(binary: &Path) -> Result<Demo> {
        let mut command = Command::new(binary);
        command
            .args(["serve", "--demo", "--listen", "127.0.0.1:0", "--log-level", "warn"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("LICTOR_") {
                command.env_remove(&name);
            }
        }
        command.env_remove("DATABASE_URL");
        let mut child = command.spawn().with_context(|| format!("starting {}", binary.display()))?;
        let stdout = child.stdout.take().context("no stdout")?;
        let process = Process(child);
        let mut lines = BufReader::new(stdout).lines();
        let mut exports = BTreeMap::new();
        let mut data = None;
        while !exports.contains_key("LICTOR_TOKEN") {
            let Some(line) = lines.next().transpose()? else {
                bail!("`lictor serve --demo` ended before printing its credentials");
            };
            println!("    {line}");
            if let Some((name, value)) = line.strip_prefix("export ").and_then(|l| l.split_once('=')) {
                exports.insert(name.to_string(), value.to_string());
            }
            if let Some(rest) = line.strip_prefix("# The data lives in ") {
                data = rest.split(" and is deleted").next().map(PathBuf::from);
            }
        }
        // Keep reading, so the gateway never writes into a closed pipe.
        std::thread::spawn(move || lines.for_each(drop));
        let data = data.context("the demo did not say where its data lives")?;
        Ok(Demo { process, exports, data })
    }
}

fn run_readme(root: &Path, demo: &Demo, readme: &Readme) -> Result<()> {
    let markdown = std::fs::read_to_string(root.join(readme.path))?;
    let script = script(&markdown).with_context(|| readme.path.to_string())?;
    if script.is_empty() {
        bail!("{} marks nothing to run", readme.path);
    }
    let scratch =
        std::env::temp_dir().join(format!("lictor-quickstart-{}-{}", readme.name, std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch)?;
    println!("==> {}: its marked blocks, as written, in {}", readme.path, scratch.display());
    let mut command = Command::new("bash");
    command
        .args(["-euo", "pipefail", "-c", &script])
        .current_dir(&scratch)
        .envs(&demo.exports)
        .env("LICTOR_REPO", root)
        // The Rust quickstart reuses what the workspace already built.
        .env("CARGO_TARGET_DIR", root.join("target"))
        .env_remove("DATABASE_URL")
        .stderr(Stdio::inherit());
    let output = command.output().context("running bash")?;
    let printed = String::from_utf8_lossy(&output.stdout);
    print!("{printed}");
    if !output.status.success() {
        bail!(
            "{}: the quickstart failed ({}); its directory is kept: {}",
            readme.path,
            output.status,
            scratch.display()
        );
    }
    let mut rest: &str = &printed;
    for want in readme.prints {
        match rest.find(want) {
            Some(at) => rest = &rest[at + want.len()..],
            None => bail!("{}: the quickstart did not print `{want}` (in order)", readme.path),
        }
    }
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(())
}

/// Crates the Rust SDK must never pull in: a server framework, or a TLS
/// library its user did not choose.
const NOT_IN_THE_CLIENT: [&str; 5] = ["dropshot", "aws-lc-sys", "aws-lc-rs", "openssl-sys", "native-tls"];

/// The Rust SDK's dependencies, with its default features, as a project
/// depending on it resolves them.
fn client_dependencies(root: &Path, cargo: &str) -> Result<()> {
    let output = Command::new(cargo)
        .args([
            "tree",
            "--locked",
            "-p",
            "lictor-client",
            "-e",
            "normal",
            "--prefix",
            "none",
            "--format",
            "{p}",
        ])
        .current_dir(root)
        .output()
        .context("running cargo tree")?;
    if !output.status.success() {
        bail!("cargo tree failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let mut crates: Vec<&str> = text.lines().filter_map(|line| line.split_whitespace().next()).collect();
    crates.sort_unstable();
    crates.dedup();
    let found: Vec<&str> = crates.iter().copied().filter(|name| NOT_IN_THE_CLIENT.contains(name)).collect();
    if !found.is_empty() {
        bail!("lictor-client depends on {}: it must build without them", found.join(", "));
    }
    println!("==> lictor-client: {} crates, none of {}", crates.len(), NOT_IN_THE_CLIENT.join(", "));
    Ok(())
}

/// Checks the Rust SDK's dependencies, builds `lictor`, starts the demo,
/// runs every SDK README against it, then stops it and checks it left no
/// data behind.
pub fn quickstarts(root: &Path) -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    client_dependencies(root, &cargo)?;
    crate::run(root, &cargo, &["build", "--locked", "--bin", "lictor"])?;
    println!("==> lictor serve --demo");
    let demo = Demo::start(&root.join("target/debug/lictor"))?;
    let mut failures = Vec::new();
    for readme in &READMES {
        if let Err(error) = run_readme(root, &demo, readme) {
            eprintln!("error: {error:#}");
            failures.push(readme.path);
        }
    }
    let Demo { process, data, .. } = demo;
    process.terminate();
    if data.exists() {
        failures.push("lictor serve --demo (its data directory outlived it)");
    }
    if !failures.is_empty() {
        bail!("quickstarts failed: {}", failures.join(", "));
    }
    println!(
        "==> quickstarts: every SDK installed from this checkout and its quickstart ran against the demo"
    );
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn marked_blocks_become_one_script_in_order() {
        let readme = "# x\n<!-- ci: run -->\n```sh\npip install x\n```\n\n```sh\nnot run\n```\n\
                      <!-- ci: file a.py -->\n```python\nprint(1)\n```\n<!-- ci: run -->\n```sh\npython a.py\n```\n";
        assert_eq!(
            script(readme).unwrap(),
            "pip install x\ncat > 'a.py' <<'LICTOR_QUICKSTART_EOF'\nprint(1)\nLICTOR_QUICKSTART_EOF\npython a.py\n"
        );
    }

    #[test]
    fn misplaced_markers_are_errors() {
        assert!(script("<!-- ci: run -->\ntext\n").is_err());
        assert!(script("<!-- ci: run -->\n```python\nx\n```\n").is_err());
        assert!(script("<!-- ci: walk -->\n```sh\nx\n```\n").is_err());
    }

    #[test]
    fn every_sdk_readme_marks_an_install_and_a_quickstart() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        for readme in &READMES {
            let text = std::fs::read_to_string(root.join(readme.path)).unwrap_or_default();
            let script = script(&text).unwrap_or_default();
            assert!(script.contains("LICTOR_REPO"), "{}: no install from the clone", readme.path);
            assert!(script.contains("cat > "), "{}: no quickstart file", readme.path);
        }
    }
}
