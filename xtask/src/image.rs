//! `cargo xtask image`: builds the container image from the `Dockerfile`
//! with podman and runs it.
//!
//! The image's `build` stage compiles the gateway in the Rust image, which
//! this machine cannot pull (no registry but the package ones). So the
//! stage is replaced the way the `Dockerfile` allows (`BUILT`): the
//! gateway built here (`target/debug/lictor`) is laid out by the same
//! `deploy/container/rootfs.sh` into an image of its own, and the
//! `Dockerfile`'s `runtime` stage is built on it unchanged. Then:
//!
//! - the image's configuration: user 65532, the HEALTHCHECK, entrypoint,
//!   port, volume, environment;
//! - its files: exactly the binary, the libraries it loads, the CA roots,
//!   passwd/group, `/data` and `/tmp` (no shell);
//! - a run with a read-only root filesystem and a volume: ready, serves as
//!   uid 65532, writes its data, passes its own HEALTHCHECK, logs JSON,
//!   and stops on SIGTERM with exit 0.
//!
//! Podman runs rootful here with `vfs` storage under `target/podman`, the
//! `runc` runtime and `cgroupfs` (this machine's cgroups are hybrid, which
//! `crun` refuses), and without default ulimits.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};

use crate::gateway::{get_status, send_json};

const IMAGE: &str = "localhost/lictor:xtask";
const BUILT: &str = "localhost/lictor-built:xtask";
const ADMIN_KEY: &str = "image-admin-key-0123456789abcdefghijklmnop";

/// Podman with this run's storage and settings.
struct Podman {
    root: PathBuf,
    conf: PathBuf,
}

impl Podman {
    fn command(&self) -> Command {
        let mut command = Command::new("podman");
        command
            .env("CONTAINERS_CONF", &self.conf)
            .arg("--root")
            .arg(self.root.join("storage"))
            .arg("--runroot")
            .arg(self.root.join("run"))
            .args(["--storage-driver", "vfs", "--runtime", "runc", "--cgroup-manager", "cgroupfs"]);
        command
    }

    fn output(&self, args: &[&str]) -> Result<Output> {
        self.command().args(args).output().with_context(|| format!("starting podman {}", args.join(" ")))
    }

    /// Runs `podman args`; its standard output.
    fn run(&self, args: &[&str]) -> Result<String> {
        println!("==> podman {}", args.join(" "));
        let output = self.output(args)?;
        if !output.status.success() {
            bail!(
                "`podman {}` failed ({}): {}",
                args.join(" "),
                output.status,
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }
}

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

pub fn image(root: &Path) -> Result<()> {
    ensure!(
        Command::new("podman").arg("--version").output().is_ok_and(|o| o.status.success()),
        "podman is not installed (Debian: apt-get install podman runc)"
    );
    crate::run(root, "cargo", &["build", "-p", "lictor-server", "--bin", "lictor"])?;
    let work = std::fs::canonicalize(root)?.join("target").join("podman");
    std::fs::create_dir_all(&work)?;
    let conf = work.join("containers.conf");
    std::fs::write(&conf, "[containers]\ndefault_ulimits = []\n")?;
    let podman = Podman { root: work.clone(), conf };

    // The `build` stage's result, from the binary built here.
    let context = work.join("built");
    let _ = std::fs::remove_dir_all(&context);
    std::fs::create_dir_all(&context)?;
    let rootfs = context.join("rootfs");
    crate::run(
        root,
        "sh",
        &["deploy/container/rootfs.sh", "target/debug/lictor", rootfs.to_str().context("a UTF-8 path")?],
    )?;
    std::fs::write(context.join("Containerfile"), "FROM scratch\nCOPY rootfs/ /rootfs/\n")?;
    let context_arg = context.to_str().context("a UTF-8 path")?;
    podman.run(&["build", "--quiet", "-t", BUILT, context_arg])?;

    // The Dockerfile's runtime stage, as it is.
    let built_arg = format!("BUILT={BUILT}");
    let root_arg = root.to_str().context("a UTF-8 path")?;
    podman.run(&[
        "build",
        "--quiet",
        "--format",
        "docker",
        "--skip-unused-stages=true",
        "--build-arg",
        &built_arg,
        "--target",
        "runtime",
        "-t",
        IMAGE,
        "-f",
        "Dockerfile",
        root_arg,
    ])?;
    check_config(&podman)?;
    check_files(&podman)?;
    check_run(&podman)?;
    let _ = podman.run(&["rmi", "-f", IMAGE, BUILT]);
    println!("the image builds from the Dockerfile, holds what it should and runs");
    Ok(())
}

fn check_config(podman: &Podman) -> Result<()> {
    let inspect: serde_json::Value = serde_json::from_str(&podman.run(&["image", "inspect", IMAGE])?)?;
    let config = &inspect[0]["Config"];
    ensure!(config["User"] == "65532:65532", "the image runs as {}, not 65532", config["User"]);
    ensure!(
        config["Entrypoint"] == serde_json::json!(["/usr/local/bin/lictor"]),
        "entrypoint {}",
        config["Entrypoint"]
    );
    ensure!(config["Cmd"] == serde_json::json!(["serve"]), "cmd {}", config["Cmd"]);
    ensure!(config["ExposedPorts"].get("8080/tcp").is_some(), "port 8080 is not exposed: {config}");
    ensure!(config["Volumes"].get("/data").is_some(), "/data is not a volume: {config}");
    // Podman reports the Docker-format healthcheck beside the config.
    let health = &inspect[0]["Healthcheck"]["Test"];
    ensure!(
        *health == serde_json::json!(["CMD", "/usr/local/bin/lictor", "healthcheck"]),
        "healthcheck {health}"
    );
    let env: Vec<&str> =
        config["Env"].as_array().into_iter().flatten().filter_map(serde_json::Value::as_str).collect();
    for wanted in ["LICTOR_LISTEN=0.0.0.0:8080", "LICTOR_DATA_DIR=/data", "LICTOR_LOG_FORMAT=json"] {
        ensure!(env.contains(&wanted), "{wanted} is not in the environment: {env:?}");
    }
    Ok(())
}

fn check_files(podman: &Podman) -> Result<()> {
    let id = podman.run(&["create", IMAGE])?.trim().to_string();
    let exported = podman.output(&["export", &id])?;
    let _ = podman.run(&["rm", &id]);
    ensure!(exported.status.success(), "podman export failed");
    let listing = Command::new("tar")
        .arg("-tv")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut tar| {
            use std::io::Write as _;
            tar.stdin.take().map(|mut stdin| stdin.write_all(&exported.stdout)).transpose()?;
            tar.wait_with_output()
        })?;
    let text = String::from_utf8_lossy(&listing.stdout);
    let files: Vec<&str> = text
        .lines()
        .filter(|line| line.starts_with('-'))
        .filter_map(|line| line.split_whitespace().last())
        .collect();
    let allowed = |path: &str| {
        let path = path.trim_start_matches("./");
        path == "usr/local/bin/lictor"
            || path == "etc/ssl/certs/ca-certificates.crt"
            || path == "etc/passwd"
            || path == "etc/group"
            || path.starts_with("lib/")
            || path.starts_with("lib64/")
            || path.starts_with("usr/lib/")
            || path.starts_with("etc/") && path.ends_with("hosts")
            || path == "etc/resolv.conf"
            || path == "etc/hostname"
            || path.starts_with("run/")
    };
    let extra: Vec<&&str> = files.iter().filter(|f| !allowed(f)).collect();
    ensure!(extra.is_empty(), "the image holds more than it should: {extra:?}");
    ensure!(files.iter().any(|f| f.ends_with("usr/local/bin/lictor")), "no binary in {files:?}");
    ensure!(!files.iter().any(|f| f.ends_with("bin/sh")), "the image has a shell");
    ensure!(
        text.lines().any(|l| l.starts_with('d')
            && (l.contains("65532/65532") || l.contains("lictor/lictor"))
            && l.trim_end().ends_with("data/")),
        "/data is not owned by 65532: {text}"
    );
    println!("image files: {}", files.join(" "));
    Ok(())
}

fn check_run(podman: &Podman) -> Result<()> {
    let port = free_port()?;
    let listen = format!("LICTOR_LISTEN=127.0.0.1:{port}");
    let admin = format!("LICTOR_ADMIN_KEY={ADMIN_KEY}");
    let volume = "lictor-xtask-data";
    let _ = podman.output(&["volume", "rm", "-f", volume]);
    let mount = format!("{volume}:/data");
    let id = podman
        .run(&[
            "run",
            "-d",
            "--network",
            "host",
            "--read-only",
            "--tmpfs",
            "/tmp",
            "-e",
            &listen,
            "-e",
            &admin,
            "-v",
            &mount,
            IMAGE,
        ])?
        .trim()
        .to_string();
    let result = exercise(podman, &id, port);
    if result.is_err() {
        let logs = podman.output(&["logs", &id]).map(|o| String::from_utf8_lossy(&o.stderr).into_owned());
        eprintln!("---- container log ----\n{}", logs.unwrap_or_default());
    }
    let _ = podman.output(&["rm", "-f", &id]);
    let _ = podman.output(&["volume", "rm", "-f", volume]);
    result
}

fn exercise(podman: &Podman, id: &str, port: u16) -> Result<()> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let started = Instant::now();
    while get_status(addr, "/readyz") != Some(200) {
        ensure!(started.elapsed() < Duration::from_secs(60), "the container was not ready within 60 s");
        std::thread::sleep(Duration::from_millis(100));
    }
    let url = format!("http://{addr}");
    let created =
        send_json(&url, ADMIN_KEY, ("POST", "/v1/admin/tenants"), r#"{"id":"image","name":"Image"}"#)?;
    ensure!(created == 201, "creating a tenant answered {created}");
    let user = podman.run(&["top", id, "user", "huser"])?;
    ensure!(
        user.lines().skip(1).all(|line| line.split_whitespace().eq(["lictor", "65532"])),
        "the gateway does not run as 65532: {user}"
    );
    podman.run(&["healthcheck", "run", id])?;
    podman.run(&["stop", "-t", "30", id])?;
    let code = podman.run(&["inspect", id, "--format", "{{.State.ExitCode}}"])?;
    ensure!(code.trim() == "0", "the container exited {} on SIGTERM", code.trim());
    let logs = podman.output(&["logs", id])?;
    let stderr = String::from_utf8_lossy(&logs.stderr);
    let mut requests = 0;
    for line in stderr.lines().filter(|l| l.starts_with('{')) {
        let event: serde_json::Value =
            serde_json::from_str(line).with_context(|| format!("a log line: {line}"))?;
        requests += usize::from(event["target"] == "lictor::request");
    }
    ensure!(requests >= 1, "no JSON request event in the log: {stderr}");
    println!(
        "container: ready in {:.1} s, served as 65532, healthy, exit 0 on SIGTERM",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
