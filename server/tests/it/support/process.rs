//! The real `lictor` binary as a child process: for tests of what only
//! separate processes show (SIGKILL, replicas that share nothing but the
//! database).

use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use super::{ADMIN_KEY, Answer, Backend, UNTHROTTLED};

const SIGKILL: i32 = 9;

/// One running `lictor serve`. It is killed (SIGKILL) when dropped, so a
/// failing test leaves no gateway behind.
pub struct Process {
    child: Child,
    url: String,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

/// The store the gateway's lives share: one data directory and, for
/// PostgreSQL, one database. The gateway's stderr goes to `gateway.log` in
/// the directory, printed if the test fails.
pub struct Deployment {
    dir: tempfile::TempDir,
    database_url: Option<String>,
    /// The signing keys (a replica shares its store's).
    keys_file: std::path::PathBuf,
    /// An address-space limit for the process (KiB, `ulimit -v`): an
    /// allocation beyond it fails instead of being overcommitted.
    address_space_kib: Option<u64>,
    /// Environment variables the gateways started from now on get.
    env: Vec<(String, String)>,
    process: Option<Process>,
}

impl Drop for Deployment {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let log = std::fs::read_to_string(self.dir.path().join("gateway.log")).unwrap_or_default();
            eprintln!("---- gateway stderr ----\n{log}---- end of gateway stderr ----");
        }
    }
}

impl Deployment {
    /// A fresh store: a data directory and, for PostgreSQL, a new database.
    pub async fn new(backend: Backend) -> Deployment {
        let database_url = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => Some(crate::support::postgres::fresh_database().await),
        };
        let dir = tempfile::tempdir().unwrap();
        let keys_file = dir.path().join("keys.json");
        Deployment { dir, database_url, keys_file, address_space_kib: None, env: Vec::new(), process: None }
    }

    /// Another deployment's PostgreSQL database, with a data directory of
    /// its own: a second replica.
    pub fn replica_of(other: &Deployment) -> Deployment {
        assert!(other.database_url.is_some(), "replicas share a PostgreSQL database");
        Deployment {
            dir: tempfile::tempdir().unwrap(),
            database_url: other.database_url.clone(),
            keys_file: other.keys_file.clone(),
            address_space_kib: None,
            env: Vec::new(),
            process: None,
        }
    }

    /// Limits the address space of the gateways started from now on.
    pub fn limit_address_space(&mut self, kib: u64) {
        self.address_space_kib = Some(kib);
    }

    /// Sets `name` in the environment of the gateways started from now on.
    pub fn set_env(&mut self, name: &str, value: &str) {
        self.env.push((name.to_string(), value.to_string()));
    }

    /// Starts the binary on the deployment's store; answers its base URL.
    pub async fn start(&mut self) -> String {
        self.start_with(&[]).await
    }

    /// Starts the binary with extra `serve` flags.
    pub async fn start_with(&mut self, extra: &[&str]) -> String {
        assert!(self.process.is_none(), "the gateway is already running");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("gateway.log"))
            .unwrap();
        let mut command = match self.address_space_kib {
            None => Command::new(env!("CARGO_BIN_EXE_lictor")),
            Some(kib) => {
                let mut shell = Command::new("sh");
                shell.args([
                    "-c",
                    &format!("ulimit -v {kib} && exec \"$0\" \"$@\""),
                    env!("CARGO_BIN_EXE_lictor"),
                ]);
                shell
            }
        };
        command.args(["serve", "--listen", "127.0.0.1:0"]);
        // Quiet unless the test asks for more.
        if !extra.contains(&"--log-level") {
            command.args(["--log-level", "warn"]);
        }
        command
            .arg("--data-dir")
            .arg(self.dir.path().join("data"))
            // A debug build under this load can exceed the default 100 ms per
            // evaluation, which blocks (fail closed): keep the verdicts what
            // the bundle says, since durability is what is under test.
            .args(["--policy-time-limit-ms", "10000"])
            .arg("--keys-file")
            .arg(&self.keys_file)
            .args(extra);
        if let Some(url) = &self.database_url {
            command.args(["--database-url", url]);
        }
        // Only the flags above configure it, whatever the test's environment holds.
        for (name, _) in std::env::vars_os() {
            let name_text = name.to_string_lossy();
            if name_text.starts_with("LICTOR_") || name_text.starts_with("OTEL_") || name_text == "RUST_LOG" {
                command.env_remove(&name);
            }
        }
        command
            .env_remove("DATABASE_URL")
            .env("LICTOR_ADMIN_KEY", ADMIN_KEY)
            .envs(self.env.iter().map(|(name, value)| (name, value)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .kill_on_drop(true);
        let mut child = command.spawn().unwrap_or_else(|e| panic!("cannot start the gateway: {e}"));
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
            .await
            .unwrap_or_else(|_| panic!("the gateway did not start within 60 s"))
            .unwrap()
            .unwrap_or_else(|| panic!("the gateway exited before listening: {:?}", child.try_wait()));
        // Keep reading so the gateway never writes into a closed pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let url = first
            .strip_prefix("lictor listening on ")
            .unwrap_or_else(|| panic!("unexpected first line from the gateway: {first:?}"))
            .to_string();
        self.process = Some(Process { child, url: url.clone() });
        url
    }

    /// What the gateway wrote to its stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("gateway.log")).unwrap_or_default()
    }

    /// Kills the gateway with SIGKILL (no graceful stop) and checks that
    /// this is what ended it.
    pub async fn kill(&mut self) {
        let mut process = self.process.take().unwrap_or_else(|| panic!("no gateway to kill"));
        let alive = process.child.try_wait().unwrap();
        assert!(alive.is_none(), "the gateway died on its own before the kill: {alive:?}");
        process.child.start_kill().unwrap();
        let status = process.child.wait().await.unwrap();
        assert_eq!(status.signal(), Some(SIGKILL), "the gateway must die of SIGKILL, not {status:?}");
    }

    /// Sends `signal` (`TERM`, `HUP`, …) to the gateway, without waiting.
    pub fn signal(&self, signal: &str) {
        let pid = self.pid().to_string();
        let sent = std::process::Command::new("kill").args([&format!("-{signal}"), &pid]).status().unwrap();
        assert!(sent.success(), "kill -{signal} {pid} failed");
    }

    /// Waits at most `within` for the gateway to exit; answers how it did.
    pub async fn wait_exit(&mut self, within: Duration) -> std::process::ExitStatus {
        let mut process = self.process.take().unwrap_or_else(|| panic!("no gateway running"));
        tokio::time::timeout(within, process.child.wait())
            .await
            .unwrap_or_else(|_| panic!("the gateway did not exit within {within:?}"))
            .unwrap()
    }

    /// Whether a gateway process is running.
    pub fn is_running(&self) -> bool {
        self.process.is_some()
    }

    /// The running gateway's process id.
    pub fn pid(&self) -> u32 {
        let process = self.process.as_ref().unwrap_or_else(|| panic!("the gateway is not running"));
        process.child.id().unwrap_or_else(|| panic!("the gateway has exited"))
    }

    /// The running gateway's base URL.
    pub fn url(&self) -> &str {
        &self.process.as_ref().unwrap_or_else(|| panic!("the gateway is not running")).url
    }
}

pub async fn send(request: reqwest::RequestBuilder) -> Answer {
    let response = request.send().await.unwrap_or_else(|e| panic!("request failed: {e}"));
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.unwrap_or_else(|e| panic!("reading the answer failed: {e}"));
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Answer { status, body, headers }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap()
}

pub fn call(client: &reqwest::Client, method: Method, url: String, key: &str) -> reqwest::RequestBuilder {
    client.request(method, url).bearer_auth(key)
}

/// What the tests need of a tenant: its admin key and a live agent key.
pub struct Tenant {
    /// Its id.
    pub id: String,
    /// A live admin key.
    pub admin: String,
    /// A live agent key.
    pub live: String,
}

/// A tenant, its admin and live agent keys and agent `agent-1`, through the API.
pub async fn provision(client: &reqwest::Client, url: &str) -> Tenant {
    let id = format!("crash-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    send(call(client, Method::POST, format!("{url}/v1/admin/tenants"), ADMIN_KEY).json(&json!({
        "id": id, "name": "Crash test",
        // Load, not rate limits, is what this tenant is for.
        "rate_limits": UNTHROTTLED.clone(),
    })))
    .await
    .expect(201);
    let mut keys = Vec::new();
    for role in ["admin", "agent"] {
        let body = json!({"tenant": id, "environment": "live", "role": role, "name": format!("{role} live")});
        let created =
            send(call(client, Method::POST, format!("{url}/v1/admin/api-keys"), ADMIN_KEY).json(&body))
                .await
                .expect(201);
        keys.push(created["key"].as_str().unwrap_or_else(|| panic!("no key in {created}")).to_string());
    }
    let [admin, live] = <[String; 2]>::try_from(keys).unwrap();
    send(call(client, Method::POST, format!("{url}/v1/agents"), &admin).json(&json!({
        "id": "agent-1", "name": "Agent agent-1", "owner": "payments-team"
    })))
    .await
    .expect(201);
    Tenant { id, admin, live }
}
