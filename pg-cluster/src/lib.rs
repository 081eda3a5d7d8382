//! A throwaway PostgreSQL cluster, made from the system's server binaries
//! (`initdb`, `pg_ctl`) in a temporary directory, for whatever needs a
//! real PostgreSQL without one being installed and running: the server's
//! tests, `cargo xtask conformance --postgres` and `cargo xtask bench`.
//!
//! The binaries are looked for on `PATH`, then under
//! `/usr/lib/postgresql/<version>/bin` (the newest version). As root the
//! cluster runs as the `postgres` user, since `initdb` refuses root.
//!
//! A [`Cluster`] is stopped and removed when dropped, or, after
//! [`Cluster::stop_when_process_exits`], when the process that started it
//! exits (for clusters held in statics, which are never dropped).

use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// How the cluster runs.
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    /// Starts the temporary directory's name.
    pub name: &'static str,
    /// Whether commits reach the disk (`fsync`); tests turn it off to go
    /// faster, the benchmark keeps it to measure durable writes.
    pub durable: bool,
}

/// A running throwaway cluster.
#[derive(Debug)]
pub struct Cluster {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    /// Whether a watcher process stops it instead of `Drop`.
    detached: bool,
}

/// The directory holding `initdb` and `pg_ctl`: the one on `PATH`, else the
/// newest under `/usr/lib/postgresql`. Links are followed to the
/// installation's own directory, which has `psql` and the rest beside them.
pub fn bin_dir() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .find(|dir| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file())
            .and_then(|dir| std::fs::canonicalize(dir.join("initdb")).ok()?.parent().map(Path::to_path_buf))
    });
    on_path.or_else(|| {
        std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(Result::ok)
            .filter_map(|entry| {
                let version = entry.file_name().to_string_lossy().parse::<f64>().ok()?;
                let bin = entry.path().join("bin");
                bin.join("initdb").is_file().then_some((version, bin))
            })
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .map(|(_, bin)| bin)
    })
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

/// `program args…`, as the `postgres` user when we are root.
fn as_postgres(program: &Path, args: &[&str]) -> Command {
    let mut command = if is_root() {
        let mut wrapped = Command::new("runuser");
        wrapped.args(["-u", "postgres", "--"]).arg(program);
        wrapped
    } else {
        Command::new(program)
    };
    command.args(args).current_dir("/tmp").stdin(Stdio::null());
    command
}

fn run(program: &Path, args: &[&str]) -> io::Result<()> {
    let Output { status, stderr, .. } = as_postgres(program, args).stdout(Stdio::null()).output()?;
    if status.success() {
        Ok(())
    } else {
        let name = program.file_name().unwrap_or_default().to_string_lossy();
        Err(io::Error::other(format!(
            "{name} failed ({status}): {}",
            String::from_utf8_lossy(&stderr).trim()
        )))
    }
}

fn free_port() -> io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl Cluster {
    /// Makes and starts a cluster; `Ok(None)` when no server binaries are
    /// installed.
    pub fn start(settings: Settings) -> io::Result<Option<Cluster>> {
        let Some(bin) = bin_dir() else { return Ok(None) };
        let port = free_port()?;
        let dir = std::env::temp_dir().join(format!("{}-{}-{port}", settings.name, std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        if is_root() {
            let chown = Command::new("chown").args(["postgres:postgres"]).arg(&dir).status()?;
            if !chown.success() {
                return Err(io::Error::other(format!("chown of {} failed", dir.display())));
            }
        }
        // From here on, dropping it removes what was made.
        let cluster = Cluster { bin, dir, port, detached: false };
        let data = cluster.dir.join("data").to_string_lossy().into_owned();
        let mut initdb = vec!["-D", &data, "-U", "postgres", "--auth=trust", "-E", "UTF8"];
        if !settings.durable {
            initdb.push("--no-sync");
        }
        run(&cluster.bin.join("initdb"), &initdb)?;
        let options = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c max_connections=300{}",
            cluster.dir.display(),
            if settings.durable { "" } else { " -c fsync=off" }
        );
        let log = cluster.dir.join("log").to_string_lossy().into_owned();
        run(&cluster.bin.join("pg_ctl"), &["-D", &data, "-l", &log, "-w", "-o", &options, "start"])?;
        Ok(Some(cluster))
    }

    /// `postgres://postgres@127.0.0.1:<port>`, without a database.
    pub fn base_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}", self.port)
    }

    /// The URL of `database` on this cluster.
    pub fn url(&self, database: &str) -> String {
        format!("{}/{database}", self.base_url())
    }

    /// The directory of the server binaries it runs (`psql` is there too).
    pub fn bin(&self) -> &Path {
        &self.bin
    }

    /// Hands stopping and removing the cluster to a watcher process that
    /// does it once this process exits; answers the base URL.
    pub fn stop_when_process_exits(mut self) -> String {
        let data = self.dir.join("data");
        let root = is_root();
        let stop = format!(
            "{}{} -D {} -m immediate -w stop",
            if root { "runuser -u postgres -- " } else { "" },
            self.bin.join("pg_ctl").display(),
            data.display()
        );
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 1; done; {stop} >/dev/null 2>&1; rm -rf {dir}",
            pid = std::process::id(),
            dir = self.dir.display()
        );
        let spawned = Command::new("setsid")
            .args(["sh", "-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .or_else(|_| Command::new("sh").args(["-c", &script]).stdin(Stdio::null()).spawn());
        // Without a watcher the cluster outlives the process, which is
        // better than stopping it under the caller now.
        drop(spawned);
        self.detached = true;
        self.base_url()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.detached {
            return;
        }
        let data = self.dir.join("data").to_string_lossy().into_owned();
        let _ = run(&self.bin.join("pg_ctl"), &["-D", &data, "-m", "fast", "-w", "stop"]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cluster_starts_answers_and_is_removed_when_dropped() {
        let Some(cluster) = Cluster::start(Settings { name: "lictor-pg-cluster-test", durable: false })
            .unwrap_or_else(|e| panic!("{e}"))
        else {
            panic!("these tests need the PostgreSQL server binaries (initdb, pg_ctl)");
        };
        let dir = cluster.dir.clone();
        let psql = cluster.bin().join("psql");
        let out = Command::new(&psql)
            .args([&cluster.url("postgres"), "-tAc", "SELECT 40 + 2"])
            .output()
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "42", "{out:?}");
        assert!(cluster.base_url().starts_with("postgres://postgres@127.0.0.1:"));
        drop(cluster);
        assert!(!dir.exists(), "{} is left behind", dir.display());
    }
}
