//! The SQLite driver on the writer's statement pattern: sqlx (what the
//! gateway uses; each statement is handed to the connection's worker
//! thread and its answer handed back) against rusqlite (the caller's own
//! thread calls SQLite directly), on one file with the gateway's settings
//! (WAL, `synchronous=FULL`).
//!
//! | bench | what one iteration is |
//! |---|---|
//! | `sqlite_driver/{sqlx,rusqlite}_point_read` | 100 indexed single-row `SELECT`s (a prepared statement), one after another from one task |
//! | `sqlite_driver/{sqlx,rusqlite}_group_cpu` | a group commit's statements for 64 decisions — lock the head, 64 entries (14 columns) in one statement, 64 payloads, 64 tree nodes, the new head — with `synchronous=OFF`: the CPU, no fsync |
//! | `sqlite_driver/{sqlx,rusqlite}_group_durable` | the same with `synchronous=FULL`, as the writer commits |
//! | `sqlite_driver/sqlx_any_group_{cpu,durable}` | the same through sqlx's `Any` driver, which the gateway's store uses |
//!
//! `cargo bench -p lictor-server --bench sqlite_driver`. Figures are
//! printed, never asserted; `docs/performance.md` records them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{ConnectOptions as _, Connection as _, Executor as _, SqliteConnection};
use tokio::runtime::Runtime;

/// Decisions per group.
const GROUP: usize = 64;
/// Point reads per iteration (inside one runtime entry).
const READS: u64 = 100;
/// Columns of an entry row.
const ENTRY_COLUMNS: usize = 14;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS heads (tenant TEXT PRIMARY KEY, seq INTEGER NOT NULL, hash TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS entries (tenant TEXT NOT NULL, seq INTEGER NOT NULL, entry_id TEXT NOT NULL UNIQUE,
    c3 TEXT, c4 TEXT, c5 TEXT, c6 TEXT, c7 TEXT, c8 TEXT, c9 TEXT, c10 TEXT, c11 TEXT, c12 TEXT, hash TEXT NOT NULL,
    PRIMARY KEY (tenant, seq));
CREATE INDEX IF NOT EXISTS entries_c3 ON entries (tenant, c3, seq);
CREATE TABLE IF NOT EXISTS payloads (digest TEXT PRIMARY KEY, tenant TEXT NOT NULL, body TEXT NOT NULL, at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS nodes (tenant TEXT NOT NULL, id INTEGER NOT NULL, hash TEXT NOT NULL, PRIMARY KEY (tenant, id));
INSERT OR IGNORE INTO heads VALUES ('acme', 0, 'genesis');
";

/// `?, ?, …` rows of `columns` placeholders.
fn rows(count: usize, columns: usize) -> String {
    let row = format!("({})", vec!["?"; columns].join(", "));
    vec![row; count].join(", ")
}

fn entries_sql() -> String {
    format!("INSERT INTO entries VALUES {}", rows(GROUP, ENTRY_COLUMNS))
}

fn payloads_sql() -> String {
    format!("INSERT INTO payloads VALUES {}", rows(GROUP, 4))
}

fn nodes_sql() -> String {
    format!("INSERT INTO nodes VALUES {}", rows(GROUP, 3))
}

/// The values of one group, starting after `seq`: entry columns, payload
/// columns and node columns, every value a string or an integer as the
/// writer binds them.
struct Group {
    seq: i64,
}

impl Group {
    fn entry(&self, n: usize, column: usize) -> Value {
        let seq = self.seq + n as i64 + 1;
        match column {
            0 => Value::Text("acme".into()),
            1 => Value::Int(seq),
            2 => Value::Text(format!("ae_{seq:026}")),
            13 => Value::Text(format!("{seq:064x}")),
            c => Value::Text(format!("value {c} of entry {seq}, about as long as a reason")),
        }
    }

    fn payload(&self, n: usize, column: usize) -> Value {
        let seq = self.seq + n as i64 + 1;
        match column {
            0 => Value::Text(format!("sha256:{seq:064x}")),
            1 => Value::Text("acme".into()),
            2 => Value::Text(format!("{{\"content\":\"message {seq}\",\"summary\":\"a routine message\"}}")),
            _ => Value::Int(seq),
        }
    }

    fn node(&self, n: usize, column: usize) -> Value {
        let seq = self.seq + n as i64 + 1;
        match column {
            0 => Value::Text("acme".into()),
            1 => Value::Int(seq),
            _ => Value::Text(format!("{seq:064x}")),
        }
    }
}

enum Value {
    Text(String),
    Int(i64),
}

fn configure_rusqlite(path: &Path, synchronous: &str) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.execute_batch(&format!("PRAGMA journal_mode = WAL; PRAGMA synchronous = {synchronous};")).unwrap();
    conn.execute_batch(SCHEMA).unwrap();
    conn
}

fn rusqlite_group(conn: &mut rusqlite::Connection, group: &Group) {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).unwrap();
    {
        let seq: i64 = tx
            .prepare_cached("SELECT seq FROM heads WHERE tenant = ?")
            .unwrap()
            .query_row(["acme"], |row| row.get(0))
            .unwrap();
        assert_eq!(seq, group.seq);
        let bind = |statement: &mut rusqlite::CachedStatement<'_>, values: Vec<Value>| {
            for (i, value) in values.into_iter().enumerate() {
                match value {
                    Value::Text(text) => statement.raw_bind_parameter(i + 1, text).unwrap(),
                    Value::Int(int) => statement.raw_bind_parameter(i + 1, int).unwrap(),
                }
            }
            statement.raw_execute().unwrap();
        };
        let entries = (0..GROUP).flat_map(|n| (0..ENTRY_COLUMNS).map(move |c| group.entry(n, c))).collect();
        bind(&mut tx.prepare_cached(&entries_sql()).unwrap(), entries);
        let payloads = (0..GROUP).flat_map(|n| (0..4).map(move |c| group.payload(n, c))).collect();
        bind(&mut tx.prepare_cached(&payloads_sql()).unwrap(), payloads);
        let nodes = (0..GROUP).flat_map(|n| (0..3).map(move |c| group.node(n, c))).collect();
        bind(&mut tx.prepare_cached(&nodes_sql()).unwrap(), nodes);
        tx.prepare_cached("UPDATE heads SET seq = ?, hash = ? WHERE tenant = ?")
            .unwrap()
            .execute(rusqlite::params![group.seq + GROUP as i64, format!("{:064x}", group.seq), "acme"])
            .unwrap();
    }
    tx.commit().unwrap();
}

async fn configure_sqlx(path: &Path, synchronous: SqliteSynchronous) -> SqliteConnection {
    let mut conn = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(synchronous)
        .connect()
        .await
        .unwrap();
    conn.execute(SCHEMA).await.unwrap();
    conn
}

/// A group commit's statements through sqlx, on connection `$conn` of
/// either driver.
macro_rules! sqlx_group_on {
    ($conn:expr, $group:expr) => {{
        let (conn, group) = ($conn, $group);
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.unwrap();
        let seq: i64 = sqlx::query_scalar("SELECT seq FROM heads WHERE tenant = ?")
            .bind("acme")
            .fetch_one(&mut *tx)
            .await
            .unwrap();
        assert_eq!(seq, group.seq);
        let statements = [(entries_sql(), ENTRY_COLUMNS, 0), (payloads_sql(), 4, 1), (nodes_sql(), 3, 2)];
        for (sql, columns, kind) in statements {
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for n in 0..GROUP {
                for c in 0..columns {
                    let value = match kind {
                        0 => group.entry(n, c),
                        1 => group.payload(n, c),
                        _ => group.node(n, c),
                    };
                    query = match value {
                        Value::Text(text) => query.bind(text),
                        Value::Int(int) => query.bind(int),
                    };
                }
            }
            query.execute(&mut *tx).await.unwrap();
        }
        sqlx::query("UPDATE heads SET seq = ?, hash = ? WHERE tenant = ?")
            .bind(group.seq + GROUP as i64)
            .bind(format!("{:064x}", group.seq))
            .bind("acme")
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }};
}

async fn sqlx_group(conn: &mut SqliteConnection, group: &Group) {
    sqlx_group_on!(conn, group)
}

async fn configure_any(path: &Path, synchronous: &str) -> sqlx::AnyConnection {
    sqlx::any::install_default_drivers();
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let mut conn = sqlx::AnyConnection::connect(&url).await.unwrap();
    conn.execute(sqlx::AssertSqlSafe(format!(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = {synchronous};"
    )))
    .await
    .unwrap();
    conn.execute(SCHEMA).await.unwrap();
    conn
}

/// [`sqlx_group`] through sqlx's `Any` driver, as the gateway's store
/// talks to SQLite.
async fn any_group(conn: &mut sqlx::AnyConnection, group: &Group) {
    sqlx_group_on!(conn, group)
}

fn bench_drivers(c: &mut Criterion) {
    let runtime = Runtime::new().unwrap();
    let mut group = c.benchmark_group("sqlite_driver");
    group.measurement_time(Duration::from_secs(5)).sample_size(20);

    {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = configure_rusqlite(&dir.path().join("r.db"), "FULL");
        rusqlite_group(&mut conn, &Group { seq: 0 });
        group.throughput(Throughput::Elements(READS));
        group.bench_function("rusqlite_point_read", |b| {
            b.iter(|| {
                for _ in 0..READS {
                    let seq: i64 = conn
                        .prepare_cached("SELECT seq FROM heads WHERE tenant = ?")
                        .unwrap()
                        .query_row(["acme"], |row| row.get(0))
                        .unwrap();
                    black_box(seq);
                }
            })
        });
        let mut sqlx_conn =
            runtime.block_on(configure_sqlx(&dir.path().join("s.db"), SqliteSynchronous::Full));
        group.bench_function("sqlx_point_read", |b| {
            b.iter(|| {
                runtime.block_on(async {
                    for _ in 0..READS {
                        let seq: i64 = sqlx::query_scalar("SELECT seq FROM heads WHERE tenant = ?")
                            .bind("acme")
                            .fetch_one(&mut sqlx_conn)
                            .await
                            .unwrap();
                        black_box(seq);
                    }
                })
            })
        });
    }

    group.throughput(Throughput::Elements(GROUP as u64));
    for (name, rusqlite_sync, sqlx_sync) in
        [("cpu", "OFF", SqliteSynchronous::Off), ("durable", "FULL", SqliteSynchronous::Full)]
    {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = configure_rusqlite(&dir.path().join("r.db"), rusqlite_sync);
        let mut seq = 0;
        group.bench_function(format!("rusqlite_group_{name}"), |b| {
            b.iter(|| {
                rusqlite_group(&mut conn, &Group { seq });
                seq += GROUP as i64;
            })
        });
        let mut sqlx_conn = runtime.block_on(configure_sqlx(&dir.path().join("s.db"), sqlx_sync));
        let mut seq = 0;
        group.bench_function(format!("sqlx_group_{name}"), |b| {
            b.iter(|| {
                runtime.block_on(sqlx_group(&mut sqlx_conn, &Group { seq }));
                seq += GROUP as i64;
            })
        });
        let mut any_conn = runtime.block_on(configure_any(&dir.path().join("a.db"), rusqlite_sync));
        let mut seq = 0;
        group.bench_function(format!("sqlx_any_group_{name}"), |b| {
            b.iter(|| {
                runtime.block_on(any_group(&mut any_conn, &Group { seq }));
                seq += GROUP as i64;
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_drivers);
criterion_main!(benches);
