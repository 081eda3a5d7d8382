//! Starting `lictor serve` for xtask's runs: the conformance replicas,
//! the README walk-through and the benchmark.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// A child process, killed when dropped.
pub struct Process(pub Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Process {
    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.0.id()
    }

    /// Stops it with SIGTERM (a graceful stop), waiting up to 10 s.
    pub fn terminate(mut self) {
        let _ = Command::new("kill").arg("-TERM").arg(self.pid().to_string()).status();
        for _ in 0..100 {
            if matches!(self.0.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// A running gateway.
pub struct Gateway {
    /// The `lictor serve` process.
    pub process: Process,
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    /// From process start to the first `200` from `/readyz`.
    pub ready_ms: f64,
}

/// `GET path` over a fresh connection; the status, or `None` if it could
/// not connect.
pub(crate) fn get_status(addr: SocketAddr, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(200)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").ok()?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

/// `PATCH path` with a JSON `body` and a bearer `key` on the gateway at
/// `url` (`http://host:port`); the answer's status.
pub fn patch_json(url: &str, key: &str, path: &str, body: &str) -> anyhow::Result<u16> {
    send_json(url, key, ("PATCH", path), body)
}

/// `METHOD path` with a JSON `body` and a bearer `key` on the gateway at
/// `url` (`http://host:port`); the answer's status.
pub fn send_json(url: &str, key: &str, (method, path): (&str, &str), body: &str) -> anyhow::Result<u16> {
    use anyhow::Context as _;
    let addr: SocketAddr = url.trim_start_matches("http://").parse().context("the gateway's address")?;
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head)?;
    std::str::from_utf8(&head[9..12])?.parse().context("the answer's status")
}

/// The metrics token every gateway the bench starts is given.
const METRICS_TOKEN: &str = "bench-metrics-token-0123456789abcdefghijklmn";

/// Each request-path cache's lookups so far, from the gateway's
/// `GET /metrics` at `url`: cache → (hits, misses).
pub fn cache_lookups(url: &str) -> anyhow::Result<std::collections::BTreeMap<String, (f64, f64)>> {
    use anyhow::Context as _;
    let addr: SocketAddr = url.trim_start_matches("http://").parse().context("the gateway's address")?;
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {METRICS_TOKEN}\r\nConnection: close\r\n\r\n"
    )?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    let (head, body) = answer.split_once("\r\n\r\n").context("an HTTP answer")?;
    if !head.starts_with("HTTP/1.1 200") {
        anyhow::bail!("GET /metrics: {}", head.lines().next().unwrap_or_default());
    }
    let mut lookups = std::collections::BTreeMap::new();
    for line in body.lines() {
        let Some(rest) = line.strip_prefix("lictor_cache_lookups_total{cache=\"") else { continue };
        let (cache, rest) = rest.split_once('"').context("a cache label")?;
        let hit = rest.starts_with(",result=\"hit\"");
        let count: f64 = rest.rsplit_once(' ').and_then(|(_, v)| v.parse().ok()).context("a count")?;
        let entry: &mut (f64, f64) = lookups.entry(cache.to_string()).or_default();
        if hit {
            entry.0 = count;
        } else {
            entry.1 = count;
        }
    }
    Ok(lookups)
}

/// Starts `lictor serve` on an ephemeral port with `data` as its data
/// directory (and `database_url` and the signing keys' file when given),
/// and waits until it is ready.
pub fn start(
    binary: &Path,
    data: &Path,
    admin_key: &str,
    database_url: Option<&str>,
    keys_file: Option<&Path>,
    log_level: &str,
) -> Result<Gateway> {
    let mut command = Command::new(binary);
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--log-level", log_level, "--data-dir"])
        .arg(data)
        .env("LICTOR_ADMIN_KEY", admin_key)
        .env("LICTOR_METRICS_TOKEN", METRICS_TOKEN)
        .env_remove("DATABASE_URL")
        .stdout(Stdio::piped());
    // Above `warn`, the log goes to a file beside the data (what a
    // production gateway writes, without flooding this terminal).
    if !["error", "warn"].contains(&log_level) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(data.with_extension("log"))?;
        command.stderr(log);
    }
    if let Some(url) = database_url {
        command.args(["--database-url", url]);
    }
    if let Some(keys) = keys_file {
        command.arg("--keys-file").arg(keys);
    }
    command.env_remove("LICTOR_KEYS").env_remove("LICTOR_KEYS_FILE");
    let started = Instant::now();
    let mut child = command.spawn().with_context(|| format!("starting {}", binary.display()))?;
    let stdout = child.stdout.take().context("no stdout")?;
    let process = Process(child);
    let mut first_line = String::new();
    BufReader::new(stdout).read_line(&mut first_line)?;
    let addr: SocketAddr = first_line
        .trim()
        .strip_prefix("lictor listening on http://")
        .and_then(|addr| addr.parse().ok())
        .with_context(|| format!("unexpected first line from the gateway: {first_line:?}"))?;
    while get_status(addr, "/readyz") != Some(200) {
        if started.elapsed() > Duration::from_secs(30) {
            bail!("the gateway was not ready within 30 s");
        }
        std::thread::sleep(Duration::from_micros(500));
    }
    let ready_ms = started.elapsed().as_secs_f64() * 1000.0;
    Ok(Gateway { process, url: format!("http://{addr}"), ready_ms })
}
