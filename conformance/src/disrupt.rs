//! What `--disruptive` cases need the operator's hand for: rotating the
//! deployment's signing keys and taking its store away and back.
//!
//! Against a deployment these are shell commands the vendor supplies
//! (`--hook-rotate-keys`, `--hook-store-down`, `--hook-store-up`,
//! `--hook-sql`); the embedded gateway does them in process.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;

use tokio::sync::Mutex;

/// A future a hook returns.
pub type HookFuture<'a> = Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send + 'a>>;

/// The operator's hand.
pub trait Disruptor: Send + Sync {
    /// Adds a generation of both signing keys (capability tokens and audit
    /// checkpoints), as `lictor keys rotate` does.
    fn rotate_keys(&self) -> HookFuture<'_>;
    /// Makes the store refuse writes until [`Disruptor::store_up`].
    fn store_down(&self) -> HookFuture<'_>;
    /// Gives the store back.
    fn store_up(&self) -> HookFuture<'_>;
    /// Runs `sql` (statements separated by `;`, in the SQL both SQLite and
    /// PostgreSQL read) against the deployment's store, as someone with
    /// write access to its database would.
    fn execute_sql(&self, sql: String) -> HookFuture<'_>;
}

/// Hooks as shell commands (`sh -c`).
#[derive(Clone, Debug, Default)]
pub struct Commands {
    /// Rotates both signing keys.
    pub rotate_keys: Option<String>,
    /// Takes the store away.
    pub store_down: Option<String>,
    /// Gives it back.
    pub store_up: Option<String>,
    /// Runs the SQL on its standard input against the store (e.g.
    /// `psql "$DATABASE_URL" -v ON_ERROR_STOP=1 -q`).
    pub sql: Option<String>,
}

async fn shell(command: Option<&String>, flag: &str) -> anyhow::Result<()> {
    shell_with_input(command, flag, None).await
}

async fn shell_with_input(command: Option<&String>, flag: &str, input: Option<String>) -> anyhow::Result<()> {
    use tokio::io::AsyncWriteExt as _;
    let Some(command) = command else {
        anyhow::bail!("this disruptive case needs {flag} (a shell command the suite runs)");
    };
    let mut child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(input.unwrap_or_default().as_bytes()).await?;
    }
    let output = child.wait_with_output().await?;
    if !output.status.success() {
        anyhow::bail!(
            "{flag} `{command}` failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}

impl Disruptor for Commands {
    fn rotate_keys(&self) -> HookFuture<'_> {
        Box::pin(shell(self.rotate_keys.as_ref(), "--hook-rotate-keys"))
    }

    fn store_down(&self) -> HookFuture<'_> {
        Box::pin(shell(self.store_down.as_ref(), "--hook-store-down"))
    }

    fn store_up(&self) -> HookFuture<'_> {
        Box::pin(shell(self.store_up.as_ref(), "--hook-store-up"))
    }

    fn execute_sql(&self, sql: String) -> HookFuture<'_> {
        Box::pin(shell_with_input(self.sql.as_ref(), "--hook-sql", Some(sql)))
    }
}

/// The embedded gateway's hooks: its SQLite store, reached directly.
pub struct EmbeddedStore {
    data_dir: PathBuf,
    holder: Mutex<Option<sqlx::SqliteConnection>>,
}

impl EmbeddedStore {
    /// Hooks for the gateway whose data lives in `data_dir`.
    pub fn new(data_dir: PathBuf) -> EmbeddedStore {
        EmbeddedStore { data_dir, holder: Mutex::new(None) }
    }
}

impl Disruptor for EmbeddedStore {
    fn rotate_keys(&self) -> HookFuture<'_> {
        Box::pin(async move {
            let store = lictor_server::store::Store::open(&lictor_server::store::StoreConfig {
                database_url: None,
                data_dir: self.data_dir.clone(),
                lock_timeout: std::time::Duration::from_secs(5),
                max_connections: 1,
            })
            .await?;
            // The gateway's keys live beside its data (the default key file).
            let source = lictor_server::signing::KeySource::File(self.data_dir.join("keys.json"));
            lictor_server::signing::rotate(&store, &source, lictor_server::signing::Purpose::Token).await?;
            lictor_server::signing::rotate(&store, &source, lictor_server::signing::Purpose::Checkpoint)
                .await?;
            Ok(())
        })
    }

    fn store_down(&self) -> HookFuture<'_> {
        Box::pin(async move {
            use sqlx::{Connection, Executor};
            let path = self.data_dir.join("lictor.db");
            let mut connection =
                sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display())).await?;
            // The write lock every decision's transaction needs, held.
            connection.execute("BEGIN IMMEDIATE").await?;
            *self.holder.lock().await = Some(connection);
            Ok(())
        })
    }

    fn store_up(&self) -> HookFuture<'_> {
        Box::pin(async move {
            use sqlx::{Connection, Executor};
            if let Some(mut connection) = self.holder.lock().await.take() {
                connection.execute("ROLLBACK").await?;
                connection.close().await?;
            }
            Ok(())
        })
    }

    fn execute_sql(&self, sql: String) -> HookFuture<'_> {
        Box::pin(async move {
            use sqlx::Connection;
            let path = self.data_dir.join("lictor.db");
            let mut connection =
                sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display())).await?;
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut connection).await?;
            connection.close().await?;
            Ok(())
        })
    }
}
