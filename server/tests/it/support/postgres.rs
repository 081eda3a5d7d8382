//! PostgreSQL for the tests: `DATABASE_URL` if set, otherwise a throwaway
//! cluster started from the system's binaries (`initdb`/`pg_ctl` on PATH or
//! under `/usr/lib/postgresql/*/bin`) in a temporary directory. A watcher
//! process stops the cluster and removes the directory when this test
//! process exits. Every test gets a database of its own.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::Connection;

/// A PostgreSQL server the tests may create databases on.
pub struct Server {
    /// `postgres://user@host:port` without a database.
    base_url: String,
    /// The maintenance database to connect to for `CREATE DATABASE`.
    admin_db: String,
}

static SERVER: OnceLock<Server> = OnceLock::new();
static NEXT_DB: AtomicU32 = AtomicU32::new(0);

fn find_binary(name: &str) -> Option<PathBuf> {
    if let Ok(path) = std::env::var("PATH") {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return Some(candidate);
            }
        }
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin").join(name)))
        .filter(|p| p.is_file())
        .collect();
    versions.sort();
    versions.pop()
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| o.stdout.starts_with(b"0\n")).unwrap_or(false)
}

/// Runs `program args…`, as the `postgres` user when we are root (initdb
/// refuses to run as root).
fn run_pg(program: &Path, args: &[&str]) -> std::process::Output {
    let mut command = if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    };
    command.args(args).current_dir("/tmp").stdin(Stdio::null());
    command.output().unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free port: {e}"))
}

fn start_cluster() -> Server {
    let initdb = find_binary("initdb").unwrap_or_else(|| {
        panic!("PostgreSQL tests need DATABASE_URL or the PostgreSQL server binaries (initdb, pg_ctl)")
    });
    let pg_ctl =
        find_binary("pg_ctl").unwrap_or_else(|| panic!("pg_ctl not found beside {}", initdb.display()));
    let dir = std::env::temp_dir().join(format!("tollgate-pg-{}-{}", std::process::id(), free_port()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    if is_root() {
        let status = Command::new("chown").args(["-R", "postgres:postgres"]).arg(&dir).status();
        assert!(status.is_ok_and(|s| s.success()), "chown of {} failed", dir.display());
    }
    let data = dir.join("data");
    let data_s = data.to_string_lossy().to_string();
    let out = run_pg(&initdb, &["-D", &data_s, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"]);
    assert!(out.status.success(), "initdb failed: {}", String::from_utf8_lossy(&out.stderr));
    let port = free_port();
    let options = format!(
        "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300",
        dir.display()
    );
    let log = dir.join("log").to_string_lossy().to_string();
    let out = run_pg(&pg_ctl, &["-D", &data_s, "-l", &log, "-w", "-o", &options, "start"]);
    assert!(out.status.success(), "pg_ctl start failed: {}", String::from_utf8_lossy(&out.stderr));

    // Stop the cluster and remove it when this process exits.
    let stop = if is_root() {
        format!("runuser -u postgres -- {} -D {data_s} -m immediate -w stop", pg_ctl.display())
    } else {
        format!("{} -D {data_s} -m immediate -w stop", pg_ctl.display())
    };
    let script = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 1; done; {stop} >/dev/null 2>&1; rm -rf {dir}",
        pid = std::process::id(),
        dir = dir.display()
    );
    let _ = Command::new("setsid")
        .args(["sh", "-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .or_else(|_| Command::new("sh").args(["-c", &script]).stdin(Stdio::null()).spawn());

    Server { base_url: format!("postgres://postgres@127.0.0.1:{port}"), admin_db: "postgres".into() }
}

fn server() -> &'static Server {
    SERVER.get_or_init(|| match std::env::var("DATABASE_URL") {
        Ok(url) if url.starts_with("postgres") => {
            let (base, db) = url.rsplit_once('/').unwrap_or((&url, "postgres"));
            let db = db.split('?').next().unwrap_or("postgres");
            Server {
                base_url: base.to_string(),
                admin_db: if db.is_empty() { "postgres".into() } else { db.into() },
            }
        }
        _ => start_cluster(),
    })
}

/// A fresh, empty database; returns its URL.
pub async fn fresh_database() -> String {
    let server = server();
    let name = format!("tg_test_{}_{}", std::process::id(), NEXT_DB.fetch_add(1, Ordering::SeqCst));
    let admin_url = format!("{}/{}", server.base_url, server.admin_db);
    let mut conn =
        sqlx::PgConnection::connect(&admin_url).await.unwrap_or_else(|e| panic!("connect {admin_url}: {e}"));
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("create database {name}: {e}"));
    let _ = conn.close().await;
    format!("{}/{name}", server.base_url)
}

/// Runs one statement against the maintenance database.
pub async fn admin_exec(sql: String) {
    let server = server();
    let admin_url = format!("{}/{}", server.base_url, server.admin_db);
    let mut conn = sqlx::PgConnection::connect(&admin_url).await.unwrap_or_else(|e| panic!("connect: {e}"));
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .execute(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("admin sql: {e}"));
    let _ = conn.close().await;
}
