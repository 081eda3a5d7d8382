//! Persistence: one [`Store`] over SQLite (embedded, the default) or
//! PostgreSQL, chosen at start-up from the database URL.
//!
//! Both backends run the same SQL wherever the dialects agree (`$n`
//! placeholders, `ON CONFLICT`, partial indexes); where they differ (row
//! locks) the SQL is chosen per [`Backend`] inside this module, and nothing
//! outside it sees SQL. Migrations live per backend in
//! `server/migrations/{sqlite,postgres}` and are applied on start.

mod agents;
mod api_keys;
mod approvals;
mod audit;
mod budget;
mod deferred;
mod discovery;
mod integrations;
mod intents;
mod mcp_sessions;
mod operators;
mod policies;
mod rate;
mod reports;
mod secrets;
mod sinks;
mod tenants;
mod tokens;
mod tree;
mod upstreams;

use std::path::Path;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Connection as _, Executor};

pub use agents::AgentRow;
pub use api_keys::{ApiKeyRow, NewApiKey};
pub use approvals::{ApprovalFilter, ApprovalRow, HumanDecision, risk_level_str};
pub use audit::{AuditFilter, AuditRow, StoredHead, TreeState, UndecodableEntry};
pub use budget::BudgetUsage;
pub use discovery::{
    AttestationRow, DiscoveredFilter, DiscoveredRow, Sighting, SourceRow, identity_kind_str, status_str,
};
pub use integrations::{IntegrationRow, NotificationState, TimedOutApproval};
pub use intents::{
    CallbackDue, DecidedIntent, DeliveryRecord, IdempotencyRecord, IntentFilter, IntentRow, NewPendingIntent,
    PendingInsert, PendingIntent,
};
pub use mcp_sessions::McpSessionRow;
pub use operators::{LoginRow, OperatorAccessRow, ScimGroupRow, ScimUserRow, SessionRow, json_column};
pub use policies::{ActiveRow, BundleRow, DraftRow, ProposalRow, ReplayRow, SlotRow};
pub use rate::{BucketCharge, BucketsTaken};
pub use reports::{ActivityGroup, CredentialRow, PostureCounts, ServiceUseRow, bucket_micros};
pub use secrets::{KeyIdRow, LegacySecret};
pub use sinks::{DeadLetterRow, SinkCursor, SinkStatusRow};
pub use tenants::{NewTenant, TenantRateLimits, TenantRow, TenantStats};
pub use tokens::{MintedTokenRow, RevocationRow, TokenUsage};
pub use tree::{CheckpointRow, UncheckpointedTree, decode_hash};
pub use upstreams::UpstreamRow;

use lictor_api::system::StoreKind;

/// Which database the store talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite in WAL mode.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

impl Backend {
    /// As reported by `/readyz`.
    pub fn kind(self) -> StoreKind {
        match self {
            Backend::Sqlite => StoreKind::Sqlite,
            Backend::Postgres => StoreKind::Postgres,
        }
    }

    /// `FOR UPDATE` where row locks exist (PostgreSQL); SQLite serialises
    /// writers with its database lock instead.
    pub(crate) fn for_update(self) -> &'static str {
        match self {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR UPDATE",
        }
    }
}

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached or is locked; nothing was written.
    #[error("store unavailable: {0}")]
    Unavailable(#[source] Detail),
    /// A COMMIT went unanswered (the connection was lost while it was in
    /// flight) and reading back could not tell whether it took effect.
    #[error("outcome unknown: {0}")]
    OutcomeUnknown(#[source] Detail),
    /// A uniqueness constraint rejected the write.
    #[error("already exists: {0}")]
    Duplicate(#[source] Detail),
    /// A check inside the transaction failed (the object changed or is in
    /// a state that forbids the change); nothing was written.
    #[error("conflict: {0}")]
    Conflict(String),
    /// Stored data could not be decoded.
    #[error("corrupt stored data: {0}")]
    Corrupt(#[source] Detail),
    /// Any other database failure.
    #[error("database error: {0}")]
    Database(#[source] Detail),
}

impl StoreError {
    /// A stable name of its kind, for the metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            StoreError::Unavailable(_) => "unavailable",
            StoreError::OutcomeUnknown(_) => "outcome_unknown",
            StoreError::Duplicate(_) => "duplicate",
            StoreError::Conflict(_) => "conflict",
            StoreError::Corrupt(_) => "corrupt",
            StoreError::Database(_) => "database",
        }
    }
}

/// What a [`StoreError`] says: a message for people and, when the database
/// driver reported the failure, the driver's own error as its source (so
/// a caller can still read, say, PostgreSQL's SQLSTATE from it).
#[derive(Debug)]
pub struct Detail {
    message: String,
    cause: Option<sqlx::Error>,
}

impl Detail {
    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The driver's error, if the driver reported the failure.
    pub fn cause(&self) -> Option<&sqlx::Error> {
        self.cause.as_ref()
    }
}

impl std::fmt::Display for Detail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Detail {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.cause.as_ref().map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl From<String> for Detail {
    fn from(message: String) -> Detail {
        Detail { message, cause: None }
    }
}

impl From<&str> for Detail {
    fn from(message: &str) -> Detail {
        Detail { message: message.to_string(), cause: None }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> StoreError {
        use sqlx::Error as E;
        let caused = |message: String, error: sqlx::Error| Detail { message, cause: Some(error) };
        match &error {
            E::PoolTimedOut | E::PoolClosed | E::Io(_) | E::Tls(_) | E::WorkerCrashed => {
                StoreError::Unavailable(caused(error.to_string(), error))
            }
            E::Database(db) => {
                let message = db.message().to_string();
                if matches!(db.kind(), sqlx::error::ErrorKind::UniqueViolation) {
                    return StoreError::Duplicate(caused(message, error));
                }
                let code = db.code().map(|c| c.to_string());
                if is_unavailable_code(code.as_deref().unwrap_or(""), &message) {
                    StoreError::Unavailable(caused(message, error))
                } else {
                    StoreError::Database(caused(error.to_string(), error))
                }
            }
            E::ColumnDecode { .. } | E::Decode(_) | E::ColumnNotFound(_) | E::TypeNotFound { .. } => {
                StoreError::Corrupt(caused(error.to_string(), error))
            }
            _ => StoreError::Database(caused(error.to_string(), error)),
        }
    }
}

/// Whether a database error means "the store cannot serve now" rather
/// than "this statement is wrong".
///
/// PostgreSQL SQLSTATEs are always five characters: connection exceptions
/// (08), insufficient resources (53), operator intervention such as
/// shutdown (57P), `lock_not_available` (55P03), and the errors of a
/// refused connection (unknown database 3D000, failed authentication 28,
/// a database not accepting connections 55000). SQLite result codes (at
/// most four digits): busy, locked, I/O error, full and cannot-open,
/// whatever the extended code.
fn is_unavailable_code(code: &str, message: &str) -> bool {
    if code.len() == 5 {
        return ["08", "53", "57P", "28", "3D000", "55P03"].iter().any(|p| code.starts_with(p))
            || (code == "55000" && message.contains("accepting connections"));
    }
    code.parse::<i64>().is_ok_and(|n| matches!(n & 0xff, 5 | 6 | 10 | 13 | 14))
}

/// Result of a store operation.
pub type StoreResult<T> = Result<T, StoreError>;

/// How to open the store.
#[derive(Clone, Debug)]
pub struct StoreConfig {
    /// `postgres://…` to use PostgreSQL; otherwise SQLite in `data_dir`.
    pub database_url: Option<String>,
    /// Where the SQLite database lives.
    pub data_dir: std::path::PathBuf,
    /// How long a writer waits for a lock before giving up (SQLite busy
    /// timeout, PostgreSQL `lock_timeout`).
    pub lock_timeout: Duration,
    /// Maximum pooled connections.
    pub max_connections: u32,
}

/// The store: a connection pool and the backend it talks to.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// The migrations this process applied when it opened the store.
    applied: std::sync::Arc<[i64]>,
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

impl Store {
    /// Connects (creating the SQLite file if needed) and applies migrations.
    pub async fn open(config: &StoreConfig) -> StoreResult<Store> {
        sqlx::any::install_default_drivers();
        let (url, backend) = match &config.database_url {
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                (url.clone(), Backend::Postgres)
            }
            Some(url) if url.starts_with("sqlite:") => (url.clone(), Backend::Sqlite),
            Some(url) => {
                return Err(StoreError::Unavailable(
                    format!(
                        "unsupported database url `{}`: expected postgres:// or sqlite:",
                        redact_url(url)
                    )
                    .into(),
                ));
            }
            None => {
                std::fs::create_dir_all(&config.data_dir).map_err(|e| {
                    StoreError::Unavailable(
                        format!("cannot create {}: {e}", config.data_dir.display()).into(),
                    )
                })?;
                (sqlite_url(&config.data_dir.join("lictor.db")), Backend::Sqlite)
            }
        };
        let options: AnyConnectOptions =
            url.parse().map_err(|e| StoreError::Unavailable(format!("invalid database url: {e}").into()))?;
        let lock_ms = config.lock_timeout.as_millis();
        let pool_options = AnyPoolOptions::new()
            .max_connections(config.max_connections)
            .acquire_timeout(Duration::from_secs(5))
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    match backend {
                        Backend::Sqlite => {
                            // WAL lets readers run beside the single writer;
                            // FULL makes every commit durable (fsync) before
                            // it returns.
                            conn.execute("PRAGMA journal_mode = WAL").await?;
                            conn.execute("PRAGMA synchronous = FULL").await?;
                            conn.execute("PRAGMA foreign_keys = ON").await?;
                            // A page cache of 512 KiB per connection (SQLite's
                            // default is 2 MiB): a verification or export
                            // scans the whole log through every connection of
                            // the pool, and the operating system caches the
                            // file anyway.
                            conn.execute("PRAGMA cache_size = -512").await?;
                            conn.execute(sqlx::AssertSqlSafe(format!("PRAGMA busy_timeout = {lock_ms}")))
                                .await?;
                        }
                        Backend::Postgres => {
                            conn.execute(sqlx::AssertSqlSafe(format!("SET lock_timeout = {lock_ms}")))
                                .await?;
                        }
                    }
                    Ok(())
                })
            })
            // A connection that comes back still inside a transaction (a
            // COMMIT or ROLLBACK that failed half-way, as on a full disk)
            // is closed instead of handed out: the next `BEGIN` on it
            // would fail, and with it every write after.
            .before_acquire(|conn, _meta| Box::pin(async move { Ok(!conn.is_in_transaction()) }));
        let pool = match pool_options.connect_with(options.clone()).await {
            Ok(pool) => pool,
            // The pool retries until its timeout and then says only that it
            // timed out; one direct attempt names the cause (refused,
            // unknown host, authentication, no such database).
            Err(sqlx::Error::PoolTimedOut) => {
                let cause = match sqlx::AnyConnection::connect_with(&options).await {
                    Err(error) => error.to_string(),
                    Ok(_) => "no connection within 5 s".to_string(),
                };
                return Err(StoreError::Unavailable(
                    format!("cannot connect to `{}`: {cause}", redact_url(&url)).into(),
                ));
            }
            Err(error) => {
                return Err(StoreError::Unavailable(
                    format!("cannot connect to `{}`: {error}", redact_url(&url)).into(),
                ));
            }
        };
        let migrator = match backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        // No table yet: nothing was applied before.
        let before: Vec<i64> = sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
            .fetch_all(&pool)
            .await
            .unwrap_or_default();
        migrator.run(&pool).await.map_err(|e| match e {
            sqlx::migrate::MigrateError::Execute(inner) => StoreError::from(inner),
            other => StoreError::Database(format!("migration failed: {other}").into()),
        })?;
        let applied = migrator.iter().map(|m| m.version).filter(|v| !before.contains(v)).collect();
        Ok(Store { pool, backend, applied })
    }

    /// Whether migration `version` was applied when this process opened
    /// the store (an upgrade step that runs once, on that start).
    pub fn migrated_now(&self, version: i64) -> bool {
        self.applied.contains(&version)
    }

    /// The backend in use.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The connection pool (for modules that own their SQL).
    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// The pool's open connections and, of them, the idle ones.
    pub fn pool_state(&self) -> (u32, usize, u32) {
        (self.pool.size(), self.pool.num_idle(), self.pool.options().get_max_connections())
    }

    /// Answers when the database accepts a query.
    pub async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Closes every connection.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Starts a read-write transaction.
    ///
    /// On SQLite it is `BEGIN IMMEDIATE`: the write lock is taken up front
    /// (waiting up to the busy timeout), so a transaction that reads before
    /// it writes can never fail half-way on a lock upgrade.
    pub async fn begin(&self) -> StoreResult<StoreTx> {
        let tx = match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        };
        Ok(StoreTx { tx, backend: self.backend, deferred: deferred::Deferred::default() })
    }
}

/// A transaction. Dropping it without [`StoreTx::commit`] rolls back.
pub struct StoreTx {
    tx: sqlx::Transaction<'static, sqlx::Any>,
    backend: Backend,
    deferred: deferred::Deferred,
}

impl StoreTx {
    /// Commits; when this returns `Ok` the writes are durable.
    pub async fn commit(mut self) -> StoreResult<()> {
        self.flush().await?;
        self.tx.commit().await?;
        Ok(())
    }

    /// Overwrites the probe row: whether the store accepts writes at all
    /// (a full disk answers reads but refuses every commit).
    pub(crate) async fn write_probe(&mut self) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO store_probe (id, written_at) VALUES (1, $1) \
             ON CONFLICT (id) DO UPDATE SET written_at = excluded.written_at",
        )
        .bind(crate::clock::Timestamp::now().to_string())
        .execute(self.conn())
        .await?;
        Ok(())
    }

    pub(crate) fn conn(&mut self) -> &mut sqlx::AnyConnection {
        &mut self.tx
    }

    pub(crate) fn backend(&self) -> Backend {
        self.backend
    }
}

fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}?mode=rwc", path.display())
}

/// The URL without its password, for messages.
pub(crate) fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end && url[scheme_end + 3..at].contains(':') => {
            let userinfo = &url[scheme_end + 3..at];
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{}{}:***{}", &url[..scheme_end + 3], user, &url[at..])
        }
        _ => url.to_string(),
    }
}

/// Reads an optional text column as a typed value.
pub(crate) fn parse_opt<T>(
    value: Option<String>,
    parse: impl Fn(&str) -> Option<T>,
    what: &str,
) -> StoreResult<Option<T>> {
    value
        .map(|v| parse(&v).ok_or_else(|| StoreError::Corrupt(format!("bad {what} `{v}`").into())))
        .transpose()
}

/// Reads a text column as a typed value.
/// A stored value that does not read back as what was written.
pub(crate) fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string().into())
}

/// The row's `tenant_id` column as the tenant id it must be.
pub(crate) fn tenant_column(row: &sqlx::any::AnyRow) -> StoreResult<lictor_api::ids::TenantId> {
    use sqlx::Row as _;
    lictor_api::ids::TenantId::parse(row.try_get::<String, _>("tenant_id")?).map_err(corrupt)
}

pub(crate) fn parse_req<T>(value: &str, parse: impl Fn(&str) -> Option<T>, what: &str) -> StoreResult<T> {
    parse(value).ok_or_else(|| StoreError::Corrupt(format!("bad {what} `{value}`").into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_redacted() {
        assert_eq!(redact_url("postgres://u:secret@h:5432/db"), "postgres://u:***@h:5432/db");
        assert_eq!(redact_url("postgres://h/db"), "postgres://h/db");
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact_url("postgres://u:p:q@w@h/db"), "postgres://u:***@h/db");
    }

    #[test]
    fn busy_and_connection_codes_mean_unavailable() {
        assert!(is_unavailable_code("5", ""));
        assert!(is_unavailable_code("517", ""));
        assert!(is_unavailable_code("08006", ""));
        assert!(is_unavailable_code("57P01", ""));
        assert!(is_unavailable_code("55000", "database \"x\" is not currently accepting connections"));
        assert!(!is_unavailable_code("55000", "currval of sequence is not yet defined"));
        assert!(!is_unavailable_code("23505", ""));
        assert!(!is_unavailable_code("19", ""));
    }

    /// A connection returned to the pool while the driver still counts it
    /// inside a transaction (a COMMIT that failed and left the count
    /// behind) is never handed out again: every later `BEGIN` on it would
    /// fail.
    #[tokio::test]
    async fn a_connection_left_inside_a_transaction_is_not_reused() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let config = StoreConfig {
            database_url: None,
            data_dir: dir.path().to_path_buf(),
            lock_timeout: Duration::from_millis(500),
            max_connections: 1,
        };
        let store = Store::open(&config).await.unwrap_or_else(|e| panic!("{e}"));
        let mut conn = store.pool().acquire().await.unwrap_or_else(|e| panic!("{e}"));
        let stuck = conn.begin().await.unwrap_or_else(|e| panic!("{e}"));
        // Neither committed nor rolled back: the count stays at one.
        std::mem::forget(stuck);
        assert!(conn.is_in_transaction());
        drop(conn);
        for _ in 0..3 {
            let mut tx = store.begin().await.unwrap_or_else(|e| panic!("a stuck connection was reused: {e}"));
            tx.write_probe().await.unwrap_or_else(|e| panic!("{e}"));
            tx.commit().await.unwrap_or_else(|e| panic!("{e}"));
        }
    }
}
