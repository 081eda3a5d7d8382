//! `cargo xtask bench [--quick] [--no-postgres] [--no-micro]`: builds
//! release binaries, starts the gateway on SQLite and then on a throwaway
//! PostgreSQL cluster, provisions it through its API with a realistic
//! bundle (the default bundle and every template), and drives it over
//! loopback with `lictor-load` (bench/): closed-loop saturation and
//! open-loop fixed rates for `POST /v1/intents` and MCP `tools/call`
//! forwarded to a local upstream. The gateway's CPU time and resident memory
//! are read from `/proc`. It then runs the criterion stage benchmarks and
//! prints every figure beside its target, writing
//! `bench/results/<date>.json` and `.md`.
//!
//! `--quick` is the CI smoke run: debug binaries (the test build), one-second
//! runs, each criterion benchmark run once as a test, no results written;
//! it asserts nothing about timings, only that every part still works.
//!
//! The gateways log at `error`; `LICTOR_BENCH_LOG_LEVEL=info` (with
//! `LICTOR_LOG_FORMAT=json` in the environment, which they inherit) runs
//! them as production does, one request event per request, to measure what
//! the request log costs.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use lictor_pg_cluster::{Cluster, Settings};
use serde_json::{Value, json};

use crate::gateway::{self, Gateway, Process};

/// One load run's settings.
struct Run {
    name: &'static str,
    scenario: &'static str,
    rate: Option<u64>,
    connections: usize,
    /// Which provisioned agent key sends it (`agent_key`: the 7-module
    /// bench bundle; `default_agent_key`: the default bundle alone).
    key: &'static str,
}

const BENCH: &str = "agent_key";
const DEFAULT: &str = "default_agent_key";

const RUNS: &[Run] = &[
    Run { name: "intents, closed loop", scenario: "intents", rate: None, connections: 32, key: BENCH },
    Run { name: "intents, 500 rps", scenario: "intents", rate: Some(500), connections: 64, key: BENCH },
    Run { name: "intents, 2,000 rps", scenario: "intents", rate: Some(2_000), connections: 64, key: BENCH },
    Run { name: "intents, 5,000 rps", scenario: "intents", rate: Some(5_000), connections: 128, key: BENCH },
    Run {
        name: "intents, closed loop, default bundle",
        scenario: "intents",
        rate: None,
        connections: 32,
        key: DEFAULT,
    },
    // 16 connections, as the side-by-side comparisons of gateways are run.
    // The default bundle, as the gateways compared side by side run with
    // their own built-in checks.
    Run { name: "mcp tools/call, closed loop", scenario: "mcp", rate: None, connections: 16, key: DEFAULT },
    Run {
        name: "mcp tools/call, 2,000 rps",
        scenario: "mcp",
        rate: Some(2_000),
        connections: 64,
        key: DEFAULT,
    },
    Run {
        name: "mcp tools/call, closed loop, 7-module bundle",
        scenario: "mcp",
        rate: None,
        connections: 16,
        key: BENCH,
    },
];

/// The gateway's CPU time so far (user + system), from `/proc`.
fn cpu_time(pid: u32) -> Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command (which may hold spaces) start after ')'.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    // utime and stime are fields 14 and 15 of the line, 12 and 13 here.
    let total = ticks(11) + ticks(12);
    Ok(Duration::from_secs_f64(total as f64 / clock_ticks() as f64))
}

fn clock_ticks() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100)
}

/// A `/proc/<pid>/status` field in KiB.
fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Samples the gateway's resident set while a run lasts; the peak in KiB.
struct RssSampler {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<u64>,
}

impl RssSampler {
    fn start(pid: u32) -> RssSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut peak = 0;
            while !flag.load(Ordering::Relaxed) {
                peak = peak.max(status_kib(pid, "VmRSS:").unwrap_or(0));
                std::thread::sleep(Duration::from_millis(20));
            }
            peak
        });
        RssSampler { stop, thread }
    }

    fn finish(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap_or(0)
    }
}

fn run_json(command: &mut Command) -> Result<Value> {
    let output = command.stderr(Stdio::inherit()).output()?;
    if !output.status.success() {
        bail!("{command:?} failed ({})", output.status);
    }
    Ok(serde_json::from_slice(&output.stdout)?)
}

/// One load run: what `lictor-load` measured, with the CPU time and peak
/// resident set of the process `pid` that served it.
struct Load<'a> {
    name: &'a str,
    url: &'a str,
    key: &'a str,
    agent: &'a str,
    scenario: &'a str,
    connections: usize,
    rate: Option<u64>,
}

fn measure(load: &Path, pid: u32, run: &Load, quick: bool) -> Result<Value> {
    let (duration, warmup) = if quick { ("1", "0.2") } else { ("10", "2") };
    let mut command = Command::new(load);
    command.args([
        "load",
        "--url",
        run.url,
        "--key",
        run.key,
        "--agent",
        run.agent,
        "--scenario",
        run.scenario,
        "--connections",
        &run.connections.to_string(),
        "--duration",
        duration,
        "--warmup",
        warmup,
    ]);
    if let Some(rate) = run.rate {
        command.args(["--rate", &rate.to_string()]);
    }
    let cpu_before = cpu_time(pid)?;
    let sampler = RssSampler::start(pid);
    let outcome = run_json(&mut command)?;
    let peak_rss_kib = sampler.finish();
    let cpu = cpu_time(pid)? - cpu_before;
    let count = |field: &str| outcome[field].as_u64().unwrap_or(0);
    let served = count("requests") - count("errors");
    let failed = count("errors") - count("unsent");
    if count("answered_total") == 0 || (served == 0 && failed > 0) {
        // Not a timing: a run whose requests all fail, or that never got
        // an answer, means the bench (or the gateway) is broken. A run
        // whose measured requests were all left unsent only says that this
        // machine is far slower than the rate: a figure, not a failure.
        bail!("{}: no request was served; first error: {}", run.name, outcome["first_error"]);
    }
    // The CPU time covers the warm-up too: divide by everything answered.
    let answered = outcome["answered_total"].as_u64().unwrap_or(0);
    let cpu_us = if answered > 0 { cpu.as_secs_f64() * 1e6 / answered as f64 } else { 0.0 };
    let mut row = json!({"name": run.name, "scenario": run.scenario, "peak_rss_mib": peak_rss_kib as f64 / 1024.0,
        "cpu_us_per_decision": cpu_us});
    if let (Some(row), Some(outcome)) = (row.as_object_mut(), outcome.as_object()) {
        row.extend(outcome.clone());
    }
    println!(
        "    {:<30} {:>9.0}/s  p50 {:>6} µs  p90 {:>6} µs  p99 {:>6} µs  p99.9 {:>6} µs  errors {:>5} ({} unsent)  limit blocks {}  cpu {:>6.1} µs/decision  rss {:>6.1} MiB",
        run.name,
        row["rps"].as_f64().unwrap_or(0.0),
        row["latency_us"]["p50"],
        row["latency_us"]["p90"],
        row["latency_us"]["p99"],
        row["latency_us"]["p999"],
        row["errors"],
        row["unsent"],
        row["limit_blocks"],
        cpu_us,
        row["peak_rss_mib"].as_f64().unwrap_or(0.0),
    );
    if let Some(error) = row["first_error"].as_str() {
        println!("      first error: {}", error.chars().take(300).collect::<String>());
    }
    Ok(row)
}

/// Runs every load run against `gateway`; one JSON object per run.
fn drive(load: &Path, gateway: &Gateway, provisioned: &Value, quick: bool) -> Result<Vec<Value>> {
    let mut results = Vec::new();
    for run in RUNS {
        let spec = Load {
            name: run.name,
            url: &gateway.url,
            key: provisioned[run.key].as_str().unwrap_or_default(),
            agent: provisioned["agent"].as_str().unwrap_or_default(),
            scenario: run.scenario,
            connections: run.connections,
            rate: run.rate,
        };
        let before = gateway::cache_lookups(&gateway.url)?;
        let mut row = measure(load, gateway.process.pid(), &spec, quick)?;
        let after = gateway::cache_lookups(&gateway.url)?;
        row["cache_hits"] = cache_hits(&before, &after);
        if let Some(text) = cache_text(&row["cache_hits"]) {
            println!("      caches: {text}");
        }
        results.push(row);
    }
    Ok(results)
}

/// Each cache's lookups during a run and the share answered from memory.
fn cache_hits(
    before: &std::collections::BTreeMap<String, (f64, f64)>,
    after: &std::collections::BTreeMap<String, (f64, f64)>,
) -> Value {
    let mut caches = serde_json::Map::new();
    for (cache, (hits, misses)) in after {
        let (hits_before, misses_before) = before.get(cache).copied().unwrap_or_default();
        let (hits, misses) = (hits - hits_before, misses - misses_before);
        if hits + misses > 0.0 {
            caches
                .insert(cache.clone(), json!({"lookups": hits + misses, "hit_rate": hits / (hits + misses)}));
        }
    }
    Value::Object(caches)
}

/// `api_keys 100.0% of 41,234, …`: the caches a run used.
fn cache_text(hits: &Value) -> Option<String> {
    let caches = hits.as_object().filter(|c| !c.is_empty())?;
    let parts: Vec<String> = caches
        .iter()
        .map(|(cache, figure)| {
            format!(
                "{cache} {:.2}% of {:.0}",
                figure["hit_rate"].as_f64().unwrap_or(0.0) * 100.0,
                figure["lookups"].as_f64().unwrap_or(0.0)
            )
        })
        .collect();
    Some(parts.join(", "))
}

/// The side-by-side row's name.
const OPA_ROW: &str = "OPA: POST /v1/data/lictor/decision, default bundle, no audit, closed loop";

/// Why there is no IntentGate row.
const INTENTGATE_SKIPPED: &str = "its Go module (github.com/NetGnarus/intentgate-gateway) is not served by \
     the Go module proxy, the only source of Go code this machine reaches";

/// Other systems on the same machine, driven by the same `lictor-load`
/// as the gateway's runs: OPA serving the default bundle (installed as
/// `cargo xtask opa` installs it; in the smoke run only if already there),
/// and IntentGate's MCP path when it can be installed.
fn side_by_side(root: &Path, load: &Path, quick: bool) -> Result<Vec<Value>> {
    println!("==> side by side");
    let mut rows = Vec::new();
    let binary = if quick {
        let installed = root.join("target/tools/opa");
        match std::env::var_os("LICTOR_OPA").map(std::path::PathBuf::from) {
            Some(path) => Ok(path),
            None if installed.exists() => Ok(installed),
            None => Err(anyhow::anyhow!("not installed (the smoke run installs nothing)")),
        }
    } else {
        crate::opa::opa_binary(root)
    };
    match binary {
        Ok(binary) => {
            let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
            let addr = format!("127.0.0.1:{port}");
            let module = root.join("policies/default/lictor.rego");
            let server = Process(
                Command::new(&binary)
                    .args(["run", "--server", "--log-level", "error", "--addr", &addr])
                    .arg(&module)
                    .stdout(Stdio::null())
                    .stderr(Stdio::inherit())
                    .spawn()
                    .context("starting `opa run --server`")?,
            );
            wait_healthy(&addr)?;
            let url = format!("http://{addr}");
            let spec = Load {
                name: OPA_ROW,
                url: &url,
                key: "unused",
                agent: "bench-agent",
                scenario: "opa",
                connections: 16,
                rate: None,
            };
            let mut row = measure(load, server.pid(), &spec, quick)?;
            row["system"] = json!(format!("OPA {}", crate::opa::VERSION));
            rows.push(row);
        }
        Err(error) => {
            println!("    OPA: skipped ({error:#})");
            rows.push(json!({"name": OPA_ROW, "skipped": format!("{error:#}")}));
        }
    }
    println!("    IntentGate: skipped ({INTENTGATE_SKIPPED})");
    rows.push(
        json!({"name": "IntentGate (Go): MCP tools/call, same upstream", "skipped": INTENTGATE_SKIPPED}),
    );
    Ok(rows)
}

/// Waits until the server at `addr` answers `GET /health` with `200`.
fn wait_healthy(addr: &str) -> Result<()> {
    use std::io::{Read, Write};
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while std::time::Instant::now() < deadline {
        if let Ok(mut stream) = std::net::TcpStream::connect(addr) {
            let _ = stream.write_all(b"GET /health HTTP/1.0\r\nHost: localhost\r\n\r\n");
            let mut answer = String::new();
            let _ = stream.read_to_string(&mut answer);
            if answer.starts_with("HTTP/1.1 200") || answer.starts_with("HTTP/1.0 200") {
                return Ok(());
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!("{addr} did not become healthy within 15 s")
}

/// Benchmarks one backend: readiness, provisioning, every run.
fn backend(
    root: &Path,
    name: &str,
    database_url: Option<&str>,
    upstream: &str,
    quick: bool,
) -> Result<Value> {
    let profile = if quick { "debug" } else { "release" };
    let binary = root.join("target/").join(profile).join("lictor");
    let load = root.join("target/").join(profile).join("lictor-load");
    let admin_key = format!("lictor_admin_bench_{}_0123456789abcdefghijkl", std::process::id());
    let data = std::env::temp_dir().join(format!("lictor-bench-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    println!("==> {name}");
    // First start: an empty store (migrations, keys); then a restart.
    let level = std::env::var("LICTOR_BENCH_LOG_LEVEL").unwrap_or_else(|_| "error".into());
    let cold = gateway::start(&binary, &data, &admin_key, database_url, None, &level)?;
    let cold_ms = cold.ready_ms;
    cold.process.terminate();
    let gateway = gateway::start(&binary, &data, &admin_key, database_url, None, &level)?;
    println!(
        "    ready in {cold_ms:.1} ms from process start (empty store), {:.1} ms (restart)",
        gateway.ready_ms
    );
    let provisioned = run_json(Command::new(&load).args([
        "provision",
        "--url",
        &gateway.url,
        "--admin-key",
        &admin_key,
        "--upstream",
        upstream,
        "--policies",
        &root.join("policies").to_string_lossy(),
    ]))?;
    println!(
        "    provisioned tenant `bench`: bundle {} ({} modules: default + templates)",
        &provisioned["bundle_hash"].as_str().unwrap_or_default().chars().take(12).collect::<String>(),
        provisioned["modules"]
    );
    let runs = drive(&load, &gateway, &provisioned, quick)?;
    let pid = gateway.process.pid();
    let peak_kib = status_kib(pid, "VmHWM:").unwrap_or(0);
    let after_load_kib = status_kib(pid, "VmRSS:").unwrap_or(0);
    let restart_ms = gateway.ready_ms;
    gateway.process.terminate();
    // The reads run on a gateway restarted over the whole log: what they
    // keep is measured on its own, not on top of the allocator caches the
    // load left behind (reported beside it as `rss_after_load_mib`).
    let reader = gateway::start(&binary, &data, &admin_key, database_url, None, &level)?;
    println!(
        "    restarted over the full log: ready in {:.1} ms; the load had left {:.1} MiB resident",
        reader.ready_ms,
        after_load_kib as f64 / 1024.0
    );
    let mut audit = audit_read(&load, &reader, &admin_key, quick)?;
    audit["rss_after_load_mib"] = json!(after_load_kib as f64 / 1024.0);
    audit["ready_ms_full_log"] = json!(reader.ready_ms);
    reader.process.terminate();
    let _ = std::fs::remove_dir_all(&data);
    Ok(json!({"backend": name, "ready_ms_empty_store": cold_ms, "ready_ms_restart": restart_ms,
        "process_peak_rss_mib": peak_kib as f64 / 1024.0, "bundle_modules": provisioned["modules"], "runs": runs,
        "audit_read": audit}))
}

/// How long the gateway is left idle after the audit reads before its
/// resident set is read again (what it keeps, not what it used).
const IDLE_AFTER_READS: Duration = Duration::from_secs(20);

/// Verifies and exports the bench tenant's whole log (every entry the
/// runs wrote); the gateway's resident set right after, and once idle.
fn audit_read(load: &Path, gateway: &Gateway, admin_key: &str, quick: bool) -> Result<Value> {
    let pid = gateway.process.pid();
    let before = status_kib(pid, "VmRSS:").unwrap_or(0);
    let mut read = run_json(Command::new(load).args([
        "audit-read",
        "--url",
        &gateway.url,
        "--admin-key",
        admin_key,
        "--tenant",
        "bench",
    ]))?;
    let after = status_kib(pid, "VmRSS:").unwrap_or(0);
    if !quick {
        std::thread::sleep(IDLE_AFTER_READS);
    }
    let idle = status_kib(pid, "VmRSS:").unwrap_or(0);
    let mib = |kib: u64| kib as f64 / 1024.0;
    println!(
        "    audit: verified {} entries in {:.1} s, exported {:.0} MiB in {:.1} s; rss {:.1} MiB before, {:.1} MiB after, {:.1} MiB idle",
        read["verified"],
        read["verify_s"].as_f64().unwrap_or(0.0),
        read["export_bytes"].as_f64().unwrap_or(0.0) / 1048576.0,
        read["export_s"].as_f64().unwrap_or(0.0),
        mib(before),
        mib(after),
        mib(idle),
    );
    if let Some(object) = read.as_object_mut() {
        object.insert("rss_before_mib".into(), json!(mib(before)));
        object.insert("rss_after_mib".into(), json!(mib(after)));
        object.insert("rss_idle_mib".into(), json!(mib(idle)));
    }
    Ok(read)
}

/// Entry point.
pub fn bench(root: &Path, args: &[String]) -> Result<()> {
    let quick = args.iter().any(|a| a == "--quick");
    let postgres = !args.iter().any(|a| a == "--no-postgres");
    let micro = !args.iter().any(|a| a == "--no-micro");
    if let Some(unknown) =
        args.iter().find(|a| !["--quick", "--no-postgres", "--no-micro"].contains(&a.as_str()))
    {
        bail!("unknown argument {unknown}: usage: cargo xtask bench [--quick] [--no-postgres] [--no-micro]");
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    // The smoke run reuses the test build (debug): it checks that the
    // bench works, not how fast.
    let mut build = vec!["build", "--locked", "--bin", "lictor", "--bin", "lictor-load"];
    if !quick {
        build.push("--release");
    }
    crate::run(root, &cargo, &build)?;
    let profile = if quick { "debug" } else { "release" };
    let upstream = Process(
        Command::new(root.join("target").join(profile).join("lictor-load"))
            .args(["upstream"])
            .stdout(Stdio::piped())
            .spawn()
            .context("starting the bench upstream")?,
    );
    let mut upstream = upstream;
    let stdout = upstream.0.stdout.take().context("no stdout")?;
    let mut upstream_url = String::new();
    BufReader::new(stdout).read_line(&mut upstream_url)?;
    let upstream_url = upstream_url.trim().to_string();
    let mut backends = vec![backend(root, "sqlite", None, &upstream_url, quick)?];
    if postgres {
        // Durable, like the SQLite runs: commits reach the disk.
        match Cluster::start(Settings { name: "lictor-bench-pg", durable: true })? {
            Some(cluster) => backends.push(backend(
                root,
                "postgres",
                Some(&cluster.url("postgres")),
                &upstream_url,
                quick,
            )?),
            None => println!("==> postgres: no PostgreSQL server binaries (initdb, pg_ctl), skipped"),
        }
    }
    drop(upstream);
    let side = side_by_side(root, &root.join("target").join(profile).join("lictor-load"), quick)?;
    let micro = if micro { criterion(root, quick)? } else { Value::Null };
    let report = json!({
        "date": today(),
        "machine": machine(),
        "quick": quick,
        "backends": backends,
        "side_by_side": side,
        "micro": micro,
    });
    let targets = targets(&report);
    println!(
        "\n==> figures beside their targets{}",
        if quick { " (smoke run: not representative)" } else { "" }
    );
    let table = markdown(&report, &targets);
    println!("{table}");
    if quick {
        println!("(--quick: nothing written; timings are not asserted)");
        return Ok(());
    }
    let dir = root.join("bench/results");
    std::fs::create_dir_all(&dir)?;
    let date = today();
    let mut report = report;
    report["targets"] = Value::Array(targets);
    std::fs::write(dir.join(format!("{date}.json")), serde_json::to_string_pretty(&report)? + "\n")?;
    std::fs::write(dir.join(format!("{date}.md")), table)?;
    println!("wrote bench/results/{date}.json and bench/results/{date}.md");
    Ok(())
}

/// The criterion stage benchmarks: run, then read back from
/// `target/criterion/<group>/<bench>/new/` (mean time per iteration and,
/// where declared, elements per iteration).
fn criterion(root: &Path, quick: bool) -> Result<Value> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    // The smoke run: `cargo test` runs each criterion benchmark once, on
    // the test build.
    let mut args = vec![
        if quick { "test" } else { "bench" },
        "--locked",
        "-p",
        "lictor-offline",
        "-p",
        "lictor-server",
        "--bench",
        "offline",
        "--bench",
        "pipeline",
        "--bench",
        "sqlite_driver",
    ];
    if !quick {
        args.extend(["--", "--warm-up-time", "1", "--measurement-time", "3", "--noplot"]);
    }
    let started = std::time::SystemTime::now();
    crate::run(root, &cargo, &args)?;
    if quick {
        return Ok(Value::Null);
    }
    let mut figures = serde_json::Map::new();
    let base = root.join("target/criterion");
    for group in std::fs::read_dir(&base).with_context(|| format!("reading {}", base.display()))? {
        let group = group?.path();
        for bench in std::fs::read_dir(&group)?.filter_map(Result::ok).map(|e| e.path()) {
            let new = bench.join("new");
            // Only what this run measured: `target/criterion` keeps older runs.
            let fresh = std::fs::metadata(new.join("estimates.json"))
                .and_then(|m| m.modified())
                .is_ok_and(|modified| modified >= started);
            if !fresh {
                continue;
            }
            let (Ok(estimates), Ok(meta)) = (
                std::fs::read_to_string(new.join("estimates.json")),
                std::fs::read_to_string(new.join("benchmark.json")),
            ) else {
                continue;
            };
            let estimates: Value = serde_json::from_str(&estimates)?;
            let meta: Value = serde_json::from_str(&meta)?;
            let mean_ns = estimates["mean"]["point_estimate"].as_f64().unwrap_or(0.0);
            let elements = meta["throughput"]["Elements"].as_f64();
            let mut figure = json!({"mean_ns": mean_ns});
            if let Some(elements) = elements.filter(|_| mean_ns > 0.0) {
                figure["elements"] = json!(elements);
                figure["elements_per_s"] = json!(elements * 1e9 / mean_ns);
            }
            let id = meta["full_id"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| format!("{}/{}", file_name(&group), file_name(&bench)));
            figures.insert(id, figure);
        }
    }
    Ok(Value::Object(figures))
}

fn file_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

fn today() -> String {
    Command::new("date")
        .arg("+%Y-%m-%d")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|| "undated".into())
}

/// The machine, as the report names it: CPUs, model, memory, kernel.
fn machine() -> Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, m)| m.trim().to_string());
    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let memory_kib = std::fs::read_to_string("/proc/meminfo").ok().and_then(|m| {
        m.lines().next().and_then(|l| l.split_whitespace().nth(1)).and_then(|v| v.parse::<u64>().ok())
    });
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    json!({"cpus": cpus, "model": model, "memory_gib": memory_kib.map(|k| k as f64 / 1048576.0),
        "kernel": kernel.trim()})
}

/// A figure beside its target.
struct Target {
    what: &'static str,
    target: &'static str,
    /// The measured value, formatted, and whether it meets the target.
    measured: Option<(String, bool)>,
}

fn run_of<'a>(report: &'a Value, backend: &str, name: &str) -> Option<&'a Value> {
    report["backends"].as_array()?.iter().find(|b| b["backend"] == backend)?["runs"]
        .as_array()?
        .iter()
        .find(|r| r["name"] == name)
}

fn micro_of<'a>(report: &'a Value, id: &str) -> Option<&'a Value> {
    report["micro"].get(id)
}

fn targets(report: &Value) -> Vec<Value> {
    let mut list = Vec::new();
    let ge = |v: f64, t: f64| v >= t;
    let le = |v: f64, t: f64| v <= t;
    let sqlite_closed = run_of(report, "sqlite", "intents, closed loop");
    let sqlite_rps = sqlite_closed.and_then(|r| r["rps"].as_f64());
    list.push(Target {
        what: "decisions/s sustained, durable audit, SQLite (intents, closed loop), 7-module bench bundle",
        target: ">= 5,000/s",
        measured: sqlite_rps.map(|v| (format!("{v:.0}/s"), ge(v, 5_000.0))),
    });
    list.push(Target {
        what: "decisions/s sustained, durable audit, SQLite (intents, closed loop), the default bundle alone",
        target: ">= 10,000/s",
        measured: run_of(report, "sqlite", "intents, closed loop, default bundle")
            .and_then(|r| r["rps"].as_f64())
            .map(|v| (format!("{v:.0}/s"), ge(v, 10_000.0))),
    });
    list.push(Target {
        what: "PostgreSQL's intents closed loop, as a share of SQLite's",
        target: ">= 60 %",
        measured: run_of(report, "postgres", "intents, closed loop")
            .and_then(|r| r["rps"].as_f64())
            .zip(sqlite_rps.filter(|v| *v > 0.0))
            .map(|(pg, sqlite)| (format!("{:.0} %", pg * 100.0 / sqlite), ge(pg / sqlite, 0.6))),
    });
    list.push(Target {
        what: "MCP tools/call through a local upstream, durable, SQLite, closed loop, default bundle",
        target: ">= 9,000/s",
        measured: run_of(report, "sqlite", "mcp tools/call, closed loop")
            .and_then(|r| r["rps"].as_f64())
            .map(|v| (format!("{v:.0}/s"), ge(v, 9_000.0))),
    });
    list.push(Target {
        what: "MCP tools/call p99 at 2,000 rps open loop, SQLite, default bundle",
        target: "<= 2,000 µs",
        measured: run_of(report, "sqlite", "mcp tools/call, 2,000 rps")
            .and_then(|r| r["latency_us"]["p99"].as_f64())
            .map(|v| (format!("{v:.0} µs"), le(v, 2_000.0))),
    });
    list.push(Target {
        what: "policy per decision, default bundle (pipeline_policy/evaluate_approve)",
        target: "<= 40 µs",
        measured: micro_of(report, "pipeline_policy/evaluate_approve")
            .and_then(|m| m["mean_ns"].as_f64())
            .map(|ns| (format!("{:.1} µs", ns / 1e3), le(ns / 1e3, 40.0))),
    });
    list.push(Target {
        what: "commit per decision, amortised over a group of 64 (audit_group_commit/batch_64)",
        target: "<= 40 µs",
        measured: micro_of(report, "audit_group_commit/batch_64")
            .and_then(|m| m["mean_ns"].as_f64())
            .map(|ns| (format!("{:.1} µs", ns / 64e3), le(ns / 64e3, 40.0))),
    });
    let at_2000 = run_of(report, "sqlite", "intents, 2,000 rps");
    list.push(Target {
        what: "p50 at 2,000 rps open loop, SQLite",
        target: "<= 250 µs",
        measured: at_2000
            .and_then(|r| r["latency_us"]["p50"].as_f64())
            .map(|v| (format!("{v:.0} µs"), le(v, 250.0))),
    });
    list.push(Target {
        what: "p99 at 2,000 rps open loop, SQLite",
        target: "<= 1,000 µs",
        measured: at_2000
            .and_then(|r| r["latency_us"]["p99"].as_f64())
            .map(|v| (format!("{v:.0} µs"), le(v, 1_000.0))),
    });
    list.push(Target {
        what: "in-process pipeline per decision (pipeline_cpu/decide_approve)",
        target: "<= 25 µs",
        measured: micro_of(report, "pipeline_cpu/decide_approve")
            .and_then(|m| m["mean_ns"].as_f64())
            .map(|ns| (format!("{:.1} µs", ns / 1e3), le(ns / 1e3, 25.0))),
    });
    list.push(Target {
        what: "audit verify (audit_verify/sqlite_50k)",
        target: ">= 1,000,000 entries/s",
        measured: micro_of(report, "audit_verify/sqlite_50k")
            .and_then(|m| m["elements_per_s"].as_f64())
            .map(|v| (format!("{v:.0} entries/s"), ge(v, 1_000_000.0))),
    });
    list.push(Target {
        what: "export (audit_export/ndjson_50k)",
        target: ">= 500,000 entries/s",
        measured: micro_of(report, "audit_export/ndjson_50k")
            .and_then(|m| m["elements_per_s"].as_f64())
            .map(|v| (format!("{v:.0} entries/s"), ge(v, 500_000.0))),
    });
    list.push(Target {
        what: "peak RSS at 5,000 rps, SQLite",
        target: "<= 100 MiB",
        measured: run_of(report, "sqlite", "intents, 5,000 rps")
            .and_then(|r| r["peak_rss_mib"].as_f64())
            .map(|v| (format!("{v:.1} MiB"), le(v, 100.0))),
    });
    let sqlite = report["backends"].as_array().and_then(|b| b.iter().find(|b| b["backend"] == "sqlite"));
    list.push(Target {
        what: "resident once idle after verifying and exporting the whole log (gateway restarted over it), SQLite",
        target: "<= 100 MiB",
        measured: sqlite
            .and_then(|b| b["audit_read"]["rss_idle_mib"].as_f64())
            .map(|v| (format!("{v:.1} MiB"), le(v, 100.0))),
    });
    list.push(Target {
        what: "ready from process start, SQLite (restart / empty store)",
        target: "<= 100 ms",
        measured: sqlite
            .and_then(|b| Some((b["ready_ms_restart"].as_f64()?, b["ready_ms_empty_store"].as_f64()?)))
            .map(|(restart, empty)| {
                (format!("{restart:.1} ms / {empty:.1} ms"), le(restart.max(empty), 100.0))
            }),
    });
    list.into_iter()
        .map(|t| {
            let (measured, met) = match t.measured {
                Some((m, met)) => (Value::String(m), Value::Bool(met)),
                None => (Value::Null, Value::Null),
            };
            json!({"what": t.what, "target": t.target, "measured": measured, "met": met})
        })
        .collect()
}

/// The report as markdown: targets, then every load run, then every stage.
fn markdown(report: &Value, targets: &[Value]) -> String {
    let mut out = String::new();
    let machine = &report["machine"];
    out += &format!(
        "Measured {} on {} CPUs ({}), {:.0} GiB, Linux {}; load generator on the same machine.\n\n",
        report["date"].as_str().unwrap_or_default(),
        machine["cpus"],
        machine["model"].as_str().unwrap_or("unknown CPU"),
        machine["memory_gib"].as_f64().unwrap_or(0.0),
        machine["kernel"].as_str().unwrap_or_default(),
    );
    out += "| Figure | Target | Measured | Met |\n|---|---|---|---|\n";
    for t in targets {
        let met = match t["met"].as_bool() {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "not measured",
        };
        out += &format!(
            "| {} | {} | {} | {met} |\n",
            t["what"].as_str().unwrap_or_default(),
            t["target"].as_str().unwrap_or_default(),
            t["measured"].as_str().unwrap_or("—")
        );
    }
    for backend in report["backends"].as_array().into_iter().flatten() {
        out += &format!(
            "\n**{}** — ready in {:.1} ms (empty store), {:.1} ms (restart); process peak RSS {:.1} MiB\n\n",
            backend["backend"].as_str().unwrap_or_default(),
            backend["ready_ms_empty_store"].as_f64().unwrap_or(0.0),
            backend["ready_ms_restart"].as_f64().unwrap_or(0.0),
            backend["process_peak_rss_mib"].as_f64().unwrap_or(0.0),
        );
        out += "| Run | Served/s | p50 µs | p90 µs | p99 µs | p99.9 µs | Errors | Limit blocks | CPU µs/decision | Peak RSS MiB | Cache hits (of lookups) |\n";
        out += "|---|---|---|---|---|---|---|---|---|---|---|\n";
        for run in backend["runs"].as_array().into_iter().flatten() {
            let l = &run["latency_us"];
            out += &format!(
                "| {} | {:.0} | {} | {} | {} | {} | {} | {} | {:.1} | {:.1} | {} |\n",
                run["name"].as_str().unwrap_or_default(),
                run["rps"].as_f64().unwrap_or(0.0),
                l["p50"],
                l["p90"],
                l["p99"],
                l["p999"],
                run["errors"],
                run["limit_blocks"],
                run["cpu_us_per_decision"].as_f64().unwrap_or(0.0),
                run["peak_rss_mib"].as_f64().unwrap_or(0.0),
                cache_text(&run["cache_hits"]).unwrap_or_default(),
            );
        }
        let read = &backend["audit_read"];
        if read.is_object() {
            out += &format!(
                "\nAudit reads, on the gateway restarted over the full log (ready in {:.1} ms; the load had left \
                 {:.1} MiB resident): verified {} entries in {:.1} s, exported {:.0} MiB in {:.1} s; resident \
                 {:.1} MiB before, {:.1} MiB after, {:.1} MiB once idle.\n",
                read["ready_ms_full_log"].as_f64().unwrap_or(0.0),
                read["rss_after_load_mib"].as_f64().unwrap_or(0.0),
                read["verified"],
                read["verify_s"].as_f64().unwrap_or(0.0),
                read["export_bytes"].as_f64().unwrap_or(0.0) / 1048576.0,
                read["export_s"].as_f64().unwrap_or(0.0),
                read["rss_before_mib"].as_f64().unwrap_or(0.0),
                read["rss_after_mib"].as_f64().unwrap_or(0.0),
                read["rss_idle_mib"].as_f64().unwrap_or(0.0),
            );
        }
    }
    if let Some(rows) = report["side_by_side"].as_array() {
        out += "\n**Side by side** — other systems on the same machine, driven by the same load tool\n\n";
        out += "| System, path | Served/s | p50 µs | p99 µs | Errors | CPU µs/request |\n|---|---|---|---|---|---|\n";
        for row in rows {
            match row["skipped"].as_str() {
                Some(why) => {
                    out += &format!(
                        "| {} | not measured: {why} | | | | |\n",
                        row["name"].as_str().unwrap_or_default()
                    )
                }
                None => {
                    out += &format!(
                        "| {} ({}) | {:.0} | {} | {} | {} | {:.1} |\n",
                        row["name"].as_str().unwrap_or_default(),
                        row["system"].as_str().unwrap_or_default(),
                        row["rps"].as_f64().unwrap_or(0.0),
                        row["latency_us"]["p50"],
                        row["latency_us"]["p99"],
                        row["errors"],
                        row["cpu_us_per_decision"].as_f64().unwrap_or(0.0),
                    )
                }
            }
        }
    }
    if let Some(micro) = report["micro"].as_object() {
        out += "\n| Stage (criterion) | Mean per iteration | Throughput |\n|---|---|---|\n";
        for (id, figure) in micro {
            let ns = figure["mean_ns"].as_f64().unwrap_or(0.0);
            let time = if ns >= 1e6 {
                format!("{:.2} ms", ns / 1e6)
            } else if ns >= 1e3 {
                format!("{:.2} µs", ns / 1e3)
            } else {
                format!("{ns:.0} ns")
            };
            let rate = figure["elements_per_s"].as_f64().map(|r| format!("{r:.0}/s")).unwrap_or_default();
            out += &format!("| `{id}` | {time} | {rate} |\n");
        }
    }
    out
}
