//! PostgreSQL for the tests: `DATABASE_URL` if set, otherwise a throwaway
//! cluster (`lictor-pg-cluster`, without fsync) that a watcher process
//! stops and removes when this test process exits. Every test gets a
//! database of its own.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

use lictor_pg_cluster::{Cluster, Settings};
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

fn start_cluster() -> Server {
    let settings = Settings { name: "lictor-pg", durable: false };
    let cluster = Cluster::start(settings)
        .unwrap_or_else(|e| panic!("starting PostgreSQL: {e}"))
        .unwrap_or_else(|| {
            panic!("PostgreSQL tests need DATABASE_URL or the PostgreSQL server binaries (initdb, pg_ctl)")
        });
    Server { base_url: cluster.stop_when_process_exits(), admin_db: "postgres".into() }
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
    let name = format!("lictor_test_{}_{}", std::process::id(), NEXT_DB.fetch_add(1, Ordering::SeqCst));
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
