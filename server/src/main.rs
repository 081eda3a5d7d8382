//! `tollgate`: the gateway binary.
//!
//! - `tollgate serve` runs the gateway (SQLite in `./tollgate-data` unless
//!   `--database-url` names PostgreSQL).
//! - `tollgate policy test DIR` runs a policy bundle's Rego unit tests.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use tollgate_server::Config;
use tollgate_server::policy::{Bundle, rego_tests};

#[derive(Parser)]
#[command(name = "tollgate", version, about = "Governance gateway for AI agents")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway.
    Serve(ServeArgs),
    /// Work with policy bundles.
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "TOLLGATE_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Directory of the embedded SQLite database and its files.
    #[arg(long, env = "TOLLGATE_DATA_DIR", default_value = "tollgate-data")]
    data_dir: PathBuf,
    /// `postgres://user:pass@host/db` to use PostgreSQL instead of SQLite.
    #[arg(long, env = "DATABASE_URL")]
    database_url: Option<String>,
    /// Largest accepted request body, in bytes.
    #[arg(long, env = "TOLLGATE_MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    max_body_bytes: usize,
    /// Most decisions written in one transaction.
    #[arg(long, env = "TOLLGATE_COMMIT_MAX_BATCH", default_value_t = 512)]
    commit_max_batch: usize,
    /// Pooled database connections.
    #[arg(long, env = "TOLLGATE_MAX_CONNECTIONS", default_value_t = 16)]
    max_connections: u32,
    /// How long a writer waits for a database lock before answering 503, in milliseconds.
    #[arg(long, env = "TOLLGATE_LOCK_TIMEOUT_MS", default_value_t = 5000)]
    lock_timeout_ms: u64,
    /// Time limit of one policy evaluation, in milliseconds.
    #[arg(long, env = "TOLLGATE_POLICY_TIME_LIMIT_MS", default_value_t = 100)]
    policy_time_limit_ms: u64,
    /// Webhook delivery attempts before giving up.
    #[arg(long, env = "TOLLGATE_WEBHOOK_MAX_ATTEMPTS", default_value_t = 8)]
    webhook_max_attempts: u32,
    /// Delay before the second webhook attempt, in milliseconds (doubles each time).
    #[arg(long, env = "TOLLGATE_WEBHOOK_BASE_DELAY_MS", default_value_t = 1000)]
    webhook_base_delay_ms: u64,
    /// Log level: trace, debug, info, warn, error, critical.
    #[arg(long, env = "TOLLGATE_LOG_LEVEL", default_value = "info")]
    log_level: String,
}

#[derive(Subcommand)]
enum PolicyCommand {
    /// Run the Rego unit tests (`test_*` rules of `*_test.rego`) of a bundle directory.
    Test {
        /// The bundle directory.
        dir: PathBuf,
    },
}

fn config(args: ServeArgs) -> Config {
    let mut config = Config {
        listen: args.listen,
        data_dir: args.data_dir,
        database_url: args.database_url.filter(|u| !u.is_empty()),
        admin_key: std::env::var("TOLLGATE_ADMIN_KEY").ok().filter(|k| !k.is_empty()),
        max_body_bytes: args.max_body_bytes,
        commit_max_batch: args.commit_max_batch,
        max_connections: args.max_connections,
        lock_timeout: Duration::from_millis(args.lock_timeout_ms),
        policy_time_limit: Duration::from_millis(args.policy_time_limit_ms),
        log_level: args.log_level,
        ..Config::default()
    };
    config.webhooks.max_attempts = args.webhook_max_attempts;
    config.webhooks.base_delay = Duration::from_millis(args.webhook_base_delay_ms);
    config
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let config = config(args);
    let log = tollgate_server::app::logger(&config)?;
    let gateway = tollgate_server::start(config, log).await?;
    if let Some(key) = gateway.generated_admin_key() {
        eprintln!();
        eprintln!("  Generated the superadmin key (shown once, stored only as a hash):");
        eprintln!();
        eprintln!("      {key}");
        eprintln!();
        eprintln!("  Keep it safe; set TOLLGATE_ADMIN_KEY to choose your own instead.");
        eprintln!();
    }
    let addr = gateway.local_addr();
    println!("tollgate listening on http://{addr}");
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let stopped_by_itself = tokio::select! {
        result = gateway.wait_for_stop() => Some(result),
        _ = tokio::signal::ctrl_c() => None,
        _ = terminate.recv() => None,
    };
    match stopped_by_itself {
        Some(result) => result.map_err(anyhow::Error::msg),
        // Stop accepting, let requests in flight finish, then stop the workers.
        None => gateway.stop().await.map_err(anyhow::Error::msg),
    }
}

fn policy_test(dir: PathBuf) -> anyhow::Result<bool> {
    let bundle = Bundle::load_dir(&dir)?;
    let results = rego_tests::run(&bundle)?;
    let failed = results.iter().filter(|r| !r.passed).count();
    for r in &results {
        let mark = if r.passed { "PASS" } else { "FAIL" };
        match &r.error {
            Some(error) => println!("{mark} {} ({error})", r.name),
            None => println!("{mark} {}", r.name),
        }
    }
    println!(
        "{} passed, {failed} failed (bundle {} {})",
        results.len() - failed,
        bundle.name(),
        bundle.hash()
    );
    Ok(failed == 0 && !results.is_empty())
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve(args).await.map(|()| true),
        Command::Policy { command: PolicyCommand::Test { dir } } => policy_test(dir),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("tollgate: {error:#}");
            ExitCode::FAILURE
        }
    }
}
