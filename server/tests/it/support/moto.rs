//! A real S3-compatible server for the tests: moto's (`moto[server]` from
//! PyPI, the version pinned in `server/tests/moto-requirements.txt`),
//! installed once into `target/moto-venv` and started on a loopback port.
//! It keeps buckets and objects in memory: a restarted server is empty.

use std::io::{Read as _, Seek as _, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

/// The pinned requirement; a venv installed from another one is replaced.
const REQUIREMENTS: &str = include_str!("../../moto-requirements.txt");

/// Where the venv lives: `<workspace>/target/moto-venv`.
fn venv_dir() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).join("target/moto-venv")
}

/// The record, inside a venv, of what was installed into it.
const STAMP: &str = "lictor-requirements.txt";

fn is_current(venv: &Path) -> bool {
    venv.join("bin/python").exists()
        && std::fs::read_to_string(venv.join(STAMP)).is_ok_and(|stamp| stamp == REQUIREMENTS)
}

fn run(command: &mut Command) -> Result<(), String> {
    let output = command.stdin(Stdio::null()).output().map_err(|e| format!("{command:?}: {e}"))?;
    if output.status.success() {
        return Ok(());
    }
    Err(format!(
        "{command:?}: {}\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    ))
}

/// Makes sure the venv holds the pinned moto; answers its Python.
///
/// Test processes run side by side: each builds a missing or outdated venv
/// in a directory of its own and renames it into place, so a venv is only
/// ever seen whole. A process that loses the race uses the winner's.
/// (A venv's Python finds its packages relative to itself, so the renamed
/// venv works; its scripts' `#!` lines do not, hence `python -m`.)
fn install() -> Result<PathBuf, String> {
    let venv = venv_dir();
    if is_current(&venv) {
        return Ok(venv.join("bin/python"));
    }
    let parent = venv.parent().ok_or("the venv has no parent directory")?;
    std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    remove_abandoned(parent);
    let unique = format!("{}-{}", std::process::id(), uuid::Uuid::new_v4().simple());
    let building = parent.join(format!("moto-venv.building-{unique}"));
    let built = (|| {
        run(Command::new("python3").args(["-m", "venv"]).arg(&building))?;
        let requirements = building.join(STAMP);
        std::fs::write(&requirements, REQUIREMENTS)
            .map_err(|e| format!("{}: {e}", requirements.display()))?;
        run(Command::new(building.join("bin/python"))
            .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r"])
            .arg(&requirements))
    })();
    if let Err(error) = built {
        let _ = std::fs::remove_dir_all(&building);
        return Err(format!(
            "installing moto (needs python3 with venv, and PyPI) into {}: {error}",
            building.display()
        ));
    }
    // An outdated venv is moved aside first (a rename cannot replace a
    // directory that is not empty).
    if venv.exists() && !is_current(&venv) {
        let stale = parent.join(format!("moto-venv.stale-{unique}"));
        if std::fs::rename(&venv, &stale).is_ok() {
            let _ = std::fs::remove_dir_all(&stale);
        }
    }
    if std::fs::rename(&building, &venv).is_err() {
        // Another process put its venv there first.
        let _ = std::fs::remove_dir_all(&building);
    }
    if is_current(&venv) {
        Ok(venv.join("bin/python"))
    } else {
        Err(format!("{} is not the pinned moto after installing it", venv.display()))
    }
}

/// Removes the venvs being built or set aside by processes that no longer
/// run (killed while installing).
fn remove_abandoned(parent: &Path) {
    let Ok(entries) = std::fs::read_dir(parent) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) =
            name.strip_prefix("moto-venv.building-").or_else(|| name.strip_prefix("moto-venv.stale-"))
        else {
            continue;
        };
        let pid = rest.split('-').next().unwrap_or_default();
        if !pid.is_empty() && !Path::new("/proc").join(pid).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// The venv's Python, installed once per test process.
async fn python() -> PathBuf {
    static PYTHON: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let python = tokio::task::spawn_blocking(|| PYTHON.get_or_init(install).clone())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    python.unwrap_or_else(|e| panic!("{e}"))
}

/// A free loopback port (free when asked: another process may take it).
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    listener.local_addr().unwrap_or_else(|e| panic!("{e}")).port()
}

/// A running moto server, killed when dropped. It accepts any credentials
/// and signature; creating a bucket and listing it need none, but reading
/// an object unsigned is refused (403).
pub struct Moto {
    child: Option<Child>,
    port: u16,
    log: tempfile::NamedTempFile,
}

impl Moto {
    /// A server on a free port.
    pub async fn start() -> Moto {
        let mut last = String::new();
        // A port taken between choosing and binding it: another one.
        for _ in 0..3 {
            match Moto::spawn(free_port()).await {
                Ok(moto) => return moto,
                Err(error) => last = error,
            }
        }
        panic!("moto did not start: {last}")
    }

    /// A server on `port` (a restart after [`Moto::stop`]).
    pub async fn start_on(port: u16) -> Moto {
        // The port of a server just killed may be busy for a moment.
        let mut last = String::new();
        for _ in 0..10 {
            match Moto::spawn(port).await {
                Ok(moto) => return moto,
                Err(error) => last = error,
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("moto did not start on port {port}: {last}")
    }

    async fn spawn(port: u16) -> Result<Moto, String> {
        let python = python().await;
        let log = tempfile::NamedTempFile::new().unwrap_or_else(|e| panic!("{e}"));
        let stderr = log.reopen().unwrap_or_else(|e| panic!("{e}"));
        let child = Command::new(python)
            .args(["-m", "moto.server", "-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .map_err(|e| format!("cannot run moto: {e}"))?;
        let mut moto = Moto { child: Some(child), port, log };
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(child) = moto.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                moto.child = None;
                return Err(format!("moto exited ({status}): {}", moto.log_text()));
            }
            if client.get(moto.url()).send().await.is_ok_and(|r| r.status().is_success()) {
                return Ok(moto);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(format!("moto did not answer within 60 s: {}", moto.log_text()));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Creates `bucket` (moto takes the request unsigned).
    pub async fn create_bucket(&self, bucket: &str) {
        let response = reqwest::Client::new()
            .put(format!("{}/{bucket}", self.url()))
            .send()
            .await
            .unwrap_or_else(|e| panic!("create bucket {bucket}: {e}"));
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        assert!(status.is_success(), "create bucket {bucket}: {status}: {body}");
    }

    /// Kills the server and waits for it to exit: its port refuses
    /// connections from then on.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// What the server wrote to its stderr (its request log), at most the
    /// last 8 KiB.
    pub fn log_text(&self) -> String {
        let mut file = match self.log.reopen() {
            Ok(file) => file,
            Err(error) => return error.to_string(),
        };
        let length = file.metadata().map(|m| m.len()).unwrap_or(0);
        let _ = file.seek(SeekFrom::Start(length.saturating_sub(8192)));
        let mut bytes = Vec::new();
        let _ = file.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("---- moto on port {} ----\n{}---- end of moto ----", self.port, self.log_text());
        }
        self.stop();
    }
}
